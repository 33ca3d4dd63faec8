"""Writes of collection (收款): receipts and their allocation, reversals, credits, late fees,
dunning, and the tenants' credit ratings. Each runs in a transaction, validates, then writes.

Index:
    receipt_record, receipt_allocate, credit_apply, receipt_reverse,
    credit_bill_settle, credit_bills_settle
    late_fee_compute (pure), late_fees_accrue, late_fees_post, late_fees_run
    dunning_policy_save, dunning_run, collection_case_update
    tenant_credit_refresh, tenants_credit_refresh

Locking: a receipt is locked before the bills it touches, bills in id order, so two
allocations of one bill queue instead of both spending its outstanding amount; the
database trigger `collection_allocation_guard` re-checks the totals under the same locks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from finance.collection.models import (
    Allocation,
    CaseKind,
    CaseStatus,
    CollectionCase,
    DunningAction,
    DunningLevel,
    DunningNotice,
    DunningPolicy,
    LateFeeAccrual,
    LateFeePolicy,
    PaymentMethod,
    Receipt,
    ReceiptKind,
)
from finance.models import Bill, BillKind
from finance.services import FEN, bill_post, fen
from leasing.models import Lease, Tenant
from leasing.services import lease_deposit_receive, tenant_credit_update
from spatial.models import Company

DAY = timedelta(days=1)
ZERO = Decimal("0.00")
#: Kinds of bill that bear late fees: never late fees themselves, never credits.
FEE_BEARING = (BillKind.REGULAR, BillKind.METER, BillKind.TURNOVER, BillKind.DEBIT)
#: Receipt number prefixes: 收款 SK, 押金 YJ, 红冲 HC, 抵扣 DK.
RECEIPT_PREFIX = {
    ReceiptKind.PAYMENT: "SK",
    ReceiptKind.DEPOSIT: "YJ",
    ReceiptKind.REVERSAL: "HC",
    ReceiptKind.OFFSET: "DK",
}


def _actor(user):
    return user if getattr(user, "is_authenticated", False) else None


def _within(company: Company, other_path: str) -> bool:
    """Is the company with `other_path` `company` or below it?"""
    return other_path.startswith(company.path)


def _job_lock(name: str) -> None:
    """One run of a daily job at a time (a transaction-scoped advisory lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"collection.{name}"])


