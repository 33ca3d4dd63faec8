"""Turnover rent (扣点): the part of the turnover share above the guaranteed rent.

The regular bill of a period with a turnover share charges the guaranteed rent (保底), in
advance, as no turnover is known yet. Once the tenant reports the period's turnover, a
turnover bill charges what the rent engine's `max(guarantee, turnover × rate)` adds to it:

    turnover bill = rent with the report − rent without it   (per version, never negative)

so guarantee + turnover bill = the higher of the two, exactly as `leasing.rent` computes it
(the share prorated to the days outside free periods). A run for a month bills every report
whose period ended by the end of that month and has no turnover bill yet; it is due on the
later of the report period's end and the first day of the run's month.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from finance.models import Bill, BillingRun, BillKind
from finance.services import bill_post, item_config
from leasing import rent
from leasing.choices import ChargeItem
from leasing.models import TurnoverReport
from spatial.models import Company

ZERO = Decimal("0")


def turnover_lines(report: TurnoverReport, terms: list[rent.Terms]) -> list[dict]:
    """The turnover bill's lines for `report` (empty when the guarantee covers the share)."""
    config = item_config("turnover")
    start, end = report.period_start, report.period_end
    without = [c for c in rent.lease_charges(terms, start, end) if c.item == ChargeItem.RENT]
    with_share = [
        c
        for c in rent.lease_charges(terms, start, end, turnover=report.amount)
        if c.item == ChargeItem.RENT
    ]
    lines = []
    for base, share in zip(without, with_share, strict=True):
        extra = share.amount - base.amount
        if extra <= 0:
            continue
        lines.append({
            "item": "turnover", "description": "营业额提成租金",
            "period_start": share.period_start, "period_end": share.period_end,
            "amount": extra, "net": share.net - base.net, "tax": share.tax - base.tax,
            "vat_rate": share.vat_rate, "tax_code": config.tax_code if config else "",
            "trace": {
                "rule": "turnover_share", "report": report.pk, "turnover": str(report.amount),
                "version": share.version, "guarantee": str(base.amount),
                "rent_with_share": str(share.amount), "billed": str(extra),
                "segments": share.trace,
            },
        })  # fmt: skip
    return lines


def turnover_bills_post(
    *, month: date, company: Company | None, run: BillingRun | None, result, user=None
) -> None:
    """Post the turnover bills of the reports whose period ended by the end of `month`."""
    from finance.billing import month_bounds

    start, end = month_bounds(month)
    reports = TurnoverReport.objects.filter(period_end__lte=end).select_related("lease")
    if company is not None:
        reports = reports.filter(lease__company__path__startswith=company.path)
    billed = set(
        Bill.objects.filter(kind=BillKind.TURNOVER, lease__in=reports.values("lease")).values_list(
            "lease_id", "period_start"
        )
    )
    for report in reports.order_by("lease_id", "period_start"):
        lease = report.lease
        if (lease.pk, report.period_start) in billed:
            continue  # billed by an earlier run: not this month's business
        try:
            lines = turnover_lines(report, rent.terms_for_lease(lease))
            if not lines:
                result.skip(lease.pk, lease.number, "turnover share within the guarantee",
                            report.period_start)  # fmt: skip
                continue
            with transaction.atomic():
                bill = bill_post(
                    lease=lease, kind=BillKind.TURNOVER, period_start=report.period_start,
                    period_end=report.period_end, due_date=max(report.period_end, start),
                    lines=lines, user=user,
                )  # fmt: skip
                if run is not None:
                    Bill.objects.filter(pk=bill.pk).update(run=run)
        except (ValidationError, DatabaseError, ValueError) as exc:
            result.skip(lease.pk, lease.number, f"error: {exc}", report.period_start)
            continue
        result.bills += 1
        result.lines += len(lines)
        result.amount += bill.amount
        result.by_kind[BillKind.TURNOVER] += 1
