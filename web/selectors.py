"""Reads for the web pages and their JSON endpoints, every one scoped by user.

Index:
    layer_counts (the overview page)
    map_extent, search_features (the map's start view and search box)
    polygon_figures (what lies inside a polygon drawn on the map)
    floor_units (a floor plan's units with availability, tenant, lease end and rent)
    revitalisation_candidates (idle and low-yield assets, with the reason)
    company_sites, site_rents (the cockpit, per company)
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.contrib.gis.db.models import Extent
from django.contrib.gis.db.models.functions import Centroid
from django.contrib.gis.geos import GEOSGeometry
from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils.translation import gettext as _

from leasing import rent
from leasing import selectors as leasing_selectors
from leasing.choices import Availability, LeaseStatus, VacancyReason
from leasing.models import LeaseUnit
from portfolio.choices import AssetStatus
from portfolio.models import Asset
from spatial.models import FEATURE_MODELS, Building, Company, Site, Unit

ZERO = Decimal("0")
#: A unit vacant longer than this is a revitalisation candidate (盘活对象).
IDLE_VACANT_DAYS = 180
#: A building whose leasable area is let below this share is low-yield.
LOW_YIELD_OCCUPANCY = Decimal("0.5")
#: Results of the search box, at most.
SEARCH_LIMIT = 20
#: Candidates on the map, at most (the longest vacant first).
CANDIDATE_LIMIT = 2000


def layer_counts(*, user) -> list[dict]:
    rows = []
    for model in (Company, *FEATURE_MODELS, Asset):
        rows.append(
            {
                "name": model._meta.verbose_name_plural,
                "endpoint": f"/api/{_endpoint(model)}/",
                "count": model.objects.restrict(user, "view").count(),
            }
        )
    return rows


def _endpoint(model) -> str:
    return {"company": "companies", "category": "categories"}.get(
        model._meta.model_name, f"{model._meta.model_name}s"
    )


# -- the map -----------------------------------------------------------------------------------


def map_extent(*, user) -> tuple[float, float, float, float] | None:
    """The extent (minLon, minLat, maxLon, maxLat) of the sites the user may see, so the map
    opens on the user's own portfolio; None when there are none."""
    return Site.objects.restrict(user, "view").aggregate(extent=Extent("geom"))["extent"]


def _hit(kind: str, obj, **extra) -> dict:
    geom = obj.geom
    lon = lat = bbox = None
    if geom is not None:
        centre = geom.point_on_surface if geom.geom_type != "Point" else geom
        lon, lat = round(centre.x, 7), round(centre.y, 7)
        bbox = [round(v, 7) for v in geom.extent]
    return {"kind": kind, "id": obj.pk, "code": obj.code, "name": obj.name,
            "lon": lon, "lat": lat, "bbox": bbox, **extra}  # fmt: skip


def search_features(*, user, query: str, limit: int = SEARCH_LIMIT) -> list[dict]:
    """Sites, buildings, units and assets whose code starts with, or whose name contains,
    `query`; exact codes first, then sites before buildings before units before assets."""
    query = query.strip()
    if not query:
        return []
    match = Q(code__istartswith=query) | Q(name__icontains=query)
    sources = (
        ("site", Site.objects.restrict(user, "view"), {}),
        ("building", Building.objects.restrict(user, "view"), {"site": "site_id"}),
        (
            "unit",
            Unit.objects.restrict(user, "view").select_related("floor"),
            {"building": "building_id", "floor": "floor_id", "level": "floor.level"},
        ),
        ("asset", Asset.objects.restrict(user, "view"), {"building": "building_id"}),
    )
    hits = []
    for kind, queryset, extra in sources:
        for obj in queryset.filter(match).order_by("code")[:limit]:
            values = {}
            for key, attr in extra.items():
                value = obj
                for part in attr.split("."):
                    value = getattr(value, part) if value is not None else None
                values[key] = value
            hit = _hit(kind, obj, **values)
            hit["exact"] = obj.code.lower() == query.lower()
            hits.append(hit)
    hits.sort(key=lambda h: not h["exact"])  # stable: kinds keep their order
    return hits[:limit]


