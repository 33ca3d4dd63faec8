"""Writes of the leasing app. Each runs in a transaction, validates, then writes.

Index:
    tenant_create, tenant_update, tenant_credit_update
    lease_create, lease_update (drafts), lease_submit, lease_reject, lease_approve,
    lease_activate, leases_activate_due, leases_expire_due,
    lease_amend, lease_renew, lease_terminate, lease_deposit_receive, lease_period_close
    turnover_report_create, unit_listing_update, units_status_sync
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields.ranges import DateRange
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

from leasing import rent
from leasing.choices import (
    BLOCKING_STATUSES,
    CreditRating,
    LeaseEventKind,
    LeaseStatus,
    PriceBasis,
    TenantKind,
    TerminationKind,
    VacancyReason,
)
from leasing.models import (
    FreePeriod,
    Lease,
    LeaseCharge,
    LeaseEvent,
    LeaseSettlement,
    LeaseUnit,
    LeaseVersion,
    RentStep,
    Tenant,
    TurnoverReport,
    UnitListing,
)
from spatial.choices import UnitStatus
from spatial.models import Company, Unit

DAY = timedelta(days=1)
#: Unit statuses the leases drive; self-used and not-leasable units are left alone.
LEASING_UNIT_STATUSES = (UnitStatus.VACANT, UnitStatus.RESERVED, UnitStatus.LEASED)
VERSION_FIELDS = (
    "payment_cycle",
    "bill_lead_days",
    "due_offset_days",
    "monthly_basis",
    "prices_include_tax",
    "rent_vat_rate",
    "escalation_rate",
    "escalation_every_months",
    "turnover_rate",
    "early_termination_penalty_months",
    "breach_penalty_months",
    "deposit_forfeited_on_breach",
)


def _event(lease: Lease, kind: str, *, user, today: date, reason: str = "", **data) -> None:
    LeaseEvent.objects.create(
        lease=lease,
        kind=kind,
        on=today,
        actor=user if getattr(user, "is_authenticated", False) else None,
        reason=reason,
        data={k: str(v) if isinstance(v, Decimal | date) else v for k, v in data.items()},
    )


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


def _locked(lease: Lease) -> Lease:
    return Lease.objects.select_for_update().get(pk=lease.pk)


def _require_status(lease: Lease, *allowed: str, action: str) -> None:
    if lease.status not in allowed:
        raise ValidationError(
            {
                "status": [
                    _("A %(status)s lease cannot be %(action)s.")
                    % {"status": lease.get_status_display(), "action": action}
                ]
            }
        )


# -- tenants -----------------------------------------------------------------------------------


def _validate_tenant(tenant: Tenant) -> None:
    errors: dict[str, list[str]] = {}
    tenant.uscc = (tenant.uscc or "").strip().upper()
    tenant.id_number = (tenant.id_number or "").strip().upper()
    if tenant.kind == TenantKind.COMPANY:
        if not tenant.uscc:
            errors["uscc"] = [_("A company tenant needs its unified social credit code.")]
        else:
            try:
                uscc.validate(tenant.uscc)
            except StdnumError as exc:
                errors["uscc"] = [_("Not a valid unified social credit code: %s") % exc]
    elif tenant.kind == TenantKind.INDIVIDUAL:
        if not tenant.id_number:
            errors["id_number"] = [_("An individual tenant needs an ID card number.")]
        else:
            try:
                ric.validate(tenant.id_number)
            except StdnumError as exc:
                errors["id_number"] = [_("Not a valid resident ID card number: %s") % exc]
    if errors:
        raise ValidationError(errors)
    tenant.full_clean()


@transaction.atomic
def tenant_create(**fields: Any) -> Tenant:
    tenant = Tenant(**fields)
    _validate_tenant(tenant)
    tenant.save()
    return tenant


@transaction.atomic
def tenant_update(tenant: Tenant, **fields: Any) -> Tenant:
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    for name, value in fields.items():
        setattr(tenant, name, value)
    _validate_tenant(tenant)
    tenant.save()
    return tenant


def credit_rating_from_history(*, bills: int, paid_late: int, overdue_days_max: int) -> str:
    """A from on-time payers to D for tenants in arrears: late share of bills and the
    longest overdue run decide."""
    if overdue_days_max > 90:
        return CreditRating.D
    late = paid_late / bills if bills else 0
    if late > 0.3 or overdue_days_max > 30:
        return CreditRating.C
    if late > 0.1 or overdue_days_max > 7:
        return CreditRating.B
    return CreditRating.A


@transaction.atomic
def tenant_credit_update(
    *, tenant: Tenant, bills: int, paid_late: int, overdue_days_max: int
) -> Tenant:
    """Re-rate a tenant from its payment history (billing calls this after each run)."""
    rating = credit_rating_from_history(
        bills=bills, paid_late=paid_late, overdue_days_max=overdue_days_max
    )
    Tenant.objects.filter(pk=tenant.pk).update(credit_rating=rating)
    tenant.credit_rating = rating
    return tenant


# -- terms -------------------------------------------------------------------------------------


def _within(company: Company, other: Company) -> bool:
    """Is `other` `company` or below it?"""
    return other.path.startswith(company.path)


def _check_units(company: Company, units: list[dict]) -> list[tuple[Unit, Decimal]]:
    if not units:
        raise ValidationError({"units": [_("A lease needs at least one unit.")]})
    ids = [getattr(u["unit"], "pk", u["unit"]) for u in units]
    if len(set(ids)) != len(ids):
        raise ValidationError({"units": [_("A unit is listed twice.")]})
    found = Unit.objects.select_related("company").in_bulk(ids)
    out, errors = [], []
    for line in units:
        unit = found.get(getattr(line["unit"], "pk", line["unit"]))
        area = Decimal(str(line.get("area") or (unit.gross_area if unit else 0) or 0))
        if unit is None:
            errors.append(_("Unit %s does not exist.") % line["unit"])
            continue
        if not _within(company, unit.company):
            errors.append(
                _("Unit %(unit)s belongs to %(owner)s, outside the lease company %(company)s.")
                % {"unit": unit.code, "owner": unit.company, "company": company}
            )
        elif unit.status in (UnitStatus.SELF_USED, UnitStatus.UNAVAILABLE):
            errors.append(
                _("Unit %(unit)s is %(status)s and cannot be leased.")
                % {"unit": unit.code, "status": unit.get_status_display().lower()}
            )
        elif area <= 0:
            errors.append(_("The leased area of unit %s must be positive.") % unit.code)
        elif unit.gross_area and area > unit.gross_area:
            errors.append(
                _("The leased area of unit %(unit)s exceeds its gross area (%(gross)s m²).")
                % {"unit": unit.code, "gross": unit.gross_area}
            )
        out.append((unit, area))
    if errors:
        raise ValidationError({"units": errors})
    return out


def _check_terms(*, start: date, end: date, steps: list[dict], free_periods: list[dict],
                 charges: list[dict], fields: dict) -> None:  # fmt: skip
    errors: dict[str, list[str]] = {}
    if end < start:
        errors["end_date"] = [_("The end date is before the start date.")]
    if not steps:
        errors["steps"] = [_("Give at least one rent price.")]
    else:
        dates = [s["start_date"] for s in steps]
        if len(set(dates)) != len(dates):
            errors.setdefault("steps", []).append(_("Two rent steps start on the same day."))
        if min(dates) > start:
            errors.setdefault("steps", []).append(_("The first rent step starts after the term."))
        for s in steps:
            if Decimal(str(s["price"])) < 0:
                errors.setdefault("steps", []).append(_("A price cannot be negative."))
            if s.get("basis") not in PriceBasis.values:
                errors.setdefault("steps", []).append(_("Unknown price basis."))
    for f in free_periods:
        if f["end_date"] < f["start_date"]:
            errors.setdefault("free_periods", []).append(_("A free period ends before it starts."))
        elif f["start_date"] < start or f["end_date"] > end:
            errors.setdefault("free_periods", []).append(
                _("A free period lies outside the lease term.")
            )
    spans = sorted((f["start_date"], f["end_date"]) for f in free_periods)
    if any(b[0] <= a[1] for a, b in zip(spans, spans[1:], strict=False)):
        errors.setdefault("free_periods", []).append(_("Free periods overlap."))
    for c in charges:
        if Decimal(str(c["price"])) < 0:
            errors.setdefault("charges", []).append(_("A price cannot be negative."))
        rate = Decimal(str(c.get("vat_rate", "0.06")))
        if not 0 <= rate < 1:
            errors.setdefault("charges", []).append(_("A VAT rate lies between 0 and 1."))
    rate = fields.get("turnover_rate")
    if rate is not None and not 0 < Decimal(str(rate)) < 1:
        errors["turnover_rate"] = [_("A turnover share lies between 0 and 1 (0.08 for 8 %).")]
    if Decimal(str(fields.get("escalation_rate") or 0)) < 0:
        errors["escalation_rate"] = [_("An escalation rate cannot be negative.")]
    if fields.get("escalation_rate") and not fields.get("escalation_every_months"):
        errors["escalation_every_months"] = [_("Say how often the rent escalates.")]
    if errors:
        raise ValidationError(errors)


def _write_version(version: LeaseVersion, *, units, steps, free_periods, charges) -> None:
    version.full_clean(exclude=["lease"])
    version.save()
    RentStep.objects.bulk_create(
        RentStep(version=version, start_date=s["start_date"], price=s["price"], basis=s["basis"])
        for s in steps
    )
    FreePeriod.objects.bulk_create(
        FreePeriod(
            version=version,
            start_date=f["start_date"],
            end_date=f["end_date"],
            covers_charges=f.get("covers_charges", False),
        )
        for f in free_periods
    )
    LeaseCharge.objects.bulk_create(
        LeaseCharge(
            version=version,
            item=c["item"],
            name=c.get("name", ""),
            price=c["price"],
            basis=c["basis"],
            quantity=c.get("quantity", 1),
            vat_rate=c.get("vat_rate", Decimal("0.06")),
        )
        for c in charges
    )
    LeaseUnit.objects.bulk_create(
        LeaseUnit(
            version=version,
            lease_id=version.lease_id,
            unit=unit,
            area=area,
            period=DateRange(version.effective_from, version.end_date + DAY),
            blocking=False,
        )
        for unit, area in units
    )


def _version_terms_as_input(version: LeaseVersion) -> dict:
    """A version's terms in the shape lease_create takes, to copy into a new version."""
    return {
        "units": [{"unit": line.unit, "area": line.area} for line in version.lines.all()],
        "steps": [
            {"start_date": s.start_date, "price": s.price, "basis": s.basis}
            for s in version.steps.all()
        ],
        "free_periods": [
            {"start_date": f.start_date, "end_date": f.end_date, "covers_charges": f.covers_charges}
            for f in version.free_periods.all()
        ],
        "charges": [
            {
                "item": c.item,
                "name": c.name,
                "price": c.price,
                "basis": c.basis,
                "quantity": c.quantity,
                "vat_rate": c.vat_rate,
            }
            for c in version.charges.all()
        ],
        **{name: getattr(version, name) for name in VERSION_FIELDS},
    }


