"""The billing engine: golden amounts computed by hand, runs, reruns, crashes, adjustments,
abatements, meters and turnover rent."""

import calendar
import random
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from finance import billing, meters, services
from finance.models import Abatement, Bill, BillingRun, BillLine, Meter, MeterReading, Tariff
from leasing import rent
from leasing import services as leasing
from spatial.choices import Role
from spatial.models import Membership
from tests.factories import FloorFactory, UnitFactory, UserFactory

USCC = "91340100MA4JURQ20P"
TODAY = date(2025, 1, 1)


@pytest.fixture
def floor_a(tree):
    return FloorFactory(building__site__company=tree.sub_a)


@pytest.fixture
def tenant_a(tree):
    return leasing.tenant_create(
        company=tree.sub_a, kind="company", name="合肥某科技有限公司", uscc=USCC,
        contact_name="王伟", phone="13812341234", size="medium",
    )  # fmt: skip


@pytest.fixture
def make_lease(tenant_a, floor_a):
    """`make_lease(**terms)`: an active lease on a fresh 200 m² unit."""
    counter = iter(range(1, 1000))

    def make(*, area="100", start=date(2025, 1, 1), end=date(2027, 12, 31), **kw):
        unit = UnitFactory(floor=floor_a, gross_area=D("200.00"), usable_area=D("180.00"))
        data = dict(
            number=f"HT-{next(counter):03d}", tenant=tenant_a, use="office", start_date=start,
            end_date=end, units=[{"unit": unit, "area": D(area)}],
            steps=[{"start_date": start, "price": D("60"), "basis": "sqm_month"}],
            charges=[], payment_cycle=1, deposit_amount=D("0"),
        )  # fmt: skip
        data.update(kw)
        lease = leasing.lease_create(today=TODAY, **data)
        leasing.lease_submit(lease, today=TODAY)
        leasing.lease_approve(lease, today=TODAY)
        return leasing.lease_activate(lease, today=max(TODAY, lease.start_date))

    return make


def lines_of(bill):
    return {ln.item: ln for ln in bill.lines.all() if ln.trace.get("rule") != "abatement"}


def run(month: str, **kw):
    return billing.billing_run(month=billing.parse_month(month), **kw)


def totals():
    agg = Bill.objects.aggregate(a=Sum("amount"), n=Sum("net"), t=Sum("tax"))
    return Bill.objects.count(), BillLine.objects.count(), agg["a"], agg["n"], agg["t"]


# -- golden amounts ----------------------------------------------------------------------------


def test_proration_by_actual_days_rounds_half_up_and_splits_vat_9_and_6(make_lease):
    # given 33.33 m² at 45 元/m²/month and a property fee of 8 元/m²/month (6 %), for the
    # first 15 days of April only (the lease ends on 15 April)
    lease = make_lease(
        area="33.33", start=date(2025, 4, 1), end=date(2025, 4, 15),
        steps=[{"start_date": date(2025, 4, 1), "price": D("45"), "basis": "sqm_month"}],
        charges=[{"item": "property_fee", "price": D("8"), "basis": "sqm_month",
                  "vat_rate": D("0.06")}],
    )  # fmt: skip
    # when April is billed
    result = run("2025-04")
    # then rent = 33.33 × 45 = 1,499.85 a month × 15/30 days = 749.925 → 749.93 (half up;
    # half-even would give 749.92); VAT 9 %: 749.93 × 0.09 / 1.09 = 61.9208… → 61.92,
    # net 688.01. Fee = 33.33 × 8 = 266.64 × 15/30 = 133.32; VAT 6 %: 133.32 × 0.06 / 1.06
    # = 7.5464… → 7.55, net 125.77.
    bill = Bill.objects.get(lease=lease)
    assert (bill.period_start, bill.period_end) == (date(2025, 4, 1), date(2025, 4, 16))
    rent_line, fee = lines_of(bill)["rent"], lines_of(bill)["property_fee"]
    assert (rent_line.amount, rent_line.tax, rent_line.net) == (D("749.93"), D("61.92"),
                                                                D("688.01"))  # fmt: skip
    assert (fee.amount, fee.tax, fee.net) == (D("133.32"), D("7.55"), D("125.77"))
    assert (bill.amount, bill.tax, bill.net) == (D("883.25"), D("69.47"), D("813.78"))
    assert rent_line.tax_code == "3040502020200000000"
    assert fee.tax_code == "3040802010000000000"
    # and the trace says how
    trace = rent_line.trace
    assert trace["version"] == 1 and trace["area"] == "33.33" and trace["days"] == 15
    assert D(trace["unrounded"]) == D("749.925")
    segment = trace["segments"][0]
    assert (segment["price"], segment["days"], segment["month_days"], segment["rule"]) == (
        "45.0000",
        15,
        30,
        "days",
    )
    assert result.bills_posted == 1 and result.status == "done"


