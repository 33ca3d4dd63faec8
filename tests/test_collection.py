"""Collection: receipts, allocation, credits, deposits, reversals, reconciliation, concurrency."""

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from finance.collection import selectors, services
from finance.collection.models import Allocation, Receipt
from finance.models import Bill
from finance.services import bill_post
from leasing import services as leasing
from spatial.choices import CompanyKind
from spatial.services import company_create
from tests.factories import FloorFactory, UnitFactory

USCC = "91340100MA4JURQ20P"
USCC_2 = "91340100MAYUYU126M"
TODAY = date(2025, 6, 30)


def make_lease(company, tenant, number="HT-C-001", deposit=D("18000")):
    floor = FloorFactory(building__site__company=company)
    unit = UnitFactory(floor=floor, gross_area=D("100.00"), usable_area=D("80.00"))
    lease = leasing.lease_create(
        today=date(2025, 1, 1), number=number, tenant=tenant, use="office",
        start_date=date(2025, 1, 1), end_date=date(2027, 12, 31),
        units=[{"unit": unit, "area": D("100")}],
        steps=[{"start_date": date(2025, 1, 1), "price": D("60"), "basis": "sqm_month"}],
        payment_cycle=3, deposit_amount=deposit,
    )  # fmt: skip
    leasing.lease_submit(lease, today=date(2025, 1, 1))
    leasing.lease_approve(lease, today=date(2025, 1, 1))
    return leasing.lease_activate(lease, today=date(2025, 1, 1))


def bill(lease, amount, due, kind="regular", **kw):
    """A one-line bill due on `due` (its period starts that day: one regular bill a day)."""
    return bill_post(
        lease=lease, kind=kind, period_start=due, period_end=due, due_date=due,
        lines=[{"item": "rent", "amount": D(amount), "vat_rate": D("0.09")}], **kw,
    )  # fmt: skip


@pytest.fixture
def tenant(tree):
    return leasing.tenant_create(
        company=tree.sub_a, kind="company", name="合肥某科技有限公司", uscc=USCC
    )


@pytest.fixture
def lease(tree, tenant):
    return make_lease(tree.sub_a, tenant)


def pay(tenant, amount, on=date(2025, 3, 5), **kw):
    kw.setdefault("method", "wechat")
    kw.setdefault("reference", f"WX{amount}{on:%m%d}")
    return services.receipt_record(
        tenant=tenant, amount=D(amount), received_on=on, today=max(TODAY, on), **kw
    )


def outstanding(b, as_of=None):
    return selectors.bills_outstanding(Bill.objects.filter(pk=b.pk), as_of=as_of).get().outstanding


def unallocated(r):
    return selectors.receipts_unallocated(Receipt.objects.filter(pk=r.pk)).get().unallocated


# -- receipts and allocation -------------------------------------------------------------------


def test_receipt_allocates_oldest_due_first_with_a_partial_payment(lease, tenant):
    # given three bills
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    feb = bill(lease, "3000.00", date(2025, 2, 10))
    mar = bill(lease, "3000.00", date(2025, 3, 10))
    # when 4,500.00 arrives
    r = pay(tenant, "4500.00")
    # then January is paid, February half, March untouched
    assert [outstanding(b) for b in (jan, feb, mar)] == [D("0.00"), D("1500.00"), D("3000.00")]
    assert unallocated(r) == D("0.00")
    assert r.number.startswith("SK202503-")


def test_one_receipt_over_several_bills_as_the_user_chooses(lease, tenant):
    # given
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    feb = bill(lease, "2000.00", date(2025, 2, 10))
    # when the payer says: 500 on January, all of February
    r = pay(tenant, "2500.00", allocate=[(jan, D("500.00")), (feb, D("2000.00"))])
    # then
    assert (outstanding(jan), outstanding(feb)) == (D("2500.00"), D("0.00"))
    assert sorted(r.allocations.values_list("amount", flat=True)) == [D("500.00"), D("2000.00")]


