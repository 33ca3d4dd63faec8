"""The map-first web pages: the portfolio map, floor plans and lease drafts, the asset, lease
and tenant records, the cockpit, the import pages and lists exportable to XLSX.

Pages are thin: they read through `restrict()` (a row outside the user's companies is a 404)
and the selectors, and leave writes to the REST API, which runs the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bim import selectors as bim_selectors
from leasing import selectors as leasing_selectors
from leasing.api.serializers import mask_id, mask_phone, sees_personal_data
from leasing.choices import Availability, LeaseStatus, PaymentCycle, PriceBasis
from leasing.models import Lease, Tenant
from portfolio.choices import AssetStatus
from portfolio.models import Asset, Category, Document
from spatial import access
from spatial.api.base import history_records
from spatial.choices import UnitStatus, UnitUse
from spatial.models import Building, Company, Unit
from spatial.transfer.layers import layer_names
from web import cockpit, maplayers, selectors
from web.export import Column, xlsx_response

#: Rows per page of a list.
PAGE_SIZE = 50


def map_base_tile_url() -> str:
    """The base map's XYZ tile URL ({z}/{x}/{y}; e.g. an intranet Tianditu mirror), from the
    setting MAP_BASE_TILE_URL (environment GEOASSET_MAP_TILE_URL). Empty: the map draws only
    our own layers on a plain background, and no request leaves the server."""
    return settings.MAP_BASE_TILE_URL


def map_base_attribution() -> str:
    return settings.MAP_BASE_ATTRIBUTION


def _choices(choices) -> dict[str, str]:
    return {value: str(label) for value, label in choices}


def _companies(user) -> list[Company]:
    return list(Company.objects.restrict(user, "view").only("id", "code", "name", "path"))


# -- the map -----------------------------------------------------------------------------------

#: Words the map script shows, translated on the server.
MAP_TEXT = {
    "units": gettext_lazy("Units"),
    "area": gettext_lazy("Gross area (m²)"),
    "leasable": gettext_lazy("Leasable area (m²)"),
    "leased": gettext_lazy("Leased area (m²)"),
    "vacant": gettext_lazy("Vacant area (m²)"),
    "occupancyArea": gettext_lazy("Occupancy by area"),
    "occupancyCount": gettext_lazy("Occupancy by count"),
    "monthlyRent": gettext_lazy("Monthly rent (yuan)"),
    "rentSqm": gettext_lazy("Average rent (yuan/m²/month)"),
    "assets": gettext_lazy("Assets"),
    "assetCost": gettext_lazy("Asset cost (yuan)"),
    "noResults": gettext_lazy("Nothing found."),
    "floors": gettext_lazy("Floors"),
    "floorPlan": gettext_lazy("Floor plan"),
    "showOnMap": gettext_lazy("Show on map"),
    "open": gettext_lazy("View"),
    "city": gettext_lazy("All sites"),
    "status": gettext_lazy("Status"),
    "use": gettext_lazy("Use"),
    "leaseEnd": gettext_lazy("Lease end"),
    "rent": gettext_lazy("Rent (yuan/m²/month)"),
    "tenant": gettext_lazy("Tenant"),
    "reason": gettext_lazy("Reason"),
    "startLease": gettext_lazy("Start a lease draft"),
    "noData": gettext_lazy("No data"),
    "expiryByMonth": gettext_lazy("Lease expiries by month (area m²)"),
    "months0_3": gettext_lazy("Ends within 3 months"),
    "months3_6": gettext_lazy("3–6 months"),
    "months6_12": gettext_lazy("6–12 months"),
    "months12": gettext_lazy("Over 12 months"),
    "rentLow": gettext_lazy("below 40"),
    "rentMid": gettext_lazy("40–80"),
    "rentHigh": gettext_lazy("80–120"),
    "rentTop": gettext_lazy("over 120"),
    "lossNone": gettext_lazy("No loss"),
    "lossLow": gettext_lazy("below 100,000"),
    "lossMid": gettext_lazy("100,000–1,000,000"),
    "lossHigh": gettext_lazy("over 1,000,000 yuan"),
    "candUnit": gettext_lazy("Vacant unit"),
    "candAsset": gettext_lazy("Idle asset"),
    "candBuilding": gettext_lazy("Low-yield building"),
    "error": gettext_lazy("Error"),
    "vacancyLoss": gettext_lazy("Vacancy loss (yuan)"),
    "floorLevel": gettext_lazy("Floor level"),
    "drawHint": gettext_lazy("Draw a polygon with the tool on the map."),
}


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    config = {
        "baseTileUrl": map_base_tile_url(),
        "baseAttribution": map_base_attribution(),
        "extent": selectors.map_extent(user=user),
        "layers": maplayers.layers_config(),
        "extras": maplayers.extras_config(user),
        "labels": {
            "availability": _choices(Availability.choices),
            "status": _choices(UnitStatus.choices),
            "use": _choices(UnitUse.choices),
            "assetStatus": _choices(AssetStatus.choices),
        },
        "text": {key: str(value) for key, value in MAP_TEXT.items()},
        "urls": {
            "search": reverse("web-search"),
            "polygonStats": reverse("web-polygon-stats"),
            "vacancyLoss": "/api/leasing/stats/vacancy-loss/?by=site",
            "expiries": "/api/leasing/stats/expiries/?months=24",
            "floorPlan": reverse("web-floor-plan", args=[0]),
            "asset": reverse("web-asset", args=[0]),
            "leaseNew": reverse("web-lease-new"),
        },
    }
    categories = Category.objects.filter(level=1, is_active=True).order_by("code")
    return render(
        request,
        "web/map.html",
        {
            "config": config,
            "companies": _companies(user),
            "uses": UnitUse.choices,
            "statuses": Availability.choices,
            "categories": categories,
            "extras": maplayers.EXTRAS,
        },
    )


# -- floor plans and lease drafts --------------------------------------------------------------


@login_required
def floor_plan_page(request: HttpRequest, pk: int) -> HttpResponse:
    building = get_object_or_404(
        Building.objects.restrict(request.user, "view").select_related("site", "company"), pk=pk
    )
    floors = list(building.floors.restrict(request.user, "view").order_by("-level"))
    chosen = request.GET.get("floor")
    current = next((f for f in floors if str(f.pk) == chosen), None)
    if current is None and floors:
        current = min(floors, key=lambda f: (f.level < 1, abs(f.level - 1)))  # ground floor
    text = {
        "availability": _choices(Availability.choices),
        "use_labels": _choices(UnitUse.choices),
        "unit": _("Unit"),
        "status": _("Availability"),
        "use": _("Use"),
        "area": _("Gross area (m²)"),
        "tenant": _("Tenant"),
        "leaseEnd": _("Lease end"),
        "rent": _("Rent (yuan/m²/month)"),
        "daysVacant": _("Days vacant"),
        "onlyVacant": _("Only vacant units can go into a new lease."),
    }
    return render(
        request,
        "web/floor_plan.html",
        {
            "text": text,
            "building": building,
            "floors": floors,
            "floor": current,
            "config": {
                "floor": current.pk if current else None,
                "planUrl": "/api/bim/floors/{id}/plan/",
                "unitsUrl": reverse("web-floor-units", args=[0]).replace("/0/", "/{id}/"),
                "leaseNewUrl": reverse("web-lease-new"),
            },
        },
    )


def _unit_ids(raw: str) -> list[int]:
    ids = []
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise Http404(_("Unit ids are whole numbers."))
        ids.append(int(part))
    return list(dict.fromkeys(ids))


@login_required
def lease_new_page(request: HttpRequest) -> HttpResponse:
    """A draft lease form for the units picked on a floor plan (`?units=1,2`), posted by the
    page's script to the leasing API, which validates and saves it."""
    user = request.user
    ids = _unit_ids(request.GET.get("units", ""))
    found = {
        u.pk: u
        for u in Unit.objects.restrict(user, "view")
        .select_related("company", "floor", "building")
        .filter(pk__in=ids)
    }
    units = [found[i] for i in ids if i in found]
    missing = [i for i in ids if i not in found]
    company = units[0].company if units else None
    tenants = Tenant.objects.restrict(user, "view").order_by("name")
    if company is not None:
        above = [int(p) for p in company.path.strip("/").split("/")]
        tenants = tenants.filter(company_id__in=above)
    today = timezone.localdate()
    start = today.replace(day=1)
    end = start.replace(year=start.year + 3) - timezone.timedelta(days=1)
    uses = [u.use for u in units]
    return render(
        request,
        "web/lease_new.html",
        {
            "units": units,
            "missing": missing,
            "company": company,
            "may_write": company is not None and access.can(user, "add", Lease, company.pk),
            "tenants": tenants[:500],
            "use": max(set(uses), key=uses.count) if uses else "",
            "uses": UnitUse.choices,
            "bases": PriceBasis.choices,
            "cycles": PaymentCycle.choices,
            "start": start,
            "end": end,
            "total_area": sum((u.gross_area or Decimal(0) for u in units), Decimal(0)),
        },
    )