def _layout_lines(lease: Lease) -> None:
    """Set every lease line's period and blocking flag from the versions and the status.

    Version n's lines hold their units from its effective date until version n+1 takes
    effect, the last version's until the end (or move-out). Earlier versions are written
    first, so shrinking periods make room before later ones grow.
    """
    versions = list(lease.versions.order_by("number"))
    end = rent.lease_end(lease)
    blocking = lease.status in BLOCKING_STATUSES
    lines = {v.pk: list(v.lines.all()) for v in versions}
    planned = []
    for i, version in enumerate(versions):
        start = max(version.effective_from, lease.start_date)
        stop = min(versions[i + 1].effective_from if i + 1 < len(versions) else end, end)
        for line in lines[version.pk]:
            holds = blocking and start < stop
            period = DateRange(start, stop) if start < stop else DateRange(start, start + DAY)
            planned.append((line, period, holds, i == len(versions) - 1))
    if blocking:
        _check_overlaps(lease, [(line.unit, p) for line, p, holds, _c in planned if holds])
    # Release first, then hold, so no intermediate state trips the constraint.
    for line, period, holds, current in sorted(planned, key=lambda x: x[2]):
        line.period, line.blocking, line.current = period, holds, current
        try:
            with transaction.atomic():
                line.save(update_fields=["period", "blocking", "current"])
        except IntegrityError as exc:
            if "leaseunit_no_overlap" in str(exc):
                raise ValidationError(
                    {"units": [_("Unit %s already carries a lease for these dates.") % line.unit]}
                ) from exc
            raise


