"""Reads of the leasing app, each scoped by the user through `restrict()`.

Index:
    lease_settlement_compute (a preview of a move-out; lease_terminate stores it)
    lease_schedule, lease_period_charges
    leases_expiring (renewal candidates: risk score and proposed rent)
    units_availability, occupancy, lease_expiries_by_month, wale, vacancy_loss, unit_rents
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db.models import Avg, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from leasing import rent
from leasing.choices import (
    Availability,
    CreditRating,
    LeaseStatus,
    TenantSize,
    TerminationKind,
)
from leasing.models import Lease, LeaseUnit, TurnoverReport, UnitListing
from spatial.choices import UnitStatus, UnitUse
from spatial.models import Unit

DAY = timedelta(days=1)
ZERO = Decimal("0")
OCCUPIED_STATUSES = (LeaseStatus.ACTIVE, LeaseStatus.EXPIRED, LeaseStatus.TERMINATED)
EXPIRING_DAYS = 90


# -- one lease ---------------------------------------------------------------------------------


def lease_schedule(*, lease: Lease, until: date | None = None) -> list[dict]:
    """Billing periods with their charge lines (turnover from reports where given)."""
    terms = rent.terms_for_lease(lease)
    reports = {r.period_start: r.amount for r in lease.turnover_reports.all()}
    out = []
    for period in rent.schedule(terms, until=until):
        lines = rent.lease_charges(
            terms, period.start, period.end, turnover=reports.get(period.start)
        )
        out.append({"period": period, "lines": lines})
    return out


#: Functions `(lease) -> Decimal` giving what the tenant has paid towards the lease's rent
#: and charges. finance.collection registers one when it is installed (leasing cannot import
#: finance); without any, callers of the settlement must give `paid` themselves.
PAID_PROVIDERS: list[Callable[[Lease], Decimal]] = []


def lease_paid(lease: Lease) -> Decimal | None:
    """What the registered providers say the tenant has paid, or None without any."""
    if not PAID_PROVIDERS:
        return None
    return sum((provider(lease) for provider in PAID_PROVIDERS), Decimal(0))


def lease_settlement_compute(
    *, lease: Lease, kind: str, move_out_date: date, paid: Decimal | None = None
) -> dict:
    """What a move-out on `move_out_date` (the last day) leaves: charges prorated to that
    day, less `paid`, plus the contract's penalty, less the deposit received. A positive
    balance is owed by the tenant, a negative one refunded. Without `paid`, the money
    collection has set against the lease's bills counts (`lease_paid`)."""
    errors = {}
    if paid is None:
        paid = lease_paid(lease)
        if paid is None:
            raise ValidationError(
                {"paid": [_("Give the amount paid: no billing is installed to supply it.")]}
            )
    if move_out_date < lease.start_date - DAY or move_out_date > lease.end_date:
        errors["move_out_date"] = [
            _("The move-out date must lie within the term (%(start)s to %(end)s).")
            % {"start": lease.start_date, "end": lease.end_date}
        ]
    elif kind == TerminationKind.EXPIRY and move_out_date != lease.end_date:
        errors["move_out_date"] = [_("A normal expiry moves out on the end date.")]
    elif kind != TerminationKind.EXPIRY and move_out_date >= lease.end_date:
        errors["kind"] = [_("Moving out on the end date is a normal expiry.")]
    if paid is None or paid < 0:
        errors["paid"] = [_("The amount paid cannot be negative.")]
    if errors:
        raise ValidationError(errors)
    ended = copy.copy(lease)
    ended.move_out_date = move_out_date
    terms = rent.terms_for_lease(ended)
    reports = {r.period_start: r.amount for r in TurnoverReport.objects.filter(lease=lease)}
    by_item: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for period in rent.schedule(terms):
        for line in rent.lease_charges(
            terms, period.start, period.end, turnover=reports.get(period.start)
        ):
            by_item[line.item] += line.amount
    charges_due = sum(by_item.values(), ZERO)
    outstanding = charges_due - paid
    penalty = ZERO
    version = lease.versions.order_by("-number").first()
    months = {
        TerminationKind.EARLY: version.early_termination_penalty_months,
        TerminationKind.BREACH: version.breach_penalty_months,
    }.get(kind, ZERO)
    monthly = rent.monthly_rent(terms[-1], move_out_date) if terms else ZERO
    penalty = rent.money(monthly * months)
    deposit = lease.deposit_received
    balance = outstanding + penalty - deposit
    lines = [{"item": item, "amount": str(amount)} for item, amount in sorted(by_item.items())]
    lines += [
        {"item": "paid", "amount": str(-paid)},
        {"item": "penalty", "amount": str(penalty), "months": str(months),
         "monthly_rent": str(monthly)},
        {"item": "deposit", "amount": str(-deposit)},
    ]  # fmt: skip
    if kind == TerminationKind.BREACH and version.deposit_forfeited_on_breach and balance < 0:
        lines.append({"item": "deposit_forfeited", "amount": str(-balance)})
        balance = ZERO
    return {
        "charges_due": charges_due,
        "paid": paid,
        "outstanding": outstanding,
        "penalty": penalty,
        "deposit_offset": deposit,
        "balance": balance,
        "lines": lines,
    }