@login_required
def lease_page(request: HttpRequest, pk: int) -> HttpResponse:
    lease = get_object_or_404(
        Lease.objects.restrict(request.user, "view").select_related("tenant", "company"), pk=pk
    )
    versions = list(
        lease.versions.order_by("number").prefetch_related(
            "steps", "free_periods", "charges", "lines__unit"
        )
    )
    schedule = leasing_selectors.lease_schedule(lease=lease) if versions else []
    return render(
        request,
        "web/lease.html",
        {
            "lease": lease,
            "versions": versions,
            "current": versions[-1] if versions else None,
            "schedule": schedule,
            "events": lease.events.select_related("actor").order_by("at"),
            # Sections other apps add to a lease page (finance: its bills); see docs/web.md.
            "sections": _sections(LEASE_SECTIONS, request, lease),
        },
    )


@dataclass(frozen=True)
class Section:
    """A block another app adds to a record page: its template and, optionally, a function
    `context(request, obj) -> dict` whose result the template reads as `data` (so the
    section's reads stay in Python, scoped to the user, not in template tags)."""

    template: str
    context: object = None  # (request, obj) -> dict


#: Sections included at the bottom of the lease page, each given `lease` (and `data`): the
#: bills (web/sections.py, from finance). A template name or a `Section`.
LEASE_SECTIONS: list[str | Section] = []
#: The same for the tenant page (given `tenant`): aging, balances, receipts, dunning.
TENANT_SECTIONS: list[str | Section] = []


