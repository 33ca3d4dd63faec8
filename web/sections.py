"""Finance on the web pages: the bills section of a lease (lines, calculation traces, what is
still outstanding), the receivables section of a tenant (aging, balances, receipts, dunning
notices) and the bills and receipts lists with their XLSX export.

Web sits above finance (web may import finance, never the reverse), so these are registered
from `WebConfig.ready()` through the hooks of web/pages.py (`LEASE_SECTIONS`,
`TENANT_SECTIONS`, `LISTS`). Every figure comes from finance's own selectors
(`finance.collection.selectors`), so a page never disagrees with the API.
"""

from __future__ import annotations

import json
from datetime import date

from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from finance.collection import selectors as collection
from finance.collection.models import DunningNotice, PaymentMethod, Receipt, ReceiptKind
from finance.models import Bill, BillKind
from leasing.models import Lease, Tenant
from web.export import Column
from web.pages import (
    LEASE_SECTIONS,
    LISTS,
    TENANT_SECTIONS,
    ListFilter,
    ListPage,
    Section,
)

#: Bills shown on a lease page, newest period first (a 20-year monthly lease has 240).
LEASE_BILLS_SHOWN = 300
#: Receipts and dunning notices shown on a tenant page, newest first.
TENANT_ROWS_SHOWN = 50


# -- calculation traces ------------------------------------------------------------------------


#: The order a trace's keys are read in (docs/billing.md); PostgreSQL's jsonb keeps its own
#: order (shortest key first), which reads badly. Keys not listed follow, alphabetically.
TRACE_ORDER = (
    "rule", "item", "version", "area", "days", "prices_include_tax", "vat_rate", "unrounded",
    "rounding", "start", "end", "month_days", "price", "basis", "qty", "factor", "amount",
)  # fmt: skip


def _ordered(keys) -> list[str]:
    rank = {k: i for i, k in enumerate(TRACE_ORDER)}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def trace_view(trace: dict) -> dict:
    """A bill line's trace (docs/billing.md) laid out for a page: its plain fields as
    key/value pairs, each list of records (the rent engine's segments) as a table, and any
    nested record as JSON. Nothing is dropped: an unknown trace shape still shows in full."""
    fields, tables, nested = [], [], []
    trace = trace or {}
    for key in _ordered(trace):
        value = trace[key]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            headers = _ordered(dict.fromkeys(k for row in value for k in row))
            tables.append(
                {"name": key, "headers": headers,
                 "rows": [[row.get(h, "") for h in headers] for row in value]}
            )  # fmt: skip
        elif isinstance(value, dict | list):
            nested.append((key, json.dumps(value, ensure_ascii=False, indent=1, default=str)))
        else:
            fields.append((key, value))
    return {"fields": fields, "tables": tables, "nested": nested}


# -- the lease page: its bills -----------------------------------------------------------------


def lease_bills(request: HttpRequest, lease: Lease) -> dict:
    """The lease's bills with their lines and traces, and per bill what was paid and what is
    outstanding (amount − allocations, `collection.bills_outstanding`)."""
    bills = list(
        collection.bills_outstanding(
            Bill.objects.restrict(request.user, "view").filter(lease=lease)
        )
        .prefetch_related("lines__unit")
        .order_by("-period_start", "-number")[:LEASE_BILLS_SHOWN]
    )
    for bill in bills:
        bill.line_views = [(line, trace_view(line.trace)) for line in bill.lines.all()]
    totals = Bill.objects.restrict(request.user, "view").filter(lease=lease)
    billed = totals.aggregate(total=Sum("amount"))["total"] or collection.ZERO
    outstanding = (
        collection.bills_outstanding(totals).aggregate(total=Sum("outstanding"))["total"]
        or collection.ZERO
    )
    return {
        "bills": bills,
        "count": totals.count(),
        "billed": billed,
        "outstanding": outstanding,
        "paid": billed - outstanding,
        "shown": LEASE_BILLS_SHOWN,
        "list_url": reverse("web-list", args=["bills"]) + f"?q={lease.number}",
    }


# -- the tenant page: receivables --------------------------------------------------------------


def tenant_receivables(request: HttpRequest, tenant: Tenant, *, as_of: date | None = None) -> dict:
    """Aging buckets, balances, recent receipts and dunning notices of one tenant, as the
    collection selectors compute them for the signed-in user today."""
    user = request.user
    as_of = as_of or timezone.localdate()
    report = collection.aging(user=user, as_of=as_of, group="tenant")
    row = next((r for r in report["rows"] if r["id"] == tenant.pk), None)
    buckets = [
        {"key": b["key"], "label": b["label"], "amount": row[b["key"]] if row else collection.ZERO}
        for b in report["buckets"]
    ]
    balances = collection.tenant_balances(user=user, as_of=as_of, tenant_id=tenant.pk)
    receipts = (
        collection.receipts_unallocated(Receipt.objects.restrict(user, "view"))
        .filter(tenant=tenant)
        .select_related("company", "lease")
        .order_by("-received_on", "-pk")[:TENANT_ROWS_SHOWN]
    )
    notices = (
        DunningNotice.objects.restrict(user, "view")
        .filter(tenant=tenant)
        .select_related("lease")
        .order_by("-sent_on", "-pk")[:TENANT_ROWS_SHOWN]
    )
    return {
        "as_of": as_of,
        "buckets": buckets,
        "not_due": row["not_due"] if row else collection.ZERO,
        "overdue": row["overdue"] if row else collection.ZERO,
        "balance": balances[0] if balances else None,
        "receipts": list(receipts),
        "notices": list(notices),
        "receipts_url": reverse("web-list", args=["receipts"]) + f"?q={tenant.name}",
        "bills_url": reverse("web-list", args=["bills"]) + f"?q={tenant.name}",
    }