def receipt_numbers(kind: str, on: date, count: int = 1) -> list[str]:
    """New receipt numbers like SK202611-00000042, from one database sequence."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval('collection_receipt_number_seq') FROM generate_series(1, %s)", [count]
        )
        seqs = [row[0] for row in cursor.fetchall()]
    return [f"{RECEIPT_PREFIX[kind]}{on:%Y%m}-{seq:08d}" for seq in seqs]


def _money(value: Any, field: str) -> Decimal:
    """A positive amount in yuan with at most two decimal places, or a ValidationError."""
    try:
        amount = Decimal(str(value))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ValidationError({field: [_("Give an amount in yuan, e.g. 1234.50.")]}) from exc
    if not amount.is_finite():
        raise ValidationError({field: [_("Give an amount in yuan, e.g. 1234.50.")]})
    if amount != amount.quantize(FEN):
        raise ValidationError({field: [_("Give the amount to the fen (two decimal places).")]})
    if amount <= 0:
        raise ValidationError({field: [_("The amount must be positive.")]})
    return amount.quantize(FEN)


def _bill_paid(bill_ids: Iterable[int]) -> dict[int, Decimal]:
    rows = (
        Allocation.objects.filter(bill_id__in=list(bill_ids))
        .values("bill_id")
        .annotate(total=Sum("amount"))
    )
    return {r["bill_id"]: r["total"] for r in rows}


def _receipt_allocated(receipt: Receipt) -> Decimal:
    return receipt.allocations.aggregate(t=Coalesce(Sum("amount"), ZERO))["t"]


def _open_bills(tenant_id: int, company: Company, lease_id: int | None) -> QuerySet[Bill]:
    """The tenant's positive bills within `company`'s subtree (and the lease, if given)."""
    bills = Bill.objects.filter(
        tenant_id=tenant_id, amount__gt=0, company__path__startswith=company.path
    )
    if lease_id is not None:
        bills = bills.filter(lease_id=lease_id)
    return bills


# -- receipts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationRequest:
    bill: Bill
    amount: Decimal


def _duplicate_of(
    *, tenant: Tenant, company: Company, amount: Decimal, method: str, reference: str, on: date
) -> Receipt | None:
    live = Receipt.objects.filter(
        kind__in=(ReceiptKind.PAYMENT, ReceiptKind.DEPOSIT), reversed_by__isnull=True
    )
    same_day = live.filter(tenant=tenant, amount=amount, reference=reference, received_on=on)
    if found := same_day.order_by("pk").first():
        return found
    if method == PaymentMethod.BANK and reference:
        root = company.path.split("/")[1]  # a bank reference is unique within the group
        return (
            live.filter(
                method=PaymentMethod.BANK,
                reference=reference,
                company__path__startswith=f"/{root}/",
            )
            .order_by("pk")
            .first()
        )
    return None


@transaction.atomic
def receipt_record(
    *,
    tenant: Tenant,
    amount: Any,
    method: str,
    received_on: date,
    today: date,
    kind: str = ReceiptKind.PAYMENT,
    company: Company | None = None,
    lease: Lease | None = None,
    reference: str = "",
    payer_name: str = "",
    remarks: str = "",
    allocate: str | list | None = "auto",
    force: bool = False,
    user=None,
) -> Receipt:
    """Record money received and, for a payment, allocate it.

    `allocate`: "auto" sets it against the oldest due bills first, a list of
    (bill, amount) pairs (or dicts) as the user chose, None leaves it all as credit.
    A receipt that looks like one already recorded (same tenant, amount, reference and
    day, or the same bank reference) is refused naming `reference` unless `force`.
    A deposit receipt is the lease's deposit (a liability): never allocated to bills.
    """
    errors: dict[str, list[str]] = {}
    amount = _money(amount, "amount")
    reference = (reference or "").strip()
    if kind not in (ReceiptKind.PAYMENT, ReceiptKind.DEPOSIT):
        errors["kind"] = [_("A receipt is a payment or a deposit.")]
    if method not in PaymentMethod.values or method == PaymentMethod.OFFSET:
        errors["method"] = [_("Pay by bank transfer, WeChat Pay, Alipay or cash.")]
    if received_on > today:
        errors["received_on"] = [_("Money cannot be received in the future.")]
    if method == PaymentMethod.BANK and not reference:
        errors["reference"] = [_("A bank transfer needs its bank reference (流水号).")]
    if lease is not None and lease.tenant_id != tenant.pk:
        errors["lease"] = [_("The lease is not this tenant's.")]
    if kind == ReceiptKind.DEPOSIT and lease is None:
        errors["lease"] = [_("A deposit is received for a lease.")]
    if company is None:
        company = lease.company if lease is not None else tenant.company
    if not _within(tenant.company, company.path):
        errors["tenant"] = [_("The tenant is not registered in this company.")]
    if lease is not None and not _within(company, lease.company.path):
        errors["lease"] = [_("The lease belongs to another company.")]
    if errors:
        raise ValidationError(errors)
    # Receipts of one tenant are recorded one at a time, so a duplicate sent twice at
    # once is caught by the second.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    if not force and (
        twin := _duplicate_of(
            tenant=tenant,
            company=company,
            amount=amount,
            method=method,
            reference=reference,
            on=received_on,
        )  # fmt: skip
    ):
        raise ValidationError(
            {
                "reference": [
                    _(
                        "Receipt %(number)s of %(amount)s on %(day)s looks the same; "
                        "send force to record this one too."
                    )
                    % {"number": twin.number, "amount": twin.amount, "day": twin.received_on}
                ]
            }
        )
    receipt = Receipt.objects.create(
        company=company,
        tenant=tenant,
        lease=lease,
        number=receipt_numbers(kind, received_on)[0],
        kind=kind,
        method=method,
        received_on=received_on,
        amount=amount,
        payer_name=payer_name,
        reference=reference,
        remarks=remarks,
        created_by=_actor(user),
    )
    if kind == ReceiptKind.DEPOSIT:
        lease_deposit_receive(lease, amount=amount, received_on=received_on, user=user, today=today)
    elif allocate == "auto":
        receipt_allocate(receipt)
    elif allocate:
        receipt_allocate(receipt, allocations=allocate)
    return receipt


def _requests(raw: Iterable) -> list[AllocationRequest]:
    out = []
    for item in raw:
        if isinstance(item, AllocationRequest):
            out.append(item)
        elif isinstance(item, dict):
            out.append(AllocationRequest(item["bill"], _money(item["amount"], "allocations")))
        else:
            bill, amount = item
            out.append(AllocationRequest(bill, _money(amount, "allocations")))
    return out


@transaction.atomic
def receipt_allocate(
    receipt: Receipt, allocations: Iterable | None = None, *, on: date | None = None
) -> list[Allocation]:
    """Set a payment's unallocated money against bills: the oldest due first (None), or
    as listed. Refuses more than a bill's outstanding, more than the receipt has left, a
    bill of another tenant or company, and deposits and reversed receipts."""
    receipt = Receipt.objects.select_for_update().select_related("company").get(pk=receipt.pk)
    on = on or receipt.received_on
    if receipt.kind != ReceiptKind.PAYMENT:
        raise ValidationError({"receipt": [_("Only a payment is allocated to bills.")]})
    if Receipt.objects.filter(reverses=receipt).exists():
        raise ValidationError({"receipt": [_("This receipt has been reversed.")]})
    if on < receipt.received_on:
        raise ValidationError({"on": [_("Money cannot be allocated before it was received.")]})
    left = receipt.amount - _receipt_allocated(receipt)
    bills = _open_bills(receipt.tenant_id, receipt.company, receipt.lease_id)
    if allocations is None:
        if left <= 0:
            return []
        locked = list(bills.select_for_update().order_by("pk"))
        paid = _bill_paid(b.pk for b in locked)
        plan = []
        for bill in sorted(locked, key=lambda b: (b.due_date, b.pk)):
            outstanding = bill.amount - paid.get(bill.pk, ZERO)
            if outstanding <= 0 or left <= 0:
                continue
            take = min(outstanding, left)
            plan.append(AllocationRequest(bill, take))
            left -= take
    else:
        plan = _requests(allocations)
        ids = [r.bill.pk for r in plan]
        if len(ids) != len(set(ids)):
            raise ValidationError({"allocations": [_("Name each bill once.")]})
        locked = {
            b.pk: b for b in Bill.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        allowed = set(bills.filter(pk__in=ids).values_list("pk", flat=True))
        paid = _bill_paid(ids)
        problems = []
        for r in plan:
            bill = locked[r.bill.pk]
            if bill.pk not in allowed:
                problems.append(
                    _("Bill %(bill)s is not this tenant's (or not of this receipt's company).")
                    % {"bill": bill.number}
                )
                continue
            outstanding = bill.amount - paid.get(bill.pk, ZERO)
            if r.amount > outstanding:
                problems.append(
                    _("Bill %(bill)s has only %(outstanding)s outstanding.")
                    % {"bill": bill.number, "outstanding": outstanding}
                )
        total = sum((r.amount for r in plan), ZERO)
        if total > left:
            problems.append(
                _("The receipt has only %(left)s left to allocate, not %(total)s.")
                % {"left": left, "total": total}
            )
        if problems:
            raise ValidationError({"allocations": problems})
    return Allocation.objects.bulk_create(
        Allocation(receipt=receipt, bill=r.bill, amount=r.amount, allocated_on=on) for r in plan
    )


def credit_apply(*, tenant: Tenant, on: date, company: Company | None = None) -> list[Allocation]:
    """Use a tenant's credit (payments not fully allocated) on its open bills, oldest first."""
    receipts = Receipt.objects.filter(
        tenant=tenant, kind=ReceiptKind.PAYMENT, reversed_by__isnull=True, received_on__lte=on
    ).annotate(allocated=Coalesce(Sum("allocations__amount"), ZERO))
    if company is not None:
        receipts = receipts.filter(company__path__startswith=company.path)
    made: list[Allocation] = []
    with transaction.atomic():
        for receipt in receipts.filter(amount__gt=F("allocated")).order_by("received_on", "pk"):
            made += receipt_allocate(receipt, on=on)
    return made