# -- renewals ----------------------------------------------------------------------------------

RATING_RISK = {CreditRating.A: 0, CreditRating.B: 15, CreditRating.C: 30, CreditRating.D: 45}
SIZE_RISK = {TenantSize.LARGE: 0, TenantSize.MEDIUM: 5, TenantSize.SMALL: 10, TenantSize.MICRO: 15}


def _market_rents(lines: QuerySet) -> dict[tuple[int, str], Decimal]:
    """Average headline rent (元/m²/month) of current lines of active leases per (site, use)."""
    rows = (
        lines.values("unit__site_id", "lease__use")
        .annotate(avg=Avg("rent_per_sqm_month"))
        .order_by()
    )
    return {(r["unit__site_id"], r["lease__use"]): r["avg"] for r in rows}


def renewal_assessment(
    *, rating: str, size: str, rent_now: Decimal, market: Decimal | None
) -> tuple[int, Decimal]:
    """(risk score 0–100, proposed rent 元/m²/month).

    Risk: payment history (A 0, B 15, C 30, D 45) + tenant size (large 0 … micro 15) +
    market position (paying over 10 % above market +30, above market +15, else 0).
    Proposed rent: half-way to the market when below it, the current rent when above it,
    +3 % when there is no market reference.
    """
    score = RATING_RISK.get(rating, 30) + SIZE_RISK.get(size, 10)
    if market:
        ratio = rent_now / market
        score += 30 if ratio > Decimal("1.1") else 15 if ratio > 1 else 0
        proposed = max(rent_now, (rent_now + market) / 2)
    else:
        proposed = rent_now * Decimal("1.03")
    return min(score, 100), proposed.quantize(Decimal("0.01"))