def test_escalation_compounds_on_the_anniversary(make_lease):
    # given 1,000 a month fixed from 1 Mar 2024, +5 % every 24 months, billed quarterly
    lease = make_lease(
        start=date(2024, 3, 1),
        steps=[{"start_date": date(2024, 3, 1), "price": D("1000"), "basis": "month_fixed"}],
        escalation_rate=D("0.05"), escalation_every_months=24, payment_cycle=3,
    )  # fmt: skip
    # when the quarters starting Dec 2025 and Mar 2026 are billed (and Jan 2026: none starts)
    run("2025-12")
    january = run("2026-01")
    run("2026-03")
    # then Dec–Feb = 3 × 1,000 = 3,000.00; Mar–May = 3 × 1,050 = 3,150.00, VAT 9 %
    # 3,150 × 0.09 / 1.09 = 260.0917… → 260.09, net 2,889.91
    bills = list(Bill.objects.filter(lease=lease).order_by("period_start"))
    assert [b.amount for b in bills] == [D("3000.00"), D("3150.00")]
    assert (bills[1].tax, bills[1].net) == (D("260.09"), D("2889.91"))
    assert bills[1].period_end == date(2026, 6, 1)
    assert lines_of(bills[1])["rent"].trace["segments"][0]["factor"] == "1.0500"
    assert january.bills_posted == 0
    assert january.summary["skipped_by_reason"] == {"no period starts this month": 1}


def test_free_period_waives_rent_but_not_the_property_fee(make_lease):
    # given 6,000 a month, property fee 800 a month, free 1 Jan – 15 Feb 2025, quarterly
    lease = make_lease(
        steps=[{"start_date": date(2025, 1, 1), "price": D("6000"), "basis": "month_fixed"}],
        charges=[{"item": "property_fee", "price": D("800"), "basis": "month_fixed",
                  "vat_rate": D("0.06")}],
        free_periods=[{"start_date": date(2025, 1, 1), "end_date": date(2025, 2, 15),
                       "covers_charges": False}],
        payment_cycle=3,
    )  # fmt: skip
    run("2025-01")
    # then rent = 0 (Jan) + 6,000 × 13/28 (16–28 Feb) + 6,000 (Mar) = 8,785.714… → 8,785.71;
    # the fee is due all quarter: 3 × 800 = 2,400.00
    bill = Bill.objects.get(lease=lease)
    assert lines_of(bill)["rent"].amount == D("8785.71")
    assert lines_of(bill)["property_fee"].amount == D("2400.00")
    assert bill.amount == D("11185.71")
    rules = [s["rule"] for s in lines_of(bill)["rent"].trace["segments"]]
    assert rules == ["free", "free", "days", "month"]


def test_prices_excluding_vat_add_the_tax_on_top(make_lease):
    # given 24,000 a quarter (8,000 a month) net of VAT
    lease = make_lease(
        steps=[{"start_date": date(2025, 1, 1), "price": D("8000"), "basis": "month_fixed"}],
        prices_include_tax=False, payment_cycle=3,
    )  # fmt: skip
    run("2025-01")
    # then tax = 24,000 × 9 % = 2,160.00 and the tenant owes 26,160.00
    bill = Bill.objects.get(lease=lease)
    assert (bill.net, bill.tax, bill.amount) == (D("24000.00"), D("2160.00"), D("26160.00"))


