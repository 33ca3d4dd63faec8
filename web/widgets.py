"""The cockpit's finance and tracking widgets: collection rate by month, aging by company,
billed vs collected by month, open alerts by level.

Each reads through finance's and tracking's own selectors or the same scoped querysets the
APIs use, so a figure on the cockpit is the figure of `/api/finance/collection-rate/`,
`/api/finance/aging/` or `/api/tracking/alerts/`. Registered from `WebConfig.ready()` with
`web.cockpit.widget_register`. Months are the twelve calendar months up to `as_of`'s.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from finance.collection import selectors as collection
from finance.collection.models import Allocation
from finance.models import Bill
from spatial.models import Company
from tracking.choices import AlertStatus, Level
from tracking.models import Alert
from web.cockpit import Widget, widget_register

ZERO = Decimal("0.00")
#: Months shown by the monthly charts.
MONTHS = 12


def _months(as_of: date, count: int = MONTHS) -> list[date]:
    """The first days of the `count` months ending with the month of `as_of`, oldest first."""
    year, month = as_of.year, as_of.month
    out = []
    for _i in range(count):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _below(user, company: Company | None) -> set[int] | None:
    """Ids of the visible companies at and below `company`; None for all the user's."""
    if company is None:
        return None
    return set(
        Company.objects.restrict(user, "view")
        .filter(path__startswith=company.path)
        .values_list("pk", flat=True)
    )


def _float(value) -> float | None:
    return None if value is None else float(value)


def _rate(collected: Decimal, due: Decimal) -> Decimal | None:
    # The selector's own rounding (collection.collection_rate): four places.
    return (collected / due).quantize(Decimal("0.0001")) if due > 0 else None


def collection_rate_by_month(*, user, as_of: date, company: Company | None) -> dict:
    """收缴率 of the bills due in each month, collected as of `as_of`
    (`collection.collection_rate`, summed over the company's subtree when one is chosen)."""
    below = _below(user, company)
    categories, rates, dues, collected = [], [], [], []
    for first in _months(as_of):
        report = collection.collection_rate(
            user=user, period_start=first, period_end=_next_month(first), as_of=as_of
        )
        if below is None:
            due, got = report["due"], report["collected"]
        else:
            rows = [c for c in report["companies"] if c["id"] in below]
            due = sum((c["due"] for c in rows), ZERO)
            got = sum((c["collected"] for c in rows), ZERO)
        categories.append(first.strftime("%Y-%m"))
        rates.append(_float(_rate(got, due)))
        dues.append(float(due))
        collected.append(float(got))
    return {
        "kind": "bar",
        "categories": categories,
        "axes": [{"name": _("Collection rate"), "format": "percent"}],
        "series": [{"name": _("Collection rate"), "data": rates}],
        "due": dues,
        "collected": collected,
    }


def aging_by_company(*, user, as_of: date, company: Company | None) -> dict:
    """账龄: what is overdue per company, stacked by days past due (`collection.aging`)."""
    below = _below(user, company)
    report = collection.aging(user=user, as_of=as_of, group="company")
    rows = [r for r in report["rows"] if below is None or r["id"] in below]
    rows = sorted(rows, key=lambda r: (-r["overdue"], r["name"]))
    return {
        "kind": "bar",
        "categories": [r["name"] for r in rows],
        "axes": [{"name": _("Yuan"), "format": "money"}],
        "series": [
            {
                "name": _("%(days)s days") % {"days": b["label"]},
                "stack": "aging",
                "data": [_float(r[b["key"]]) for r in rows],
            }
            for b in report["buckets"]
        ],
    }


def revenue_by_month(*, user, as_of: date, company: Company | None) -> dict:
    """Billed vs collected per month: the amounts of the bills whose period starts in the
    month (all kinds: credits reduce it, late fees add to it) and the allocations of
    receipts to bills dated in the month (reversals reduce it)."""
    below = _below(user, company)
    months = _months(as_of)
    start, end = months[0], _next_month(months[-1])
    bills = Bill.objects.restrict(user, "view")
    if below is not None:
        bills = bills.filter(company_id__in=below)
    billed = dict(
        bills.filter(period_start__gte=start, period_start__lt=end)
        .annotate(month=TruncMonth("period_start"))
        .values("month")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("month", "total")
    )
    collected = dict(
        Allocation.objects.filter(bill__in=bills, allocated_on__gte=start, allocated_on__lt=end)
        .annotate(month=TruncMonth("allocated_on"))
        .values("month")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("month", "total")
    )
    return {
        "kind": "bar",
        "categories": [m.strftime("%Y-%m") for m in months],
        "axes": [{"name": _("Yuan"), "format": "money"}],
        "series": [
            {"name": _("Billed"), "data": [float(billed.get(m, ZERO)) for m in months]},
            {"name": _("Collected"), "data": [float(collected.get(m, ZERO)) for m in months]},
        ],
    }


def alerts_by_level(*, user, as_of: date, company: Company | None) -> dict:
    """Alerts not yet closed (open or acknowledged), by level."""
    alerts = Alert.objects.restrict(user, "view").exclude(status=AlertStatus.CLOSED)
    below = _below(user, company)
    if below is not None:
        alerts = alerts.filter(company_id__in=below)
    counts = dict(
        alerts.values("level").annotate(n=Count("pk")).order_by().values_list("level", "n")
    )
    return {
        "kind": "pie",
        "series": [
            {"name": str(label), "value": counts.get(value, 0), "level": value}
            for value, label in Level.choices
        ],
    }


WIDGETS = (
    (Widget("collection_rate_by_month", gettext_lazy("Collection rate by month"),
            collection_rate_by_month), "rent_by_site"),
    (Widget("revenue_by_month", gettext_lazy("Billed and collected by month"),
            revenue_by_month), "collection_rate_by_month"),
    (Widget("aging_by_company", gettext_lazy("Aging by company"), aging_by_company, wide=True),
     "revenue_by_month"),
    (Widget("alerts_by_level", gettext_lazy("Open alerts by level"), alerts_by_level),
     "aging_by_company"),
)  # fmt: skip


def register() -> None:
    """Called once from WebConfig.ready()."""
    for widget, after in WIDGETS:
        widget_register(widget, after=after)
