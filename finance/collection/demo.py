"""Demo receipts for web.demo's seed: money in against the posted bills, deterministic.

Called after billing's demo has posted its twelve months of bills. Each tenant gets a
payment habit dealt out by `seed`: about 75 % pay on time (a few days early),
15 % late (5 to 75 days), 5 % partially (half to nine tenths of each bill, the rest
later or never), 5 % fall into arrears (pay nothing after a month of their history).
Each payment is one receipt allocated to its bill; bank transfers carry a bank
reference, WeChat Pay and Alipay an order number. Bills with allocations already are
left alone, so a second call adds nothing. It also gives each group company a default
late-fee policy (万分之五 a day after 5 days, capped at 10 %) and a dunning policy.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Min

from finance.collection.models import (
    Allocation,
    DunningPolicy,
    LateFeePolicy,
    PaymentMethod,
    Receipt,
    ReceiptKind,
)
from finance.collection.services import dunning_policy_save, receipt_numbers
from finance.models import Bill, BillKind
from spatial.choices import Role
from spatial.models import Company, Membership

#: Shares of tenants by payment habit; the rarer habits are rounded up, so that even a
#: small portfolio has some of each.
HABITS = (("arrears", 5), ("partial", 5), ("late", 15))
METHODS = ((PaymentMethod.BANK, 60), (PaymentMethod.WECHAT, 20), (PaymentMethod.ALIPAY, 15),
           (PaymentMethod.CASH, 5))  # fmt: skip
BATCH = 2000


def _habits(tenant_ids: list[int], seed: int) -> dict[int, str]:
    """Each tenant's habit: tenants shuffled by the seed, then dealt out by the shares."""
    order = sorted(tenant_ids)
    random.Random(seed).shuffle(order)  # noqa: S311 - demo data, not secrets
    habits, at = {}, 0
    for habit, share in HABITS:
        count = -(-len(order) * share // 100)  # rounded up
        habits.update(dict.fromkeys(order[at : at + count], habit))
        at += count
    habits.update(dict.fromkeys(order[at:], "on_time"))
    return habits


def _pick(rng: random.Random, weighted) -> str:
    return rng.choices([k for k, _w in weighted], [w for _k, w in weighted])[0]


def _reference(method: str, rng: random.Random, on: date) -> str:
    if method == PaymentMethod.BANK:
        return f"HF{on:%Y%m%d}{rng.randrange(10**9):09d}"
    if method == PaymentMethod.WECHAT:
        return f"4200{on:%Y%m%d}{rng.randrange(10**12):012d}"
    if method == PaymentMethod.ALIPAY:
        return f"{on:%Y%m%d}2000{rng.randrange(10**12):012d}"
    return ""


def demo_settings() -> None:
    """A default late-fee policy and a dunning policy at every group (top) company."""
    for company in Company.objects.filter(parent__isnull=True):
        LateFeePolicy.objects.get_or_create(
            company=company, lease=None,
            defaults={"daily_rate": Decimal("0.0005"), "grace_days": 5,
                      "cap_rate": Decimal("0.10")},
        )  # fmt: skip
        if DunningPolicy.objects.filter(company=company).exists():
            continue
        levels = [
            {"level": 1, "min_days": 3, "action": "notice", "channel": "sms"},
            {"level": 2, "min_days": 15, "action": "second_notice", "channel": "letter"},
        ]
        # Escalations need a person: the company's finance staff (or administrator).
        member = (
            Membership.objects.filter(
                company__path__startswith=company.path, role__in=(Role.FINANCE, Role.GROUP_ADMIN)
            )
            .order_by("-role", "pk")  # finance before group_admin
            .first()
        )
        if member is not None:
            levels += [
                {"level": 3, "min_days": 45, "min_amount": Decimal("10000"),
                 "action": "escalate", "channel": "internal", "assignee": member.user},
                {"level": 4, "min_days": 90, "min_amount": Decimal("50000"),
                 "action": "legal_review", "channel": "internal", "assignee": member.user},
            ]  # fmt: skip
        dunning_policy_save(company=company, name="催缴规则", levels=levels)


def demo_receipts(cursor=None, *, as_of: date, seed: int) -> int:
    """Record receipts for the posted bills due on or before `as_of`; returns how many.

    `cursor` is accepted for the seed's calling convention; the rows are written with
    bulk inserts in batches (the allocation guard checks each row).
    """
    del cursor
    bills = list(
        Bill.objects.filter(due_date__lte=as_of, amount__gt=0, allocations__isnull=True)
        .exclude(kind=BillKind.CREDIT)
        .order_by("tenant_id", "due_date", "pk")
        .values("pk", "company_id", "tenant_id", "lease_id", "amount", "due_date")
    )
    # Habits are dealt over every tenant with bills, paid or not, so a rerun deals the same.
    first_due = dict(
        Bill.objects.filter(due_date__lte=as_of, amount__gt=0)
        .values("tenant_id")
        .annotate(first=Min("due_date"))
        .values_list("tenant_id", "first")
    )
    habits = _habits(list(first_due), seed)
    plan: list[tuple[dict, date, Decimal, str, str]] = []
    for b in bills:
        habit = habits[b["tenant_id"]]
        method = _pick(random.Random(f"{seed}:{b['tenant_id']}"), METHODS)  # noqa: S311
        rng = random.Random(f"{seed}:{b['pk']}")  # noqa: S311
        amount, due = b["amount"], b["due_date"]
        if habit == "on_time":
            on = due - timedelta(days=rng.randint(0, 5))
        elif habit == "late":
            on = due + timedelta(days=rng.randint(5, 75))
        elif habit == "partial":
            on = due + timedelta(days=rng.randint(0, 10))
            share = Decimal(rng.randint(50, 90)) / 100
            amount = (amount * share).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        else:  # arrears: paid for the first month of history, then nothing
            if due > first_due[b["tenant_id"]] + timedelta(days=31):
                continue
            on = due + timedelta(days=rng.randint(10, 40))
        if on > as_of or amount <= 0:
            continue
        plan.append((b, on, amount, method, _reference(method, rng, on)))
    with transaction.atomic():
        demo_settings()
        for start in range(0, len(plan), BATCH):
            chunk = plan[start : start + BATCH]
            numbers = receipt_numbers(ReceiptKind.PAYMENT, as_of, len(chunk))
            receipts = Receipt.objects.bulk_create(
                Receipt(
                    company_id=b["company_id"],
                    tenant_id=b["tenant_id"],
                    lease_id=b["lease_id"],
                    number=number.replace(f"{as_of:%Y%m}", f"{on:%Y%m}", 1),
                    kind=ReceiptKind.PAYMENT,
                    method=method,
                    received_on=on,
                    amount=amount,
                    reference=reference,
                )  # fmt: skip
                for (b, on, amount, method, reference), number in zip(chunk, numbers, strict=True)
            )
            Allocation.objects.bulk_create(
                Allocation(receipt=r, bill_id=b["pk"], amount=r.amount, allocated_on=r.received_on)
                for r, (b, *_rest) in zip(receipts, chunk, strict=True)
            )
    return len(plan)