def test_guarantee_versus_turnover_share_bills_the_higher(make_lease):
    # given a 10,000 guarantee a month and an 8 % share, two leases
    terms = dict(
        use="retail",
        steps=[{"start_date": date(2025, 1, 1), "price": D("10000"), "basis": "month_fixed"}],
        turnover_rate=D("0.08"),
    )  # fmt: skip
    high, low = make_lease(**terms), make_lease(**terms)
    run("2025-01")  # January's guarantee, in advance
    for lease, turnover in ((high, D("150000")), (low, D("100000"))):
        leasing.turnover_report_create(lease=lease, period_start=date(2025, 1, 1),
                                       period_end=date(2025, 2, 1), amount=turnover,
                                       today=date(2025, 2, 2))  # fmt: skip
    # when February is billed
    feb = run("2025-02")
    # then 150,000 × 8 % = 12,000 > 10,000: a turnover bill of 2,000.00 (VAT 9 %:
    # 2,000 × 0.09 / 1.09 = 165.1376… → 165.14); 100,000 × 8 % = 8,000 < 10,000: nothing
    turnover = Bill.objects.get(lease=high, kind="turnover")
    assert (turnover.amount, turnover.tax) == (D("2000.00"), D("165.14"))
    assert (turnover.period_start, turnover.period_end) == (date(2025, 1, 1), date(2025, 2, 1))
    jan = Bill.objects.get(lease=high, kind="regular", period_start=date(2025, 1, 1))
    assert jan.amount + turnover.amount == D("12000.00")
    assert not Bill.objects.filter(lease=low, kind="turnover").exists()
    assert feb.summary["skipped_by_reason"]["turnover share within the guarantee"] == 1
    trace = turnover.lines.get().trace
    assert (trace["guarantee"], trace["rent_with_share"]) == ("10000.00", "12000.00")
    # and a rerun does not bill the share again
    run("2025-02")
    assert Bill.objects.filter(kind="turnover").count() == 1


# -- runs --------------------------------------------------------------------------------------


@pytest.fixture
def five_leases(make_lease):
    out = []
    for i in range(5):
        out.append(make_lease(
            area=str(50 + i), charges=[{"item": "property_fee", "price": D("7.5"),
                                         "basis": "sqm_month", "vat_rate": D("0.06")}],
        ))  # fmt: skip
    return out


def test_rerun_posts_nothing_twice(five_leases):
    first = run("2025-03")
    before = totals()
    # when run again
    second = run("2025-03")
    # then nothing is added and every lease is skipped as already posted
    assert totals() == before
    assert first.bills_posted == 5 and first.lines_posted == 10
    assert second.bills_posted == 0
    assert second.summary["skipped_by_reason"] == {"already posted": 5}
    assert second.summary["skipped"][0]["reason"] == "already posted"
    assert BillingRun.objects.count() == 2
    # and the database refuses a second regular bill for a period by itself
    bill = Bill.objects.first()
    with pytest.raises(IntegrityError, match="bill_once_per_period"), transaction.atomic():
        services.bill_post(lease=bill.lease, kind="regular", period_start=bill.period_start,
                           period_end=bill.period_end, due_date=bill.due_date,
                           lines=[{"item": "rent", "amount": "1", "vat_rate": "0.09"}])  # fmt: skip


def test_crash_in_the_middle_then_rerun_reconciles_to_the_fen(five_leases, monkeypatch):
    # given the totals of a clean run, then wiped
    run("2025-03", chunk=2)
    clean = totals()
    Bill.objects.all().delete()
    # when the run crashes after its first chunk of two leases
    real, calls = billing.bills_write, []

    def crash(plans, **kw):
        calls.append(len(plans))
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(plans, **kw)

    monkeypatch.setattr(billing, "bills_write", crash)
    with pytest.raises(RuntimeError):
        run("2025-03", chunk=2)
    failed = BillingRun.objects.order_by("-pk").first()
    assert failed.status == "failed" and "power cut" in failed.error
    assert Bill.objects.count() == 2  # the first chunk, whole; nothing of the second
    monkeypatch.setattr(billing, "bills_write", real)
    # then the rerun posts the rest, and the totals match the clean run exactly
    rerun = run("2025-03", chunk=2)
    assert rerun.bills_posted == 3
    assert rerun.summary["skipped_by_reason"] == {"already posted": 2}
    count, lines, amount, net, tax = totals()
    assert (count, lines, amount, net, tax) == (clean[0], clean[1], clean[2], clean[3], clean[4])
    assert amount == net + tax


def test_a_failing_lease_is_skipped_and_the_others_are_posted(five_leases, monkeypatch):
    real = billing.plan_regular
    broken = five_leases[2].pk

    def plan(lease, period, **kw):
        if lease.id == broken:
            raise ValueError("no rent step in force")
        return real(lease, period, **kw)

    monkeypatch.setattr(billing, "plan_regular", plan)
    result = run("2025-03")
    assert result.bills_posted == 4
    assert result.summary["skipped"] == [
        {"lease": broken, "number": five_leases[2].number, "reason": "error: no rent step in force"}
    ]
    assert not Bill.objects.filter(lease_id=broken).exists()


