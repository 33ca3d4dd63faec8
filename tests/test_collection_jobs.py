"""Late fees, aging, collection rate, dunning and credit ratings, with hand-computed numbers."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.core.management import call_command

from finance.collection import selectors, services
from finance.collection.models import (
    CollectionCase,
    DunningNotice,
    LateFeeAccrual,
    LateFeePolicy,
)
from finance.models import Bill
from leasing import services as leasing
from leasing.models import Tenant
from tests.factories import UserFactory
from tests.test_collection import USCC, USCC_2, bill, make_lease, pay

RATE = D("0.0005")  # 万分之五 a day


def fee(amount="10000.00", due=date(2025, 3, 1), payments=(), grace=5, cap=D("0.10"), as_of=None):
    return services.late_fee_compute(
        amount=D(amount), due_date=due, payments=[(d, D(a)) for d, a in payments],
        daily_rate=RATE, grace_days=grace, cap_rate=cap, as_of=as_of,
    )  # fmt: skip


# -- late fees: golden numbers -----------------------------------------------------------------


def test_late_fee_40_days_overdue_after_5_grace_days():
    # 10,000.00 due 1 March, as of 10 April = 40 days overdue; fee from 7 March:
    # 35 days × 10,000.00 × 0.0005 = 35 × 5.00 = 175.00
    result = fee(as_of=date(2025, 4, 10))
    assert (result.amount, result.days, result.settled) == (D("175.00"), 35, False)


def test_late_fee_within_grace_is_nothing():
    assert fee(as_of=date(2025, 3, 6)).amount == D("0.00")
    assert fee(as_of=date(2025, 3, 7)).amount == D("5.00")  # the first day charged


def test_partial_payment_reduces_the_base_from_its_date():
    # 4,000.00 paid on 20 March: 7–19 March 13 days × 5.00 = 65.00;
    # 20 March – 10 April 22 days × 6,000.00 × 0.0005 = 22 × 3.00 = 66.00; total 131.00
    result = fee(payments=[(date(2025, 3, 20), "4000.00")], as_of=date(2025, 4, 10))
    assert (result.amount, result.days) == (D("131.00"), 35)


def test_paid_in_full_stops_the_fee_and_settles():
    # paid on 17 March: 7–16 March, 10 days × 5.00 = 50.00, whatever the date after
    result = fee(payments=[(date(2025, 3, 17), "10000.00")], as_of=date(2025, 12, 31))
    assert (result.amount, result.days, result.settled) == (D("50.00"), 10, True)
    on_time = fee(payments=[(date(2025, 3, 5), "10000.00")], as_of=date(2025, 12, 31))
    assert (on_time.amount, on_time.settled) == (D("0.00"), True)


def test_late_fee_cap_is_a_share_of_the_overdue_principal():
    # 300 days × 5.00 = 1,500.00, capped at 10 % of 10,000.00 = 1,000.00
    result = fee(as_of=date(2025, 12, 31))
    assert (result.uncapped, result.amount, result.settled) == (
        D("1500.00"), D("1000.00"), True,
    )  # fmt: skip
    # the day it reaches the cap: 200 days × 5.00 = 1,000.00 exactly (7 March + 199 days)
    at_cap = fee(as_of=date(2025, 3, 7) + timedelta(days=199))
    assert (at_cap.amount, at_cap.settled) == (D("1000.00"), True)
    assert fee(as_of=date(2025, 3, 7) + timedelta(days=198)).settled is False
    # with no cap it keeps growing
    assert fee(cap=None, as_of=date(2025, 12, 31)).amount == D("1500.00")


def test_late_fee_is_rounded_to_the_fen_once():
    # 3,333.33 × 0.0005 × 7 days = 11.666655 → 11.67
    assert fee("3333.33", grace=0, as_of=date(2025, 3, 8)).amount == D("11.67")


# -- late fees: the daily job ------------------------------------------------------------------


@pytest.fixture
def tenant(tree):
    return leasing.tenant_create(company=tree.sub_a, kind="company", name="迟付公司", uscc=USCC)


@pytest.fixture
def lease(tree, tenant):
    return make_lease(tree.sub_a, tenant)


@pytest.fixture
def policy(tree):
    return LateFeePolicy.objects.create(
        company=tree.group, daily_rate=RATE, grace_days=5, cap_rate=D("0.10"), due_days=10
    )


def fee_bills():
    return list(Bill.objects.filter(kind="late_fee").order_by("pk"))


def test_late_fee_job_posts_once_per_day_and_never_on_late_fees(lease, tenant, policy):
    # given a 10,000.00 bill due 1 March and unpaid
    rent = bill(lease, "10000.00", date(2025, 3, 1))
    # when the job runs on 10 April, posting, twice
    call_command("late_fees_daily", "--date", "2025-04-10", "--post")
    call_command("late_fees_daily", "--date", "2025-04-10", "--post")
    # then one late-fee bill of 175.00, due ten days later, tracing the bill
    [first] = fee_bills()
    assert (first.amount, first.due_date) == (D("175.00"), date(2025, 4, 20))
    line = first.lines.get()
    assert (line.item, line.trace["bill"], line.trace["days"]) == ("late_fee", rent.number, 35)
    # the next days accrue without posting; on 1 May the increment is posted:
    # 7 March – 1 May is 56 days × 5.00 = 280.00, less 175.00 = 105.00
    call_command("late_fees_daily", "--date", "2025-04-11")
    assert LateFeeAccrual.objects.get(bill=rent).accrued == D("180.00")
    assert len(fee_bills()) == 1
    call_command("late_fees_daily", "--date", "2025-05-01")
    assert [b.amount for b in fee_bills()] == [D("175.00"), D("105.00")]
    # and the overdue late-fee bill itself bears no fee
    assert LateFeeAccrual.objects.count() == 1


def test_lease_policy_wins_over_the_nearest_company_default(tree, lease, tenant, policy):
    # given a default at the group, another at sub_a, and the lease's own
    LateFeePolicy.objects.create(company=tree.sub_a, daily_rate=D("0.0010"), grace_days=0)
    rent = bill(lease, "1000.00", date(2025, 3, 1))
    # when: sub_a's rule (0.1 %/day, no grace): 10 days × 1.00 = 10.00
    services.late_fees_accrue(as_of=date(2025, 3, 11))
    assert LateFeeAccrual.objects.get(bill=rent).accrued == D("10.00")
    # when the lease has its own: 0.03 %/day after 3 days: 7 days × 0.30 = 2.10
    LateFeePolicy.objects.create(
        company=tree.sub_a, lease=lease, daily_rate=D("0.0003"), grace_days=3
    )
    services.late_fees_accrue(as_of=date(2025, 3, 11))
    assert LateFeeAccrual.objects.get(bill=rent).accrued == D("2.10")


def test_reversed_payment_makes_the_fee_catch_up(lease, tenant, policy):
    # given a bill paid on time, then the payment bounces
    rent = bill(lease, "10000.00", date(2025, 3, 1))
    r = pay(tenant, "10000.00", on=date(2025, 3, 1), method="bank", reference="BOUNCE")
    services.late_fees_accrue(as_of=date(2025, 3, 20))
    assert LateFeeAccrual.objects.get(bill=rent).settled
    services.receipt_reverse(r, reason="退票", on=date(2025, 3, 21))
    # when the job runs again: 7–21 March, 15 days × 5.00
    services.late_fees_accrue(as_of=date(2025, 3, 21))
    assert LateFeeAccrual.objects.get(bill=rent).accrued == D("75.00")


# -- aging -------------------------------------------------------------------------------------

AS_OF = date(2025, 12, 31)


@pytest.fixture
def aged(lease):
    """Bills due 0, 30, 31, 90, 91, 180, 181, 365 and 366 days before AS_OF, and one not due,
    each with a power of two as its amount so every bucket's sum says which bills are in it."""
    days = (0, 30, 31, 90, 91, 180, 181, 365, 366, -1)
    return {d: bill(lease, f"{2**i}.00", AS_OF - timedelta(days=d)) for i, d in enumerate(days)}


