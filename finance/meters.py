"""Meters (水电气冷): readings with their checks, and meter bills.

A reading's consumption is fixed when it is recorded, against the meter's previous reading:

- below the previous actual reading → refused (`value`), unless the register rolled over
  (consumption = max_reading − previous + value) or the meter was replaced
  (consumption = old meter's final − previous + value − new meter's initial);
- more than FINANCE_METER_JUMP_MULTIPLE (default 3) × the average of the last three
  consumptions → stored, but flagged: it is billed only once someone confirms it;
- a month without a reading → at billing time an estimated reading (the average of the
  last three consumptions) stands in, dated the month's last day; the next actual reading
  is measured against it, so its consumption trues the estimate up (and may be negative).

Meter bills: a run for month M bills the month before, [M−1, M), to the lease that holds
the meter's unit on that month's last day: consumption × multiplier × tariff, one line per
meter, one bill per lease. Each billed reading points at its bill, so nothing is billed
twice; a true-up that leaves the total negative is posted as a credit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils.translation import gettext as _

from finance.models import (
    Bill,
    BillingRun,
    BillKind,
    Meter,
    MeterReading,
    ReadingSource,
    Tariff,
)
from finance.services import bill_post, fen, item_config, tax_split
from leasing.models import LeaseUnit
from leasing.rent import add_months
from spatial.models import Company

DAY = timedelta(days=1)
ZERO = Decimal("0")
CENT = Decimal("0.01")
HISTORY = 3  # readings averaged for the usual consumption


def jump_multiple() -> Decimal:
    return Decimal(str(getattr(settings, "FINANCE_METER_JUMP_MULTIPLE", 3)))


def usual_consumption(meter: Meter, *, before: date) -> Decimal | None:
    """The average of the last three actual consumptions before `before` (None if none)."""
    values = list(
        meter.readings.filter(read_on__lt=before, source=ReadingSource.READ, consumption__gt=0)
        .order_by("-read_on")
        .values_list("consumption", flat=True)[:HISTORY]
    )
    return sum(values, ZERO) / len(values) if values else None


@transaction.atomic
def meter_reading_create(
    *, meter: Meter, read_on: date, value: Decimal, rollover: bool = False,
    replaced: bool = False, old_final: Decimal | None = None,
    new_initial: Decimal | None = None, confirm: bool = False, user=None,
) -> MeterReading:  # fmt: skip
    """Record an actual reading (checks in the module docstring)."""
    meter = Meter.objects.select_for_update().get(pk=meter.pk)
    last = meter.readings.order_by("-read_on").first()
    last_read = meter.readings.filter(source=ReadingSource.READ).order_by("-read_on").first()
    errors: dict[str, list[str]] = {}
    if value is None or value < 0:
        raise ValidationError({"value": [_("A reading cannot be negative.")]})
    if last and read_on <= last.read_on:
        errors["read_on"] = [_("The meter was last read on %(day)s; record later readings.")
                             % {"day": last.read_on}]  # fmt: skip
    if rollover and replaced:
        errors["rollover"] = [_("A reading is either a rollover or a replacement.")]
    consumption = ZERO
    if last is not None and not errors:
        if replaced:
            new_initial = new_initial or ZERO
            if old_final is None or old_final < last.value:
                errors["old_final"] = [_("Give the old meter's final reading, at least %(v)s.")
                                       % {"v": last.value}]  # fmt: skip
            elif value < new_initial:
                errors["value"] = [_("Below the new meter's initial reading.")]
            else:
                consumption = old_final - last.value + value - new_initial
        elif rollover:
            if meter.max_reading is None:
                errors["rollover"] = [_("The meter has no rollover point (max reading).")]
            elif value >= last.value:
                errors["rollover"] = [_("The register did not roll over: the value is not "
                                        "below the last reading.")]  # fmt: skip
            else:
                consumption = meter.max_reading - last.value + value
        elif last_read is not None and value < last_read.value:
            errors["value"] = [
                _("%(value)s is below the last reading %(last)s on %(day)s; record a rollover "
                  "or a meter replacement if there was one.")
                % {"value": value, "last": last_read.value, "day": last_read.read_on}
            ]  # fmt: skip
        else:
            consumption = value - last.value  # after an estimate: the true-up, maybe < 0
    if errors:
        raise ValidationError(errors)
    usual = usual_consumption(meter, before=read_on)
    flagged = bool(usual and consumption > usual * jump_multiple())
    reading = MeterReading(
        meter=meter, read_on=read_on, value=value, consumption=consumption, rollover=rollover,
        replaced=replaced, old_final=old_final if replaced else None,
        new_initial=new_initial if replaced else None, flagged=flagged,
        confirmed_by=user if flagged and confirm else None,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )  # fmt: skip
    reading.full_clean(exclude=["meter", "confirmed_by", "created_by", "bill"])
    reading.save()
    if replaced:
        meter.replaced_on = read_on
        meter.save(update_fields=["replaced_on"])
    return reading


@transaction.atomic
def meter_reading_confirm(reading: MeterReading, *, user) -> MeterReading:
    """Confirm a flagged jump, so that billing takes it."""
    reading = MeterReading.objects.select_for_update().get(pk=reading.pk)
    if not reading.flagged:
        raise ValidationError({"flagged": [_("The reading is not flagged.")]})
    if reading.bill_id:
        raise ValidationError({"bill": [_("The reading is already billed.")]})
    reading.confirmed_by = user
    reading.save(update_fields=["confirmed_by"])
    return reading


def tariff_for(meter: Meter, on: date) -> Tariff | None:
    """The tariff of the meter's company or its nearest parent in force on `on`."""
    ids = [int(i) for i in meter.company.path.strip("/").split("/") if i]
    rank = {cid: n for n, cid in enumerate(ids)}
    found = list(Tariff.objects.filter(company_id__in=ids, kind=meter.kind, effective_from__lte=on))
    if not found:
        return None
    return max(found, key=lambda t: (rank[t.company_id], t.effective_from))


