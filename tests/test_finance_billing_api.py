"""The finance API: bills with lines and traces, runs, adjustments, abatements, meters —
anonymous, wrong company, allowed, and bad input naming the field."""

from datetime import date
from decimal import Decimal as D

import pytest

from finance import billing
from finance.models import Abatement, Bill, BillingRun, Meter, MeterReading, Tariff
from spatial.choices import Role
from tests.factories import member
from tests.test_finance_billing import floor_a, make_lease, tenant_a  # noqa: F401 - fixtures

BILLS = "/api/finance/bills/"


@pytest.fixture
def posted(make_lease):  # noqa: F811
    lease = make_lease(charges=[{"item": "property_fee", "price": D("8"), "basis": "sqm_month",
                                 "vat_rate": D("0.06")}])  # fmt: skip
    billing.billing_run(month=date(2025, 3, 1))
    return Bill.objects.get(lease=lease)


def test_bills_are_listed_and_shown_with_lines_in_the_users_companies_only(
    api, posted, finance_a, finance_b, django_assert_max_num_queries
):
    assert api().get(BILLS).status_code in (401, 403)
    assert api(finance_b).get(BILLS).json()["count"] == 0
    assert api(finance_b).get(f"{BILLS}{posted.pk}/").status_code == 404
    with django_assert_max_num_queries(8):
        listed = api(finance_a).get(BILLS, {"period": "2025-03", "kind": "regular"}).json()
    assert listed["count"] == 1 and listed["results"][0]["amount"] == "6800.00"
    assert api(finance_a).get(BILLS, {"period": "2025-04"}).json()["count"] == 0
    detail = api(finance_a).get(f"{BILLS}{posted.pk}/").json()
    # 100 m² × 60 = 6,000.00 rent; 100 × 8 = 800.00 fee
    assert [(ln["item"], ln["amount"]) for ln in detail["lines"]] == [
        ("rent", "6000.00"), ("property_fee", "800.00")
    ]  # fmt: skip
    assert detail["lines"][0]["trace"]["segments"][0]["rule"] == "month"
    bad = api(finance_a).get(BILLS, {"period": "March"})
    assert bad.status_code == 400 and "period" in bad.json()


def test_receivable_plan_shows_every_period_and_what_is_posted(api, posted, finance_a, finance_b):
    plan = api(finance_a).get(f"{BILLS}plan/", {"lease": posted.lease_id,
                                                "until": "2025-06-01"}).json()  # fmt: skip
    assert [p["period_start"] for p in plan] == ["2025-01-01", "2025-02-01", "2025-03-01",
                                                 "2025-04-01", "2025-05-01"]  # fmt: skip
    assert plan[2]["posted_bill"] == posted.pk and plan[3]["posted_bill"] is None
    assert plan[3]["amount"] == "6800.00" and plan[3]["lines"][1]["tax_code"]
    assert api(finance_b).get(f"{BILLS}plan/", {"lease": posted.lease_id}).status_code == 404
    assert "lease" in api(finance_a).get(f"{BILLS}plan/").json()


def test_adjust_a_bill(api, posted, finance_a, finance_b, agent_a):
    url = f"{BILLS}{posted.pk}/adjust/"
    for user in (finance_b, agent_a):
        assert api(user).post(url, {"amount": "-10", "reason": "x"}).status_code in (403, 404)
    assert Bill.objects.count() == 1
    bad = api(finance_a).post(url, {"amount": "-10", "reason": " "})
    assert bad.status_code == 400 and "reason" in bad.json()
    too_much = api(finance_a).post(url, {"amount": "-7000", "reason": "x"})
    assert too_much.status_code == 400 and "amount" in too_much.json()
    done = api(finance_a).post(url, {"amount": "-300", "reason": "面积差"})
    assert done.status_code == 201
    assert (done.json()["kind"], done.json()["amount"]) == ("credit", "-300.00")
    assert done.json()["corrects"] == posted.pk
    assert api(finance_a).post(BILLS, {"kind": "regular"}).status_code in (400, 403, 405)