def _check_overlaps(lease: Lease, holds: list[tuple[Unit, DateRange]]) -> None:
    errors = []
    for unit, period in holds:
        clash = (
            LeaseUnit.objects.filter(unit=unit, blocking=True, period__overlap=period)
            .exclude(lease=lease)
            .select_related("lease")
            .first()
        )
        if clash:
            errors.append(
                _("Unit %(unit)s already carries lease %(lease)s from %(start)s to %(end)s.")
                % {
                    "unit": unit.code,
                    "lease": clash.lease.number,
                    "start": clash.period.lower,
                    "end": clash.period.upper - DAY,
                }
            )
    if errors:
        raise ValidationError({"units": errors})


def _headline_rents(lease: Lease) -> None:
    """Store each line's headline rent (元/m²/month at its version's start) for the map."""
    for terms in rent.terms_for_lease(lease):
        per = rent.rent_per_sqm_month(terms, terms.start)
        LeaseUnit.objects.filter(lease=lease, version__number=terms.version).update(
            rent_per_sqm_month=per
        )


def _split_terms(data: dict) -> tuple[list, list, list, list, dict]:
    units = data.pop("units", [])
    steps = data.pop("steps", [])
    free = data.pop("free_periods", [])
    charges = data.pop("charges", [])
    fields = {k: data.pop(k) for k in VERSION_FIELDS if k in data}
    return units, steps, free, charges, fields


