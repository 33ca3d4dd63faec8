"""The cockpit (经营驾驶舱): a list of widgets, each a figure or a chart for a company.

A widget is a definition here: an id, a title, and a function of (user, as_of, company)
returning chart data in one of a few shapes the page knows how to draw
(web/static/web/cockpit.js):

    {"kind": "kpis", "items": [{"label": …, "value": 0.84, "format": "percent"}, …]}
    {"kind": "bar" | "line", "categories": [...], "series": [{"name": …, "data": [...],
     "type": "bar" | "line", "axis": 0 | 1}], "axes": [{"name": …, "format": …}, …]}
    {"kind": "pie", "series": [{"name": …, "value": …}]}

Finance (collection rate, aging) and tracking (alerts by level) add their widgets by
calling `widget_register` from their app's `ready()` (or by adding to `WIDGETS` here): the
page, its endpoint `/api/web/cockpit/<id>/` and the company filter come with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leasing import selectors as leasing_selectors
from spatial.models import Company
from web import selectors

ZERO = Decimal("0")
#: Sites shown in a per-site chart, at most (the worst first).
TOP_SITES = 20

Compute = Callable[..., dict]


@dataclass(frozen=True)
class Widget:
    """One tile of the cockpit. `compute(user=, as_of=, company=)` returns its chart data;
    `wide` widgets take a full row."""

    id: str
    title: Promise | str
    compute: Compute
    wide: bool = False


def _number(value) -> float | None:
    return None if value is None else float(value)


def _site_rows(rows: list[dict], sites: set[int] | None) -> list[dict]:
    return rows if sites is None else [r for r in rows if r["id"] in sites]


def kpis(*, user, as_of: date, company: Company | None) -> dict:
    """Occupancy, WALE, vacancy loss and rent over the company's sites (all when None)."""
    sites = selectors.company_sites(user=user, company=company)
    if sites is None:
        occ = leasing_selectors.occupancy(user=user, as_of=as_of, by="all")
        occ = occ[0] if occ else {}
        leasable, leased = occ.get("leasable_area", ZERO), occ.get("leased_area", ZERO)
        wale = leasing_selectors.wale(user=user, as_of=as_of, by="all")
        wale = wale[0] if wale else {}
        wale_area, wale_rent = wale.get("wale_by_area"), wale.get("wale_by_rent")
        rent_month = wale.get("monthly_rent", ZERO)
    else:
        occ_rows = _site_rows(leasing_selectors.occupancy(user=user, as_of=as_of), sites)
        leasable = sum((r["leasable_area"] for r in occ_rows), ZERO)
        leased = sum((r["leased_area"] for r in occ_rows), ZERO)
        wale_rows = _site_rows(leasing_selectors.wale(user=user, as_of=as_of, by="site"), sites)
        area = sum((r["leased_area"] for r in wale_rows), ZERO)
        rent_month = sum((r["monthly_rent"] for r in wale_rows), ZERO)
        wale_area = (
            sum((r["wale_by_area"] * r["leased_area"] for r in wale_rows), ZERO) / area
            if area
            else None
        )
        wale_rent = (
            sum((r["wale_by_rent"] * r["monthly_rent"] for r in wale_rows), ZERO) / rent_month
            if rent_month
            else None
        )
    loss_rows = _site_rows(leasing_selectors.vacancy_loss(user=user, as_of=as_of), sites)
    loss = sum((r["vacancy_loss"] for r in loss_rows), ZERO)
    rows = [
        (_("Occupancy by area"), leased / leasable if leasable else None, "percent"),
        (_("Leased area (m²)"), leased, "number"),
        (_("Vacant area (m²)"), leasable - leased, "number"),
        (_("WALE by area (years)"), wale_area, "decimal"),
        (_("WALE by rent (years)"), wale_rent, "decimal"),
        (_("Monthly rent (yuan)"), rent_month, "money"),
        (_("Average rent (yuan/m²/month)"), rent_month / leased if leased else None, "money"),
        (_("Vacancy loss to date (yuan)"), loss, "money"),
    ]
    return {
        "kind": "kpis",
        "items": [{"label": label, "value": _number(v), "format": f} for label, v, f in rows],
    }


def occupancy_by_company(*, user, as_of: date, company: Company | None) -> dict:
    rows = leasing_selectors.occupancy(user=user, as_of=as_of, by="company")
    if company is not None:
        below = set(
            Company.objects.restrict(user, "view")
            .filter(path__startswith=company.path)
            .values_list("pk", flat=True)
        )
        rows = [r for r in rows if r["id"] in below]
    return _occupancy_chart(rows)


