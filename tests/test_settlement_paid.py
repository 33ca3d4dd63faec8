"""Move-out settlements count what collection has recorded as paid (leasing ← collection)."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from finance.collection import services as collection
from finance.services import bill_post
from leasing import selectors
from leasing import services as leasing
from tests.test_collection import make_lease

pytestmark = pytest.mark.django_db

TODAY = date(2025, 3, 20)


@pytest.fixture
def lease(tree):
    tenant = leasing.tenant_create(
        company=tree.sub_a, kind="company", name="合肥某科技有限公司", uscc="91340100MA4JURQ20P"
    )
    return make_lease(tree.sub_a, tenant)  # 100 m² at 60 元/m²/month from 1 Jan 2025


def _bill(lease, kind, amount, start, end, **kw):
    return bill_post(
        lease=lease, kind=kind, period_start=start, period_end=end, due_date=start,
        lines=[{"item": "rent", "amount": D(amount), "vat_rate": D("0.09")}], **kw,
    )  # fmt: skip


def _pay(lease, amount, reference, on=date(2025, 1, 5), allocate="auto"):
    return collection.receipt_record(
        tenant=lease.tenant, amount=D(amount), method="bank", received_on=on,
        today=TODAY, reference=reference, allocate=allocate,
    )  # fmt: skip


def test_settlement_paid_is_what_collection_set_against_rent_bills(lease):
    # given Q1 rent billed (18,000.00) and paid, and a late fee billed and paid
    q1 = _bill(lease, "regular", "18000.00", date(2025, 1, 1), date(2025, 4, 1))
    _pay(lease, "18000.00", "B-001", allocate=[(q1, D("18000.00"))])
    fee = _bill(lease, "late_fee", "50.00", date(2025, 2, 1), date(2025, 2, 1))
    _pay(lease, "50.00", "B-002", allocate=[(fee, D("50.00"))])

    # then collection reports 18,000.00 paid towards charges (the late fee is not a charge)
    assert selectors.lease_paid(lease) == D("18000.00")
    # and the preview without `paid` uses it: rent 1 Jan – 15 Mar = 6,000 + 6,000
    # + 6,000 × 15/31 (2,903.23) = 14,903.23; outstanding 14,903.23 − 18,000.00 = −3,096.77
    figures = selectors.lease_settlement_compute(
        lease=lease, kind="early", move_out_date=date(2025, 3, 15)
    )
    assert (figures["charges_due"], figures["paid"], figures["outstanding"]) == (
        D("14903.23"), D("18000.00"), D("-3096.77"),
    )  # fmt: skip
    # a paid amount given by the caller still wins
    given = selectors.lease_settlement_compute(
        lease=lease, kind="early", move_out_date=date(2025, 3, 15), paid=D("0")
    )
    assert given["outstanding"] == D("14903.23")


def test_a_reversed_receipt_no_longer_counts_and_terminate_uses_the_rest(lease):
    # given Q1 billed, paid 10,000.00 then 8,000.00, and the second receipt reversed
    q1 = _bill(lease, "regular", "18000.00", date(2025, 1, 1), date(2025, 4, 1))
    _pay(lease, "10000.00", "B-010", allocate=[(q1, D("10000.00"))])
    wrong = _pay(lease, "8000.00", "B-011", allocate=[(q1, D("8000.00"))])
    collection.receipt_reverse(wrong, reason="付款人错误", on=TODAY)
    assert selectors.lease_paid(lease) == D("10000.00")

    # when the lease is terminated without giving `paid`
    record = leasing.lease_terminate(
        lease, kind="early", move_out_date=date(2025, 3, 15), today=TODAY
    )
    # then the settlement recorded collection's 10,000.00: outstanding 4,903.23
    assert (record.paid, record.outstanding) == (D("10000.00"), D("4903.23"))


def test_without_a_provider_paid_is_required(lease, monkeypatch):
    monkeypatch.setattr(selectors, "PAID_PROVIDERS", [])
    with pytest.raises(ValidationError) as err:
        selectors.lease_settlement_compute(
            lease=lease, kind="early", move_out_date=date(2025, 3, 15)
        )
    assert "paid" in err.value.message_dict


def test_settlement_preview_api_without_paid(api, lease, tree):
    from spatial.models import Membership
    from tests.factories import UserFactory

    reader = UserFactory(username="reader_a")
    Membership.objects.create(user=reader, company=tree.sub_a, role="read_only")
    q1 = _bill(lease, "regular", "18000.00", date(2025, 1, 1), date(2025, 4, 1))
    _pay(lease, "6000.00", "B-020", allocate=[(q1, D("6000.00"))])
    r = api(reader).get(
        f"/api/leasing/leases/{lease.pk}/settlement-preview/",
        {"kind": "early", "move_out_date": "2025-03-15"},
    )
    assert r.status_code == 200, r.json()
    assert (r.json()["paid"], r.json()["outstanding"]) == ("6000.00", "8903.23")