def polygon_figures(*, user, polygon: GEOSGeometry, as_of: date) -> dict:
    """What lies inside `polygon` (units meeting it): unit count, gross area, occupancy by
    area and by count, the monthly headline rent of leases in force and its average per m²,
    vacant area, and the assets positioned in it with their acquisition cost."""
    units = Unit.objects.restrict(user, "view").filter(geom__intersects=polygon)
    totals = units.aggregate(area=Sum("gross_area"))
    occupancy = leasing_selectors.occupancy(user=user, as_of=as_of, by="all", polygon=polygon)
    occ = occupancy[0] if occupancy else {}
    lines = LeaseUnit.objects.restrict(user, "view").filter(
        current=True,
        blocking=True,
        lease__status=LeaseStatus.ACTIVE,
        period__contains=as_of,
        unit__in=units.values("pk"),
    )
    leased_area = ZERO
    monthly = ZERO
    for area, per in lines.values_list("area", "rent_per_sqm_month"):
        leased_area += area
        monthly += area * per
    assets = Asset.objects.restrict(user, "view").filter(geom__intersects=polygon)
    asset_totals = assets.aggregate(cost=Sum("acquisition_cost"))
    leasable = occ.get("leasable_area", ZERO)
    return {
        "units": units.count(),
        "gross_area": totals["area"] or ZERO,
        "leasable_area": leasable,
        "leased_area": occ.get("leased_area", ZERO),
        "vacant_area": leasable - occ.get("leased_area", ZERO),
        "occupancy_by_area": occ.get("occupancy_by_area"),
        "occupancy_by_count": occ.get("occupancy_by_count"),
        "monthly_rent": rent.money(monthly),
        "rent_per_sqm_month": rent.money(monthly / leased_area) if leased_area else None,
        "assets": assets.count(),
        "asset_cost": asset_totals["cost"] or ZERO,
        "as_of": as_of,
    }


# -- floor plans -------------------------------------------------------------------------------


def floor_units(*, user, floor_id: int, as_of: date) -> list[dict]:
    """The units of a floor the user may see, each with its availability as of `as_of`, the
    tenant and headline rent of the lease holding it, and its lease end."""
    units = Unit.objects.restrict(user, "view").filter(floor_id=floor_id)
    holding = LeaseUnit.objects.filter(
        unit=OuterRef("pk"),
        blocking=True,
        current=True,
        lease__status=LeaseStatus.ACTIVE,
        period__contains=as_of,
    )
    units = leasing_selectors.units_availability(user=user, as_of=as_of, units=units).annotate(
        tenant_name=Subquery(holding.values("lease__tenant__name")[:1]),
        lease_id=Subquery(holding.values("lease_id")[:1]),
        rent_sqm_month=Subquery(holding.values("rent_per_sqm_month")[:1]),
    )
    out = []
    for unit in units.order_by("code"):
        state = leasing_selectors.availability_of(unit, as_of=as_of)
        out.append(
            {
                **state,
                "id": unit.pk,
                "name": unit.name,
                "number": unit.number,
                "use": unit.use,
                "status": unit.status,
                "company": unit.company_id,
                "gross_area": unit.gross_area,
                "usable_area": unit.usable_area,
                "tenant_name": unit.tenant_name,
                "lease": unit.lease_id,
                "rent_sqm_month": unit.rent_sqm_month,
            }
        )
    return out


# -- revitalisation candidates (盘活) -----------------------------------------------------------


