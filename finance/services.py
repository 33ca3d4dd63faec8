"""Posting bills. Every bill is written here (or by the bulk writer of a billing run),
never edited afterwards: corrections are new credit or debit bills."""

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from finance.models import Bill, BillKind, BillLine
from leasing.models import Lease

FEN = Decimal("0.01")
#: Bill number prefixes by kind: 账单 ZD, 调整 TZ, 滞纳金 ZN …
PREFIX = {
    BillKind.REGULAR: "ZD",
    BillKind.METER: "NH",
    BillKind.TURNOVER: "CZ",
    BillKind.LATE_FEE: "ZN",
    BillKind.DEBIT: "TZ",
    BillKind.CREDIT: "TZ",
}


def fen(value: Decimal) -> Decimal:
    """Round to the fen, half up (四舍五入), as every bill line is."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def tax_split(amount: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """(net, tax) of a tax-inclusive amount: tax = amount / (1 + rate) × rate, to the fen."""
    amount = fen(amount)
    tax = fen(amount / (1 + Decimal(rate)) * Decimal(rate))
    return amount - tax, tax


def bill_numbers(kind: str, period_start: date, count: int) -> list[str]:
    """`count` new bill numbers like ZD202611-00001234, from one database sequence."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval('finance_bill_number_seq') FROM generate_series(1, %s)", [count]
        )
        seqs = [row[0] for row in cursor.fetchall()]
    return [f"{PREFIX[kind]}{period_start:%Y%m}-{seq:08d}" for seq in seqs]


def bill_post(
    *,
    lease: Lease,
    kind: str,
    period_start: date,
    period_end: date,
    due_date: date,
    lines: Iterable[dict[str, Any]],
    reason: str = "",
    corrects: Bill | None = None,
    user=None,
) -> Bill:
    """Post one bill with its lines, atomically.

    Each line is a dict with `item`, `amount` (tax included), `vat_rate` and optionally
    `description`, `unit`, `period_start`, `period_end`, `tax_code`, `trace`; its net and
    tax are split here. Amounts are rounded to the fen per line.
    """
    lines = list(lines)
    errors: dict[str, str] = {}
    if kind not in BillKind.values:
        errors["kind"] = _("Unknown bill kind %(kind)s.") % {"kind": kind}
    if not lines:
        errors["lines"] = _("A bill needs at least one line.")
    if period_end < period_start:
        errors["period_end"] = _("The period ends before it starts.")
    if kind in (BillKind.CREDIT, BillKind.DEBIT) and not reason.strip():
        errors["reason"] = _("An adjustment needs a reason.")
    if errors:
        raise ValidationError(errors)
    built = []
    for i, line in enumerate(lines):
        amount = fen(Decimal(line["amount"]))
        if (kind == BillKind.CREDIT) != (amount < 0) and amount != 0:
            raise ValidationError(
                {
                    "lines": _("Line %(n)d: a credit is negative, every other bill positive.")
                    % {"n": i + 1}
                }
            )
        net, tax = tax_split(amount, Decimal(line["vat_rate"]))
        built.append(
            BillLine(
                item=line["item"],
                description=line.get("description", ""),
                unit=line.get("unit"),
                period_start=line.get("period_start", period_start),
                period_end=line.get("period_end", period_end),
                amount=amount,
                net=net,
                tax=tax,
                vat_rate=Decimal(line["vat_rate"]),
                tax_code=line.get("tax_code", ""),
                trace=line.get("trace", {}),
            )
        )
    with transaction.atomic():
        bill = Bill.objects.create(
            company_id=lease.company_id,
            lease=lease,
            tenant_id=lease.tenant_id,
            number=bill_numbers(kind, period_start, 1)[0],
            kind=kind,
            period_start=period_start,
            period_end=period_end,
            due_date=due_date,
            amount=sum((b.amount for b in built), Decimal(0)),
            net=sum((b.net for b in built), Decimal(0)),
            tax=sum((b.tax for b in built), Decimal(0)),
            corrects=corrects,
            reason=reason,
            posted_by=user if getattr(user, "is_authenticated", False) else None,
        )
        for b in built:
            b.bill = bill
        BillLine.objects.bulk_create(built)
    return bill