# -- leases ------------------------------------------------------------------------------------


@transaction.atomic
def lease_create(*, user=None, today: date, **data: Any) -> Lease:
    """A draft lease with its first version: header fields, `units` [{unit, area}],
    `steps` [{start_date, price, basis}], `free_periods`, `charges` and the version
    fields (payment cycle, escalation, turnover share, penalties …)."""
    units, steps, free, charges, fields = _split_terms(data)
    tenant = data["tenant"]
    company = data.get("company")
    if company is None and units:
        first = units[0]["unit"]
        company = first.company if isinstance(first, Unit) else Unit.objects.get(pk=first).company
        data["company"] = company
    if company is None:
        raise ValidationError({"units": [_("A lease needs at least one unit.")]})
    if not _within(tenant.company, company):
        raise ValidationError(
            {"tenant": [_("The tenant is registered with another company (%s).") % tenant.company]}
        )
    start, end = data["start_date"], data["end_date"]
    _check_terms(start=start, end=end, steps=steps, free_periods=free, charges=charges,
                 fields=fields)  # fmt: skip
    checked = _check_units(company, units)
    lease = Lease(status=LeaseStatus.DRAFT, **data)
    lease.full_clean()
    lease.save()
    version = LeaseVersion(
        lease=lease, number=1, effective_from=start, start_date=start, end_date=end,
        created_by=_actor(user), reason=_("Signed"), **fields,
    )  # fmt: skip
    _write_version(version, units=checked, steps=steps, free_periods=free, charges=charges)
    _check_overlaps(lease, [(u, DateRange(start, end + DAY)) for u, _a in checked])
    _headline_rents(lease)
    _event(lease, LeaseEventKind.CREATED, user=user, today=today)
    return lease