def test_billing_runs_need_finance_rights(api, make_lease, tree, finance_a, agent_a):  # noqa: F811
    make_lease()
    url = "/api/finance/billing-runs/"
    assert api().post(url, {"period": "2025-03"}).status_code in (401, 403)
    denied = api(agent_a).post(url, {"period": "2025-03", "company": tree.sub_a.pk})
    assert denied.status_code == 403 and not BillingRun.objects.exists()
    # all companies at once: superusers only
    assert api(finance_a).post(url, {"period": "2025-03"}).status_code == 403
    bad = api(finance_a).post(url, {"period": "2025-13", "company": tree.sub_a.pk})
    assert bad.status_code == 400 and "period" in bad.json()
    ok = api(finance_a).post(url, {"period": "2025-03", "company": tree.sub_a.pk})
    assert ok.status_code == 201, ok.json()
    assert (ok.json()["bills_posted"], ok.json()["month"]) == (1, "2025-03")
    again = api(finance_a).post(url, {"period": "2025-03", "company": tree.sub_a.pk}).json()
    assert again["bills_posted"] == 0
    assert again["summary"]["skipped_by_reason"] == {"already posted": 1}
    assert api(finance_a).get(url).json()["count"] == 2


def test_abatement_flow_over_the_api(api, posted, finance_a, agent_a, tree):
    url = "/api/finance/abatements/"
    body = {"lease": posted.lease_id, "period_start": "2025-04-01", "period_end": "2025-05-01",
            "kind": "percent", "value": "0.2", "reason": "疫情减免"}  # fmt: skip
    bad = api(agent_a).post(url, {**body, "value": "2"})
    assert bad.status_code in (400, 403)
    bad = api(finance_a).post(url, {**body, "value": "2"})
    assert bad.status_code == 400 and "value" in bad.json()
    created = api(finance_a).post(url, body)
    assert created.status_code == 201 and created.json()["status"] == "pending"
    pk = created.json()["id"]
    same = api(finance_a).post(f"{url}{pk}/approve/", {})
    assert same.status_code == 400 and "decided_by" in same.json()
    other = member("finance_a2", tree.sub_a, Role.FINANCE)
    assert api(other).post(f"{url}{pk}/approve/", {"note": "同意"}).json()["status"] == "approved"
    billing.billing_run(month=date(2025, 4, 1))
    april = Bill.objects.get(period_start=date(2025, 4, 1))
    # 20 % of 6,000 and of 800: −1,200.00 and −160.00
    assert april.amount == D("5440.00")
    assert Abatement.objects.get(pk=pk).bill == april


def test_meter_readings_over_the_api(api, make_lease, tree, finance_a, finance_b):  # noqa: F811
    lease = make_lease()
    unit = lease.lines.get().unit
    created = api(finance_a).post(
        "/api/finance/meters/",
        {"unit": unit.pk, "kind": "water", "serial": "SB-1", "installed_on": "2024-12-01"},
    )
    assert created.status_code == 201, created.json()
    meter = Meter.objects.get()
    assert meter.company == tree.sub_a
    dup = api(finance_a).post(
        "/api/finance/meters/",
        {"unit": unit.pk, "kind": "water", "serial": "SB-1", "installed_on": "2024-12-01"},
    )
    assert dup.status_code == 400 and "serial" in dup.json()
    url = "/api/finance/meter-readings/"
    assert api(finance_b).post(url, {"meter": meter.pk, "read_on": "2024-12-31",
                                     "value": "10"}).status_code in (400, 403)  # fmt: skip
    assert api(finance_a).post(url, {"meter": meter.pk, "read_on": "2024-12-31",
                                     "value": "10"}).status_code == 201  # fmt: skip
    below = api(finance_a).post(url, {"meter": meter.pk, "read_on": "2025-01-31", "value": "5"})
    assert below.status_code == 400 and "value" in below.json()
    assert MeterReading.objects.count() == 1
    tariff = api(finance_a).post("/api/finance/tariffs/", {
        "company": tree.sub_a.pk, "kind": "water", "price": "4.1000", "vat_rate": "0.09",
        "effective_from": "2024-01-01"})  # fmt: skip
    assert tariff.status_code == 201 and Tariff.objects.count() == 1
    items = api(finance_a).get("/api/finance/charge-items/").json()
    assert {i["code"]: i["vat_rate"] for i in items}["water"] == "0.0900"
