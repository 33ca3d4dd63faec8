"""Finance on the web pages: a lease's bills with lines, traces and outstanding amounts, a
tenant's aging, balances and receipts, the bills and receipts lists with XLSX export, and the
cockpit's finance widgets — each figure hand-computed from a small fixture and checked
against finance's own selectors.

The fixture (tests/web_portfolio.py, lease HT-WEB-001 of A): two quarterly rent bills of
18,000.00, due 2025-01-01 and 2025-04-01; 18,000.00 received 2025-01-10 (pays the first)
and 5,000.00 received 2025-04-20 (part of the second). As of 2025-06-01 the second bill has
13,000.00 outstanding, 61 days past due (the 31-90 bucket).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D
from io import BytesIO

import pytest
from openpyxl import load_workbook

from finance import services as finance_services
from finance.collection import selectors as collection
from finance.collection import services as collection_services
from finance.models import Bill
from tests.web_portfolio import AS_OF, portfolio_build

TRACE = {
    "rule": "contract",
    "item": "rent",
    "version": 1,
    "area": "100.00",
    "unrounded": "18000.000",
    "segments": [
        {"start": "2025-01-01", "end": "2025-04-01", "price": "60.0000", "rule": "month",
         "amount": "18000.000"},
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Books:
    first: Bill
    second: Bill


@pytest.fixture
def pf(tree):
    return portfolio_build(tree)


def _bill(lease, start: date, end: date) -> Bill:
    return finance_services.bill_post(
        lease=lease, kind="regular", period_start=start, period_end=end, due_date=start,
        lines=[{"item": "rent", "amount": D("18000.00"), "vat_rate": D("0.09"),
                "description": "租金", "trace": {**TRACE, "segments": [
                    {**TRACE["segments"][0], "start": str(start), "end": str(end)}]}}],
    )  # fmt: skip


@pytest.fixture
def books(pf) -> Books:
    first = _bill(pf.lease, date(2025, 1, 1), date(2025, 4, 1))
    second = _bill(pf.lease, date(2025, 4, 1), date(2025, 7, 1))
    for amount, day, ref in (
        ("18000.00", date(2025, 1, 10), "B-1"),
        ("5000.00", date(2025, 4, 20), "B-2"),
    ):
        collection_services.receipt_record(
            tenant=pf.tenant, amount=D(amount), method="bank", reference=ref,
            received_on=day, today=AS_OF, lease=pf.lease,
        )  # fmt: skip
    return Books(first, second)


def _sheet(response) -> list[tuple]:
    workbook = load_workbook(BytesIO(response.content), read_only=True)
    return list(workbook.active.iter_rows(values_only=True))


# -- the lease page ----------------------------------------------------------------------------


def test_lease_page_lists_its_bills_with_lines_traces_and_outstanding(pf, books, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(f"/en/leases/{pf.lease.pk}/")
    # then
    html = response.content.decode()
    data = response.context["sections"][0]["data"]
    assert [b.number for b in data["bills"]] == [books.second.number, books.first.number]
    assert [(b.paid, b.outstanding) for b in data["bills"]] == [
        (D("5000.00"), D("13000.00")),
        (D("18000.00"), D("0.00")),
    ]
    assert (data["billed"], data["paid"], data["outstanding"]) == (
        D("36000.00"),
        D("23000.00"),
        D("13000.00"),
    )
    assert 'data-testid="lease-bills"' in html
    assert f'data-bill="{books.second.number}"' in html
    assert 'data-outstanding="13000.00"' in html
    # the trace: its plain fields, and the rent engine's segments as a table
    assert "<dt>unrounded</dt><dd>18000.000</dd>" in html
    assert "<caption>segments</caption>" in html
    assert "<td>2025-04-01</td><td>2025-07-01</td>" in html


def test_lease_page_without_bills_says_so(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(f"/en/leases/{pf.lease.pk}/")
    # then
    assert "No bills posted yet." in response.content.decode()


def test_trace_view_keeps_every_part_of_an_unknown_trace():
    # given
    from web.sections import trace_view

    trace = {"rule": "meter", "readings": [1, 2], "turnover": {"rate": "0.08"}, "segments": []}
    # when
    view = trace_view(trace)
    # then
    assert view["fields"] == [("rule", "meter")]
    assert [k for k, _ in view["nested"]] == ["readings", "segments", "turnover"]
    assert view["tables"] == []


# -- the tenant page ---------------------------------------------------------------------------


def test_tenant_page_shows_aging_balance_and_receipts_as_the_selectors_do(pf, books, agent_a, rf):
    # given
    from web.sections import tenant_receivables

    request = rf.get("/")
    request.user = agent_a
    # when
    data = tenant_receivables(request, pf.tenant, as_of=AS_OF)
    # then: 13,000.00 is 61 days past due
    assert {b["key"]: b["amount"] for b in data["buckets"]} == {
        "d0_30": D("0"), "d31_90": D("13000.00"), "d91_180": D("0"), "d181_365": D("0"),
        "over_365": D("0"),
    }  # fmt: skip
    assert (data["overdue"], data["not_due"]) == (D("13000.00"), D("0"))
    balance = data["balance"]
    assert (balance["owed"], balance["overdue"], balance["credit"]) == (
        D("13000.00"),
        D("13000.00"),
        D("0"),
    )
    assert [(r.amount, r.allocated, r.unallocated) for r in data["receipts"]] == [
        (D("5000.00"), D("5000.00"), D("0.00")),
        (D("18000.00"), D("18000.00"), D("0.00")),
    ]
    # and the same figures as the selector behind /api/finance/aging/
    report = collection.aging(user=agent_a, as_of=AS_OF, group="tenant")
    assert report["rows"][0]["d31_90"] == D("13000.00")


def test_tenant_page_renders_its_receivables_section(pf, books, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(f"/en/tenants/{pf.tenant.pk}/")
    # then
    html = response.content.decode()
    assert 'data-testid="tenant-receivables"' in html
    assert html.count("data-receipt=") == 2
    assert "Dunning notices" in html


# -- lists -------------------------------------------------------------------------------------


def test_bills_list_exports_outstanding_amounts_and_filters_by_state(pf, books, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    everything = _sheet(client.get("/en/lists/bills/?format=xlsx"))
    still_open = _sheet(client.get("/en/lists/bills/?format=xlsx&status=open"))
    page = client.get("/en/lists/bills/?kind=regular&q=HT-WEB")
    # then
    assert everything[0][0] == "Bill number"
    assert everything[0][-3:] == ("Amount (yuan)", "Paid (yuan)", "Outstanding (yuan)")
    assert [(r[0], r[-1]) for r in everything[1:]] == [
        (books.second.number, 13000),
        (books.first.number, 0),
    ]
    assert [r[0] for r in still_open[1:]] == [books.second.number]
    assert len(page.context["table"]) == 2


def test_bills_list_ignores_an_unknown_kind_and_is_scoped(pf, books, manager_b, client):
    # given: manager_b works in B, the bills are A's
    client.force_login(manager_b)
    # when
    response = client.get("/en/lists/bills/?kind=nonsense")
    # then
    assert response.status_code == 200
    assert response.context["table"] == []
    assert response.context["filters"][0][1] == ""


def test_receipts_list_exports_allocated_and_unallocated(pf, books, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    rows = _sheet(client.get("/en/lists/receipts/?format=xlsx&method=bank"))
    cash = _sheet(client.get("/en/lists/receipts/?format=xlsx&method=cash"))
    # then
    assert [(r[7], r[8], r[9], r[10]) for r in rows[1:]] == [
        (5000, 5000, 0, "B-2"),
        (18000, 18000, 0, "B-1"),
    ]
    assert cash[1:] == []


def test_list_pages_of_finance_need_a_login(pf, client):
    for path in ("/lists/bills/", "/lists/receipts/"):
        response = client.get(path)
        assert response.status_code == 302, path


# -- cockpit widgets ---------------------------------------------------------------------------


def _widget(api, user, widget: str, **params) -> dict:
    response = api(user).get(f"/api/web/cockpit/{widget}/", {"as_of": "2025-06-01", **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_collection_rate_by_month_matches_the_selector(pf, books, agent_a, api):
    # when
    data = _widget(api, agent_a, "collection_rate_by_month")
    # then: January's bill is paid in full, April's 5,000 of 18,000 (0.2778)
    assert data["categories"][0] == "2024-07" and data["categories"][-1] == "2025-06"
    rates = dict(zip(data["categories"], data["series"][0]["data"], strict=True))
    assert rates["2025-01"] == 1.0
    assert rates["2025-04"] == 0.2778
    assert rates["2025-02"] is None
    report = collection.collection_rate(
        user=agent_a, period_start=date(2025, 4, 1), period_end=date(2025, 5, 1), as_of=AS_OF
    )
    assert float(report["rate"]) == rates["2025-04"]


def test_collection_rate_for_another_company_is_empty(pf, books, group_admin, tree, api):
    # when: B holds no bills
    data = _widget(api, group_admin, "collection_rate_by_month", company=tree.sub_b.pk)
    whole = _widget(api, group_admin, "collection_rate_by_month")
    # then
    assert set(data["series"][0]["data"]) == {None}
    assert whole["series"][0]["data"][6] == 1.0  # 2025-01


def test_revenue_by_month_shows_billed_and_collected(pf, books, agent_a, api):
    # when
    data = _widget(api, agent_a, "revenue_by_month")
    # then
    billed = dict(zip(data["categories"], data["series"][0]["data"], strict=True))
    collected = dict(zip(data["categories"], data["series"][1]["data"], strict=True))
    assert {k: v for k, v in billed.items() if v} == {"2025-01": 18000.0, "2025-04": 18000.0}
    assert {k: v for k, v in collected.items() if v} == {"2025-01": 18000.0, "2025-04": 5000.0}


def test_aging_by_company_stacks_the_buckets(pf, books, agent_a, tree, api):
    # when
    data = _widget(api, agent_a, "aging_by_company")
    # then
    assert data["categories"] == [tree.sub_a.name]
    assert [s["data"] for s in data["series"]] == [[0.0], [13000.0], [0.0], [0.0], [0.0]]
    assert "31-90" in data["series"][1]["name"]
    assert {s["stack"] for s in data["series"]} == {"aging"}


def test_finance_widgets_are_scoped(pf, books, manager_b, api):
    # when: manager_b sees none of A's bills
    aging = _widget(api, manager_b, "aging_by_company")
    revenue = _widget(api, manager_b, "revenue_by_month")
    # then
    assert aging["categories"] == []
    assert set(revenue["series"][0]["data"]) == {0.0}


def test_cockpit_page_lists_the_finance_and_tracking_widgets(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    html = client.get("/en/cockpit/").content.decode()
    # then
    for widget in ("collection_rate_by_month", "revenue_by_month", "aging_by_company",
                   "alerts_by_level"):  # fmt: skip
        assert f'data-widget="{widget}"' in html
