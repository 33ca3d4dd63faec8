"""What leasing adds to the map tiles and WFS: each unit's lease state.

Spatial cannot import leasing (leasing depends on spatial), so `LeasingConfig.ready()` calls
`register()`, which adds to the `units` tile layer and the `units` WFS feature type:

- `availability`: vacant, reserved, leased, expiring or not_leasable, by the rules of
  `leasing.selectors.availability_of` (self-used and unavailable units are not leasable; a
  unit held today by an active lease is leased, or expiring when that lease ends within
  EXPIRING_DAYS; one held later by an approved or active lease is reserved; else vacant);
- `lease_end`: the last day of the lease holding the unit today;
- `rent_sqm_month`: that lease line's headline rent (元/m²/month);
- `tenant_name`: that lease's tenant.

"Today" is the local date of each request. The map colours units by `availability`.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Case, Exists, OuterRef, Subquery, Value, When
from django.utils import timezone

from leasing.choices import Availability, LeaseStatus
from leasing.models import Lease, LeaseUnit, Tenant
from leasing.selectors import EXPIRING_DAYS
from spatial import layers
from spatial.choices import UnitStatus

NOT_LEASABLE_STATUSES = (UnitStatus.SELF_USED, UnitStatus.UNAVAILABLE)
HOLDING_LATER = (LeaseStatus.APPROVED, LeaseStatus.ACTIVE)


def _sql_list(values) -> str:
    # Choice values are code constants of letters and underscores, never user input.
    return ", ".join(f"'{value}'" for value in values)


def _tile_extension() -> layers.TileExtension:
    """One LATERAL join per unit in the tile: the unit's blocking lease lines (one to three,
    found by the index on unit_id) with their leases, folded into the line holding the unit
    today and whether a later lease holds it; then the tenant of the one holding it."""
    line, lease, tenant = (m._meta.db_table for m in (LeaseUnit, Lease, Tenant))
    joins = f"""
        LEFT JOIN LATERAL (
            SELECT max(l.end_date) FILTER (WHERE f.held) AS lease_end,
                   max(lu.rent_per_sqm_month) FILTER (WHERE f.held) AS rent,
                   max(l.tenant_id) FILTER (WHERE f.held) AS tenant_id,
                   bool_or(f.held AND l.end_date < %s::date) AS expiring,
                   bool_or(f.later) AS reserved
              FROM {line} lu
              JOIN {lease} l ON l.id = lu.lease_id
             CROSS JOIN LATERAL (
                   SELECT lu.period @> %s::date AND l.status = '{LeaseStatus.ACTIVE}' AS held,
                          lower(lu.period) > %s::date
                          AND l.status IN ({_sql_list(HOLDING_LATER)}) AS later
             ) AS f
             WHERE lu.unit_id = b.c_fid AND lu.blocking
        ) AS lease_state ON true
        LEFT JOIN {tenant} AS lease_tenant ON lease_tenant.id = lease_state.tenant_id"""  # noqa: S608 - table names and choice constants only
    availability = f"""CASE
        WHEN b.c_status IN ({_sql_list(NOT_LEASABLE_STATUSES)}) THEN '{Availability.NOT_LEASABLE}'
        WHEN lease_state.expiring THEN '{Availability.EXPIRING}'
        WHEN lease_state.lease_end IS NOT NULL THEN '{Availability.LEASED}'
        WHEN lease_state.reserved THEN '{Availability.RESERVED}'
        ELSE '{Availability.VACANT}' END"""

    def params() -> tuple:
        today = timezone.localdate()
        return (today + timedelta(days=EXPIRING_DAYS), today, today)

    return layers.TileExtension(
        attrs=(
            layers.TileAttribute("availability", "String", availability),
            layers.TileAttribute(
                "lease_end", "String", "to_char(lease_state.lease_end, 'YYYY-MM-DD')"
            ),
            layers.TileAttribute("rent_sqm_month", "Number", "lease_state.rent::float8"),
            layers.TileAttribute("tenant_name", "String", "lease_tenant.name"),
        ),
        joins=joins,
        params=params,
    )


def _holding_today():
    return LeaseUnit.objects.filter(
        unit=OuterRef("pk"),
        blocking=True,
        lease__status=LeaseStatus.ACTIVE,
        period__contains=timezone.localdate(),
    )


def _lease_end():
    return Subquery(_holding_today().values("lease__end_date")[:1])


def _availability():
    today = timezone.localdate()
    holding = _holding_today()
    later = LeaseUnit.objects.filter(
        unit=OuterRef("pk"),
        blocking=True,
        lease__status__in=HOLDING_LATER,
        period__startswith__gt=today,
    )
    ends_soon = holding.filter(lease__end_date__lt=today + timedelta(days=EXPIRING_DAYS))
    return Case(
        When(status__in=NOT_LEASABLE_STATUSES, then=Value(Availability.NOT_LEASABLE.value)),
        When(Exists(ends_soon), then=Value(Availability.EXPIRING.value)),
        When(Exists(holding), then=Value(Availability.LEASED.value)),
        When(Exists(later), then=Value(Availability.RESERVED.value)),
        default=Value(Availability.VACANT.value),
        output_field=models.CharField(max_length=20),
    )


def _wfs_attributes() -> tuple[layers.WFSAttribute, ...]:
    return (
        layers.WFSAttribute(
            "availability",
            models.CharField(max_length=20, null=True),
            _availability,
            "vacant, reserved, leased, expiring (within 90 days) or not_leasable",
        ),
        layers.WFSAttribute(
            "lease_end",
            models.DateField(null=True),
            _lease_end,
            "last day of the lease holding the unit today",
        ),
        layers.WFSAttribute(
            "rent_sqm_month",
            models.DecimalField(max_digits=14, decimal_places=4, null=True),
            lambda: Subquery(_holding_today().values("rent_per_sqm_month")[:1]),
            "headline rent of that lease (yuan per m2 per month)",
        ),
        layers.WFSAttribute(
            "tenant_name",
            models.CharField(max_length=200, null=True),
            lambda: Subquery(_holding_today().values("lease__tenant__name")[:1]),
            "tenant of that lease",
        ),
    )


def register() -> None:
    """Called once from LeasingConfig.ready()."""
    layers.tile_attributes_register("units", _tile_extension())
    layers.wfs_attributes_register("units", *_wfs_attributes())