def _estimate(meter: Meter, *, start: date, end: date) -> MeterReading | None:
    """The estimated reading for a month `[start, end)` without one (None if the meter has
    no reading before it, or already has one in it)."""
    if meter.readings.filter(read_on__gte=start, read_on__lt=end).exists():
        return None
    last = meter.readings.filter(read_on__lt=start).order_by("-read_on").first()
    if last is None:
        return None
    usual = usual_consumption(meter, before=end) or ZERO
    usual = usual.quantize(CENT)
    return MeterReading.objects.create(
        meter=meter,
        read_on=end - DAY,
        value=last.value + usual,
        consumption=usual,
        source=ReadingSource.ESTIMATED,
    )


def meter_line(
    meter: Meter, readings: list[MeterReading], tariff: Tariff, config, *, opening=None
) -> dict:
    consumption = sum((r.consumption for r in readings), ZERO)
    quantity = consumption * meter.multiplier
    amount = fen(quantity * tariff.price)
    net, tax = tax_split(amount, tariff.vat_rate)
    return {
        "item": meter.kind, "description": f"{meter.get_kind_display()} {meter.serial}",
        "unit": meter.unit_id, "amount": amount, "net": net, "tax": tax,
        "vat_rate": tariff.vat_rate, "tax_code": config.tax_code if config else "",
        "trace": {
            "rule": "meter", "meter": meter.serial, "kind": meter.kind,
            "multiplier": str(meter.multiplier), "consumption": str(consumption),
            "quantity": str(quantity), "price": str(tariff.price), "tariff": tariff.pk,
            "unrounded": str(quantity * tariff.price), "rounding": "ROUND_HALF_UP, 0.01",
            "readings": [
                {"read_on": r.read_on.isoformat(), "value": str(r.value), "source": r.source,
                 "consumption": str(r.consumption), "rollover": r.rollover,
                 "replaced": r.replaced}
                for r in readings
            ],
            "opening": None if opening is None else {
                "read_on": opening.read_on.isoformat(), "value": str(opening.value),
                "source": opening.source},
            # measured from an estimate: this bill trues the estimate up
            "trued_up": any(r.source == ReadingSource.ESTIMATED
                            for r in [*([opening] if opening else []), *readings[:-1]]),
        },
    }  # fmt: skip