@transaction.atomic
def receipt_reverse(receipt: Receipt, *, reason: str, on: date, user=None) -> Receipt:
    """红冲: cancel a wrong receipt by a negative receipt naming it.

    Each of its allocations is undone with the same date, since the money never came:
    the bills are outstanding again as if it had not been recorded (late fees catch up).
    A deposit's reversal takes it off the lease's deposit received.
    """
    receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
    errors = {}
    if receipt.kind not in (ReceiptKind.PAYMENT, ReceiptKind.DEPOSIT):
        errors["receipt"] = [_("Only a payment or a deposit can be reversed.")]
    elif Receipt.objects.filter(reverses=receipt).exists():
        errors["receipt"] = [_("This receipt is already reversed.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Say why the receipt is reversed.")]
    if on < receipt.received_on:
        errors["on"] = [_("A receipt cannot be reversed before it was received.")]
    if errors:
        raise ValidationError(errors)
    originals = list(receipt.allocations.order_by("pk"))
    list(
        Bill.objects.select_for_update()
        .filter(pk__in={a.bill_id for a in originals})
        .order_by("pk")
    )
    reversal = Receipt.objects.create(
        company_id=receipt.company_id,
        tenant_id=receipt.tenant_id,
        lease_id=receipt.lease_id,
        number=receipt_numbers(ReceiptKind.REVERSAL, on)[0],
        kind=ReceiptKind.REVERSAL,
        method=receipt.method,
        received_on=on,
        amount=-receipt.amount,
        payer_name=receipt.payer_name,
        reference=receipt.reference,
        reverses=receipt,
        remarks=reason.strip(),
        created_by=_actor(user),
    )
    Allocation.objects.bulk_create(
        Allocation(
            receipt=reversal, bill_id=a.bill_id, amount=-a.amount, allocated_on=a.allocated_on
        )
        for a in originals
    )
    # The fee on those bills is due again from the original dates.
    LateFeeAccrual.objects.filter(bill_id__in={a.bill_id for a in originals}).update(settled=False)
    if receipt.kind == ReceiptKind.DEPOSIT and receipt.lease_id:
        lease = Lease.objects.select_for_update().get(pk=receipt.lease_id)
        if lease.deposit_received < receipt.amount:
            raise ValidationError(
                {"receipt": [_("The lease no longer holds this deposit (refunded or offset).")]}
            )
        Lease.objects.filter(pk=lease.pk).update(
            deposit_received=F("deposit_received") - receipt.amount
        )
    return reversal