@transaction.atomic
def lease_update(lease: Lease, *, user=None, today: date, **data: Any) -> Lease:
    """Change a draft: header fields and, when given, its terms (version 1 is rewritten)."""
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.DRAFT, action=_("edited"))
    version = lease.versions.get(number=1)
    current = _version_terms_as_input(version)
    units, steps, free, charges, fields = _split_terms(data)
    for name, value in data.items():
        setattr(lease, name, value)
    lease.full_clean()
    fields = {**{k: current[k] for k in VERSION_FIELDS}, **fields}
    units, steps = units or current["units"], steps or current["steps"]
    free = free if "free_periods" in data or free else current["free_periods"]
    charges = charges or current["charges"]
    _check_terms(start=lease.start_date, end=lease.end_date, steps=steps, free_periods=free,
                 charges=charges, fields=fields)  # fmt: skip
    checked = _check_units(lease.company, units)
    lease.save()
    version.delete()
    version = LeaseVersion(
        lease=lease, number=1, effective_from=lease.start_date, start_date=lease.start_date,
        end_date=lease.end_date, created_by=_actor(user), reason=_("Signed"), **fields,
    )  # fmt: skip
    _write_version(version, units=checked, steps=steps, free_periods=free, charges=charges)
    _headline_rents(lease)
    _event(lease, LeaseEventKind.UPDATED, user=user, today=today)
    return lease


@transaction.atomic
def lease_submit(lease: Lease, *, user=None, today: date) -> Lease:
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.DRAFT, action=_("submitted"))
    _check_overlaps(lease, [(line.unit, line.period) for line in lease.lines.all()])
    lease.status = LeaseStatus.SUBMITTED
    lease.submitted_by, lease.submitted_at = _actor(user), timezone.now()
    lease.save(update_fields=["status", "submitted_by", "submitted_at", "updated_at"])
    _event(lease, LeaseEventKind.SUBMITTED, user=user, today=today)
    return lease


@transaction.atomic
def lease_reject(lease: Lease, *, user=None, today: date, reason: str) -> Lease:
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.SUBMITTED, action=_("rejected"))
    if not reason:
        raise ValidationError({"reason": [_("Say why the lease is rejected.")]})
    lease.status = LeaseStatus.DRAFT
    lease.save(update_fields=["status", "updated_at"])
    _event(lease, LeaseEventKind.REJECTED, user=user, today=today, reason=reason)
    return lease


@transaction.atomic
def lease_approve(lease: Lease, *, user=None, today: date) -> Lease:
    """Approve a submitted lease: its lines now hold their units (the constraint applies)."""
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.SUBMITTED, action=_("approved"))
    lease.status = LeaseStatus.APPROVED
    lease.approved_by, lease.approved_at = _actor(user), timezone.now()
    lease.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    _layout_lines(lease)
    _event(lease, LeaseEventKind.APPROVED, user=user, today=today)
    units_status_sync(unit_ids=_unit_ids(lease), today=today)
    return lease


@transaction.atomic
def lease_activate(lease: Lease, *, user=None, today: date) -> Lease:
    """Only an approved lease becomes active, and not before its start date."""
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.APPROVED, action=_("activated"))
    if lease.start_date > today:
        raise ValidationError(
            {"start_date": [_("The lease starts on %s; it cannot be active before.")
                            % lease.start_date]}
        )  # fmt: skip
    lease.status = LeaseStatus.ACTIVE
    lease.save(update_fields=["status", "updated_at"])
    _event(lease, LeaseEventKind.ACTIVATED, user=user, today=today)
    units_status_sync(unit_ids=_unit_ids(lease), today=today)
    return lease


def leases_activate_due(*, today: date, user=None) -> int:
    """Activate every approved lease whose start date has come; returns how many."""
    n = 0
    for lease in Lease.objects.filter(status=LeaseStatus.APPROVED, start_date__lte=today):
        lease_activate(lease, user=user, today=today)
        n += 1
    return n


@transaction.atomic
def leases_expire_due(*, today: date, user=None) -> int:
    """Expire active leases whose last day has passed; their units fall vacant."""
    due = list(
        Lease.objects.select_for_update().filter(status=LeaseStatus.ACTIVE, end_date__lt=today)
    )
    for lease in due:
        lease.status, lease.termination_kind = LeaseStatus.EXPIRED, TerminationKind.EXPIRY
        lease.save(update_fields=["status", "termination_kind", "updated_at"])
        _event(lease, LeaseEventKind.EXPIRED, user=user, today=today)
        if not hasattr(lease, "renewed_by"):
            _listings_vacate(lease, since=lease.end_date + DAY, reason=VacancyReason.LEASE_EXPIRED)
    units_status_sync(unit_ids=[u for lease in due for u in _unit_ids(lease)], today=today)
    return len(due)