def test_explicit_allocation_refuses_more_than_outstanding_or_receipt_naming_allocations(
    lease, tenant, tree
):
    # given
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    other_tenant = leasing.tenant_create(company=tree.sub_a, kind="company", name="另一家",
                                         uscc=USCC_2)  # fmt: skip
    foreign = bill(make_lease(tree.sub_a, other_tenant, "HT-C-X"), "100.00", date(2025, 1, 10))
    r = pay(tenant, "1000.00", allocate=None)
    # when / then: more than the bill owes
    with pytest.raises(ValidationError) as err:
        services.receipt_allocate(r, [(jan, D("3000.01"))])
    assert "allocations" in err.value.message_dict
    # more than the receipt has
    with pytest.raises(ValidationError) as err, translation.override("en"):
        services.receipt_allocate(r, [(jan, D("1000.01"))])
    assert "only 1000.00 left" in str(err.value)
    # another tenant's bill
    with pytest.raises(ValidationError) as err:
        services.receipt_allocate(r, [(foreign, D("10.00"))])
    assert foreign.number in str(err.value)
    # and nothing was written
    assert Allocation.objects.count() == 0
    assert outstanding(jan) == D("3000.00")


def test_overpayment_stays_as_credit_and_is_used_on_the_next_bill(lease, tenant):
    # given January is paid with 1,000.00 too much
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    r = pay(tenant, "4000.00", on=date(2025, 1, 8))
    assert unallocated(r) == D("1000.00")
    [balance] = selectors.tenant_balances(user=None, as_of=date(2025, 1, 31))
    assert (balance["owed"], balance["credit"]) == (D("0.00"), D("1000.00"))
    # when February's bill comes and the credit is applied
    feb = bill(lease, "3000.00", date(2025, 2, 10))
    made = services.credit_apply(tenant=tenant, on=date(2025, 2, 1))
    # then
    assert [a.amount for a in made] == [D("1000.00")]
    assert (outstanding(jan), outstanding(feb), unallocated(r)) == (
        D("0.00"), D("2000.00"), D("0.00"),
    )  # fmt: skip
    assert made[0].allocated_on == date(2025, 2, 1)


def test_deposit_is_a_liability_never_allocated_and_updates_the_lease(lease, tenant):
    # given an open bill
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    # when the deposit arrives
    r = pay(tenant, "18000.00", kind="deposit", lease=lease, method="bank", reference="B001")
    # then it pays no bill, the lease holds it, the balance shows it apart from credit
    assert outstanding(jan) == D("3000.00") and r.allocations.count() == 0
    lease.refresh_from_db()
    assert lease.deposit_received == D("18000.00")
    [balance] = selectors.tenant_balances(user=None, as_of=TODAY)
    assert (balance["credit"], balance["deposit_held"]) == (D("0.00"), D("18000.00"))
    with pytest.raises(ValidationError) as err:
        services.receipt_allocate(r, [(jan, D("1.00"))])
    assert "receipt" in err.value.message_dict
    # and more than the contract's deposit is refused, naming the amount
    with pytest.raises(ValidationError) as err:
        pay(tenant, "1.00", kind="deposit", lease=lease, method="bank", reference="B002")
    assert "amount" in err.value.message_dict
    assert Receipt.objects.count() == 1


def test_reversal_undoes_the_receipt_and_its_allocations(lease, tenant):
    # given a wrong receipt spread over two bills
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    feb = bill(lease, "3000.00", date(2025, 2, 10))
    r = pay(tenant, "4000.00", on=date(2025, 2, 12))
    # when reversed
    rev = services.receipt_reverse(r, reason="银行退票", on=date(2025, 2, 20))
    # then the bills are outstanding again, as of the original date too
    assert rev.amount == D("-4000.00") and rev.reverses == r and rev.number.startswith("HC")
    assert (outstanding(jan), outstanding(feb)) == (D("3000.00"), D("3000.00"))
    assert outstanding(jan, as_of=date(2025, 2, 15)) == D("3000.00")
    assert sorted(rev.allocations.values_list("amount", flat=True)) == [
        D("-3000.00"), D("-1000.00"),
    ]  # fmt: skip
    # a second reversal, or one without a reason, is refused
    with pytest.raises(ValidationError) as err:
        services.receipt_reverse(r, reason="再冲", on=date(2025, 2, 21))
    assert "receipt" in err.value.message_dict
    r2 = pay(tenant, "10.00")
    with pytest.raises(ValidationError) as err:
        services.receipt_reverse(r2, reason=" ", on=date(2025, 3, 6))
    assert "reason" in err.value.message_dict
    # a reversed receipt cannot be allocated and gives no credit
    with pytest.raises(ValidationError):
        services.receipt_allocate(r, None)
    assert services.credit_apply(tenant=tenant, on=date(2025, 3, 1)) == []


