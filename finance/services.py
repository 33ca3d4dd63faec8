"""Posting bills. Every bill is written here (or by the bulk writer of a billing run),
never edited afterwards: corrections are new credit or debit bills.

Index:
    fen, tax_split, bill_numbers
    bill_post            one bill with its lines (late fees, adjustments, meter, turnover)
    bill_adjust          a debit or credit adjustment of a posted bill, with a reason
    abatement_lines      the negative lines an abatement takes off a bill's lines
    abatement_request, abatement_approve, abatement_reject
Meter readings are recorded in finance.meters; billing runs are in finance.billing.
"""

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from finance.models import (
    Abatement,
    AbatementKind,
    ApprovalStatus,
    Bill,
    BillKind,
    BillLine,
    ChargeItemCode,
    ChargeItemConfig,
)
from leasing.models import Lease
from spatial import access
from spatial.choices import Role

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
    `description`, `unit` (a Unit or its id), `period_start`, `period_end`, `tax_code`,
    `trace`, and `net` and `tax` when the caller has split them (prices excluding VAT are
    split the other way round); otherwise they are split here. Amounts are rounded to the
    fen per line. Lines may be negative (abatements, true-ups) when the bill's total has the
    sign of its kind.
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
        if kind == BillKind.CREDIT and amount > 0:
            raise ValidationError(
                {"lines": _("Line %(n)d: a credit's lines are negative.") % {"n": i + 1}}
            )
        if "net" in line and "tax" in line:  # split by the rent engine (exclusive prices)
            net, tax = fen(Decimal(line["net"])), fen(Decimal(line["tax"]))
            if net + tax != amount:
                raise ValidationError(
                    {"lines": _("Line %(n)d: net and tax do not add up to the amount.")
                     % {"n": i + 1}}
                )  # fmt: skip
        else:
            net, tax = tax_split(amount, Decimal(line["vat_rate"]))
        unit = line.get("unit")
        built.append(
            BillLine(
                item=line["item"],
                description=line.get("description", ""),
                unit_id=getattr(unit, "pk", unit),
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
    total = sum((b.amount for b in built), Decimal(0))
    # Lines may be negative (an abatement, a meter true-up) as long as the bill is not.
    if (kind == BillKind.CREDIT) != (total < 0) and total != 0:
        raise ValidationError(
            {"lines": _("A credit is negative in total, every other bill positive.")}
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
            amount=total,
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


# -- adjustments -------------------------------------------------------------------------------


def bill_adjust(
    bill: Bill, *, amount: Decimal, reason: str, user=None, today: date, item: str = ""
) -> Bill:
    """A debit (amount > 0) or credit (amount < 0) bill that corrects `bill`, with a reason.

    The posted bill stays as it is. The line takes the VAT rate and tax code of the
    corrected bill's line of the same item (its first line when no item is named); credits
    cannot take more off a bill than it and its earlier corrections leave.
    """
    errors: dict[str, list[str]] = {}
    amount = fen(Decimal(amount)) if amount is not None else Decimal(0)
    if amount == 0:
        errors["amount"] = [_("Give a positive (debit) or negative (credit) amount.")]
    if not (reason or "").strip():
        errors["reason"] = [_("An adjustment needs a reason.")]
    if bill.kind in (BillKind.CREDIT, BillKind.DEBIT):
        errors["bill"] = [_("Adjust the original bill, not an adjustment.")]
    lines = list(bill.lines.all())
    base = next((ln for ln in lines if not item or ln.item == item), None)
    if base is None:
        errors["item"] = [_("The bill has no line of item %(item)s.") % {"item": item}]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        Bill.objects.select_for_update().filter(pk=bill.pk).first()
        corrected = sum(bill.corrections.values_list("amount", flat=True), Decimal(0))
        if amount < 0 and bill.amount + corrected + amount < 0:
            raise ValidationError(
                {"amount": [_("A credit of %(amount)s would take the bill below zero "
                              "(%(left)s left).") % {"amount": -amount,
                                                     "left": bill.amount + corrected}]}
            )  # fmt: skip
        return bill_post(
            lease=bill.lease, kind=BillKind.DEBIT if amount > 0 else BillKind.CREDIT,
            period_start=bill.period_start, period_end=bill.period_end,
            due_date=max(bill.due_date, today), reason=reason, corrects=bill, user=user,
            lines=[{
                "item": base.item, "description": base.description, "unit": base.unit_id,
                "amount": amount, "vat_rate": base.vat_rate, "tax_code": base.tax_code,
                "trace": {"rule": "adjustment", "corrects": bill.number, "reason": reason,
                          "line": base.pk},
            }],
        )  # fmt: skip


# -- abatements --------------------------------------------------------------------------------

#: Roles that may approve an abatement (at the lease's company or above it).
APPROVERS = frozenset({Role.FINANCE, Role.GROUP_ADMIN})


def abatement_lines(abatement: Abatement, lines: list[dict]) -> list[dict]:
    """The negative lines `abatement` takes off a bill's `lines` (dicts as bill_post takes
    them): a percentage of every line of its item (or of all), or an amount taken from
    those lines in order until it is used up. Each keeps its line's VAT rate and code."""
    affected = [
        ln for ln in lines
        if ln["amount"] > 0 and (not abatement.item or ln["item"] == abatement.item)
        and ln.get("trace", {}).get("rule") != "abatement"
    ]  # fmt: skip
    out, left = [], Decimal(abatement.value)
    for line in affected:
        if abatement.kind == AbatementKind.PERCENT:
            take = fen(line["amount"] * abatement.value)
        else:
            take = min(left, line["amount"])
            left -= take
        if take <= 0:
            continue
        net, tax = tax_split(-take, line["vat_rate"])
        out.append({
            "item": line["item"], "description": f"减免：{abatement.reason}"[:200],
            "unit": line.get("unit"), "period_start": line["period_start"],
            "period_end": line["period_end"], "amount": -take, "net": net, "tax": tax,
            "vat_rate": line["vat_rate"], "tax_code": line.get("tax_code", ""),
            "trace": {"rule": "abatement", "abatement": abatement.pk, "kind": abatement.kind,
                      "value": str(abatement.value), "base_amount": str(line["amount"]),
                      "reason": abatement.reason},
        })  # fmt: skip
    return out


def abatement_request(
    *, lease: Lease, period_start: date, period_end: date, kind: str, value: Decimal,
    reason: str, item: str = "", user=None,
) -> Abatement:  # fmt: skip
    """Ask for an abatement of `lease`'s charges over `[period_start, period_end)`."""
    errors: dict[str, list[str]] = {}
    if kind not in AbatementKind.values:
        errors["kind"] = [_("Abate by amount or by percentage.")]
    elif value is None or value <= 0:
        errors["value"] = [_("The abatement must be positive.")]
    elif kind == AbatementKind.PERCENT and value > 1:
        errors["value"] = [_("A percentage is at most 1 (100 %).")]
    if item and item not in ChargeItemCode.values:
        errors["item"] = [_("Unknown charge item %(item)s.") % {"item": item}]
    if period_end <= period_start:
        errors["period_end"] = [_("The period ends before it starts.")]
    elif period_start > lease.end_date or period_end <= lease.start_date:
        errors["period_start"] = [_("The period lies outside the lease term.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the charges are abated.")]
    if errors:
        raise ValidationError(errors)
    return Abatement.objects.create(
        company_id=lease.company_id, lease=lease, period_start=period_start,
        period_end=period_end, kind=kind, value=value, reason=reason.strip(), item=item,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )  # fmt: skip


def _decide(abatement: Abatement, *, user) -> Abatement:
    abatement = (
        Abatement.objects.select_for_update().select_related("lease__company").get(pk=abatement.pk)
    )
    errors: dict[str, list[str]] = {}
    if abatement.status != ApprovalStatus.PENDING:
        errors["status"] = [_("The abatement is already %(status)s.")
                            % {"status": abatement.get_status_display()}]  # fmt: skip
    elif user is None or user.pk == abatement.requested_by_id:
        errors["decided_by"] = [_("Another user must decide on an abatement than requested it.")]
    elif not access.holds_role(user, abatement.lease.company, APPROVERS):
        errors["decided_by"] = [_("Only finance or a group administrator may decide.")]
    if errors:
        raise ValidationError(errors)
    return abatement


def abatement_approve(abatement: Abatement, *, user, today: date, note: str = "") -> Abatement:
    """Approve: the next bill of the period takes it off, or, when that bill is already
    posted, a credit bill that corrects it is posted now."""
    with transaction.atomic():
        # A billing run holds this lock: an approval waits for it, so a bill is never
        # abated twice nor missed.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('finance.billing_run'))")
        abatement = _decide(abatement, user=user)
        abatement.status = ApprovalStatus.APPROVED
        abatement.decided_by, abatement.decided_at = user, timezone.now()
        abatement.decision_note = note
        posted = (
            Bill.objects.filter(
                lease_id=abatement.lease_id, kind=BillKind.REGULAR,
                period_start__lt=abatement.period_end, period_end__gt=abatement.period_start,
            ).order_by("period_start").prefetch_related("lines").first()
        )  # fmt: skip
        if posted is not None:
            lines = [
                {"item": ln.item, "unit": ln.unit_id, "period_start": ln.period_start,
                 "period_end": ln.period_end, "amount": ln.amount, "vat_rate": ln.vat_rate,
                 "tax_code": ln.tax_code, "trace": ln.trace}
                for ln in posted.lines.all()
            ]  # fmt: skip
            credit_lines = abatement_lines(abatement, lines)
            if not credit_lines:
                raise ValidationError(
                    {"item": [_("Bill %(bill)s has nothing to abate for this item.")
                              % {"bill": posted.number}]}
                )  # fmt: skip
            abatement.bill = bill_post(
                lease=abatement.lease, kind=BillKind.CREDIT, period_start=posted.period_start,
                period_end=posted.period_end, due_date=max(posted.due_date, today),
                lines=credit_lines, reason=f"减免：{abatement.reason}", corrects=posted,
                user=user,
            )  # fmt: skip
        abatement.save()
    return abatement


@transaction.atomic
def abatement_reject(abatement: Abatement, *, user, note: str = "") -> Abatement:
    abatement = _decide(abatement, user=user)
    abatement.status = ApprovalStatus.REJECTED
    abatement.decided_by, abatement.decided_at = user, timezone.now()
    abatement.decision_note = note
    abatement.save()
    return abatement


def item_config(code: str) -> ChargeItemConfig | None:
    return ChargeItemConfig.objects.filter(code=code).first()
