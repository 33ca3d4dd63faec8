"""The rent engine against amounts computed by hand (the arithmetic is in the comments)."""

from datetime import date
from decimal import Decimal as D

import pytest

from leasing.rent import (
    Charge,
    Free,
    Terms,
    add_months,
    charges_for_period,
    contract_month,
    lease_charges,
    money,
    monthly_rent,
    schedule,
)

Q1_2025 = (date(2025, 1, 1), date(2025, 4, 1))


def terms(**kw) -> Terms:
    base = dict(
        lease_start=date(2025, 1, 1),
        start=date(2025, 1, 1),
        end=date(2028, 1, 1),
        area=D("100"),
        steps=(("2025-01-01", "80", "sqm_month"),),
    )
    base.update(kw)
    from leasing.rent import Step

    base["steps"] = tuple(
        s if isinstance(s, Step) else Step(date.fromisoformat(s[0]), D(s[1]), s[2])
        for s in base["steps"]
    )
    return Terms(**base)


def rent_line(lines):
    return next(line for line in lines if line.item == "rent")


# -- calendar ----------------------------------------------------------------------------------


def test_add_months_keeps_the_anchor_day_through_short_months():
    # given a start on 31 January of a leap year
    # then February takes its last day, March the 31st again (no drift)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 1, 31), 2) == date(2024, 3, 31)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert contract_month(date(2025, 1, 31), date(2025, 3, 1)) == (
        date(2025, 2, 28),
        date(2025, 3, 31),
    )


def test_money_rounds_half_up_to_fen():
    assert money(D("2.345")) == D("2.35")
    assert money(D("2.3449")) == D("2.34")


# -- price bases -------------------------------------------------------------------------------


def test_price_per_sqm_per_month_for_a_quarter_with_vat_split():
    # 100 m² × 80 元/m²/month × 3 months = 24,000.00
    # VAT 9 % included: tax = 24,000 × 0.09 / 1.09 = 1,981.651… → 1,981.65; net 22,018.35
    line = rent_line(charges_for_period(terms(), *Q1_2025))
    assert (line.amount, line.tax, line.net) == (D("24000.00"), D("1981.65"), D("22018.35"))
    assert line.vat_rate == D("0.09")
    assert [t["rule"] for t in line.trace] == ["month", "month", "month"]


def test_prices_exclusive_of_tax_add_vat_on_top():
    # net 24,000.00; tax 24,000 × 0.09 = 2,160.00; amount 26,160.00
    line = rent_line(charges_for_period(terms(prices_include_tax=False), *Q1_2025))
    assert (line.amount, line.net, line.tax) == (D("26160.00"), D("24000.00"), D("2160.00"))


def test_fixed_monthly_amount_ignores_area():
    # 12,000 元/month × 3 = 36,000.00
    t = terms(steps=(("2025-01-01", "12000", "month_fixed"),))
    assert rent_line(charges_for_period(t, *Q1_2025)).amount == D("36000.00")


def test_daily_price_by_365_over_12_is_the_same_every_month():
    # 3.00 元/m²/day × 100 m² × 365/12 = 9,125.00 for February as for January
    t = terms(steps=(("2025-01-01", "3", "sqm_day"),), monthly_basis="365_12")
    feb = rent_line(charges_for_period(t, date(2025, 2, 1), date(2025, 3, 1)))
    jan = rent_line(charges_for_period(t, date(2025, 1, 1), date(2025, 2, 1)))
    assert feb.amount == jan.amount == D("9125.00")


def test_daily_price_by_actual_days_follows_the_month_and_leap_years():
    # 3.00 × 100 × 28 = 8,400.00 (Feb 2025); × 29 = 8,700.00 (Feb 2024, leap year)
    t = terms(steps=(("2024-01-01", "3", "sqm_day"),), monthly_basis="actual",
              lease_start=date(2024, 1, 1), start=date(2024, 1, 1))  # fmt: skip
    assert rent_line(charges_for_period(t, date(2025, 2, 1), date(2025, 3, 1))).amount == D(
        "8400.00"
    )
    assert rent_line(charges_for_period(t, date(2024, 2, 1), date(2024, 3, 1))).amount == D(
        "8700.00"
    )