def revitalisation_candidates(
    *,
    user,
    as_of: date,
    vacant_days: int = IDLE_VACANT_DAYS,
    low_yield: Decimal = LOW_YIELD_OCCUPANCY,
    site: int | None = None,
    limit: int = CANDIDATE_LIMIT,
) -> list[dict]:
    """Idle and low-yield assets with the reason each is a candidate for revitalisation:

    - a leasable unit with no lease now or to come, vacant for more than `vacant_days`
      (since its listing's date, else its last lease's end; never-leased units without a
      listing count as idle), reason and days given;
    - a register asset whose status is idle;
    - a building whose leasable area is let below `low_yield` (occupancy by area).

    Each is a dict with kind, id, code, name, reason (words), reason_code and geom (GEOS).
    """
    out: list[dict] = []
    units = leasing_selectors._leasable(Unit.objects.restrict(user, "view"))
    if site is not None:
        units = units.filter(site_id=site)
    units = leasing_selectors.units_availability(user=user, as_of=as_of, units=units).filter(
        lease_end__isnull=True, next_start__isnull=True
    )
    reasons = dict(VacancyReason.choices)
    rows = []
    for unit in units.only("pk", "code", "name", "geom", "status", "gross_area", "company_id"):
        state = leasing_selectors.availability_of(unit, as_of=as_of)
        if state["availability"] != Availability.VACANT:
            continue
        days = state["days_vacant"]
        if days is not None and days <= vacant_days:
            continue
        code = state["vacancy_reason"] or VacancyReason.NEVER_LEASED
        if days is None:
            reason = _("Vacant, never leased (%(why)s)") % {"why": reasons.get(code, code)}
        else:
            reason = _("Vacant for %(days)s days (%(why)s)") % {
                "days": days,
                "why": reasons.get(code, code),
            }
        rows.append(
            {
                "kind": "unit",
                "id": unit.pk,
                "code": unit.code,
                "name": unit.name,
                "reason": reason,
                "reason_code": f"vacant:{code}",
                "days_vacant": days,
                "gross_area": unit.gross_area,
                "geom": unit.geom,
            }  # fmt: skip
        )
    rows.sort(key=lambda r: -(r["days_vacant"] if r["days_vacant"] is not None else 10**6))
    out += rows[:limit]
    assets = Asset.objects.restrict(user, "view").filter(
        status=AssetStatus.IDLE, geom__isnull=False
    )
    if site is not None:
        assets = assets.filter(site_id=site)
    for asset in assets.only("pk", "code", "name", "geom")[:limit]:
        out.append(
            {
                "kind": "asset",
                "id": asset.pk,
                "code": asset.code,
                "name": asset.name,
                "reason": _("Asset status is idle"),
                "reason_code": "asset:idle",
                "geom": asset.geom,
            }  # fmt: skip
        )
    by_building = leasing_selectors.occupancy(user=user, as_of=as_of, by="building")
    weak = {
        row["id"]: row
        for row in by_building
        if row["occupancy_by_area"] is not None and row["occupancy_by_area"] < low_yield
    }
    buildings = Building.objects.restrict(user, "view").filter(pk__in=weak)
    if site is not None:
        buildings = buildings.filter(site_id=site)
    for building in buildings.only("pk", "code", "name", "geom")[:limit]:
        row = weak[building.pk]
        out.append(
            {
                "kind": "building",
                "id": building.pk,
                "code": building.code,
                "name": building.name,
                "reason": _("Low yield: %(share)s%% of the leasable area let")
                % {"share": (row["occupancy_by_area"] * 100).quantize(Decimal("0.1"))},
                "reason_code": "building:low_yield",
                "occupancy_by_area": row["occupancy_by_area"],
                "geom": building.geom,
            }  # fmt: skip
        )
    return out


# -- the cockpit -------------------------------------------------------------------------------


def company_sites(*, user, company: Company | None) -> set[int] | None:
    """The ids of the visible sites of `company` and the companies below it; None for all."""
    if company is None:
        return None
    return set(
        Site.objects.restrict(user, "view")
        .filter(company__path__startswith=company.path)
        .values_list("pk", flat=True)
    )


def _lines(user, sites: set[int] | None) -> QuerySet:
    lines = LeaseUnit.objects.restrict(user, "view").filter(current=True, blocking=True)
    return lines if sites is None else lines.filter(unit__site_id__in=sites)


def site_rents(*, user, as_of: date, sites: set[int] | None = None) -> list[dict]:
    """Average headline rent per m² per month of leases in force, per site, by leased area."""
    lines = _lines(user, sites).filter(lease__status=LeaseStatus.ACTIVE, period__contains=as_of)
    rows = (
        lines.values("unit__site_id", "unit__site__name")
        .annotate(
            leased=Sum("area"),
            rent_total=Sum(
                ExpressionWrapper(
                    F("area") * F("rent_per_sqm_month"),
                    output_field=DecimalField(max_digits=24, decimal_places=6),
                )
            ),
        )
        .order_by("unit__site__name")
    )
    return [
        {
            "id": r["unit__site_id"],
            "name": r["unit__site__name"],
            "leased_area": r["leased"],
            "monthly_rent": rent.money(r["rent_total"]),
            "rent_per_sqm_month": rent.money(r["rent_total"] / r["leased"])
            if r["leased"]
            else None,
        }
        for r in rows
    ]


def site_centroids(*, user, sites: set[int] | None = None) -> dict[int, tuple[float, float]]:
    queryset = Site.objects.restrict(user, "view").annotate(c=Centroid("geom"))
    if sites is not None:
        queryset = queryset.filter(pk__in=sites)
    return {pk: (c.x, c.y) for pk, c in queryset.values_list("pk", "c")}
