"""Demo receipts: realistic shares of punctual, late, partial and non-payers; reruns add nothing."""

from datetime import date
from decimal import Decimal as D

from django.core.management import call_command

from finance.collection import selectors
from finance.collection.demo import demo_receipts
from finance.collection.models import Allocation, DunningNotice, LateFeeAccrual, Receipt
from finance.models import Bill
from leasing import services as leasing
from leasing.demo import _uscc
from tests.test_collection import bill, make_lease

AS_OF = date(2025, 12, 31)


def test_demo_receipts_pay_most_bills_some_late_some_never(tree):
    # given 30 tenants with a bill on the 1st of every month of 2025
    for n in range(30):
        tenant = leasing.tenant_create(company=tree.sub_a, kind="company", name=f"演示{n}",
                                       uscc=_uscc(n))  # fmt: skip
        lease = make_lease(tree.sub_a, tenant, f"HT-DEMO-{n}")
        for month in range(1, 13):
            bill(lease, f"{1000 + n * 10}.00", date(2025, month, 1))
    # when
    made = demo_receipts(None, as_of=AS_OF, seed=7)
    # then most bills are paid, in full and mostly on time, and nothing is over-allocated
    bills = list(selectors.bills_outstanding(Bill.objects.all(), as_of=AS_OF))
    paid = [b for b in bills if b.outstanding == 0]
    partly = [b for b in bills if 0 < b.outstanding < b.amount]
    unpaid = [b for b in bills if b.outstanding == b.amount]
    assert made == Receipt.objects.count() == Allocation.objects.count()
    assert len(paid) + len(partly) + len(unpaid) == 360
    assert 0.6 < len(paid) / 360 < 0.98 and unpaid and partly
    late = [
        a for a in Allocation.objects.select_related("bill") if a.allocated_on > a.bill.due_date
    ]
    assert late
    assert all(b.outstanding >= 0 for b in bills)
    # a second run adds nothing; the same seed gives the same money
    total = sum(r.amount for r in Receipt.objects.all())
    assert demo_receipts(None, as_of=AS_OF, seed=7) == 0
    assert sum(r.amount for r in Receipt.objects.all()) == total
    # the daily jobs find late fees and arrears to chase
    call_command("late_fees_daily", "--date", "2026-01-01")
    call_command("dunning_daily", "--date", "2026-01-01")
    assert Bill.objects.filter(kind="late_fee").exists()
    assert LateFeeAccrual.objects.filter(accrued__gt=D("0")).exists()
    assert DunningNotice.objects.exists()