def test_leap_year_quarter_daily_price_both_bases():
    # 2.00 × 100 = 200 a day. Actual: 200 × (31 + 29 + 31) = 18,200.00.
    # 365/12: 200 × 365/12 × 3 = 18,250.00
    kw = dict(lease_start=date(2024, 1, 1), start=date(2024, 1, 1),
              steps=(("2024-01-01", "2", "sqm_day"),))  # fmt: skip
    q1 = (date(2024, 1, 1), date(2024, 4, 1))
    assert rent_line(charges_for_period(terms(monthly_basis="actual", **kw), *q1)).amount == D(
        "18200.00"
    )
    assert rent_line(charges_for_period(terms(monthly_basis="365_12", **kw), *q1)).amount == D(
        "18250.00"
    )


def test_part_month_is_charged_by_days_of_that_month():
    # 50 m² × 60 = 3,000 a month; 10 days of March (31 days): 3,000 × 10/31 = 967.741… → 967.74
    t = terms(area=D("50"), steps=(("2025-01-01", "60", "sqm_month"),))
    line = rent_line(charges_for_period(t, date(2025, 3, 1), date(2025, 3, 11)))
    assert line.amount == D("967.74")
    assert line.trace[0]["rule"] == "days" and line.trace[0]["month_days"] == 31


def test_months_anchored_at_a_month_end_start():
    # Lease from 31 Jan 2025: months [31 Jan, 28 Feb) and [28 Feb, 31 Mar) are whole months,
    # so two months of 100 × 80 = 16,000.00, whatever their lengths (28 and 31 days).
    t = terms(lease_start=date(2025, 1, 31), start=date(2025, 1, 31),
              steps=(("2025-01-31", "80", "sqm_month"),))  # fmt: skip
    line = rent_line(charges_for_period(t, date(2025, 1, 31), date(2025, 3, 31)))
    assert line.amount == D("16000.00")
    assert [(x["days"], x["month_days"]) for x in line.trace] == [(28, 28), (31, 31)]


# -- stepped, escalation -----------------------------------------------------------------------


def test_stepped_schedule_changes_price_on_its_date():
    # 100 m²: Nov and Dec 2025 at 50 → 5,000 each; Jan 2026 at 55 → 5,500; total 15,500.00
    t = terms(steps=(("2025-01-01", "50", "sqm_month"), ("2026-01-01", "55", "sqm_month")))
    line = rent_line(charges_for_period(t, date(2025, 11, 1), date(2026, 2, 1)))
    assert line.amount == D("15500.00")


def test_step_in_mid_month_splits_the_month_by_days():
    # Jan 2026 (31 days): 15 days at 5,000 → 2,419.3548…; 16 days at 5,500 → 2,838.7096…
    # total 5,258.0645… → 5,258.06
    t = terms(steps=(("2025-01-01", "50", "sqm_month"), ("2026-01-16", "55", "sqm_month")))
    line = rent_line(charges_for_period(t, date(2026, 1, 1), date(2026, 2, 1)))
    assert line.amount == D("5258.06")


def test_escalation_every_two_years_from_the_start_date():
    # Lease from 1 Mar 2024, 10 m² × 100 = 1,000 a month, +5 % every 24 months.
    # Q1 2026: Jan 1,000 + Feb 1,000 + Mar (after the 1 Mar 2026 anniversary) 1,050 = 3,050.00
    t = terms(lease_start=date(2024, 3, 1), start=date(2024, 3, 1), area=D("10"),
              steps=(("2024-03-01", "100", "sqm_month"),), escalation_rate=D("0.05"),
              escalation_every_months=24, end=date(2030, 3, 1))  # fmt: skip
    assert rent_line(charges_for_period(t, date(2026, 1, 1), date(2026, 4, 1))).amount == D(
        "3050.00"
    )
    # The second anniversary (1 Mar 2028) compounds: 1,000 × 1.05² = 1,102.50
    assert rent_line(charges_for_period(t, date(2028, 3, 1), date(2028, 4, 1))).amount == D(
        "1102.50"
    )
    # The day before the anniversary is still at the old price: 29 Feb 2028 (leap year)
    # is one day of February's 29 at 1,050: 1,050 / 29 = 36.2068… → 36.21
    assert rent_line(charges_for_period(t, date(2028, 2, 29), date(2028, 3, 1))).amount == D(
        "36.21"
    )
    assert monthly_rent(t, date(2028, 3, 1)) == D("1102.50")