# -- credit bills ------------------------------------------------------------------------------


@transaction.atomic
def credit_bill_settle(credit: Bill, *, on: date, user=None) -> Receipt | None:
    """Set a credit bill (a negative bill) against what its tenant owes on the same lease:
    the bill it corrects first, then the oldest due. An offset receipt of no money carries
    the two sides (+ on the bills, − on the credit). What finds no open bill stays as a
    negative outstanding: a credit for later."""
    credit = Bill.objects.select_for_update().get(pk=credit.pk)
    if credit.kind != BillKind.CREDIT:
        raise ValidationError({"bill": [_("Only a credit bill is settled this way.")]})
    left = -(credit.amount - _bill_paid([credit.pk]).get(credit.pk, ZERO))
    if left <= 0:
        return None
    locked = list(
        Bill.objects.select_for_update()
        .filter(lease_id=credit.lease_id, amount__gt=0, due_date__lte=max(on, credit.due_date))
        .order_by("pk")
    )
    paid = _bill_paid(b.pk for b in locked)
    first = [b for b in locked if b.pk == credit.corrects_id]
    rest = sorted(
        (b for b in locked if b.pk != credit.corrects_id), key=lambda b: (b.due_date, b.pk)
    )
    plan = []
    for bill in first + rest:
        outstanding = bill.amount - paid.get(bill.pk, ZERO)
        if outstanding > 0 and left > 0:
            take = min(outstanding, left)
            plan.append((bill, take))
            left -= take
    if not plan:
        return None
    offset = Receipt.objects.create(
        company_id=credit.company_id,
        tenant_id=credit.tenant_id,
        lease_id=credit.lease_id,
        number=receipt_numbers(ReceiptKind.OFFSET, on)[0],
        kind=ReceiptKind.OFFSET,
        method=PaymentMethod.OFFSET,
        received_on=on,
        amount=ZERO,
        reference=credit.number,
        remarks=_("Credit %(credit)s set against bills.") % {"credit": credit.number},
        created_by=_actor(user),
    )
    used = sum((take for _bill, take in plan), ZERO)
    Allocation.objects.bulk_create(
        [Allocation(receipt=offset, bill=b, amount=take, allocated_on=on) for b, take in plan]
        + [Allocation(receipt=offset, bill=credit, amount=-used, allocated_on=on)]
    )
    return offset