def _holder(unit_id: int, day: date):
    line = (
        LeaseUnit.objects.filter(
            unit_id=unit_id, blocking=True, period__contains=day,
            lease__status__in=("active", "expired", "terminated"),
        ).select_related("lease").first()
    )  # fmt: skip
    return line.lease if line else None


def meter_bills_post(
    *, month: date, company: Company | None, run: BillingRun | None, result, user=None
) -> None:
    """Post the meter bills for the month before `month` (one per lease, per-lease atomic)."""
    end = month.replace(day=1)
    start = add_months(end, -1)
    meters = Meter.objects.filter(active=True, installed_on__lt=end).select_related(
        "company", "unit"
    )
    if company is not None:
        meters = meters.filter(company__path__startswith=company.path)
    by_lease: dict[int, list[Meter]] = defaultdict(list)
    leases = {}
    for meter in meters.order_by("unit_id", "kind"):
        lease = _holder(meter.unit_id, end - DAY)
        if lease is None:
            continue  # an empty unit's consumption is the landlord's
        leases[lease.pk] = lease
        by_lease[lease.pk].append(meter)
    posted = set(
        Bill.objects.filter(kind=BillKind.METER, period_start=start,
                            lease_id__in=list(leases)).values_list("lease_id", flat=True)
    )  # fmt: skip
    for lease_id, group in by_lease.items():
        lease = leases[lease_id]
        if lease_id in posted:
            result.skip(lease_id, lease.number, "already posted", start)
            continue
        try:
            with transaction.atomic():
                bill = _post_lease(lease, group, start=start, end=end, user=user)
                if bill is not None and run is not None:
                    Bill.objects.filter(pk=bill.pk).update(run=run)
        except _Skip as skip:
            result.skip(lease_id, lease.number, str(skip), start)
            continue
        except (ValidationError, DatabaseError) as exc:
            result.skip(lease_id, lease.number, f"error: {exc}", start)
            continue
        result.bills += 1
        result.lines += len(group)
        result.amount += bill.amount
        result.by_kind[bill.kind] += 1


class _Skip(Exception):
    """A lease's meter bill is not posted this time, for the reason given."""


def _post_lease(lease, meters: list[Meter], *, start: date, end: date, user) -> Bill:
    lines, billed = [], []
    for meter in meters:
        _estimate(meter, start=start, end=end)
        readings = list(
            meter.readings.filter(bill__isnull=True, read_on__lt=end).order_by("read_on")
        )
        if not readings:
            continue
        if any(r.flagged and r.confirmed_by_id is None for r in readings):
            raise _Skip(f"reading needs confirmation: meter {meter.serial}")
        tariff = tariff_for(meter, start)
        if tariff is None:
            raise _Skip(f"no tariff: {meter.kind}")
        opening = meter.readings.filter(read_on__lt=readings[0].read_on).order_by("-read_on")
        line = meter_line(meter, readings, tariff, item_config(meter.kind),
                          opening=opening.first())  # fmt: skip
        lines.append(line)
        billed.extend(r.pk for r in readings)
    if not lines:
        raise _Skip("no readings")
    total = sum((ln["amount"] for ln in lines), ZERO)
    if total == 0:
        raise _Skip("no consumption")
    bill = bill_post(
        lease=lease, kind=BillKind.METER if total > 0 else BillKind.CREDIT,
        period_start=start, period_end=end, due_date=end + timedelta(days=14), lines=lines,
        reason="" if total > 0 else "能耗抄表多估冲回 (meter true-up)", user=user,
    )  # fmt: skip
    MeterReading.objects.filter(pk__in=billed).update(bill=bill)
    return bill