def _sections(sections: list, request: HttpRequest, obj) -> list[dict]:
    out = []
    for section in sections:
        if isinstance(section, str):
            section = Section(section)
        data = section.context(request, obj) if section.context else {}
        out.append({"template": section.template, "data": data})
    return out


@login_required
def tenant_page(request: HttpRequest, pk: int) -> HttpResponse:
    tenant = get_object_or_404(
        Tenant.objects.restrict(request.user, "view").select_related("company"), pk=pk
    )
    personal = sees_personal_data(request.user, tenant.company)
    return render(
        request,
        "web/tenant.html",
        {
            "tenant": tenant,
            "phone": tenant.phone if personal else mask_phone(tenant.phone) if tenant.phone else "",
            "id_number": (
                tenant.id_number
                if personal
                else mask_id(tenant.id_number)
                if tenant.id_number
                else ""
            ),
            "leases": Lease.objects.restrict(request.user, "view")
            .filter(tenant=tenant)
            .order_by("-start_date"),
            "sections": _sections(TENANT_SECTIONS, request, tenant),
        },
    )


# -- the asset record (一物一档) ----------------------------------------------------------------


@login_required
def asset_page(request: HttpRequest, pk: int) -> HttpResponse:
    asset = get_object_or_404(
        Asset.objects.restrict(request.user, "view").select_related(
            "category", "company", "site", "building", "floor", "unit", "road", "park", "parcel"
        ),
        pk=pk,
    )
    documents = Document.objects.restrict(request.user, "view").filter(
        content_type__app_label="portfolio", content_type__model="asset", object_id=asset.pk
    )
    place = asset.geom
    for node in (asset.unit, asset.building, asset.site, asset.parcel, asset.park, asset.road):
        if place is None and node is not None:
            place = node.geom.point_on_surface
    return render(
        request,
        "web/asset.html",
        {
            "asset": asset,
            "documents": documents,
            "tags": asset.tags.all(),
            "places": [
                n
                for n in (
                    asset.site,
                    asset.building,
                    asset.floor,
                    asset.unit,
                    asset.road,
                    asset.park,
                    asset.parcel,
                )
                if n is not None
            ],  # fmt: skip
            "history": history_records(asset)[:50],
            "point": [place.x, place.y] if place is not None else None,
            "base_tile_url": map_base_tile_url(),
        },
    )