def credit_bills_settle(*, on: date) -> int:
    """Settle every credit bill that still has credit left; returns how many were used."""
    ids = (
        Bill.objects.filter(kind=BillKind.CREDIT, due_date__lte=on)
        .annotate(paid=Coalesce(Sum("allocations__amount"), ZERO))
        .filter(amount__lt=F("paid"))
        .values_list("pk", flat=True)
    )
    return sum(1 for pk in list(ids) if credit_bill_settle(Bill(pk=pk), on=on) is not None)


# -- late fees ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LateFee:
    amount: Decimal  # to the fen, capped
    days: int  # days a fee was charged (an outstanding amount after grace)
    settled: bool  # nothing more can accrue: paid in full, or the cap is reached
    uncapped: Decimal


def late_fee_compute(
    *,
    amount: Decimal,
    due_date: date,
    payments: Iterable[tuple[date, Decimal]],
    daily_rate: Decimal,
    grace_days: int,
    cap_rate: Decimal | None,
    as_of: date,
) -> LateFee:
    """滞纳金 of one bill through `as_of` (inclusive).

    Every day d from due_date + grace_days + 1 bears daily_rate × (amount − payments dated
    on or before d): a payment reduces the base from its own date. The sum is rounded to
    the fen once, then capped at cap_rate × amount. Example: 10,000.00 due 1 March, 5 grace
    days, 0.05 % a day, as of 10 April (40 days overdue): 35 days × 5.00 = 175.00.
    """
    start = due_date + timedelta(days=grace_days + 1)
    cap = fen(amount * cap_rate) if cap_rate is not None else None
    changes: dict[date, Decimal] = defaultdict(Decimal)
    for on, paid in payments:
        changes[max(on, start)] += paid
    base = amount
    total, days = Decimal(0), 0
    day = start
    for change_on in sorted(c for c in changes if c <= as_of):
        if change_on > day and base > 0:
            n = (change_on - day).days
            total += base * n * daily_rate
            days += n
        day = max(day, change_on)
        base -= changes[change_on]
    if as_of >= day and base > 0:
        n = (as_of - day).days + 1
        total += base * n * daily_rate
        days += n
    uncapped = fen(total)
    fee = min(uncapped, cap) if cap is not None else uncapped
    settled = base <= 0 or (cap is not None and fee >= cap)
    return LateFee(amount=fee, days=days, settled=settled and as_of >= start, uncapped=uncapped)


class PolicyResolver:
    """The late-fee policy of a lease: its own, else its company's nearest default."""

    def __init__(self) -> None:
        policies = list(LateFeePolicy.objects.filter(active=True).select_related("company"))
        self.by_lease = {p.lease_id: p for p in policies if p.lease_id}
        self.by_path = {p.company.path: p for p in policies if not p.lease_id}
        self.paths = dict(Company.objects.values_list("pk", "path"))

    def __call__(self, lease_id: int, company_id: int) -> LateFeePolicy | None:
        if policy := self.by_lease.get(lease_id):
            return policy
        path = self.paths.get(company_id, "")
        best = None
        for p, policy in self.by_path.items():
            if path.startswith(p) and (best is None or len(p) > len(best[0])):
                best = (p, policy)
        return best[1] if best else None


@transaction.atomic
def late_fees_accrue(*, as_of: date) -> dict[str, int]:
    """Recompute the fee accrued through `as_of` on every overdue bill not yet settled.

    Idempotent: the fee is a function of the bill, its allocations and the date, so a
    rerun on the same day changes nothing.
    """
    _job_lock("late_fees")
    resolve = PolicyResolver()
    if not resolve.by_lease and not resolve.by_path:
        return {"bills": 0, "accruing": 0}
    bills = list(
        Bill.objects.filter(kind__in=FEE_BEARING, amount__gt=0, due_date__lt=as_of)
        .exclude(late_fee_accrual__settled=True)
        .values("pk", "lease_id", "company_id", "amount", "due_date")
    )
    payments: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    for a in Allocation.objects.filter(bill_id__in=[b["pk"] for b in bills]).values_list(
        "bill_id", "allocated_on", "amount"
    ):
        payments[a[0]].append((a[1], a[2]))
    existing = {
        a.bill_id: a for a in LateFeeAccrual.objects.filter(bill_id__in=[b["pk"] for b in bills])
    }
    new, changed, accruing = [], [], 0
    for b in bills:
        policy = resolve(b["lease_id"], b["company_id"])
        if policy is None or as_of <= b["due_date"] + timedelta(days=policy.grace_days):
            continue
        fee = late_fee_compute(
            amount=b["amount"], due_date=b["due_date"], payments=payments[b["pk"]],
            daily_rate=policy.daily_rate, grace_days=policy.grace_days,
            cap_rate=policy.cap_rate, as_of=as_of,
        )  # fmt: skip
        accruing += fee.amount > 0 and not fee.settled
        row = existing.get(b["pk"])
        if row is None:
            new.append(
                LateFeeAccrual(
                    bill_id=b["pk"],
                    policy=policy,
                    through=as_of,
                    days=fee.days,
                    accrued=fee.amount,
                    settled=fee.settled,
                )  # fmt: skip
            )
        else:
            row.policy, row.through, row.days = policy, as_of, fee.days
            row.accrued, row.settled = max(fee.amount, row.posted), fee.settled
            changed.append(row)
    LateFeeAccrual.objects.bulk_create(new, batch_size=2000)
    LateFeeAccrual.objects.bulk_update(
        changed, ["policy", "through", "days", "accrued", "settled"], batch_size=2000
    )
    return {"bills": len(new) + len(changed), "accruing": accruing}


