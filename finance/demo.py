"""Demo receivables for web.demo's seed: twelve months of posted bills and meter readings.

Called by `web.demo.demo_seed` after the leasing rows are written, inside its transaction.
The regular bills go through the bulk engine (finance.billing), one BillingRun per month
from eleven months before AS_OF to AS_OF's month, with the terms read once for the year.
A few leased units get a water and an electricity meter with monthly readings (one month
missed, so an estimate and its true-up appear; one register rolls over), and their meter
bills are posted month by month through the ordinary path.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from finance import billing, meters
from finance.models import BillingRun, Meter, MeterReading, RunStatus, Tariff
from leasing.models import LeaseUnit
from leasing.rent import add_months
from spatial.models import Company

MONTHS = 12
METERED_UNITS = 12
DAY = timedelta(days=1)
#: (kind, price per unit tax included, VAT rate, usual monthly use per 100 m²)
TARIFFS = (("water", "4.1000", "0.09", 12), ("electricity", "0.9500", "0.13", 900))


def demo_billing_seed(*, as_of: date, months: int = MONTHS, seed: int = 6) -> dict[str, int]:
    """Post `months` months of bills up to `as_of`'s month; returns counts for the summary."""
    last = as_of.replace(day=1)
    first = add_months(last, -(months - 1))
    leases = billing.leases_load(start=first, end=add_months(last, 1))
    counts = {"bills": 0, "bill lines": 0, "meter readings": 0}
    for k in range(months):
        month = add_months(first, k)
        run = BillingRun.objects.create(period=month)
        result = billing.RunResult()
        billing.regular_bills_post(leases, month=month, run=run, result=result)
        if k:  # meters are read from the first month on: bills from the second
            meters.meter_bills_post(month=month, company=None, run=run, result=result)
        billing._finish(run, result, status=RunStatus.DONE)
        counts["bills"] += result.bills
        counts["bill lines"] += result.lines
    return counts


def demo_meters_seed(*, as_of: date, months: int = MONTHS, seed: int = 6) -> int:
    """Meters on the first METERED_UNITS leased units and their month-end readings from
    `months` months before `as_of` (written in bulk, consumption computed as the service
    would). Returns the number of readings."""
    rng = random.Random(seed)  # noqa: S311 - demo data
    last = as_of.replace(day=1)
    first = add_months(last, -months)
    group = Company.objects.filter(parent__isnull=True).order_by("pk").first()
    if group is None:
        return 0
    for kind, price, vat, _usual in TARIFFS:
        Tariff.objects.get_or_create(
            company=group,
            kind=kind,
            effective_from=date(2020, 1, 1),
            defaults={"price": Decimal(price), "vat_rate": Decimal(vat)},
        )
    lines = (
        LeaseUnit.objects.filter(blocking=True, lease__status="active",
                                 period__contains=first).select_related("unit")
        .order_by("unit_id")[:METERED_UNITS]
    )  # fmt: skip
    readings = []
    for n, line in enumerate(lines):
        for kind, _price, _vat, usual in TARIFFS:
            meter = Meter.objects.create(
                company_id=line.unit.company_id, unit=line.unit, kind=kind,
                serial=f"{kind[:1].upper()}{line.unit_id:07d}", installed_on=first - DAY * 30,
                max_reading=Decimal("100000"), multiplier=Decimal(1),
            )  # fmt: skip
            per_month = Decimal(usual) * line.area / 100
            value = Decimal(rng.randint(0, 5000)) if n else Decimal("99000")  # 1st rolls over
            readings.append(MeterReading(meter=meter, read_on=first - DAY, value=value,
                                         consumption=0))  # fmt: skip
            for k in range(1, months + 1):
                day = add_months(first, k) - DAY
                use = (per_month * Decimal(rng.uniform(0.8, 1.2))).quantize(Decimal("0.01"))
                if n == 1 and k >= months - 1:
                    continue  # missed: the last run estimates it, the next reading trues up
                rollover = value + use >= 100000
                value = (value + use) % 100000
                readings.append(MeterReading(meter=meter, read_on=day, value=value,
                                             consumption=use, rollover=rollover))  # fmt: skip
    MeterReading.objects.bulk_create(readings)
    return len(readings)


def demo_finance_seed(*, as_of: date, months: int = MONTHS) -> dict[str, int]:
    """Meters and readings, then `months` (twelve) months of bills (web.demo calls this)."""
    started = timezone.now()
    readings = demo_meters_seed(as_of=as_of, months=months)
    counts = demo_billing_seed(as_of=as_of, months=months)
    counts["meter readings"] = readings
    counts["seconds"] = int((timezone.now() - started).total_seconds())
    return counts