def occupancy_by_site(*, user, as_of: date, company: Company | None) -> dict:
    """The sites with the lowest occupancy by area first."""
    sites = selectors.company_sites(user=user, company=company)
    rows = _site_rows(leasing_selectors.occupancy(user=user, as_of=as_of, by="site"), sites)
    rows = sorted(
        (r for r in rows if r["occupancy_by_area"] is not None),
        key=lambda r: (r["occupancy_by_area"], r["name"]),
    )[:TOP_SITES]
    return _occupancy_chart(rows)


def _occupancy_chart(rows: list[dict]) -> dict:
    return {
        "kind": "bar",
        "categories": [r["name"] for r in rows],
        "axes": [{"name": _("Occupancy"), "format": "percent"}],
        "series": [
            {"name": _("By area"), "data": [_number(r["occupancy_by_area"]) for r in rows]},
            {"name": _("By count"), "data": [_number(r["occupancy_by_count"]) for r in rows]},
        ],
    }


def expiries_by_month(*, user, as_of: date, company: Company | None) -> dict:
    """Lease expiry density: area and leases ending per month, the next five years."""
    sites = selectors.company_sites(user=user, company=company)
    rows = leasing_selectors.lease_expiries_by_month(user=user, as_of=as_of, sites=sites)
    return {
        "kind": "bar",
        "categories": [r["month"] for r in rows],
        "axes": [
            {"name": _("Area (m²)"), "format": "number"},
            {"name": _("Leases"), "format": "number"},
        ],
        "series": [
            {"name": _("Expiring area (m²)"), "data": [_number(r["area"]) for r in rows]},
            {
                "name": _("Expiring leases"),
                "type": "line",
                "axis": 1,
                "data": [r["leases"] for r in rows],
            },
        ],  # fmt: skip
    }


def vacancy_loss_by_site(*, user, as_of: date, company: Company | None) -> dict:
    """The sites losing most rent to vacancy first."""
    sites = selectors.company_sites(user=user, company=company)
    rows = _site_rows(leasing_selectors.vacancy_loss(user=user, as_of=as_of, by="site"), sites)
    rows = sorted(rows, key=lambda r: (-r["vacancy_loss"], r["name"]))[:TOP_SITES]
    return {
        "kind": "bar",
        "categories": [r["name"] for r in rows],
        "axes": [{"name": _("Yuan"), "format": "money"}],
        "series": [{"name": _("Vacancy loss"), "data": [_number(r["vacancy_loss"]) for r in rows]}],
    }


def rent_by_site(*, user, as_of: date, company: Company | None) -> dict:
    """Average headline rent per m² per month of the leases in force, highest first."""
    sites = selectors.company_sites(user=user, company=company)
    rows = selectors.site_rents(user=user, as_of=as_of, sites=sites)
    rows = sorted(rows, key=lambda r: (-(r["rent_per_sqm_month"] or 0), r["name"]))[:TOP_SITES]
    return {
        "kind": "bar",
        "categories": [r["name"] for r in rows],
        "axes": [{"name": _("Yuan/m²/month"), "format": "money"}],
        "series": [
            {"name": _("Rent per m²"), "data": [_number(r["rent_per_sqm_month"]) for r in rows]}
        ],
    }


#: The cockpit, in page order. Finance and tracking widgets are added with widget_register.
WIDGETS: list[Widget] = [
    Widget("kpis", gettext_lazy("Key figures"), kpis, wide=True),
    Widget("occupancy_by_company", gettext_lazy("Occupancy by company"), occupancy_by_company),
    Widget("occupancy_by_site", gettext_lazy("Lowest occupancy by site"), occupancy_by_site),
    Widget(
        "expiries_by_month",
        gettext_lazy("Lease expiries by month"),
        expiries_by_month,
        wide=True,
    ),
    Widget("vacancy_loss_by_site", gettext_lazy("Vacancy loss by site"), vacancy_loss_by_site),
    Widget("rent_by_site", gettext_lazy("Rent per m² by site"), rent_by_site),
]


def widget_register(widget: Widget, *, after: str | None = None) -> None:
    """Add a widget (or replace one of the same id), after the widget `after` or last."""
    existing = [w.id for w in WIDGETS]
    if widget.id in existing:
        WIDGETS[existing.index(widget.id)] = widget
        return
    position = existing.index(after) + 1 if after in existing else len(WIDGETS)
    WIDGETS.insert(position, widget)


def widget_get(widget_id: str) -> Widget | None:
    return next((w for w in WIDGETS if w.id == widget_id), None)