# -- lists: bills and receipts -----------------------------------------------------------------

BILL_STATES = (("open", _("Outstanding")), ("settled", _("Settled")))


def _bill_rows(user, q: str, status: str, *, kind: str = "", **_filters: str) -> QuerySet:
    rows = collection.bills_outstanding(
        Bill.objects.restrict(user, "view").select_related("tenant", "lease", "company")
    )
    if q:
        rows = rows.filter(
            Q(number__icontains=q) | Q(tenant__name__icontains=q) | Q(lease__number__icontains=q)
        )
    if status == "open":
        rows = rows.filter(outstanding__gt=0)
    elif status == "settled":
        rows = rows.filter(outstanding__lte=0)
    if kind:
        rows = rows.filter(kind=kind)
    return rows.order_by("-due_date", "-number")


def _receipt_rows(
    user, q: str, status: str, *, kind: str = "", method: str = "", **_filters: str
) -> QuerySet:
    rows = collection.receipts_unallocated(
        Receipt.objects.restrict(user, "view").select_related("tenant", "company", "lease")
    )
    if q:
        rows = rows.filter(
            Q(number__icontains=q) | Q(tenant__name__icontains=q) | Q(reference__icontains=q)
        )
    if kind:
        rows = rows.filter(kind=kind)
    if method:
        rows = rows.filter(method=method)
    return rows.order_by("-received_on", "-number")


def _lease_link(x) -> str:
    return reverse("web-lease", args=[x.lease_id])


def _tenant_link(x) -> str:
    return reverse("web-tenant", args=[x.tenant_id])


BILLS = ListPage(
    _("Bills"),
    "bills",
    (
        Column(_("Bill number"), lambda b: b.number, _lease_link),
        Column(_("Kind"), lambda b: b.get_kind_display()),
        Column(_("Tenant"), lambda b: b.tenant.name, _tenant_link),
        Column(_("Contract number"), lambda b: b.lease.number, _lease_link),
        Column(_("Landlord company"), lambda b: str(b.company)),
        Column(_("Period start"), lambda b: b.period_start),
        Column(_("Period end (exclusive)"), lambda b: b.period_end),
        Column(_("Due date"), lambda b: b.due_date),
        Column(_("Amount (yuan)"), lambda b: b.amount),
        Column(_("Paid (yuan)"), lambda b: b.paid),
        Column(_("Outstanding (yuan)"), lambda b: b.outstanding),
    ),
    _bill_rows,
    BILL_STATES,
    filters=(ListFilter("kind", _("Kind"), tuple(BillKind.choices)),),
)

RECEIPTS = ListPage(
    _("Receipts"),
    "receipts",
    (
        Column(_("Receipt number"), lambda r: r.number),
        Column(_("Kind"), lambda r: r.get_kind_display()),
        Column(_("Payment method"), lambda r: r.get_method_display()),
        Column(_("Tenant"), lambda r: r.tenant.name, _tenant_link),
        Column(_("Contract number"), lambda r: r.lease.number if r.lease_id else ""),
        Column(_("Landlord company"), lambda r: str(r.company)),
        Column(_("Received on"), lambda r: r.received_on),
        Column(_("Amount (yuan)"), lambda r: r.amount),
        Column(_("Allocated (yuan)"), lambda r: r.allocated),
        Column(_("Unallocated (yuan)"), lambda r: r.unallocated),
        Column(_("Payment reference"), lambda r: r.reference),
    ),
    _receipt_rows,
    filters=(
        ListFilter("kind", _("Kind"), tuple(ReceiptKind.choices)),
        ListFilter("method", _("Payment method"), tuple(PaymentMethod.choices)),
    ),
)


def _has(sections: list, template: str) -> bool:
    return any(getattr(s, "template", s) == template for s in sections)


def register() -> None:
    """Called once from WebConfig.ready()."""
    if not _has(LEASE_SECTIONS, "web/sections/lease_bills.html"):
        LEASE_SECTIONS.append(Section("web/sections/lease_bills.html", lease_bills))
    if not _has(TENANT_SECTIONS, "web/sections/tenant_receivables.html"):
        TENANT_SECTIONS.append(Section("web/sections/tenant_receivables.html", tenant_receivables))
    LISTS.setdefault("bills", BILLS)
    LISTS.setdefault("receipts", RECEIPTS)