# -- the cockpit -------------------------------------------------------------------------------


@login_required
def cockpit_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/cockpit.html",
        {
            "widgets": cockpit.WIDGETS,
            "companies": _companies(request.user),
            "as_of": timezone.localdate(),
        },
    )


# -- imports -----------------------------------------------------------------------------------


@login_required
def imports_page(request: HttpRequest) -> HttpResponse:
    """The layer import (every registered layer of spatial/transfer, e.g. `assets` from
    portfolio) and the recent IFC imports, whose progress the page follows through the API."""
    return render(
        request,
        "web/imports.html",
        {
            "layers": layer_names(),
            "ifc_imports": list(bim_selectors.ifc_imports_visible(user=request.user)[:10]),
        },
    )


# -- lists, exportable to XLSX -----------------------------------------------------------------


@dataclass(frozen=True)
class ListFilter:
    """A further choice filter of a list (`?<name>=<value>`), beside search and status."""

    name: str
    label: object
    choices: tuple


@dataclass(frozen=True)
class ListPage:
    """A list of records: its title, rows (scoped, filtered by `?q=`, `?status=` and the
    `filters`), columns, and the file name of its export. Other modules add lists to
    `LISTS` (web/sections.py: bills, receipts; web/alerts.py: alerts)."""

    title: object
    filename: str
    columns: tuple[Column, ...]
    rows: object  # (user, q, status, **filters) -> QuerySet
    statuses: tuple = ()
    filters: tuple[ListFilter, ...] = ()
    template: str = "web/list.html"
    #: (request) -> dict: more context for a custom template (e.g. what the user may do).
    context: object = None


def _asset_rows(user, q: str, status: str, **_filters: str) -> QuerySet:
    rows = Asset.objects.restrict(user, "view").select_related(
        "category", "company", "site", "building"
    )
    if q:
        rows = rows.filter(Q(code__icontains=q) | Q(name__icontains=q))
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("code")


def _lease_rows(user, q: str, status: str, **_filters: str) -> QuerySet:
    rows = Lease.objects.restrict(user, "view").select_related("tenant", "company")
    if q:
        rows = rows.filter(Q(number__icontains=q) | Q(tenant__name__icontains=q))
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-start_date", "number")


def _tenant_rows(user, q: str, status: str, **_filters: str) -> QuerySet:
    rows = Tenant.objects.restrict(user, "view").select_related("company")
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(uscc__icontains=q))
    return rows.order_by("name", "pk")


def _name(obj) -> str:
    return str(obj) if obj is not None else ""