def leases_rents_refresh(*, today: date) -> int:
    """Bring the stored rent per m² of current lease lines to the rent in force today.

    A line stores its version's headline rent when the version is written; steps and
    periodic escalation (+5 % every two years …) move the rent later, and the map, WFS and
    rent-per-m² analyses read the stored figure. Only leases whose rent can move (more
    than one step, or an escalation rate) are read; returns how many lines changed.
    """
    movable = (
        Lease.objects.filter(status=LeaseStatus.ACTIVE, start_date__lte=today)
        .annotate(steps=Count("versions__steps"))
        .filter(Q(steps__gt=1) | Q(versions__escalation_rate__gt=0))
        .distinct()
    )
    changed = 0
    for lease in movable.iterator(chunk_size=500):
        in_force = [t for t in rent.terms_for_lease(lease) if t.start <= today < t.end]
        if not in_force:  # today outside the term (moved out, or not started)
            continue
        per = rent.rent_per_sqm_month(in_force[0], today)
        changed += (
            LeaseUnit.objects.filter(lease=lease, current=True)
            .exclude(rent_per_sqm_month=per)
            .update(rent_per_sqm_month=per)
        )
    return changed


def _unit_ids(lease: Lease) -> list[int]:
    return list(lease.lines.values_list("unit_id", flat=True).distinct())


def _listings_vacate(lease: Lease, *, since: date, reason: str) -> None:
    last = lease.versions.order_by("-number").first()
    for line in last.lines.select_related("unit"):
        UnitListing.objects.update_or_create(
            unit=line.unit,
            defaults={
                "vacant_since": since,
                "vacancy_reason": reason,
                "asking_rent": line.rent_per_sqm_month or None,
            },
        )


@transaction.atomic
def lease_amend(
    lease: Lease, *, effective_from: date, user=None, today: date, reason: str, **changes: Any
) -> LeaseVersion:
    """A new version from `effective_from`: any of units/areas, steps, free periods,
    charges, the end date (term) and the version fields (payment cycle …). Earlier
    versions stay as they were; billing regenerates from `effective_from`."""
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.APPROVED, LeaseStatus.ACTIVE, action=_("amended"))
    current = lease.versions.order_by("-number").first()
    errors = {}
    if not reason:
        errors["reason"] = [_("Say why the contract is amended.")]
    if effective_from <= current.effective_from or effective_from > lease.end_date:
        errors["effective_from"] = [
            _("The amendment must take effect after %(prev)s and by the end date %(end)s.")
            % {"prev": current.effective_from, "end": lease.end_date}
        ]
    elif lease.closed_through and effective_from <= lease.closed_through:
        errors["effective_from"] = [
            _("Periods through %s are closed; amend from a later date.") % lease.closed_through
        ]
    if errors:
        raise ValidationError(errors)
    terms = _version_terms_as_input(current)
    new_end = changes.pop("end_date", lease.end_date)
    units, steps, free, charges, fields = _split_terms(changes)
    if changes:
        raise ValidationError({k: [_("Cannot be amended.")] for k in changes})
    if new_end < effective_from:
        raise ValidationError({"end_date": [_("The new end date is before the amendment.")]})
    fields = {**{k: terms[k] for k in VERSION_FIELDS}, **fields}
    units = units or terms["units"]
    steps = steps or terms["steps"]
    free = free or [f for f in terms["free_periods"] if f["end_date"] >= effective_from]
    charges = charges or terms["charges"]
    _check_terms(start=lease.start_date, end=new_end, steps=steps, free_periods=free,
                 charges=charges, fields=fields)  # fmt: skip
    checked = _check_units(lease.company, units)
    version = LeaseVersion(
        lease=lease, number=current.number + 1, effective_from=effective_from,
        start_date=lease.start_date, end_date=new_end, created_by=_actor(user), reason=reason,
        **fields,
    )  # fmt: skip
    _write_version(version, units=checked, steps=steps, free_periods=free, charges=charges)
    lease.end_date = new_end
    lease.save(update_fields=["end_date", "updated_at"])
    _layout_lines(lease)
    _headline_rents(lease)
    _event(lease, LeaseEventKind.AMENDED, user=user, today=today, reason=reason,
           version=version.number, effective_from=effective_from)  # fmt: skip
    units_status_sync(unit_ids=_unit_ids(lease), today=today)
    return version