def test_run_for_one_company_bills_its_subtree_only(five_leases, tree):
    result = run("2025-03", company=tree.sub_b)
    assert result.leases == 0 and Bill.objects.count() == 0
    assert run("2025-03", company=tree.sub_a).bills_posted == 5


def test_periods_starting_agrees_with_the_rent_schedule():
    # given many random contracts (anchors on month ends, every cycle, amendments that
    # change the cycle), the periods found directly are those of rent.schedule
    rng = random.Random(6)  # noqa: S311
    for _ in range(300):
        month = rng.randint(1, 12)
        day = min(rng.choice((1, 15, 28, 29, 30, 31)), calendar.monthrange(2023, month)[1])
        start = date(2023, month, day)
        end = rent.add_months(start, rng.randint(3, 40))
        cuts = sorted(
            {rent.add_months(start, rng.randint(1, 30)) for _ in range(rng.randint(0, 2))}
        )
        bounds = [start, *[c for c in cuts if c < end], end]
        terms = [
            rent.Terms(lease_start=start, start=a, end=b, area=D(1),
                       steps=(rent.Step(start, D(1), "sqm_month"),), version=i + 1,
                       payment_cycle=rng.choice((1, 3, 6, 12)))
            for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
        ]  # fmt: skip
        expected = rent.schedule(terms)
        month = date(2023, 1, 1)
        found = []
        while month < end:
            nxt = rent.add_months(month, 1)
            found.extend(billing.periods_starting(terms, month, nxt))
            month = nxt
        assert found == expected, (start, bounds)


# -- adjustments -------------------------------------------------------------------------------


def test_adjustments_post_debit_and_credit_bills_with_a_reason(five_leases):
    run("2025-03")
    bill = Bill.objects.get(lease=five_leases[0])  # 50 m² × 60 + 50 × 7.5 = 3,375.00
    assert bill.amount == D("3375.00")
    with pytest.raises(ValidationError) as err:
        services.bill_adjust(bill, amount=D("-100"), reason=" ", today=date(2025, 3, 5))
    assert "reason" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.bill_adjust(bill, amount=D("-3375.01"), reason="x", today=date(2025, 3, 5))
    assert "amount" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.bill_adjust(bill, amount=D("10"), reason="x", item="water",
                             today=date(2025, 3, 5))  # fmt: skip
    assert "item" in err.value.message_dict
    assert Bill.objects.count() == 5
    credit = services.bill_adjust(bill, amount=D("-100"), reason="面积复核多计",
                                  today=date(2025, 3, 5))  # fmt: skip
    debit = services.bill_adjust(bill, amount=D("20.5"), reason="补收", item="property_fee",
                                 today=date(2025, 3, 5))  # fmt: skip
    # 100 at 9 %: tax 8.26, net 91.74; 20.50 at 6 %: tax 1.16, net 19.34
    assert (credit.kind, credit.amount) == ("credit", D("-100.00"))
    assert (credit.tax, credit.net) == (D("-8.26"), D("-91.74"))
    assert (debit.kind, debit.amount, debit.tax) == ("debit", D("20.50"), D("1.16"))
    assert credit.corrects == bill and debit.corrects == bill and credit.reason == "面积复核多计"
    bill.refresh_from_db()
    assert bill.amount == D("3375.00")  # the posted bill never changes


# -- abatements --------------------------------------------------------------------------------


def test_abatement_needs_another_users_approval_then_reduces_the_bill(
    five_leases, finance_a, agent_a
):
    lease = five_leases[0]
    with pytest.raises(ValidationError) as err:
        services.abatement_request(lease=lease, period_start=date(2025, 3, 1),
                                   period_end=date(2025, 4, 1), kind="percent", value=D("1.5"),
                                   reason="疫情减免", user=agent_a)  # fmt: skip
    assert "value" in err.value.message_dict
    abatement = services.abatement_request(
        lease=lease, period_start=date(2025, 3, 1), period_end=date(2025, 4, 1),
        kind="percent", value=D("0.5"), item="rent", reason="疫情减免", user=finance_a,
    )  # fmt: skip
    # the requester cannot approve it, nor a leasing agent
    for user in (finance_a, agent_a):
        with pytest.raises(ValidationError) as err:
            services.abatement_approve(abatement, user=user, today=date(2025, 2, 20))
        assert "decided_by" in err.value.message_dict
    other = UserFactory(username="finance_2")
    Membership.objects.create(user=other, company=lease.company, role=Role.FINANCE)
    # a pending abatement does nothing
    services.abatement_approve(abatement, user=other, today=date(2025, 2, 20))
    run("2025-03")
    # then March = 50 × 60 = 3,000 rent − 50 % = −1,500.00 (VAT 9 %: −123.85) + 375 fee
    bill = Bill.objects.get(lease=lease)
    cut = bill.lines.get(trace__rule="abatement")
    assert (cut.item, cut.amount, cut.tax, cut.vat_rate) == ("rent", D("-1500.00"),
                                                             D("-123.85"), D("0.0900"))  # fmt: skip
    assert bill.amount == D("1875.00")
    abatement.refresh_from_db()
    assert abatement.status == "approved" and abatement.bill == bill
    with pytest.raises(ValidationError) as err:
        services.abatement_reject(abatement, user=other)
    assert "status" in err.value.message_dict


