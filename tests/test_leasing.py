"""Tenants, the lease workflow, amendments, renewals, move-outs, availability, the API."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from leasing import selectors, services
from leasing.models import Lease, LeaseEvent, LeaseUnit, Tenant, TurnoverReport
from spatial.choices import Role
from spatial.models import Membership, Unit
from tests.factories import FloorFactory, UnitFactory, UserFactory

USCC = "91340100MA4JURQ20P"
USCC_2 = "91340100MAYUYU126M"
RIC = "11010519491231002X"
TODAY = date(2025, 1, 1)


@pytest.fixture
def floor_a(tree):
    return FloorFactory(building__site__company=tree.sub_a)


@pytest.fixture
def units_a(floor_a):
    return [
        UnitFactory(floor=floor_a, gross_area=D("100.00"), usable_area=D("80.00")) for _ in range(3)
    ]


@pytest.fixture
def unit_b(tree):
    return UnitFactory(floor__building__site__company=tree.sub_b)


@pytest.fixture
def tenant_a(tree):
    return services.tenant_create(
        company=tree.sub_a, kind="company", name="合肥某科技有限公司", uscc=USCC,
        contact_name="王伟", phone="13812341234", size="medium",
    )  # fmt: skip


def draft(tenant, units, **kw):
    data = dict(
        number="HT-2025-001", tenant=tenant, use="office", start_date=date(2025, 1, 1),
        end_date=date(2027, 12, 31), units=[{"unit": u, "area": D("100")} for u in units],
        steps=[{"start_date": date(2025, 1, 1), "price": D("60"), "basis": "sqm_month"}],
        charges=[{"item": "property_fee", "price": D("8"), "basis": "sqm_month",
                  "vat_rate": D("0.06")}],
        payment_cycle=3, deposit_amount=D("18000"),
    )  # fmt: skip
    data.update(kw)
    return services.lease_create(today=TODAY, **data)


def active(tenant, units, user=None, **kw):
    lease = draft(tenant, units, **kw)
    services.lease_submit(lease, user=user, today=TODAY)
    services.lease_approve(lease, user=user, today=TODAY)
    return services.lease_activate(lease, user=user, today=max(TODAY, lease.start_date))


def counts():
    return (Lease.objects.count(), LeaseUnit.objects.count(), LeaseEvent.objects.count())


# -- tenants -----------------------------------------------------------------------------------


def test_tenant_codes_are_validated(tree):
    with pytest.raises(ValidationError) as err:
        services.tenant_create(
            company=tree.sub_a, kind="company", name="X", uscc="91340100MA4JURQ20X"
        )
    assert "uscc" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.tenant_create(company=tree.sub_a, kind="individual", name="张三",
                               id_number="340104199001011234")  # fmt: skip
    assert "id_number" in err.value.message_dict
    person = services.tenant_create(
        company=tree.sub_a, kind="individual", name="张三", id_number=RIC
    )
    assert person.pk and Tenant.objects.count() == 1


def test_credit_rating_from_payment_history():
    assert services.credit_rating_from_history(bills=20, paid_late=1, overdue_days_max=3) == "A"
    assert services.credit_rating_from_history(bills=20, paid_late=4, overdue_days_max=3) == "B"
    assert services.credit_rating_from_history(bills=20, paid_late=8, overdue_days_max=3) == "C"
    assert services.credit_rating_from_history(bills=20, paid_late=0, overdue_days_max=120) == "D"


# -- the workflow ------------------------------------------------------------------------------


def test_lease_workflow_records_who_and_when_and_drives_unit_status(tree, tenant_a, units_a):
    # given an agent
    agent = UserFactory()
    lease = draft(tenant_a, units_a[:1], user=agent)
    assert lease.status == "draft"
    # when submitted, rejected, submitted again and approved before its start
    services.lease_submit(lease, user=agent, today=date(2024, 12, 1))
    services.lease_reject(lease, user=agent, today=date(2024, 12, 1), reason="押金不对")
    services.lease_submit(lease, user=agent, today=date(2024, 12, 2))
    services.lease_approve(lease, user=agent, today=date(2024, 12, 2))
    lease.refresh_from_db()
    # then the approval is recorded, the unit is reserved
    assert lease.approved_by == agent and lease.approved_at is not None
    assert Unit.objects.get(pk=units_a[0].pk).status == "reserved"
    # an approved lease cannot become active before its start
    with pytest.raises(ValidationError) as err:
        services.lease_activate(lease, user=agent, today=date(2024, 12, 31))
    assert "start_date" in err.value.message_dict
    assert services.leases_activate_due(today=TODAY) == 1
    assert Unit.objects.get(pk=units_a[0].pk).status == "leased"
    kinds = list(lease.events.values_list("kind", flat=True))
    assert kinds == ["created", "submitted", "rejected", "submitted", "approved", "activated"]


def test_only_an_approved_lease_becomes_active(tenant_a, units_a):
    lease = draft(tenant_a, units_a[:1])
    with pytest.raises(ValidationError) as err:
        services.lease_activate(lease, today=TODAY)
    assert "status" in err.value.message_dict
    assert Lease.objects.get(pk=lease.pk).status == "draft"


def test_overlapping_leases_are_refused_and_change_nothing(tenant_a, units_a):
    active(tenant_a, units_a[:1])
    before = counts()
    with pytest.raises(ValidationError) as err:
        draft(tenant_a, units_a[:1], number="HT-2025-002", start_date=date(2027, 6, 1),
              end_date=date(2028, 5, 31), steps=[{"start_date": date(2027, 6, 1),
              "price": D("60"), "basis": "sqm_month"}])  # fmt: skip
    assert "HT-2025-001" in err.value.message_dict["units"][0]
    assert counts() == before


def test_the_database_refuses_overlapping_holding_lines(tenant_a, units_a):
    # given an approved lease on the unit and another draft written around the checks
    from django.contrib.postgres.fields.ranges import DateRange
    from django.db import IntegrityError, transaction

    first = active(tenant_a, units_a[:1])
    line = first.lines.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        LeaseUnit.objects.create(
            version=line.version, lease=first, unit=units_a[0], area=D("1"),
            period=DateRange(date(2026, 1, 1), date(2026, 2, 1)), blocking=True,
        )  # fmt: skip


def test_a_unit_of_another_company_is_refused(tenant_a, unit_b):
    before = counts()
    with pytest.raises(ValidationError) as err:
        draft(tenant_a, [unit_b])
    assert "units" in err.value.message_dict or "tenant" in err.value.message_dict
    assert counts() == before


def test_end_before_start_and_negative_price_are_refused(tenant_a, units_a):
    before = counts()
    with pytest.raises(ValidationError) as err:
        draft(tenant_a, units_a[:1], end_date=date(2024, 12, 31))
    assert "end_date" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        draft(tenant_a, units_a[:1], steps=[{"start_date": date(2025, 1, 1), "price": D("-1"),
                                              "basis": "sqm_month"}])  # fmt: skip
    assert "steps" in err.value.message_dict
    assert counts() == before


# -- amendments --------------------------------------------------------------------------------


def test_amendment_makes_a_version_and_moves_unit_holding(tenant_a, units_a):
    # given an active lease on unit 0
    lease = active(tenant_a, units_a[:1])
    # when from 1 July 2025 it takes unit 1 instead, at 70 a m²
    services.lease_amend(
        lease, effective_from=date(2025, 7, 1), today=TODAY, reason="换房",
        units=[{"unit": units_a[1], "area": D("100")}],
        steps=[{"start_date": date(2025, 1, 1), "price": D("70"), "basis": "sqm_month"}],
    )  # fmt: skip
    # then version 1 stays readable and holds unit 0 until 30 June; version 2 holds unit 1
    lines = {(line.version.number, line.unit_id): line for line in lease.lines.all()}
    assert lines[1, units_a[0].pk].period.upper == date(2025, 7, 1)
    assert lines[2, units_a[1].pk].period.lower == date(2025, 7, 1)
    assert list(lease.versions.values_list("number", flat=True)) == [1, 2]
    # Q3 2025 bills the new price: 100 × 70 × 3 = 21,000.00; Q2 the old: 18,000.00
    sched = {r["period"].start: r["lines"] for r in selectors.lease_schedule(lease=lease)}
    assert sched[date(2025, 7, 1)][0].amount == D("21000.00")
    assert sched[date(2025, 4, 1)][0].amount == D("18000.00")
    # unit 0 is free again from 1 July: another lease may take it
    other = draft(tenant_a, units_a[:1], number="HT-2025-009", start_date=date(2025, 7, 1),
                  steps=[{"start_date": date(2025, 7, 1), "price": D("65"),
                          "basis": "sqm_month"}])  # fmt: skip
    services.lease_submit(other, today=TODAY)
    services.lease_approve(other, today=TODAY)


def test_amendment_into_closed_periods_is_refused(tenant_a, units_a):
    lease = active(tenant_a, units_a[:1])
    services.lease_period_close(lease, through=date(2025, 6, 30), today=TODAY)
    with pytest.raises(ValidationError) as err:
        services.lease_amend(lease, effective_from=date(2025, 4, 1), today=TODAY, reason="x",
                             payment_cycle=1)  # fmt: skip
    assert "effective_from" in err.value.message_dict
    assert lease.versions.count() == 1


# -- turnover ----------------------------------------------------------------------------------


def test_turnover_report_for_a_closed_period_is_refused(tenant_a, units_a):
    lease = active(tenant_a, units_a[:1], turnover_rate=D("0.08"), payment_cycle=1)
    services.turnover_report_create(
        lease=lease,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
        amount=D("300000"),
        today=TODAY,
    )
    services.lease_period_close(lease, through=date(2025, 2, 28), today=TODAY)
    with pytest.raises(ValidationError) as err, translation.override("en"):
        services.turnover_report_create(
            lease=lease,
            period_start=date(2025, 2, 1),
            period_end=date(2025, 3, 1),
            amount=D("1"),
            today=TODAY,
        )
    assert "closed" in err.value.message_dict["period_start"][0]
    assert TurnoverReport.objects.count() == 1
    # January used the report: 300,000 × 8 % = 24,000 > 100 × 60 = 6,000
    jan = selectors.lease_schedule(lease=lease, until=date(2025, 2, 1))[0]
    assert jan["lines"][0].amount == D("24000.00")


# -- renewals and move-outs --------------------------------------------------------------------


def test_renewal_is_a_linked_draft_and_expiring_leases_are_scored(tenant_a, units_a, tree):
    lease = active(tenant_a, units_a[:1], end_date=date(2025, 3, 31))
    admin = UserFactory(is_superuser=True)
    rows = selectors.leases_expiring(user=admin, as_of=date(2025, 2, 1))
    assert [r["number"] for r in rows] == ["HT-2025-001"]
    # medium tenant (5), rating A (0), at the site's market rent (0): 5; no higher market
    assert rows[0]["risk_score"] == 5
    assert rows[0]["proposed_rent_per_sqm_month"] == D("60.00")
    renewal = services.lease_renew(lease, number="HT-2025-001-R1", end_date=date(2028, 3, 31),
                                   today=TODAY)  # fmt: skip
    assert renewal.renewal_of == lease and renewal.start_date == date(2025, 4, 1)
    assert selectors.leases_expiring(user=admin, as_of=date(2025, 2, 1)) == []


def test_early_termination_settlement(tenant_a, units_a):
    # Lease from 1 Jan 2025, 100 m² at 60 (6,000 a month) + property fee 8 (800 a month);
    # penalty 2 months of rent; deposit 18,000 received.
    lease = active(tenant_a, units_a[:1], early_termination_penalty_months=D("2"))
    services.lease_deposit_receive(lease, amount=D("18000"), received_on=TODAY, today=TODAY)
    # when the tenant leaves after 15 March 2025 (the last day), having paid Q1 in full
    # (3 × 6,800 = 20,400)
    record = services.lease_terminate(
        lease, kind="early", move_out_date=date(2025, 3, 15), paid=D("20400"), today=TODAY
    )
    # then: rent Jan + Feb 12,000 + Mar 6,000 × 15/31 = 2,903.2258… → 14,903.23 (one line,
    # one period); fee 1,600 + 800 × 15/31 = 387.0967… → 1,987.10; due 16,890.33.
    # Outstanding 16,890.33 − 20,400 = −3,509.67; penalty 2 × 6,000 = 12,000.00;
    # balance −3,509.67 + 12,000 − 18,000 = −9,509.67 (a refund)
    assert record.charges_due == D("16890.33")
    assert record.outstanding == D("-3509.67")
    assert record.penalty == D("12000.00")
    assert record.balance == D("-9509.67")
    lease.refresh_from_db()
    assert (lease.status, lease.move_out_date) == ("terminated", date(2025, 3, 15))
    assert lease.lines.get().period.upper == date(2025, 3, 16)
    assert Unit.objects.get(pk=units_a[0].pk).status == "vacant"
    row = selectors.availability_of(
        selectors.units_availability(
            user=UserFactory(is_superuser=True), as_of=date(2025, 4, 15)
        ).get(pk=units_a[0].pk),
        as_of=date(2025, 4, 15),
    )
    assert row["vacancy_reason"] == "early_termination" and row["days_vacant"] == 30


def test_breach_with_forfeited_deposit_refunds_nothing(tenant_a, units_a):
    lease = active(tenant_a, units_a[:1], deposit_forfeited_on_breach=True)
    services.lease_deposit_receive(lease, amount=D("18000"), received_on=TODAY, today=TODAY)
    # Jan paid: due 6,800, paid 6,800; no penalty months; deposit 18,000 would refund, but
    # is forfeited: balance 0
    record = services.lease_terminate(
        lease, kind="breach", move_out_date=date(2025, 1, 31), paid=D("6800"), today=TODAY
    )
    assert record.charges_due == D("6800.00") and record.balance == D("0")


def test_move_out_outside_the_term_changes_nothing(tenant_a, units_a):
    lease = active(tenant_a, units_a[:1])
    with pytest.raises(ValidationError) as err:
        services.lease_terminate(lease, kind="early", move_out_date=date(2029, 1, 1),
                                 paid=D("0"), today=TODAY)  # fmt: skip
    assert "move_out_date" in err.value.message_dict
    assert Lease.objects.get(pk=lease.pk).status == "active"


def test_expiry_frees_the_unit_with_a_reason(tenant_a, units_a):
    lease = active(tenant_a, units_a[:1], end_date=date(2025, 6, 30))
    assert services.leases_expire_due(today=date(2025, 7, 1)) == 1
    lease.refresh_from_db()
    assert lease.status == "expired"
    assert Unit.objects.get(pk=units_a[0].pk).status == "vacant"
    assert units_a[0].listing.vacancy_reason == "lease_expired"


def test_daily_rent_refresh_follows_escalation_and_steps(tenant_a, units_a):
    # given a 60 元/m²/month lease escalating +5 % every 12 months from 1 Jan 2025
    escalating = active(tenant_a, units_a[:1], escalation_rate=D("0.05"),
                        escalation_every_months=12)  # fmt: skip
    # and a stepped lease on another unit: 50 then 70 from 1 July 2025
    stepped = active(tenant_a, units_a[1:2], number="HT-2025-002", steps=[
        {"start_date": date(2025, 1, 1), "price": D("50"), "basis": "sqm_month"},
        {"start_date": date(2025, 7, 1), "price": D("70"), "basis": "sqm_month"},
    ])  # fmt: skip
    # and a flat lease that never moves
    flat = active(tenant_a, units_a[2:3], number="HT-2025-003")

    def per(lease):
        return LeaseUnit.objects.get(lease=lease, current=True).rent_per_sqm_month

    assert (per(escalating), per(stepped), per(flat)) == (D("60"), D("50"), D("60"))
    # when the daily job runs within the first year, nothing moves
    assert services.leases_rents_refresh(today=date(2025, 6, 30)) == 0
    # when it runs on 2 January 2026: 60 × 1.05 = 63.0000, and the step of July is 70
    assert services.leases_rents_refresh(today=date(2026, 1, 2)) == 2
    assert (per(escalating), per(stepped), per(flat)) == (D("63"), D("70"), D("60"))
    # a rerun the same day changes nothing
    assert services.leases_rents_refresh(today=date(2026, 1, 2)) == 0
    # two anniversaries on: 60 × 1.05² = 66.15
    services.leases_rents_refresh(today=date(2027, 1, 1))
    assert per(escalating) == D("66.15")


# -- dashboards --------------------------------------------------------------------------------


def test_occupancy_wale_and_expiries(tenant_a, units_a):
    active(tenant_a, units_a[:2], end_date=date(2026, 12, 31))
    admin = UserFactory(is_superuser=True)
    as_of = date(2025, 1, 1)
    # 2 of 3 units of 100 m² leased
    [row] = selectors.occupancy(user=admin, as_of=as_of, by="site")
    assert (row["leased_area"], row["leasable_area"]) == (D("200.00"), D("300.00"))
    assert row["occupancy_by_area"] == D("0.6667") and row["occupancy_by_count"] == D("0.6667")
    # WALE: 730 days left / 365 = 2.00 years, by rent and by area
    [w] = selectors.wale(user=admin, as_of=as_of, by="all")
    assert (w["wale_by_area"], w["wale_by_rent"]) == (D("2.00"), D("2.00"))
    [month] = selectors.lease_expiries_by_month(user=admin, as_of=as_of)
    assert month == {
        "month": "2026-12",
        "leases": 1,
        "area": D("200"),
        "monthly_rent": D("12000.00"),
    }
    # vacancy loss of the third unit: 100 m² × 60 × 12/365 × 365 days (never leased, a year)
    [loss] = selectors.vacancy_loss(user=admin, as_of=as_of, by="all")
    assert loss["vacancy_loss"] == D("72000.00")


# -- API ---------------------------------------------------------------------------------------


def lease_payload(tenant, unit, **kw):
    payload = {
        "number": "HT-API-1", "tenant": tenant.pk, "use": "office", "start_date": "2025-01-01",
        "end_date": "2026-12-31", "units": [{"unit": unit.pk, "area": "100"}],
        "steps": [{"start_date": "2025-01-01", "price": "60", "basis": "sqm_month"}],
        "payment_cycle": 3,
    }  # fmt: skip
    payload.update(kw)
    return payload


def test_api_lease_create_is_scoped(api, tree, agent_a, manager_b, tenant_a, units_a, unit_b):
    url = "/api/leasing/leases/"
    # anonymous
    assert api().post(url, lease_payload(tenant_a, units_a[0]), format="json").status_code in (
        401,
        403,
    )
    # a role that may not write leases
    r = api(manager_b).post(url, lease_payload(tenant_a, units_a[0]), format="json")
    assert r.status_code == 403
    # wrong company: the tenant and unit are invisible to an agent of B → 400 naming the field
    agent_b = UserFactory()
    Membership.objects.create(user=agent_b, company=tree.sub_b, role=Role.LEASING_AGENT)
    r = api(agent_b).post(url, lease_payload(tenant_a, units_a[0]), format="json")
    assert r.status_code == 400 and "tenant" in r.json() and "units" in r.json()
    assert Lease.objects.count() == 0
    # a unit the agent cannot see
    r = api(agent_a).post(url, lease_payload(tenant_a, unit_b), format="json")
    assert r.status_code == 400 and "units" in r.json()
    # allowed
    r = api(agent_a).post(url, lease_payload(tenant_a, units_a[0]), format="json")
    assert r.status_code == 201, r.json()
    lease_id = r.json()["id"]
    assert api(manager_b).get(f"{url}{lease_id}/").status_code == 404
    for step in ("submit", "approve"):
        assert api(agent_a).post(f"{url}{lease_id}/{step}/").status_code == 200
    sched = api(agent_a).get(f"{url}{lease_id}/schedule/?until=2025-04-01").json()
    assert sched[0]["lines"][0]["amount"] == "18000.00"


def test_api_negative_price_names_the_field(api, agent_a, tenant_a, units_a):
    payload = lease_payload(tenant_a, units_a[0], steps=[
        {"start_date": "2025-01-01", "price": "-5", "basis": "sqm_month"}])  # fmt: skip
    r = api(agent_a).post("/api/leasing/leases/", payload, format="json")
    assert r.status_code == 400 and "steps" in r.json()
    assert Lease.objects.count() == 0


def test_api_readonly_cannot_approve(api, tree, readonly_a, tenant_a, units_a):
    lease = draft(tenant_a, units_a[:1])
    services.lease_submit(lease, today=TODAY)
    r = api(readonly_a).post(f"/api/leasing/leases/{lease.pk}/approve/")
    assert r.status_code == 403
    assert Lease.objects.get(pk=lease.pk).status == "submitted"


def test_api_masks_phone_and_id_for_roles_without_need(api, tree, agent_a, readonly_a):
    person = services.tenant_create(company=tree.sub_a, kind="individual", name="张三",
                                    id_number=RIC, phone="13812341234")  # fmt: skip
    full = api(agent_a).get(f"/api/leasing/tenants/{person.pk}/").json()
    masked = api(readonly_a).get(f"/api/leasing/tenants/{person.pk}/").json()
    assert (full["phone"], full["id_number"]) == ("13812341234", RIC)
    assert (masked["phone"], masked["id_number"]) == ("138****1234", "110105********002X")


def test_api_tenants_scoped(api, tree, manager_b, tenant_a, django_assert_max_num_queries):
    assert api().get("/api/leasing/tenants/").status_code in (401, 403)
    assert api(manager_b).get("/api/leasing/tenants/").json()["count"] == 0
    user = UserFactory()
    Membership.objects.create(user=user, company=tree.group, role=Role.FINANCE)
    with django_assert_max_num_queries(8):
        assert api(user).get("/api/leasing/tenants/").json()["count"] == 1


def test_api_stats_are_scoped(api, tree, agent_a, manager_b, tenant_a, units_a):
    active(tenant_a, units_a[:1])
    for name in ("occupancy", "wale", "expiries", "vacancy-loss", "unit-rents", "renewals"):
        url = f"/api/leasing/stats/{name}/?as_of=2025-02-01"
        assert api().get(url).status_code in (401, 403)
        assert api(manager_b).get(url).json() in ([], [{"id": None}]) or name == "wale"
        assert api(agent_a).get(url).status_code == 200
    rows = api(agent_a).get("/api/leasing/stats/occupancy/?as_of=2025-02-01").json()
    assert rows[0]["leased_units"] == 1
    avail = api(agent_a).get(
        f"/api/leasing/stats/availability/?site={units_a[0].site_id}&as_of=2025-02-01"
    )
    assert {r["availability"] for r in avail.json()} == {"leased", "vacant"}