def test_aging_bucket_boundaries(aged, lease, tenant):
    report = selectors.aging(user=None, as_of=AS_OF, group="tenant")
    [row] = report["rows"]
    assert (row["id"], row["name"]) == (tenant.pk, tenant.name)
    assert row["d0_30"] == D("3.00")  # 0 and 30 days: 1 + 2
    assert row["d31_90"] == D("12.00")  # 31 and 90: 4 + 8
    assert row["d91_180"] == D("48.00")  # 91 and 180: 16 + 32
    assert row["d181_365"] == D("192.00")  # 181 and 365: 64 + 128
    assert row["over_365"] == D("256.00")  # 366
    assert row["not_due"] == D("512.00")
    assert row["overdue"] == D("511.00") == report["totals"]["overdue"]


def test_aging_counts_what_was_unpaid_on_the_date_and_groups_by_site_lease_company(
    aged, lease, tenant, tree
):
    # given the 31-day bill half paid after the date, the 90-day one fully before it
    services.receipt_allocate(
        pay(tenant, "4.00", on=AS_OF + timedelta(days=1), allocate=None),
        [(aged[31], D("2.00"))],
    )
    pay(tenant, "8.00", on=AS_OF - timedelta(days=5), allocate=[(aged[90], D("8.00"))])
    # when
    on_the_day = selectors.aging(user=None, as_of=AS_OF, group="lease")["rows"][0]
    later = selectors.aging(user=None, as_of=AS_OF + timedelta(days=1), group="lease")["rows"][0]
    # then
    assert on_the_day["d31_90"] == D("4.00")  # 4 still open on the day; 8 paid before
    # a day later: the 31-day bill (2.00 left) is 32 days old, the 30-day one (2.00) 31
    assert later["d31_90"] == D("4.00")
    assert on_the_day["name"] == lease.number
    site = selectors.aging(user=None, as_of=AS_OF, group="site")["rows"][0]
    unit = lease.lines.get().unit
    assert (site["id"], site["name"]) == (unit.site_id, unit.site.name)
    company = selectors.aging(user=None, as_of=AS_OF, group="company")["rows"][0]
    assert (company["id"], company["overdue"]) == (tree.sub_a.pk, D("503.00"))