def test_escalation_anniversary_of_a_leap_day_start_falls_on_28_february():
    # Lease from 29 Feb 2024, +10 % every 12 months: the anniversary is 28 Feb 2025.
    # [27 Feb 2025, 1 Mar 2025): the month is [29 Jan, 28 Feb) = 30 days, then [28 Feb, 29 Mar)
    # = 29 days. 1 day at 3,000/30 = 100.00; 1 day at 3,300/29 = 113.7931…; total 213.79
    t = terms(lease_start=date(2024, 2, 29), start=date(2024, 2, 29), area=D("100"),
              steps=(("2024-02-29", "30", "sqm_month"),), escalation_rate=D("0.10"),
              escalation_every_months=12)  # fmt: skip
    line = rent_line(charges_for_period(t, date(2025, 2, 27), date(2025, 3, 1)))
    assert line.amount == D("213.79")


# -- turnover ----------------------------------------------------------------------------------


def test_guarantee_or_turnover_share_whichever_is_higher():
    # Guarantee 10,000 a month; 8 % of turnover.
    t = terms(steps=(("2025-01-01", "10000", "month_fixed"),), turnover_rate=D("0.08"))
    jan = (date(2025, 1, 1), date(2025, 2, 1))
    # 150,000 × 8 % = 12,000.00 > 10,000 → 12,000.00
    assert rent_line(charges_for_period(t, *jan, turnover=D("150000"))).amount == D("12000.00")
    # 100,000 × 8 % = 8,000 < 10,000 → the guarantee, 10,000.00
    assert rent_line(charges_for_period(t, *jan, turnover=D("100000"))).amount == D("10000.00")
    # no report yet → the guarantee, and the trace says so
    line = rent_line(charges_for_period(t, *jan))
    assert line.amount == D("10000.00")
    assert line.trace[-1]["applied"] == "guarantee (no turnover report)"


def test_turnover_share_prorated_outside_free_days():
    # January free for 10 days (1–10 Jan); guarantee 10,000 × 21/31 = 6,774.19…;
    # share 200,000 × 8 % × 21/31 = 10,838.709… → 10,838.71
    t = terms(steps=(("2025-01-01", "10000", "month_fixed"),), turnover_rate=D("0.08"),
              free=(Free(date(2025, 1, 1), date(2025, 1, 11)),))  # fmt: skip
    line = rent_line(
        charges_for_period(t, date(2025, 1, 1), date(2025, 2, 1), turnover=D("200000"))
    )
    assert line.amount == D("10838.71")


# -- free periods and other charges ------------------------------------------------------------

PROPERTY_FEE = Charge("property_fee", D("8"), "sqm_month", D("0.06"), name="物业费")


def test_free_period_exempts_rent_but_not_the_property_fee():
    # Free from 1 Jan to 15 Feb 2025 (exclusive end 16 Feb); 100 m² × 60 = 6,000 a month.
    # Rent: Jan 0; Feb 13 of 28 days → 6,000 × 13/28 = 2,785.714…; Mar 6,000 → 8,785.71
    # Property fee 100 × 8 = 800 a month × 3 = 2,400.00; VAT 6 % included:
    # 2,400 × 0.06/1.06 = 135.849… → 135.85, net 2,264.15
    t = terms(steps=(("2025-01-01", "60", "sqm_month"),), charges=(PROPERTY_FEE,),
              free=(Free(date(2025, 1, 1), date(2025, 2, 16)),))  # fmt: skip
    rent_l, fee = charges_for_period(t, *Q1_2025)
    assert rent_l.amount == D("8785.71")
    assert (fee.item, fee.amount, fee.tax, fee.net) == (
        "property_fee",
        D("2400.00"),
        D("135.85"),
        D("2264.15"),
    )
    assert fee.vat_rate == D("0.06")