def test_deposit_reversal_takes_it_off_the_lease(lease, tenant):
    r = pay(tenant, "5000.00", kind="deposit", lease=lease, method="cash", reference="")
    services.receipt_reverse(r, reason="录错", on=date(2025, 3, 6))
    lease.refresh_from_db()
    assert lease.deposit_received == D("0.00")
    [balance] = selectors.tenant_balances(user=None, as_of=TODAY)
    assert balance["deposit_held"] == D("0.00")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("amount", {"amount": D("0")}),
        ("amount", {"amount": D("-5")}),
        ("amount", {"amount": D("1.005")}),
        ("amount", {"amount": "abc"}),
        ("method", {"method": "paypal"}),
        ("method", {"method": "offset"}),
        ("received_on", {"received_on": date(2025, 7, 1)}),
        ("reference", {"method": "bank", "reference": ""}),
        ("kind", {"kind": "reversal"}),
        ("lease", {"kind": "deposit"}),
    ],
)
def test_bad_receipts_are_refused_naming_the_field(tenant, field, kwargs):
    data = {"tenant": tenant, "amount": D("100.00"), "method": "cash",
            "received_on": date(2025, 3, 1), "today": TODAY} | kwargs  # fmt: skip
    with pytest.raises(ValidationError) as err:
        services.receipt_record(**data)
    assert field in err.value.message_dict
    assert Receipt.objects.count() == 0


def test_tenant_outside_the_receipt_company_is_refused(tree, tenant):
    with pytest.raises(ValidationError) as err:
        services.receipt_record(tenant=tenant, company=tree.sub_b, amount=D("1.00"),
                                method="cash", received_on=TODAY, today=TODAY)  # fmt: skip
    assert "tenant" in err.value.message_dict


def test_duplicate_receipt_is_refused_naming_reference_unless_forced(lease, tenant):
    # given
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    first = pay(tenant, "1000.00", method="bank", reference="HF2025030500017")
    # when the same bank statement line is entered again, even on another day
    with pytest.raises(ValidationError) as err:
        pay(tenant, "1000.00", on=date(2025, 3, 6), method="bank", reference="HF2025030500017")
    # then
    assert first.number in err.value.message_dict["reference"][0]
    # same tenant, amount, reference and day by cash
    pay(tenant, "200.00", method="cash", reference="")
    with pytest.raises(ValidationError) as err:
        pay(tenant, "200.00", method="cash", reference="")
    assert "reference" in err.value.message_dict
    assert outstanding(jan) == D("1800.00")
    # forced: recorded, and the money still adds up
    pay(tenant, "200.00", method="cash", reference="", force=True)
    assert outstanding(jan) == D("1600.00")
    assert Receipt.objects.count() == 3


# -- credit bills ------------------------------------------------------------------------------


def test_credit_bill_is_set_against_the_bill_it_corrects(lease, tenant):
    # given a bill over-charged by 500.00 and corrected, and a later bill
    jan = bill(lease, "3000.00", date(2025, 1, 10))
    feb = bill(lease, "3000.00", date(2025, 2, 10))
    credit = bill(lease, "-500.00", date(2025, 1, 20), kind="credit", corrects=jan,
                  reason="面积多算")  # fmt: skip
    # when settled
    offset = services.credit_bill_settle(credit, on=date(2025, 1, 20))
    # then January owes 2,500.00, the credit is used up, no money moved
    assert offset.amount == D("0.00") and offset.kind == "offset"
    assert (outstanding(jan), outstanding(credit), outstanding(feb)) == (
        D("2500.00"), D("0.00"), D("3000.00"),
    )  # fmt: skip
    assert services.credit_bill_settle(credit, on=date(2025, 1, 21)) is None


def test_credit_larger_than_the_corrected_bill_goes_to_the_next_then_stays_as_credit(lease, tenant):
    jan = bill(lease, "1000.00", date(2025, 1, 10))
    pay(tenant, "600.00", on=date(2025, 1, 5))
    credit = bill(lease, "-1000.00", date(2025, 1, 20), kind="credit", corrects=jan,
                  reason="免租")  # fmt: skip
    feb = bill(lease, "300.00", date(2025, 2, 10))
    assert services.credit_bills_settle(on=date(2025, 2, 15)) == 1
    assert (outstanding(jan), outstanding(feb), outstanding(credit)) == (
        D("0.00"), D("0.00"), D("-300.00"),
    )  # fmt: skip
    [balance] = selectors.tenant_balances(user=None, as_of=date(2025, 2, 15))
    assert balance["credit"] == D("300.00")


# -- reconciliation ----------------------------------------------------------------------------