def leases_expiring(*, user, as_of: date, within_days: int = EXPIRING_DAYS) -> list[dict]:
    """Approved and active leases ending within `within_days`, not yet renewed, with a
    renewal risk score and a proposed renewal rent, soonest first."""
    current = LeaseUnit.objects.restrict(user, "view").filter(current=True, blocking=True)
    market = _market_rents(current.filter(lease__status=LeaseStatus.ACTIVE))
    lines = (
        current.filter(
            lease__status__in=(LeaseStatus.ACTIVE, LeaseStatus.APPROVED),
            lease__end_date__gte=as_of,
            lease__end_date__lt=as_of + timedelta(days=within_days),
            lease__renewed_by__isnull=True,
        )
        .select_related("lease__tenant", "version", "unit")
        .order_by("lease__end_date", "lease_id")
    )
    grouped: dict[int, list[LeaseUnit]] = defaultdict(list)
    for line in lines:
        grouped[line.lease_id].append(line)
    out = []
    for group in grouped.values():
        lease, version = group[0].lease, group[0].version
        area = sum((line.area for line in group), ZERO)
        base = sum((line.area * line.rent_per_sqm_month for line in group), ZERO) / area
        terms = rent.Terms(
            lease_start=lease.start_date, start=lease.start_date, end=lease.end_date + DAY,
            area=area, steps=(), escalation_rate=version.escalation_rate,
            escalation_every_months=version.escalation_every_months,
        )  # fmt: skip
        rent_now = (base * rent.escalation_factor(terms, as_of)).quantize(Decimal("0.01"))
        site_market = market.get((group[0].unit.site_id, lease.use))
        score, proposed = renewal_assessment(
            rating=lease.tenant.credit_rating,
            size=lease.tenant.size,
            rent_now=rent_now,
            market=site_market,
        )
        out.append(
            {
                "lease": lease.pk,
                "number": lease.number,
                "tenant": lease.tenant.name,
                "end_date": lease.end_date,
                "days_left": (lease.end_date - as_of).days,
                "area": area,
                "rent_per_sqm_month": rent_now,
                "market_rent_per_sqm_month": (
                    site_market.quantize(Decimal("0.01")) if site_market else None
                ),
                "risk_score": score,
                "risk_level": "high" if score >= 50 else "medium" if score >= 25 else "low",
                "proposed_rent_per_sqm_month": proposed,
            }
        )
    return out


# -- units -------------------------------------------------------------------------------------


def _leasable(units: QuerySet) -> QuerySet:
    return units.exclude(status__in=(UnitStatus.SELF_USED, UnitStatus.UNAVAILABLE)).exclude(
        use=UnitUse.PUBLIC
    )


def units_availability(*, user, as_of: date, units: QuerySet | None = None) -> QuerySet:
    """Units annotated with `availability` inputs as of `as_of`: the end of the lease holding
    them (`lease_end`), the start of a later one (`next_start`), vacancy reason and since."""
    units = Unit.objects.restrict(user, "view") if units is None else units
    holding = LeaseUnit.objects.filter(unit=OuterRef("pk"), blocking=True)
    now = holding.filter(lease__status=LeaseStatus.ACTIVE, period__contains=as_of)
    later = holding.filter(
        lease__status__in=(LeaseStatus.APPROVED, LeaseStatus.ACTIVE), period__startswith__gt=as_of
    ).order_by("period")
    last_end = holding.filter(period__endswith__lte=as_of).order_by("-period")
    return units.annotate(
        lease_end=Subquery(now.values("lease__end_date")[:1]),
        lease_number=Subquery(now.values("lease__number")[:1]),
        next_start=Subquery(later.values("lease__start_date")[:1]),
        last_lease_end=Subquery(last_end.values("period__endswith")[:1]),
        vacant_since=Subquery(
            UnitListing.objects.filter(unit=OuterRef("pk")).values("vacant_since")[:1]
        ),
        vacancy_reason=Subquery(
            UnitListing.objects.filter(unit=OuterRef("pk")).values("vacancy_reason")[:1]
        ),
    )


def availability_of(unit, *, as_of: date) -> dict:
    """Availability of one unit annotated by units_availability."""
    if unit.status in (UnitStatus.SELF_USED, UnitStatus.UNAVAILABLE):
        state = Availability.NOT_LEASABLE
    elif unit.lease_end is not None:
        expiring = (unit.lease_end - as_of).days < EXPIRING_DAYS
        state = Availability.EXPIRING if expiring else Availability.LEASED
    elif unit.next_start is not None:
        state = Availability.RESERVED
    else:
        state = Availability.VACANT
    since = unit.vacant_since or unit.last_lease_end
    vacant = state == Availability.VACANT
    return {
        "unit": unit.pk,
        "code": unit.code,
        "availability": state,
        "lease_number": unit.lease_number,
        "lease_end": unit.lease_end,
        "next_start": unit.next_start,
        "vacancy_reason": (unit.vacancy_reason or "never_leased") if vacant else None,
        "vacant_since": since if vacant else None,
        "days_vacant": (as_of - since).days if vacant and since else None,
    }