def _fee_period(as_of: date) -> tuple[date, date]:
    start = as_of.replace(day=1)
    if start == as_of:
        start = (as_of - DAY).replace(day=1)
    return start, as_of


@transaction.atomic
def late_fees_post(*, as_of: date, user=None) -> list[Bill]:
    """Post what has accrued and is not yet posted: one late-fee bill per lease, a line per
    overdue bill. Idempotent: a second run finds nothing left to post."""
    _job_lock("late_fees")
    rows = list(
        LateFeeAccrual.objects.select_for_update(of=("self",))
        .filter(accrued__gt=F("posted"))
        .select_related("bill__lease", "policy")
        .order_by("bill__lease_id", "bill__due_date", "bill_id")
    )
    by_lease: dict[int, list[LateFeeAccrual]] = defaultdict(list)
    for row in rows:
        by_lease[row.bill.lease_id].append(row)
    posted = []
    start, end = _fee_period(as_of)
    for group in by_lease.values():
        lines = [
            {
                "item": "late_fee",
                "description": _("Late fee on %(bill)s, %(days)d days")
                % {"bill": row.bill.number, "days": row.days},
                "amount": row.accrued - row.posted,
                "vat_rate": row.policy.vat_rate,
                "trace": {
                    "bill": row.bill.number,
                    "bill_id": row.bill_id,
                    "through": str(row.through),
                    "days": row.days,
                    "daily_rate": str(row.policy.daily_rate),
                    "grace_days": row.policy.grace_days,
                    "cap_rate": str(row.policy.cap_rate)
                    if row.policy.cap_rate is not None
                    else None,
                    "accrued": str(row.accrued),
                    "posted_before": str(row.posted),
                },  # fmt: skip
            }
            for row in group
        ]
        bill = bill_post(
            lease=group[0].bill.lease,
            kind=BillKind.LATE_FEE,
            period_start=start,
            period_end=end,
            due_date=as_of + timedelta(days=max(r.policy.due_days for r in group)),
            lines=lines,
            reason=_("Late fees through %s") % as_of,
            user=user,
        )
        for row in group:
            row.posted, row.last_fee_bill = row.accrued, bill
        LateFeeAccrual.objects.bulk_update(group, ["posted", "last_fee_bill"])
        posted.append(bill)
    return posted


def late_fees_run(*, as_of: date, post: bool | None = None, user=None) -> dict[str, int]:
    """The daily job: accrue every day; post on the first of a month (or when asked)."""
    with transaction.atomic():
        stats = late_fees_accrue(as_of=as_of)
        if post or (post is None and as_of.day == 1):
            stats["posted_bills"] = len(late_fees_post(as_of=as_of, user=user))
    return stats


# -- dunning -----------------------------------------------------------------------------------