def test_messy_scenario_reconciles_to_the_fen(lease, tenant, tree):
    # given bills, partial and combined receipts, an overpayment, a duplicate refused and
    # one forced then reversed, a deposit, a credit bill
    bills = [bill(lease, a, date(2025, m, 10)) for m, a in
             ((1, "3333.33"), (2, "3333.33"), (3, "3333.34"), (4, "1234.56"))]  # fmt: skip
    bill(lease, "-111.11", date(2025, 2, 20), kind="credit", corrects=bills[1],
                  reason="更正")  # fmt: skip
    pay(tenant, "1000.01", on=date(2025, 1, 9), method="alipay", reference="ALI1")
    pay(tenant, "5000.00", on=date(2025, 2, 11), method="bank", reference="B-77")
    with pytest.raises(ValidationError):
        pay(tenant, "5000.00", on=date(2025, 2, 12), method="bank", reference="B-77")
    dup = pay(tenant, "5000.00", on=date(2025, 2, 12), method="bank", reference="B-77", force=True)
    services.receipt_reverse(dup, reason="重复录入", on=date(2025, 2, 13))
    pay(tenant, "0.99", on=date(2025, 3, 1), method="cash", reference="")
    pay(tenant, "9000.00", on=date(2025, 4, 30), method="wechat", reference="WX9",
        allocate=None)  # fmt: skip
    pay(tenant, "18000.00", kind="deposit", lease=lease, method="bank", reference="DEP")
    services.credit_bills_settle(on=date(2025, 3, 1))
    services.credit_apply(tenant=tenant, on=date(2025, 5, 1))
    # when totals are taken
    total_bills = sum(b.amount for b in Bill.objects.all())
    total_alloc = sum(a.amount for a in Allocation.objects.all())
    outstanding_all = sum(b.outstanding for b in selectors.bills_outstanding(Bill.objects.all()))
    money = Receipt.objects.exclude(kind="deposit").exclude(reverses__kind="deposit")
    total_receipts = sum(r.amount for r in money)
    credits = sum(r.unallocated for r in selectors.receipts_unallocated(money))
    # then nothing is lost or doubled
    assert total_bills - total_alloc == outstanding_all
    assert total_receipts == total_alloc + credits
    assert total_receipts == D("1000.01") + D("5000.00") + D("0.99") + D("9000.00")
    assert total_bills == D("11234.56") - D("111.11")
    # every bill is paid: 15,001.00 received against 11,123.45 owed leaves 3,877.55 credit
    assert outstanding_all == D("0.00")
    assert credits == D("3877.55")
    [balance] = selectors.tenant_balances(user=None, as_of=date(2025, 5, 1))
    assert balance == {"tenant": tenant.pk, "name": tenant.name, "owed": D("0.00"),
                       "overdue": D("0.00"), "credit": D("3877.55"),
                       "deposit_held": D("18000.00")}  # fmt: skip


def test_database_refuses_over_allocation_written_around_the_services(lease, tenant):
    # given
    jan = bill(lease, "100.00", date(2025, 1, 10))
    r = pay(tenant, "500.00", allocate=None)
    # when written directly, then the trigger refuses
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(receipt=r, bill=jan, amount=D("100.01"), allocated_on=TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        other = bill(lease, "1000.00", date(2025, 2, 10))
        Allocation.objects.create(receipt=r, bill=other, amount=D("500.01"), allocated_on=TODAY)
    assert Allocation.objects.count() == 0


# -- concurrency -------------------------------------------------------------------------------

THREADS = 6


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_allocations_never_over_allocate_a_bill():
    # given committed data: one bill of 1,000.00 and six receipts of 400.00 each
    group = company_create(code="HFCT-Q", name="并发公司", kind=CompanyKind.SUBSIDIARY)
    tenant = leasing.tenant_create(company=group, kind="company", name="并发", uscc=USCC)
    lease = make_lease(group, tenant, "HT-Q-1")
    target = bill(lease, "1000.00", date(2025, 1, 10))
    receipts = [pay(tenant, "400.00", reference=f"R{i}", allocate=None) for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def allocate(receipt) -> None:
        try:
            barrier.wait()
            services.receipt_allocate(receipt, None)
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate, args=(r,)) for r in receipts]
    # when all allocate at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then the bill is paid exactly, never more
    assert errors == []
    amounts = sorted(Allocation.objects.values_list("amount", flat=True))
    assert amounts == [D("200.00"), D("400.00"), D("400.00")]
    assert outstanding(target) == D("0.00")
