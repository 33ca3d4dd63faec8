"""Collection API: who may read and write, bad input named by field, reports."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.utils import timezone

from finance.collection import services
from finance.collection.models import (
    Allocation,
    CollectionCase,
    DunningPolicy,
    LateFeePolicy,
    Receipt,
)
from leasing import services as leasing
from tests.test_collection import USCC, bill, make_lease

URL = "/api/finance/"


@pytest.fixture
def tenant(tree):
    return leasing.tenant_create(company=tree.sub_a, kind="company", name="接口租户", uscc=USCC)


@pytest.fixture
def lease(tree, tenant):
    return make_lease(tree.sub_a, tenant)


@pytest.fixture
def bills(lease):
    return [bill(lease, "3000.00", date(2025, m, 10)) for m in (1, 2)]


def receipt_body(tenant, **kw):
    return {"tenant": tenant.pk, "method": "wechat", "received_on": "2025-02-15",
            "amount": "4000.00", "reference": "WX-1"} | kw  # fmt: skip


# -- receipts ----------------------------------------------------------------------------------


def test_finance_records_a_receipt_allocated_oldest_first(api, finance_a, tenant, bills):
    # when
    response = api(finance_a).post(f"{URL}receipts/", receipt_body(tenant), format="json")
    # then
    assert response.status_code == 201, response.data
    body = response.data
    assert (body["amount"], body["allocated"], body["unallocated"]) == (
        "4000.00", "4000.00", "0.00",
    )  # fmt: skip
    allocations = api(finance_a).get(f"{URL}allocations/", {"receipt": body["id"]}).data
    assert [(a["bill"], a["amount"]) for a in allocations["results"]] == [
        (bills[0].pk, "3000.00"), (bills[1].pk, "1000.00"),
    ]  # fmt: skip


def test_receipt_with_chosen_allocations_and_a_remainder_as_credit(api, finance_a, tenant, bills):
    body = receipt_body(tenant, allocations=[{"bill": bills[1].pk, "amount": "2500.00"}])
    response = api(finance_a).post(f"{URL}receipts/", body, format="json")
    assert response.status_code == 201, response.data
    assert (response.data["allocated"], response.data["unallocated"]) == ("2500.00", "1500.00")
    # then the credit is applied
    applied = api(finance_a).post(
        f"{URL}receipts/apply-credit/", {"tenant": tenant.pk, "on": "2025-02-20"}, format="json"
    )
    assert applied.status_code == 200, applied.data
    assert [(a["bill"], a["amount"]) for a in applied.data] == [(bills[0].pk, "1500.00")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "0.001"}, "amount"),
        ({"method": "paypal"}, "method"),
        ({"received_on": "2999-01-01"}, "received_on"),
        ({"received_on": "yesterday"}, "received_on"),
        ({"method": "bank", "reference": ""}, "reference"),
        ({"kind": "deposit"}, "lease"),
        ({"allocations": [{"bill": 999999, "amount": "1.00"}]}, "allocations"),
    ],
)
def test_bad_receipts_get_400_naming_the_field(api, finance_a, tenant, bills, change, field):
    response = api(finance_a).post(f"{URL}receipts/", receipt_body(tenant, **change), format="json")
    assert response.status_code == 400
    assert field in response.data
    assert Receipt.objects.count() == 0


def test_over_allocation_through_the_api_is_400_and_writes_nothing(api, finance_a, tenant, bills):
    body = receipt_body(tenant, allocations=[{"bill": bills[0].pk, "amount": "3000.01"}])
    response = api(finance_a).post(f"{URL}receipts/", body, format="json")
    assert response.status_code == 400 and "allocations" in response.data
    assert Receipt.objects.count() == Allocation.objects.count() == 0


def test_duplicate_receipt_is_400_on_reference_then_forced(api, finance_a, tenant, bills):
    client = api(finance_a)
    assert client.post(f"{URL}receipts/", receipt_body(tenant), format="json").status_code == 201
    again = client.post(f"{URL}receipts/", receipt_body(tenant), format="json")
    assert again.status_code == 400 and "reference" in again.data
    forced = client.post(f"{URL}receipts/", receipt_body(tenant, force=True), format="json")
    assert forced.status_code == 201
    assert Receipt.objects.count() == 2


def test_reverse_and_allocate_actions(api, finance_a, tenant, bills):
    client = api(finance_a)
    rid = client.post(f"{URL}receipts/", receipt_body(tenant, allocations=[]), format="json").data[
        "id"
    ]
    made = client.post(f"{URL}receipts/{rid}/allocate/",
                       {"allocations": [{"bill": bills[1].pk, "amount": "100.00"}]},
                       format="json")  # fmt: skip
    assert made.status_code == 200 and made.data[0]["amount"] == "100.00"
    assert client.post(f"{URL}receipts/{rid}/reverse/", {}, format="json").status_code == 400
    reversal = client.post(f"{URL}receipts/{rid}/reverse/", {"reason": "错账"}, format="json")
    assert reversal.status_code == 201
    assert (reversal.data["amount"], reversal.data["reverses"]) == ("-4000.00", rid)
    assert client.get(f"{URL}receipts/{rid}/").data["reversed_by"] == reversal.data["id"]


def test_receipts_are_scoped_and_writes_need_finance(
    api, finance_a, readonly_a, manager_b, manager_a, tenant, bills
):
    # given a receipt in sub_a
    day = date(2025, 2, 1)
    receipt = services.receipt_record(
        tenant=tenant, amount=D("100.00"), method="cash", received_on=day, today=day
    )
    # anonymous: 401/403
    assert api().get(f"{URL}receipts/").status_code in (401, 403)
    # another company sees nothing, and cannot reverse
    assert api(manager_b).get(f"{URL}receipts/").data["count"] == 0
    assert api(manager_b).get(f"{URL}allocations/").data["count"] == 0
    gone = api(manager_b).post(f"{URL}receipts/{receipt.pk}/reverse/", {"reason": "x"})
    assert gone.status_code in (403, 404)
    # read-only reads, cannot write
    assert api(readonly_a).get(f"{URL}receipts/").data["count"] == 1
    denied = api(readonly_a).post(f"{URL}receipts/", receipt_body(tenant), format="json")
    assert denied.status_code == 403
    denied = api(manager_a).post(f"{URL}receipts/{receipt.pk}/reverse/", {"reason": "x"})
    assert denied.status_code == 403
    # nothing changed
    assert Receipt.objects.count() == 1
    assert not Receipt.objects.filter(kind="reversal").exists()


def test_receipt_list_queries_do_not_grow_with_rows(
    api, finance_a, tenant, bills, django_assert_max_num_queries
):
    for n in range(5):
        services.receipt_record(tenant=tenant, amount=D("10.00"), method="cash",
                                received_on=date(2025, 2, 1), today=date(2025, 2, 1),
                                reference=f"C{n}")  # fmt: skip
    with django_assert_max_num_queries(6):
        response = api(finance_a).get(f"{URL}receipts/")
    assert response.data["count"] == 5


# -- settings and cases ------------------------------------------------------------------------


def test_late_fee_policy_crud_and_validation(api, finance_a, readonly_a, tree, lease):
    client = api(finance_a)
    body = {"company": tree.sub_a.pk, "daily_rate": "0.000500", "grace_days": 5,
            "cap_rate": "0.1000"}  # fmt: skip
    created = client.post(f"{URL}late-fee-policies/", body, format="json")
    assert created.status_code == 201, created.data
    again = client.post(f"{URL}late-fee-policies/", body, format="json")
    assert again.status_code == 400 and "company" in again.data
    bad = client.post(f"{URL}late-fee-policies/", body | {"lease": lease.pk, "daily_rate": "0.5"},
                      format="json")  # fmt: skip
    assert bad.status_code == 400 and "daily_rate" in bad.data
    other = client.post(f"{URL}late-fee-policies/", body | {"company": tree.sub_b.pk},
                        format="json")  # fmt: skip
    assert other.status_code == 400 and "company" in other.data  # not a company it sees
    assert api(readonly_a).post(f"{URL}late-fee-policies/", body).status_code == 403
    assert LateFeePolicy.objects.count() == 1


def test_dunning_policy_through_the_api(api, finance_a, tree):
    body = {"company": tree.sub_a.pk, "name": "滨湖催缴",
            "levels": [{"level": 1, "min_days": 5, "action": "notice"},
                       {"level": 2, "min_days": 30, "action": "legal_review",
                        "assignee": finance_a.pk}]}  # fmt: skip
    created = api(finance_a).post(f"{URL}dunning-policies/", body, format="json")
    assert created.status_code == 201, created.data
    assert [lv["level"] for lv in created.data["levels"]] == [1, 2]
    bad = body | {
        "company": tree.project_a.pk,
        "levels": [{"level": 1, "min_days": 5, "action": "legal_review"}],
    }
    response = api(finance_a).post(f"{URL}dunning-policies/", bad, format="json")
    assert response.status_code == 400 and "levels" in response.data
    assert DunningPolicy.objects.count() == 1


def test_cases_can_be_closed_by_finance_only(api, finance_a, readonly_a, tenant, lease, tree):
    services.dunning_policy_save(company=tree.sub_a, name="p", levels=[
        {"level": 1, "min_days": 1, "action": "escalate", "assignee": finance_a}])  # fmt: skip
    bill(lease, "500.00", date(2025, 1, 10))
    services.dunning_run(as_of=date(2025, 1, 20))
    case = CollectionCase.objects.get()
    url = f"{URL}collection-cases/{case.pk}/"
    assert api(readonly_a).patch(url, {"status": "closed"}, format="json").status_code == 403
    response = api(finance_a).patch(url, {"status": "closed", "note": "已结"}, format="json")
    assert response.status_code == 200, response.data
    assert (response.data["status"], response.data["closed_on"]) == (
        "closed", str(timezone.localdate()),
    )  # fmt: skip
    notices = api(readonly_a).get(f"{URL}dunning-notices/").data
    assert notices["count"] == 1 and notices["results"][0]["amount"] == "500.00"


# -- reports -----------------------------------------------------------------------------------


def test_aging_collection_rate_and_balances(api, readonly_a, manager_b, tenant, bills):
    client = api(readonly_a)
    aging = client.get(f"{URL}aging/", {"as_of": "2025-03-01", "group": "lease"})
    assert aging.status_code == 200
    row = aging.data["rows"][0]
    assert (row["d31_90"], row["d0_30"], row["overdue"]) == ("3000.00", "3000.00", "6000.00")
    assert api(manager_b).get(f"{URL}aging/", {"as_of": "2025-03-01"}).data["rows"] == []
    assert client.get(f"{URL}aging/", {"group": "floor"}).data.keys() == {"group"}
    assert client.get(f"{URL}aging/", {"as_of": "March"}).data.keys() == {"as_of"}
    rate = client.get(f"{URL}collection-rate/", {"period": "2025-01", "as_of": "2025-03-01"})
    assert (rate.data["due"], rate.data["collected"], rate.data["rate"]) == (
        "3000.00", "0.00", "0.0000",
    )  # fmt: skip
    assert client.get(f"{URL}collection-rate/", {"period": "2025-13"}).status_code == 400
    assert client.get(f"{URL}collection-rate/").data.keys() == {"period"}
    balances = client.get(f"{URL}balances/", {"as_of": "2025-03-01"}).data
    assert balances[0]["owed"] == "6000.00"
    assert api().get(f"{URL}aging/").status_code in (401, 403)