@transaction.atomic
def lease_renew(
    lease: Lease, *, number: str, end_date: date, user=None, today: date, **changes: Any
) -> Lease:
    """A draft renewal, linked to `lease`, starting the day after it ends, with the same
    units and terms unless `changes` (steps, units, version fields …) say otherwise."""
    lease = _locked(lease)
    _require_status(lease, LeaseStatus.APPROVED, LeaseStatus.ACTIVE, LeaseStatus.EXPIRED,
                    action=_("renewed"))  # fmt: skip
    if Lease.objects.filter(renewal_of=lease).exists():
        raise ValidationError({"renewal_of": [_("This lease has already been renewed.")]})
    start = lease.end_date + DAY
    terms = _version_terms_as_input(lease.versions.order_by("-number").first())
    units, steps, free, charges, fields = _split_terms(changes)
    if not steps:
        last = terms["steps"][-1]
        steps = [{"start_date": start, "price": last["price"], "basis": last["basis"]}]
    renewal = lease_create(
        user=user, today=today, company=lease.company, number=number, tenant=lease.tenant,
        use=lease.use, start_date=start, end_date=end_date, renewal_of=lease,
        deposit_amount=changes.pop("deposit_amount", lease.deposit_amount),
        units=units or terms["units"], steps=steps, free_periods=free,
        charges=charges or terms["charges"],
        **{**{k: terms[k] for k in VERSION_FIELDS}, **fields},
    )  # fmt: skip
    _event(lease, LeaseEventKind.RENEWED, user=user, today=today, renewal=renewal.number)
    return renewal


@transaction.atomic
def lease_terminate(
    lease: Lease,
    *,
    kind: str,
    move_out_date: date,
    paid: Decimal | None = None,
    user=None,
    today: date,
    reason: str = "",
    vacancy_reason: str = "",
) -> LeaseSettlement:
    """退租: end the lease on `move_out_date` (its last day) and settle. `paid` is what the
    tenant has paid towards rent and charges; without it, collection supplies it."""
    from leasing.selectors import lease_settlement_compute

    lease = _locked(lease)
    _require_status(lease, LeaseStatus.ACTIVE, LeaseStatus.APPROVED, action=_("terminated"))
    if kind not in TerminationKind.values:
        raise ValidationError({"kind": [_("Unknown kind of termination.")]})
    settlement = lease_settlement_compute(
        lease=lease, kind=kind, move_out_date=move_out_date, paid=paid
    )
    lease.move_out_date = move_out_date
    lease.status = LeaseStatus.TERMINATED
    lease.termination_kind = kind
    lease.closed_through = max(move_out_date, lease.closed_through or move_out_date)
    lease.save()
    _layout_lines(lease)
    record = LeaseSettlement.objects.create(
        lease=lease, kind=kind, move_out_date=move_out_date, reason=reason,
        created_by=_actor(user), **settlement,
    )  # fmt: skip
    _event(lease, LeaseEventKind.TERMINATED, user=user, today=today, reason=reason,
           termination=kind, move_out_date=move_out_date, balance=record.balance)  # fmt: skip
    default_reason = {
        TerminationKind.EARLY: VacancyReason.EARLY_TERMINATION,
        TerminationKind.BREACH: VacancyReason.BREACH,
    }.get(kind, VacancyReason.LEASE_EXPIRED)
    _listings_vacate(lease, since=move_out_date + DAY, reason=vacancy_reason or default_reason)
    units_status_sync(unit_ids=_unit_ids(lease), today=today)
    return record