def test_aging_is_scoped_to_the_users_companies(aged, tree, manager_a, manager_b):
    assert len(selectors.aging(user=manager_a, as_of=AS_OF)["rows"]) == 1
    assert selectors.aging(user=manager_b, as_of=AS_OF)["rows"] == []


# -- collection rate ---------------------------------------------------------------------------


def test_collection_rate_of_a_month(lease, tenant, policy):
    # given March: rent 3,000.00 and a credit of −300.00 due; a late fee (left out)
    rent = bill(lease, "3000.00", date(2025, 3, 10))
    bill(lease, "-300.00", date(2025, 3, 15), kind="credit", corrects=rent, reason="减免")
    bill(lease, "99.00", date(2025, 3, 20), kind="late_fee")
    bill(lease, "5000.00", date(2025, 4, 10))  # April: not in the period
    pay(tenant, "1800.00", on=date(2025, 3, 25), allocate=[(rent, D("1800.00"))])
    pay(tenant, "900.00", on=date(2025, 4, 5), allocate=[(rent, D("900.00"))])
    # when / then: 1,800.00 of 2,700.00 by the end of March = 66.67 %
    march = dict(period_start=date(2025, 3, 1), period_end=date(2025, 4, 1))
    at_end = selectors.collection_rate(user=None, as_of=date(2025, 3, 31), **march)
    assert (at_end["due"], at_end["collected"], at_end["rate"]) == (
        D("2700.00"), D("1800.00"), D("0.6667"),
    )  # fmt: skip
    later = selectors.collection_rate(user=None, as_of=date(2025, 4, 30), **march)
    assert (later["collected"], later["rate"]) == (D("2700.00"), D("1.0000"))


# -- dunning -----------------------------------------------------------------------------------


@pytest.fixture
def collector(tree):
    return UserFactory(username="collector")


@pytest.fixture
def dunning(tree, collector):
    return services.dunning_policy_save(
        company=tree.group,
        name="集团催缴规则",
        levels=[
            {"level": 1, "min_days": 1, "action": "notice", "channel": "sms",
             "template": "{tenant}：您有{amount}元已逾期{days}天。"},
            {"level": 2, "min_days": 15, "action": "second_notice", "channel": "letter"},
            {"level": 3, "min_days": 30, "min_amount": D("5000"), "action": "escalate",
             "assignee": collector},
            {"level": 4, "min_days": 90, "action": "legal_review", "assignee": collector},
        ],
    )  # fmt: skip


def levels_sent(tenant):
    return list(
        DunningNotice.objects.filter(tenant=tenant)
        .order_by("pk")
        .values_list("level_number", "sent_on")
    )