LISTS: dict[str, ListPage] = {
    "assets": ListPage(
        gettext_lazy("Assets"),
        "assets",
        (
            Column(
                gettext_lazy("Code"), lambda a: a.code, lambda a: reverse("web-asset", args=[a.pk])
            ),
            Column(gettext_lazy("Name"), lambda a: a.name),
            Column(gettext_lazy("Category"), lambda a: a.category.name),
            Column(gettext_lazy("Status"), lambda a: a.get_status_display()),
            Column(gettext_lazy("Company"), lambda a: _name(a.company)),
            Column(gettext_lazy("Site"), lambda a: a.site.name if a.site else ""),
            Column(gettext_lazy("Building"), lambda a: a.building.name if a.building else ""),
            Column(gettext_lazy("Acquisition cost (yuan)"), lambda a: a.acquisition_cost),
            Column(gettext_lazy("Acquisition date"), lambda a: a.acquisition_date),
        ),
        _asset_rows,
        tuple(AssetStatus.choices),
    ),
    "leases": ListPage(
        gettext_lazy("Leases"),
        "leases",
        (
            Column(
                gettext_lazy("Contract number"),
                lambda x: x.number,
                lambda x: reverse("web-lease", args=[x.pk]),
            ),
            Column(
                gettext_lazy("Tenant"),
                lambda x: x.tenant.name,
                lambda x: reverse("web-tenant", args=[x.tenant_id]),
            ),
            Column(gettext_lazy("Company"), lambda x: _name(x.company)),
            Column(gettext_lazy("Status"), lambda x: x.get_status_display()),
            Column(gettext_lazy("Use"), lambda x: x.get_use_display()),
            Column(gettext_lazy("Start date"), lambda x: x.start_date),
            Column(gettext_lazy("End date"), lambda x: x.end_date),
            Column(gettext_lazy("Deposit (yuan)"), lambda x: x.deposit_amount),
        ),  # fmt: skip
        _lease_rows,
        tuple(LeaseStatus.choices),
    ),
    "tenants": ListPage(
        gettext_lazy("Tenants"),
        "tenants",
        (
            Column(
                gettext_lazy("Name"), lambda t: t.name, lambda t: reverse("web-tenant", args=[t.pk])
            ),
            Column(gettext_lazy("Kind"), lambda t: t.get_kind_display()),
            Column(gettext_lazy("Unified social credit code"), lambda t: t.uscc),
            Column(gettext_lazy("Landlord company"), lambda t: _name(t.company)),
            Column(gettext_lazy("Industry"), lambda t: t.industry),
            Column(gettext_lazy("Size"), lambda t: t.get_size_display()),
            Column(gettext_lazy("Credit rating"), lambda t: t.credit_rating),
        ),  # fmt: skip
        _tenant_rows,
    ),
}


@login_required
def list_page(request: HttpRequest, name: str) -> HttpResponse:
    """A list with search and status filter; `?format=xlsx` downloads the filtered rows."""
    spec = LISTS.get(name)
    if spec is None:
        raise Http404(_("No such list."))
    return _list_response(request, name, spec)


def _list_response(request: HttpRequest, name: str, spec: ListPage) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()[:100]
    status = request.GET.get("status") or ""
    if status and status not in dict(spec.statuses):
        status = ""
    # An unknown value of a filter is ignored, as an unknown status is: the list is shown.
    chosen = {f.name: request.GET.get(f.name) or "" for f in spec.filters}
    chosen = {k: v for k, v in chosen.items() if v in dict(_filter(spec, k).choices)}
    rows = spec.rows(request.user, q, status, **chosen)
    if request.GET.get("format") == "xlsx":
        return xlsx_response(
            filename=spec.filename, title=str(spec.title), columns=spec.columns,
            rows=rows.iterator(chunk_size=2000),
        )  # fmt: skip
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    table = [
        [(c.value(row), c.link(row) if c.link else None) for c in spec.columns] for row in page
    ]
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "xlsx"
    paging = request.GET.copy()
    paging.pop("page", None)
    paging.pop("format", None)
    return render(
        request,
        spec.template,
        {
            "spec": spec,
            "name": name,
            "page": page,
            "rows": list(zip(page, table, strict=True)),
            "table": table,
            "q": q,
            "status": status,
            "filters": [(f, chosen.get(f.name, "")) for f in spec.filters],
            "export_query": query.urlencode(),
            "paging_query": paging.urlencode(),
            **(spec.context(request) if spec.context else {}),
        },
    )


def _filter(spec: ListPage, name: str) -> ListFilter:
    return next(f for f in spec.filters if f.name == name)
