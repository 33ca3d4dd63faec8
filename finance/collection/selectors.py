"""Reads of collection: what is outstanding, aging, collection rate, balances, deposits.

Index:
    bills_outstanding, receipts_unallocated, aging, collection_rate, tenant_balances

Definitions (docs/collection.md has the long form):
    outstanding of a bill = amount − its allocations (dated on or before `as_of` if given).
    aging = the outstanding of bills due on or before `as_of` by days past due:
        0–30, 31–90, 91–180, 181–365, over 365; bills not yet due are `not_due`.
    collection rate of a period = allocations (dated on or before `as_of`) to the bills due
        in the period ÷ the amount of those bills; late-fee bills are left out of both.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import (
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from finance.collection.models import Allocation, Receipt, ReceiptKind
from finance.models import Bill, BillKind
from leasing.models import LeaseUnit
from spatial.models import Site

ZERO = Decimal("0.00")
MONEY_FIELD = DecimalField(max_digits=16, decimal_places=2)
#: (key, label, lower days, upper days) — both ends inclusive.
BUCKETS = (
    ("d0_30", "0-30", 0, 30),
    ("d31_90", "31-90", 31, 90),
    ("d91_180", "91-180", 91, 180),
    ("d181_365", "181-365", 181, 365),
    ("over_365", ">365", 366, None),
)
GROUPS = ("tenant", "lease", "site", "company")


def _scoped(queryset: QuerySet, user) -> QuerySet:
    """`user=None` is a batch job: everything. Otherwise the user's companies."""
    return queryset if user is None else queryset.restrict(user, "view")


def bills_outstanding(bills: QuerySet[Bill], *, as_of: date | None = None) -> QuerySet[Bill]:
    """Annotate `paid` and `outstanding` (amount − allocations, as of a date if given)."""
    allocations = Allocation.objects.filter(bill=OuterRef("pk"))
    if as_of is not None:
        allocations = allocations.filter(allocated_on__lte=as_of)
    paid = Subquery(
        allocations.values("bill").annotate(t=Sum("amount")).values("t"), output_field=MONEY_FIELD
    )
    return bills.annotate(
        paid=Coalesce(paid, Value(ZERO), output_field=MONEY_FIELD),
        outstanding=F("amount") - F("paid"),
    )


def receipts_unallocated(receipts: QuerySet[Receipt]) -> QuerySet[Receipt]:
    """Annotate `allocated` and `unallocated` (a payment's credit left to use)."""
    allocated = Subquery(
        Allocation.objects.filter(receipt=OuterRef("pk"))
        .values("receipt")
        .annotate(t=Sum("amount"))
        .values("t"),
        output_field=MONEY_FIELD,
    )
    return receipts.annotate(
        allocated=Coalesce(allocated, Value(ZERO), output_field=MONEY_FIELD),
        unallocated=F("amount") - F("allocated"),
    )


def _bucket_q(as_of: date, low: int, high: int | None) -> Q:
    q = Q(due_date__lte=as_of - timedelta(days=low))
    if high is not None:
        q &= Q(due_date__gte=as_of - timedelta(days=high))
    return q


def _site_of_lease() -> Subquery:
    """The site of a lease: that of its first current line (a lease rarely spans sites)."""
    return Subquery(
        LeaseUnit.objects.filter(lease=OuterRef("lease_id"))
        .order_by("-current", "pk")
        .values("unit__site_id")[:1]
    )


def aging(*, user, as_of: date, group: str = "tenant") -> dict:
    """账龄: outstanding amounts by days past due, per tenant, lease, site or company."""
    if group not in GROUPS:
        raise ValidationError({"group": [_("Group by tenant, lease, site or company.")]})
    bills = bills_outstanding(
        _scoped(Bill.objects.exclude(kind=BillKind.CREDIT), user), as_of=as_of
    ).filter(outstanding__gt=0)
    key, name = {
        "tenant": ("tenant_id", "tenant__name"),
        "lease": ("lease_id", "lease__number"),
        "company": ("company_id", "company__name"),
        "site": ("site_key", None),
    }[group]
    if group == "site":
        bills = bills.annotate(site_key=_site_of_lease())
    sums = {
        k: Coalesce(Sum("outstanding", filter=_bucket_q(as_of, lo, hi)), Value(ZERO))
        for k, _label, lo, hi in BUCKETS
    }
    sums["not_due"] = Coalesce(Sum("outstanding", filter=Q(due_date__gt=as_of)), Value(ZERO))
    fields = [key] + ([name] if name else [])
    rows = list(bills.values(*fields).annotate(**sums).order_by(*fields))
    names = {}
    if group == "site":
        names = dict(Site.objects.filter(pk__in=[r[key] for r in rows]).values_list("pk", "name"))
    out, totals = [], dict.fromkeys([b[0] for b in BUCKETS] + ["not_due", "overdue"], ZERO)
    for r in rows:
        row = {"id": r[key], "name": r[name] if name else names.get(r[key], "")}
        for k in totals:
            if k != "overdue":
                row[k] = r[k]
        row["overdue"] = sum((r[b[0]] for b in BUCKETS), ZERO)
        for k in totals:
            totals[k] += row[k]
        out.append(row)
    return {
        "as_of": as_of,
        "group": group,
        "buckets": [{"key": k, "label": label} for k, label, _lo, _hi in BUCKETS],
        "rows": out,
        "totals": totals,
    }