def test_dunning_levels_by_days_and_amount_once_each(lease, tenant, dunning, collector):
    # given 3,000.00 due 1 March
    bill(lease, "3000.00", date(2025, 3, 1))
    # when the job runs on several days, some twice
    for day in (date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 2), date(2025, 3, 16),
                date(2025, 3, 31)):  # fmt: skip
        call_command("dunning_daily", "--date", day.isoformat())
    # then level 1 on day 1, level 2 on day 15; level 3 not reached (under 5,000.00)
    assert levels_sent(tenant) == [(1, date(2025, 3, 2)), (2, date(2025, 3, 16))]
    first = DunningNotice.objects.filter(tenant=tenant).order_by("pk").first()
    assert first.text == "迟付公司：您有3000.00元已逾期1天。"
    assert first.lease == lease and first.bills.count() == 1
    # when a second bill makes it 6,000.00
    bill(lease, "3000.00", date(2025, 4, 1))
    services.dunning_run(as_of=date(2025, 4, 2))
    assert services.dunning_run(as_of=date(2025, 4, 2)) == []
    # then an escalation to the collector, with a case
    assert levels_sent(tenant)[-1] == (3, date(2025, 4, 2))
    case = CollectionCase.objects.get()
    assert (case.kind, case.assignee, case.amount, case.status) == (
        "escalation", collector, D("6000.00"), "open",
    )  # fmt: skip
    # at 90 days a legal review
    services.dunning_run(as_of=date(2025, 5, 30))
    assert CollectionCase.objects.filter(kind="legal_review").count() == 1


def test_dunning_starts_again_for_a_new_arrears_episode(lease, tenant, dunning):
    jan = bill(lease, "1000.00", date(2025, 1, 10))
    services.dunning_run(as_of=date(2025, 1, 12))
    pay(tenant, "1000.00", on=date(2025, 1, 20), allocate=[(jan, D("1000.00"))])
    assert services.dunning_run(as_of=date(2025, 1, 21)) == []
    bill(lease, "1000.00", date(2025, 2, 10))
    services.dunning_run(as_of=date(2025, 2, 12))
    assert [lv for lv, _on in levels_sent(tenant)] == [1, 1]


def test_dunning_policy_levels_are_checked(tree):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        services.dunning_policy_save(
            company=tree.sub_b, name="x",
            levels=[{"level": 1, "min_days": 30, "action": "notice"},
                    {"level": 2, "min_days": 10, "action": "escalate"},
                    {"level": 3, "min_days": 40, "action": "shout"}],
        )  # fmt: skip
    problems = err.value.message_dict["levels"]
    assert len(problems) == 3  # days going down, no assignee, unknown action


def test_case_closing_records_the_day(lease, tenant, dunning):
    bill(lease, "9000.00", date(2025, 1, 1))
    services.dunning_run(as_of=date(2025, 2, 5))
    case = CollectionCase.objects.get()
    case = services.collection_case_update(case, today=date(2025, 2, 6), status="closed",
                                           note="已付款")  # fmt: skip
    assert (case.status, case.closed_on, case.note) == ("closed", date(2025, 2, 6), "已付款")


# -- credit ratings ----------------------------------------------------------------------------


def test_credit_ratings_from_payment_history(tree, lease, tenant):
    # given: on time, on time, 10 days late, and one open 40 days
    bills = [bill(lease, "1000.00", date(2025, m, 1)) for m in (1, 2, 3, 4)]
    pay(tenant, "1000.00", on=date(2025, 1, 1), allocate=[(bills[0], D("1000.00"))])
    pay(tenant, "1000.00", on=date(2025, 1, 30), allocate=[(bills[1], D("1000.00"))])
    pay(tenant, "1000.00", on=date(2025, 3, 11), allocate=[(bills[2], D("1000.00"))])
    good = leasing.tenant_create(company=tree.sub_a, kind="company", name="按时", uscc=USCC_2)
    good_bill = bill(make_lease(tree.sub_a, good, "HT-G"), "500.00", date(2025, 4, 1))
    pay(good, "500.00", on=date(2025, 4, 1), allocate=[(good_bill, D("500.00"))])
    Tenant.objects.filter(pk=good.pk).update(credit_rating="C")
    # when
    changed = services.tenants_credit_refresh(as_of=date(2025, 5, 11))
    # then 2 of 4 late and 40 days overdue → C; the punctual one back to A
    assert changed == 2
    assert Tenant.objects.get(pk=tenant.pk).credit_rating == "C"
    assert Tenant.objects.get(pk=good.pk).credit_rating == "A"
    # past 90 days open → D
    assert services.tenant_credit_refresh(tenant, as_of=date(2025, 7, 1)).credit_rating == "D"