def test_free_period_covering_charges_exempts_the_property_fee_too():
    # Fee: Feb 13/28 × 800 = 371.428… + Mar 800 = 1,171.43
    t = terms(steps=(("2025-01-01", "60", "sqm_month"),), charges=(PROPERTY_FEE,),
              free=(Free(date(2025, 1, 1), date(2025, 2, 16), covers_charges=True),))  # fmt: skip
    _rent, fee = charges_for_period(t, *Q1_2025)
    assert fee.amount == D("1171.43")


def test_parking_and_advertising_charges_by_quantity_with_their_own_vat():
    # 3 spaces × 400 = 1,200 a month × 3 = 3,600.00 at 9 %: tax 297.25 (3,600 × 0.09/1.09
    # = 297.247…); an advertising panel 2,000 × 3 = 6,000.00 at 6 %: tax 339.62 (339.622…)
    t = terms(charges=(Charge("parking", D("400"), "month_fixed", D("0.09"), D("3")),
                       Charge("advertising", D("2000"), "month_fixed", D("0.06"))))  # fmt: skip
    _rent, parking, ads = charges_for_period(t, *Q1_2025)
    assert (parking.amount, parking.tax) == (D("3600.00"), D("297.25"))
    assert (ads.amount, ads.tax) == (D("6000.00"), D("339.62"))


# -- versions and schedule ---------------------------------------------------------------------


def test_lease_charges_split_a_period_between_versions():
    # v1 (50/m²) until 1 Mar, v2 (60/m²) from 1 Mar: Jan + Feb 2 × 5,000 = 10,000 (v1);
    # Mar 6,000 (v2)
    v1 = terms(end=date(2025, 3, 1), steps=(("2025-01-01", "50", "sqm_month"),))
    v2 = terms(start=date(2025, 3, 1), version=2, steps=(("2025-01-01", "60", "sqm_month"),))
    lines = lease_charges([v1, v2], *Q1_2025)
    assert [(x.version, x.amount) for x in lines] == [(1, D("10000.00")), (2, D("6000.00"))]


def test_schedule_by_quarter_with_issue_and_due_dates():
    # Lease 31 Jan 2025 – 31 Dec 2025; quarters from the start day; issued 15 days before;
    # due 5 days after the period starts.
    t = terms(lease_start=date(2025, 1, 31), start=date(2025, 1, 31), end=date(2026, 1, 1),
              bill_lead_days=15, due_offset_days=5, payment_cycle=3)  # fmt: skip
    periods = schedule([t])
    assert [(p.start, p.end) for p in periods] == [
        (date(2025, 1, 31), date(2025, 4, 30)),
        (date(2025, 4, 30), date(2025, 7, 31)),
        (date(2025, 7, 31), date(2025, 10, 31)),
        (date(2025, 10, 31), date(2026, 1, 1)),
    ]
    assert periods[0].issue_date == date(2025, 1, 16)
    assert periods[1].due_date == date(2025, 5, 5)


@pytest.mark.parametrize(("cycle", "count"), [(1, 24), (3, 8), (6, 4), (12, 2)])
def test_schedule_every_payment_cycle(cycle, count):
    t = terms(end=date(2027, 1, 1), payment_cycle=cycle)
    periods = schedule([t])
    assert len(periods) == count
    assert periods[-1].end == date(2027, 1, 1)


def test_schedule_restarts_cycles_where_an_amendment_changes_them():
    # v1 quarterly from 1 Jan; v2 monthly from 1 May: [Jan, Apr), [Apr, May) cut, then months
    v1 = terms(end=date(2025, 5, 1), payment_cycle=3)
    v2 = terms(start=date(2025, 5, 1), end=date(2025, 8, 1), payment_cycle=1, version=2)
    assert [(p.start, p.end, p.version) for p in schedule([v1, v2])] == [
        (date(2025, 1, 1), date(2025, 4, 1), 1),
        (date(2025, 4, 1), date(2025, 5, 1), 1),
        (date(2025, 5, 1), date(2025, 6, 1), 2),
        (date(2025, 6, 1), date(2025, 7, 1), 2),
        (date(2025, 7, 1), date(2025, 8, 1), 2),
    ]