def collection_rate(*, user, period_start: date, period_end: date, as_of: date) -> dict:
    """收缴率 of the bills due in `[period_start, period_end)`, counting what was allocated to
    them on or before `as_of`; overall and per company. Late fees are left out."""
    if period_end <= period_start:
        raise ValidationError({"period": [_("The period ends before it starts.")]})
    bills = _scoped(Bill.objects.exclude(kind=BillKind.LATE_FEE), user).filter(
        due_date__gte=period_start, due_date__lt=period_end
    )
    collected = Coalesce(
        Sum("allocations__amount", filter=Q(allocations__allocated_on__lte=as_of)), Value(ZERO)
    )
    due_rows = {
        r["company_id"]: r
        for r in bills.values("company_id", "company__name")
        .annotate(due=Sum("amount"))
        .order_by("company_id")
    }
    paid_rows = dict(
        bills.values("company_id").annotate(c=collected).order_by().values_list("company_id", "c")
    )

    def rate(collected: Decimal, due: Decimal) -> Decimal | None:
        return (collected / due).quantize(Decimal("0.0001")) if due > 0 else None

    companies = []
    for cid, r in due_rows.items():
        got = paid_rows.get(cid, ZERO)
        companies.append(
            {
                "id": cid,
                "name": r["company__name"],
                "due": r["due"],
                "collected": got,
                "rate": rate(got, r["due"]),
            }  # fmt: skip
        )
    due = sum((c["due"] for c in companies), ZERO)
    got = sum((c["collected"] for c in companies), ZERO)
    return {
        "period_start": period_start,
        "period_end": period_end,
        "as_of": as_of,
        "due": due,
        "collected": got,
        "rate": rate(got, due),
        "companies": companies,
    }


def tenant_balances(*, user, as_of: date, tenant_id: int | None = None) -> list[dict]:
    """Per tenant: what it owes (and of that, overdue), its credit (payments not allocated
    and credit bills not used) and the deposits held for it (a liability, never credit)."""
    bills = bills_outstanding(_scoped(Bill.objects.all(), user))
    receipts = receipts_unallocated(_scoped(Receipt.objects.all(), user))
    if tenant_id is not None:
        bills, receipts = bills.filter(tenant_id=tenant_id), receipts.filter(tenant_id=tenant_id)
    rows: dict[int, dict] = {}

    def row(tid: int, name: str) -> dict:
        return rows.setdefault(
            tid, {"tenant": tid, "name": name, "owed": ZERO, "overdue": ZERO, "credit": ZERO,
                  "deposit_held": ZERO},
        )  # fmt: skip

    for r in (
        bills.values("tenant_id", "tenant__name")
        .annotate(
            owed=Coalesce(Sum("outstanding", filter=Q(outstanding__gt=0)), Value(ZERO)),
            overdue=Coalesce(
                Sum("outstanding", filter=Q(outstanding__gt=0, due_date__lt=as_of)), Value(ZERO)
            ),
            credit=Coalesce(Sum("outstanding", filter=Q(outstanding__lt=0)), Value(ZERO)),
        )
        .order_by()
    ):
        x = row(r["tenant_id"], r["tenant__name"])
        x["owed"], x["overdue"], x["credit"] = r["owed"], r["overdue"], -r["credit"]
    for r in (
        receipts.values("tenant_id", "tenant__name")
        .annotate(
            credit=Coalesce(
                Sum(
                    "unallocated",
                    filter=Q(kind=ReceiptKind.PAYMENT)
                    | Q(kind=ReceiptKind.REVERSAL, reverses__kind=ReceiptKind.PAYMENT),
                ),
                Value(ZERO),
            ),
            deposit=Coalesce(
                Sum(
                    "amount",
                    filter=Q(kind=ReceiptKind.DEPOSIT)
                    | Q(kind=ReceiptKind.REVERSAL, reverses__kind=ReceiptKind.DEPOSIT),
                ),
                Value(ZERO),
            ),
        )
        .order_by()
    ):
        x = row(r["tenant_id"], r["tenant__name"])
        x["credit"] += r["credit"]
        x["deposit_held"] = r["deposit"]
    return sorted(rows.values(), key=lambda x: (x["name"], x["tenant"]))


#: Bills whose allocations count as paid towards a lease's rent and charges at move-out:
#: the periodic bills the rent engine's charges correspond to, and debit corrections of
#: them. A credit bill's (negative) settlement is not counted: the positive allocation it
#: makes on the bill it corrects already is, so an abatement lowers what is owed.
SETTLEMENT_BILL_KINDS = (BillKind.REGULAR, BillKind.DEBIT)


def lease_paid_towards_charges(lease) -> Decimal:
    """Money (and credit) set against the lease's periodic and debit bills, to the fen: the
    `paid` of a move-out settlement (leasing.selectors.PAID_PROVIDERS)."""
    total = Allocation.objects.filter(
        bill__lease=lease, bill__kind__in=SETTLEMENT_BILL_KINDS
    ).aggregate(total=Coalesce(Sum("amount"), Decimal(0)))["total"]
    return Decimal(total).quantize(Decimal("0.01"))