@transaction.atomic
def dunning_policy_save(
    *, company: Company, name: str, levels: list[dict], active: bool = True,
    policy: DunningPolicy | None = None,
) -> DunningPolicy:  # fmt: skip
    """Create or replace a company's dunning policy and its levels.

    Levels must rise: each later level needs at least as many days overdue as the one
    before; escalations and legal reviews need someone to assign them to.
    """
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = [_("Give the policy a name.")]
    if not levels:
        errors["levels"] = [_("A policy needs at least one level.")]
    levels = sorted(levels, key=lambda lv: lv["level"])
    problems = []
    for i, lv in enumerate(levels):
        if lv.get("action") not in DunningAction.values:
            problems.append(_("Level %(n)s: unknown action.") % {"n": lv["level"]})
        if i and lv["level"] == levels[i - 1]["level"]:
            problems.append(_("Level %(n)s appears twice.") % {"n": lv["level"]})
        if i and lv["min_days"] < levels[i - 1]["min_days"]:
            problems.append(
                _("Level %(n)s needs at least as many days overdue as the level before.")
                % {"n": lv["level"]}
            )
        if Decimal(lv.get("min_amount", 0)) < 0:
            problems.append(_("Level %(n)s: the amount cannot be negative.") % {"n": lv["level"]})
        if lv.get("action") in (DunningAction.ESCALATE, DunningAction.LEGAL_REVIEW) and not lv.get(
            "assignee"
        ):
            problems.append(
                _("Level %(n)s: an escalation or legal review needs an assignee.")
                % {"n": lv["level"]}
            )
    if problems:
        errors["levels"] = problems
    if policy is None and DunningPolicy.objects.filter(company=company).exists():
        errors["company"] = [_("This company already has a dunning policy; change that one.")]
    if errors:
        raise ValidationError(errors)
    if policy is None:
        policy = DunningPolicy.objects.create(company=company, name=name.strip(), active=active)
    else:
        policy = DunningPolicy.objects.select_for_update().get(pk=policy.pk)
        policy.name, policy.active = name.strip(), active
        policy.save(update_fields=["name", "active"])
    keep = {lv["level"] for lv in levels}
    # Levels that sent notices are kept (the notices name them); others are replaced.
    policy.levels.exclude(level__in=keep).filter(notices__isnull=True).delete()
    for lv in levels:
        DunningLevel.objects.update_or_create(
            policy=policy,
            level=lv["level"],
            defaults={
                "min_days": lv["min_days"],
                "min_amount": Decimal(lv.get("min_amount", 0)),
                "action": lv["action"],
                "channel": lv.get("channel") or "sms",
                "assignee": lv.get("assignee"),
                "template": lv.get("template", ""),
            },
        )
    return policy