def test_abatement_approved_after_posting_is_a_credit_bill(five_leases, finance_a, agent_a):
    run("2025-03")
    lease = five_leases[1]  # 51 m²: rent 3,060.00, fee 382.50
    abatement = services.abatement_request(
        lease=lease, period_start=date(2025, 3, 1), period_end=date(2025, 4, 1),
        kind="amount", value=D("3100"), reason="装修影响经营", user=agent_a,
    )  # fmt: skip
    services.abatement_approve(abatement, user=finance_a, today=date(2025, 3, 10))
    abatement.refresh_from_db()
    credit = abatement.bill
    # then 3,100 comes off: 3,060.00 of rent, then 40.00 of the fee
    assert credit.kind == "credit" and credit.corrects.lease == lease
    assert sorted((ln.item, ln.amount) for ln in credit.lines.all()) == [
        ("property_fee", D("-40.00")), ("rent", D("-3060.00"))
    ]  # fmt: skip
    assert credit.amount == D("-3100.00")
    # a rejected one changes nothing
    rejected = services.abatement_request(
        lease=lease, period_start=date(2025, 3, 1), period_end=date(2025, 4, 1),
        kind="amount", value=D("10"), reason="x", user=agent_a,
    )  # fmt: skip
    services.abatement_reject(rejected, user=finance_a, note="不符合条件")
    assert Abatement.objects.get(pk=rejected.pk).status == "rejected"
    assert Bill.objects.filter(kind="credit").count() == 1


# -- meters ------------------------------------------------------------------------------------


@pytest.fixture
def meter(make_lease, tree):
    lease = make_lease()
    unit = lease.lines.get().unit
    Tariff.objects.create(company=tree.group, kind="electricity", price=D("1.2000"),
                          vat_rate=D("0.13"), effective_from=date(2024, 1, 1))  # fmt: skip
    Tariff.objects.create(company=tree.sub_a, kind="electricity", price=D("0.9500"),
                          vat_rate=D("0.13"), effective_from=date(2024, 1, 1))  # fmt: skip
    return Meter.objects.create(company=tree.sub_a, unit=unit, kind="electricity",
                                serial="DB-001", multiplier=D("2"), max_reading=D("100000"),
                                installed_on=date(2024, 12, 1))  # fmt: skip


def read(meter, day, value, **kw):
    return meters.meter_reading_create(meter=meter, read_on=day, value=D(value), **kw)


def test_meter_reading_below_the_last_is_refused_unless_rollover_or_replacement(meter):
    read(meter, date(2024, 12, 31), "99000")
    with pytest.raises(ValidationError) as err:
        read(meter, date(2025, 1, 31), "150")
    assert "value" in err.value.message_dict and "99000" in err.value.message_dict["value"][0]
    with pytest.raises(ValidationError) as err:
        read(meter, date(2024, 12, 30), "99100")
    assert "read_on" in err.value.message_dict
    assert MeterReading.objects.count() == 1
    # a rollover: 100,000 − 99,000 + 150 = 1,150
    rolled = read(meter, date(2025, 1, 31), "150", rollover=True)
    assert rolled.consumption == D("1150.00")
    # a replacement: old meter ended at 400, the new one started at 5 and reads 90:
    # 400 − 150 + 90 − 5 = 335
    replaced = read(meter, date(2025, 2, 28), "90", replaced=True, old_final=D("400"),
                    new_initial=D("5"))  # fmt: skip
    assert replaced.consumption == D("335.00")
    with pytest.raises(ValidationError) as err:
        read(meter, date(2025, 3, 31), "95", rollover=True)
    assert "rollover" in err.value.message_dict