def _occupied(as_of: date):
    return Exists(
        LeaseUnit.objects.filter(
            unit=OuterRef("pk"),
            blocking=True,
            lease__status__in=OCCUPIED_STATUSES,
            period__contains=as_of,
        )
    )


GROUPS = {
    "site": ("site_id", "site__name"),
    "building": ("building_id", "building__name"),
    "company": ("company_id", "company__name"),
}


def occupancy(
    *, user, as_of: date, by: str = "site", polygon: GEOSGeometry | None = None
) -> list[dict]:
    """Occupancy by area (gross) and by count of leasable units, per site, building or
    company, or for the units meeting `polygon` (by="all" gives one row)."""
    units = _leasable(Unit.objects.restrict(user, "view"))
    if polygon is not None:
        units = units.filter(geom__intersects=polygon)
    units = units.annotate(occupied=_occupied(as_of))
    if by == "all":
        keys: tuple = ()
    elif by in GROUPS:
        keys = GROUPS[by]
    else:
        raise ValidationError({"by": [_("Group by site, building, company or all.")]})
    rows: dict = {}
    for row in units.values_list(*keys, "gross_area", "occupied").order_by():
        key = row[: len(keys)]
        area, occupied = row[len(keys)] or ZERO, row[len(keys) + 1]
        acc = rows.setdefault(key, [ZERO, ZERO, 0, 0])
        acc[0] += area
        acc[2] += 1
        if occupied:
            acc[1] += area
            acc[3] += 1
    out = []
    for key, (area, leased_area, count, leased) in sorted(rows.items(), key=lambda r: r[0]):
        item = {"id": key[0], "name": key[1]} if keys else {}
        item.update(
            leasable_area=area,
            leased_area=leased_area,
            occupancy_by_area=(leased_area / area).quantize(Decimal("0.0001")) if area else None,
            units=count,
            leased_units=leased,
            occupancy_by_count=(Decimal(leased) / count).quantize(Decimal("0.0001"))
            if count
            else None,
        )
        out.append(item)
    return out


def _current_lines(user, as_of: date) -> QuerySet:
    """Current lines of leases in force on `as_of` (active, not yet ended)."""
    return LeaseUnit.objects.restrict(user, "view").filter(
        current=True, blocking=True, lease__status=LeaseStatus.ACTIVE, period__contains=as_of
    )


def lease_expiries_by_month(
    *, user, as_of: date, months: int = 60, sites: set[int] | None = None
) -> list[dict]:
    """Leases ending in each of the next `months` months: count, area, monthly rent
    (within `sites` when given)."""
    end = rent.add_months(as_of.replace(day=1), months)
    lines = LeaseUnit.objects.restrict(user, "view").filter(
        current=True,
        blocking=True,
        lease__status__in=(LeaseStatus.ACTIVE, LeaseStatus.APPROVED),
        lease__end_date__gte=as_of,
        lease__end_date__lt=end,
    )
    if sites is not None:
        lines = lines.filter(unit__site_id__in=sites)
    lines = lines.values_list("lease_id", "lease__end_date", "area", "rent_per_sqm_month")
    buckets: dict[str, dict] = {}
    seen: dict[str, set] = defaultdict(set)
    for lease_id, end_date, area, per in lines:
        key = end_date.strftime("%Y-%m")
        b = buckets.setdefault(key, {"month": key, "leases": 0, "area": ZERO, "monthly_rent": ZERO})
        if lease_id not in seen[key]:
            seen[key].add(lease_id)
            b["leases"] += 1
        b["area"] += area
        b["monthly_rent"] += rent.money(area * per)
    return [buckets[k] for k in sorted(buckets)]