@transaction.atomic
def lease_deposit_receive(
    lease: Lease, *, amount: Decimal, received_on: date, user=None, today: date
) -> Lease:
    lease = _locked(lease)
    if amount <= 0:
        raise ValidationError({"amount": [_("The amount must be positive.")]})
    if lease.deposit_received + amount > lease.deposit_amount:
        raise ValidationError(
            {"amount": [_("More than the deposit of %s.") % lease.deposit_amount]}
        )
    lease.deposit_received += amount
    lease.deposit_received_on = received_on
    lease.save(update_fields=["deposit_received", "deposit_received_on", "updated_at"])
    _event(lease, LeaseEventKind.DEPOSIT_RECEIVED, user=user, today=today, amount=amount)
    return lease


@transaction.atomic
def lease_period_close(lease: Lease, *, through: date, user=None, today: date) -> Lease:
    """Close billing periods ending on or before `through` (billing, after posting)."""
    lease = _locked(lease)
    if lease.closed_through and through < lease.closed_through:
        raise ValidationError({"through": [_("Periods cannot be reopened.")]})
    lease.closed_through = through
    lease.save(update_fields=["closed_through", "updated_at"])
    _event(lease, LeaseEventKind.PERIOD_CLOSED, user=user, today=today, through=through)
    return lease


@transaction.atomic
def turnover_report_create(
    *, lease: Lease, period_start: date, period_end: date, amount: Decimal, user=None,
    today: date,
) -> TurnoverReport:  # fmt: skip
    """Record turnover a tenant reports for `[period_start, period_end)`."""
    lease = _locked(lease)
    errors: dict[str, list[str]] = {}
    current = lease.versions.order_by("-number").first()
    if current is None or current.turnover_rate is None:
        errors["lease"] = [_("This lease has no turnover share.")]
    if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.TERMINATED, LeaseStatus.EXPIRED):
        errors["lease"] = [_("Turnover is reported for active leases only.")]
    if amount is None or amount < 0:
        errors["amount"] = [_("Turnover cannot be negative.")]
    if period_end <= period_start:
        errors["period_end"] = [_("The period ends before it starts.")]
    elif period_start < lease.start_date or period_end > rent.lease_end(lease):
        errors["period_start"] = [_("The period lies outside the lease term.")]
    if lease.closed_through and period_end <= lease.closed_through + DAY:
        errors["period_start"] = [
            _("The period is closed (billed through %s); turnover can no longer be reported.")
            % lease.closed_through
        ]
    if TurnoverReport.objects.filter(lease=lease, period_start=period_start).exists():
        errors["period_start"] = [_("Turnover for this period is already reported.")]
    if errors:
        raise ValidationError(errors)
    return TurnoverReport.objects.create(
        lease=lease, period_start=period_start, period_end=period_end, amount=amount,
        reported_on=today, created_by=_actor(user),
    )  # fmt: skip


@transaction.atomic
def unit_listing_update(*, unit: Unit, **fields: Any) -> UnitListing:
    listing, _created = UnitListing.objects.get_or_create(unit=unit)
    for name, value in fields.items():
        setattr(listing, name, value)
    listing.full_clean()
    listing.save()
    return listing


def units_status_sync(*, unit_ids, today: date) -> None:
    """Unit.status from the leases on `today`: leased (an active lease holds it today),
    reserved (an approved or active lease holds it later), otherwise vacant. Self-used and
    not-leasable units keep their status."""
    holding = LeaseUnit.objects.filter(unit=OuterRef("pk"), blocking=True)
    now = holding.filter(lease__status=LeaseStatus.ACTIVE, period__contains=today)
    later = holding.filter(
        Q(lease__status=LeaseStatus.APPROVED, period__endswith__gt=today)
        | Q(lease__status=LeaseStatus.ACTIVE, period__startswith__gt=today)
    )
    units = Unit.objects.filter(pk__in=list(unit_ids), status__in=LEASING_UNIT_STATUSES)
    units = units.annotate(now=Exists(now), later=Exists(later))
    units.filter(now=True).exclude(status=UnitStatus.LEASED).update(status=UnitStatus.LEASED)
    units.filter(now=False, later=True).exclude(status=UnitStatus.RESERVED).update(
        status=UnitStatus.RESERVED
    )
    units.filter(now=False, later=False).exclude(status=UnitStatus.VACANT).update(
        status=UnitStatus.VACANT
    )