def test_meter_jump_is_flagged_and_billed_only_once_confirmed(meter, finance_a):
    for day, value in ((date(2024, 12, 31), "0"), (date(2025, 1, 31), "100"),
                       (date(2025, 2, 28), "200")):  # fmt: skip
        read(meter, day, value)
    jump = read(meter, date(2025, 3, 31), "550")  # 350 > 3 × 100
    assert jump.flagged and jump.confirmed_by is None
    result = run("2025-04")
    assert result.summary["skipped_by_reason"]["reading needs confirmation"] == 1
    assert not Bill.objects.filter(kind="meter").exists()
    meters.meter_reading_confirm(jump, user=finance_a)
    run("2025-04")
    # then all unbilled consumption: 100 + 100 + 350 = 550 × 2 (multiplier) × 0.95 (the
    # subsidiary's tariff wins over the group's) = 1,045.00; VAT 13 %: 120.22
    bill = Bill.objects.get(kind="meter")
    assert (bill.amount, bill.tax) == (D("1045.00"), D("120.22"))
    assert (bill.period_start, bill.period_end) == (date(2025, 3, 1), date(2025, 4, 1))
    line = bill.lines.get()
    assert line.tax_code == "1100101020000000000" and line.trace["price"] == "0.9500"
    assert MeterReading.objects.filter(bill=bill).count() == 4


def test_missing_reading_is_estimated_then_trued_up(meter):
    for day, value in ((date(2024, 12, 31), "1000"), (date(2025, 1, 31), "1100"),
                       (date(2025, 2, 28), "1220")):  # fmt: skip
        read(meter, day, value)
    run("2025-03")  # February: 220 (100 + 120) × 2 × 0.95 = 418.00
    # when March has no reading
    run("2025-04")
    estimate = MeterReading.objects.get(source="estimated")
    # then it is estimated from the average (100 + 120) / 2 = 110 → 1,330 on 31 March
    assert (estimate.read_on, estimate.value, estimate.consumption) == (
        date(2025, 3, 31),
        D("1330.00"),
        D("110.00"),
    )
    march = Bill.objects.get(kind="meter", period_start=date(2025, 3, 1))
    assert march.amount == D("209.00")  # 110 × 2 × 0.95
    # when the actual April reading comes in at 1,400 (below the estimate's trend, above it)
    read(meter, date(2025, 4, 30), "1400")
    run("2025-05")
    april = Bill.objects.get(kind="meter", period_start=date(2025, 4, 1))
    # then April bills 1,400 − 1,330 = 70 → 133.00, and March + April = (1,400 − 1,220) × 2
    # × 0.95 = 342.00, exactly what two actual readings would have billed
    assert april.amount == D("133.00")
    assert march.amount + april.amount == D("342.00")
    assert april.lines.get().trace["trued_up"] is True
    assert MeterReading.objects.filter(bill__isnull=True).count() == 0
    # a rerun bills nothing again
    assert run("2025-05").summary["posted_by_kind"] == {}


def test_an_amendment_regenerates_what_is_not_yet_posted(make_lease):
    # given 100 m² at 60 元/m²/month from 1 Jan 2025, billed monthly: 6,000.00 a month
    lease = make_lease()
    run("2025-01")
    run("2025-02")
    # when the rent goes to 70 from 1 March (agreed on 20 February)
    leasing.lease_amend(
        lease, effective_from=date(2025, 3, 1), today=date(2025, 2, 20), reason="租金调整",
        steps=[{"start_date": date(2025, 1, 1), "price": D("60"), "basis": "sqm_month"},
               {"start_date": date(2025, 3, 1), "price": D("70"), "basis": "sqm_month"}],
    )  # fmt: skip
    run("2025-03")
    # then the posted bills stay as they were, and March on is billed at 7,000.00
    bills = list(Bill.objects.filter(lease=lease).order_by("period_start"))
    assert [b.amount for b in bills] == [D("6000.00"), D("6000.00"), D("7000.00")]
    assert lines_of(bills[2])["rent"].trace["version"] == 2
    # and the receivable schedule shows the amended rent for the months still to come
    plan = billing.receivable_schedule(lease, start=date(2025, 3, 1), until=date(2025, 6, 1))
    assert [(p["plan"].amount, p["posted_bill"]) for p in plan] == [(D("7000.00"), bills[2].pk)] + [
        (D("7000.00"), None)
    ] * 2