def wale(*, user, as_of: date, by: str = "site") -> list[dict]:
    """Weighted average lease expiry in years (days left / 365), by headline rent and by
    area, over current lines of active leases; per site, building, company or "all"."""
    keys = () if by == "all" else tuple(f"unit__{k}" for k in GROUPS[by])
    rows: dict = {}
    lines = _current_lines(user, as_of).values_list(
        *keys, "lease__end_date", "area", "rent_per_sqm_month"
    )
    for row in lines.order_by():
        key = row[: len(keys)]
        end_date, area, per = row[len(keys) :]
        years = Decimal((end_date + DAY - as_of).days) / 365
        acc = rows.setdefault(key, [ZERO, ZERO, ZERO, ZERO])
        acc[0] += area * years
        acc[1] += area
        acc[2] += area * per * years
        acc[3] += area * per
    out = []
    for key, (ay, a, ry, r) in sorted(rows.items(), key=lambda r: r[0]):
        item = {"id": key[0], "name": key[1]} if keys else {}
        item.update(
            wale_by_area=(ay / a).quantize(Decimal("0.01")) if a else None,
            wale_by_rent=(ry / r).quantize(Decimal("0.01")) if r else None,
            leased_area=a,
            monthly_rent=rent.money(r),
        )
        out.append(item)
    return out


def vacancy_loss(*, user, as_of: date, by: str = "site") -> list[dict]:
    """Rent lost to vacancy as of `as_of`: vacant area × asking rent × days vacant.

    Asking rent is the unit listing's, else the average headline rent of the site's active
    leases of the same use; days vacant run from the listing's date or the last lease's end
    (units never leased and unlisted count from a year before `as_of`)."""
    units = units_availability(user=user, as_of=as_of, units=_leasable(Unit.objects.restrict(user)))
    units = units.filter(lease_end__isnull=True, next_start__isnull=True).annotate(
        asking=Subquery(UnitListing.objects.filter(unit=OuterRef("pk")).values("asking_rent")[:1])
    )
    market = _market_rents(_current_lines(user, as_of))
    g_id, g_name = GROUPS[by] if by != "all" else (None, None)
    fields = ["pk", "site_id", "use", "gross_area", "asking", "vacant_since", "last_lease_end"]
    if g_id:
        fields += [g_id, g_name]
    rows: dict = {}
    for u in units.values(*fields).order_by():
        asking = u["asking"] or market.get((u["site_id"], u["use"]))
        since = u["vacant_since"] or u["last_lease_end"] or as_of - timedelta(days=365)
        days = max(0, (as_of - since).days)
        key = (u[g_id], u[g_name]) if g_id else ()
        acc = rows.setdefault(key, [0, ZERO, ZERO])
        acc[0] += 1
        acc[1] += u["gross_area"] or ZERO
        if asking:
            acc[2] += (u["gross_area"] or ZERO) * asking * 12 / 365 * days
    out = []
    for key, (count, area, loss) in sorted(rows.items(), key=lambda r: r[0]):
        item = {"id": key[0], "name": key[1]} if key else {}
        item.update(vacant_units=count, vacant_area=area, vacancy_loss=rent.money(loss))
        out.append(item)
    return out


def unit_rents(*, user, as_of: date, site: int | None = None) -> list[dict]:
    """Headline rent per m² per month of each leased unit (for the map's rent layer)."""
    lines = _current_lines(user, as_of)
    if site is not None:
        lines = lines.filter(unit__site_id=site)
    return [
        {"unit": u, "code": code, "lease": number, "rent_per_sqm_month": per, "area": area}
        for u, code, number, per, area in lines.values_list(
            "unit_id", "unit__code", "lease__number", "rent_per_sqm_month", "area"
        ).order_by("unit_id")
    ]


def leases_for_unit(*, user, unit: Unit) -> QuerySet:
    return Lease.objects.restrict(user, "view").filter(Q(lines__unit=unit)).distinct()