class _SafeFormat(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _notice_text(level: DunningLevel, **values: Any) -> str:
    if level.template:
        return level.template.format_map(_SafeFormat(values))
    return (
        _(
            "%(tenant)s: %(amount)s yuan is overdue, the oldest for %(days)s days (bills "
            "%(bills)s). Please pay promptly."
        )
        % values
    )


@transaction.atomic
def dunning_run(*, as_of: date) -> list[DunningNotice]:
    """The daily dunning job: for each tenant in arrears (per landlord company), the highest
    level its arrears reach, once per arrears episode. Escalations and legal reviews open
    a collection case. Idempotent: a rerun sends nothing twice."""
    from finance.collection.selectors import bills_outstanding

    _job_lock("dunning")
    policies = {
        p.company.path: p
        for p in DunningPolicy.objects.filter(active=True)
        .select_related("company")
        .prefetch_related("levels")
    }
    if not policies:
        return []
    paths = dict(Company.objects.values_list("pk", "path"))
    overdue = (
        bills_outstanding(Bill.objects.exclude(kind=BillKind.CREDIT), as_of=as_of)
        .filter(due_date__lt=as_of, outstanding__gt=0)
        .select_related("tenant")
        .order_by("company_id", "tenant_id", "due_date", "pk")
    )
    groups: dict[tuple[int, int], list[Bill]] = defaultdict(list)
    for bill in overdue:
        groups[(bill.company_id, bill.tenant_id)].append(bill)
    sent = []
    for (company_id, tenant_id), bills in groups.items():
        path = paths[company_id]
        matches = [p for p in policies if path.startswith(p)]
        if not matches:
            continue
        policy = policies[max(matches, key=len)]
        oldest = bills[0]
        days = (as_of - oldest.due_date).days
        amount = sum((b.outstanding for b in bills), ZERO)
        reached = [
            lv for lv in policy.levels.all() if days >= lv.min_days and amount >= lv.min_amount
        ]
        if not reached:
            continue
        level = max(reached, key=lambda lv: lv.level)
        done = DunningNotice.objects.filter(
            company_id=company_id, tenant_id=tenant_id, episode_bill=oldest,
            level_number__gte=level.level,
        )  # fmt: skip
        if done.exists():
            continue
        leases = {b.lease_id for b in bills}
        tenant = oldest.tenant
        notice = DunningNotice.objects.create(
            company_id=company_id, tenant_id=tenant_id,
            lease_id=leases.pop() if len(leases) == 1 else None,
            level=level, level_number=level.level, action=level.action, channel=level.channel,
            episode_bill=oldest, amount=amount, days_overdue=days, sent_on=as_of,
            text=_notice_text(level, tenant=tenant.name, amount=amount, days=days,
                              bills=", ".join(b.number for b in bills), as_of=as_of),
        )  # fmt: skip
        notice.bills.set(bills)
        if level.action in (DunningAction.ESCALATE, DunningAction.LEGAL_REVIEW):
            kind = (
                CaseKind.ESCALATION
                if level.action == DunningAction.ESCALATE
                else CaseKind.LEGAL_REVIEW
            )
            if not CollectionCase.objects.filter(
                company_id=company_id, tenant_id=tenant_id, kind=kind, status=CaseStatus.OPEN
            ).exists():
                CollectionCase.objects.create(
                    company_id=company_id, tenant_id=tenant_id, kind=kind,
                    assignee=level.assignee, notice=notice, amount=amount, opened_on=as_of,
                    note=notice.text,
                )  # fmt: skip
        sent.append(notice)
    return sent


@transaction.atomic
def collection_case_update(case: CollectionCase, *, today: date, **fields: Any) -> CollectionCase:
    """Change a case's assignee, note or status; closing it records the day."""
    case = CollectionCase.objects.select_for_update().get(pk=case.pk)
    status = fields.pop("status", case.status)
    if status not in CaseStatus.values:
        raise ValidationError({"status": [_("A case is open or closed.")]})
    for name in ("assignee", "note"):
        if name in fields:
            setattr(case, name, fields.pop(name))
    if fields:
        raise ValidationError({next(iter(fields)): [_("This field cannot be changed.")]})
    if status != case.status:
        case.status = status
        case.closed_on = today if status == CaseStatus.CLOSED else None
    case.save()
    return case


# -- credit ratings ----------------------------------------------------------------------------


def _history(bills: list[dict], payments: dict[int, list], as_of: date) -> tuple[int, int, int]:
    """(bills, paid late, longest days overdue) of one tenant's bills."""
    late, longest = 0, 0
    for b in bills:
        total, paid_on = ZERO, None
        for on, amount in sorted(payments.get(b["pk"], [])):
            total += amount
            if total >= b["amount"]:
                paid_on = on
                break
        end = paid_on or as_of
        overdue = (end - b["due_date"]).days
        if overdue > 0:
            late += 1
            longest = max(longest, overdue)
    return len(bills), late, longest


def tenants_credit_refresh(*, as_of: date, tenants: Iterable[Tenant] | None = None) -> int:
    """Re-rate tenants from the bills due in the twelve months to `as_of`: how many were
    paid after their due date, and the longest any was overdue (paid or still open).
    Returns how many ratings changed."""
    bills = Bill.objects.filter(
        kind__in=FEE_BEARING, amount__gt=0, due_date__lte=as_of,
        due_date__gt=as_of - timedelta(days=365),
    )  # fmt: skip
    if tenants is not None:
        bills = bills.filter(tenant__in=[t.pk for t in tenants])
    rows = list(bills.values("pk", "tenant_id", "amount", "due_date"))
    payments: dict[int, list] = defaultdict(list)
    for bill_id, on, amount in Allocation.objects.filter(
        bill__in=bills, allocated_on__lte=as_of
    ).values_list("bill_id", "allocated_on", "amount"):
        payments[bill_id].append((on, amount))
    per_tenant: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        per_tenant[row["tenant_id"]].append(row)
    changed = 0
    for tenant in Tenant.objects.filter(pk__in=list(per_tenant)):
        n, late, longest = _history(per_tenant[tenant.pk], payments, as_of)
        before = tenant.credit_rating
        tenant_credit_update(tenant=tenant, bills=n, paid_late=late, overdue_days_max=longest)
        changed += tenant.credit_rating != before
    return changed


def tenant_credit_refresh(tenant: Tenant, *, as_of: date) -> Tenant:
    """Re-rate one tenant from its payment history (see tenants_credit_refresh)."""
    tenants_credit_refresh(as_of=as_of, tenants=[tenant])
    tenant.refresh_from_db(fields=["credit_rating"])
    return tenant
