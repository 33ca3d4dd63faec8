"""The leasing API over HTTP: turnover reports, unit listings and the lease actions
amend, renew, terminate, deposit and settlement-preview; the lease list's query count.

Every endpoint: anonymous, another subsidiary, read-only in the same company, allowed.
"""

from datetime import date
from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from leasing import services
from leasing.models import Lease, LeaseEvent, LeaseSettlement, TurnoverReport, UnitListing
from spatial.choices import Role
from spatial.models import Membership, Unit
from tests.factories import FloorFactory, UnitFactory, UserFactory

USCC = "91340100MA4JURQ20P"
TODAY = date(2025, 1, 1)
EN = {"Accept-Language": "en"}
LEASES = "/api/leasing/leases/"
TURNOVER = "/api/leasing/turnover-reports/"
LISTINGS = "/api/leasing/unit-listings/"


# -- fixtures and builders ---------------------------------------------------------------------


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


@pytest.fixture
def agent_b(tree):
    """A leasing agent of the other subsidiary: may write leases, but not A's."""
    user = UserFactory(username="agent_b")
    Membership.objects.create(user=user, company=tree.sub_b, role=Role.LEASING_AGENT)
    return user


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


def active(tenant, units, **kw):
    lease = draft(tenant, units, **kw)
    services.lease_submit(lease, today=TODAY)
    services.lease_approve(lease, today=TODAY)
    return services.lease_activate(lease, today=TODAY)


def state(lease):
    """Everything the lease actions may change, read afresh from the database."""
    row = Lease.objects.get(pk=lease.pk)
    return {
        "status": row.status,
        "end_date": row.end_date,
        "move_out_date": row.move_out_date,
        "termination_kind": row.termination_kind,
        "closed_through": row.closed_through,
        "deposit_received": row.deposit_received,
        "deposit_received_on": row.deposit_received_on,
        "versions": list(row.versions.values_list("number", "effective_from")),
        "events": list(row.events.values_list("kind", flat=True)),
        "leases": Lease.objects.count(),
        "settlements": LeaseSettlement.objects.count(),
        "unit_statuses": sorted(Unit.objects.values_list("pk", "status")),
    }


@pytest.fixture
def lease_a(tenant_a, units_a):
    """Active from 1 Jan 2025 to 31 Dec 2027 on unit 0: 100 m² at 60 + property fee 8,
    quarterly, deposit 18,000 (none received), early termination costs 2 months' rent."""
    return active(tenant_a, units_a[:1], early_termination_penalty_months=D("2"))


def refused(api, user, url, payload, lease, status):
    before = state(lease)
    r = api(user).post(url, payload, format="json")
    assert r.status_code == status, r.content
    assert state(lease) == before
    return r


# -- lease list --------------------------------------------------------------------------------


def test_lease_list_is_scoped_to_the_users_companies(api, agent_a, agent_b, readonly_a, lease_a):
    # given an active lease of subsidiary A
    # when anonymous, an agent of B, read-only of A and an agent of A list leases
    anonymous = api().get(LEASES)
    other = api(agent_b).get(LEASES)
    readonly = api(readonly_a).get(LEASES)
    allowed = api(agent_a).get(LEASES)
    # then only A's users see it
    assert anonymous.status_code == 403
    assert (other.status_code, other.json()["count"], other.json()["results"]) == (200, 0, [])
    assert [r["number"] for r in readonly.json()["results"]] == ["HT-2025-001"]
    assert [(r["id"], r["number"], r["status"]) for r in allowed.json()["results"]] == [
        (lease_a.pk, "HT-2025-001", "active")
    ]


#: memberships; company subtree; count; leases with tenant; versions; steps; free periods;
#: charges; lines; their units.
LEASE_LIST_QUERIES = 10


def _lease_list_queries(api, agent_a, tenant_a, floor_a, django_assert_num_queries, n):
    for i in range(Lease.objects.count(), n):
        unit = UnitFactory(floor=floor_a, gross_area=D("100.00"))
        draft(tenant_a, [unit], number=f"HT-2025-{i + 1:03d}")
    # a fresh user object each time, so no membership cache carries over between calls
    user = get_user_model().objects.get(pk=agent_a.pk)
    with django_assert_num_queries(LEASE_LIST_QUERIES):
        r = api(user).get(LEASES)
    assert r.status_code == 200
    assert r.json()["count"] == n
    return r.json()["results"]


def test_lease_list_query_count_does_not_grow_with_the_leases(
    api, agent_a, tenant_a, floor_a, django_assert_num_queries
):
    # given 2 draft leases, each with a version, a step, a charge and a unit line
    # when listed, then 10 leases
    two = _lease_list_queries(api, agent_a, tenant_a, floor_a, django_assert_num_queries, 2)
    ten = _lease_list_queries(api, agent_a, tenant_a, floor_a, django_assert_num_queries, 10)
    # then both take the same number of queries, and every lease carries its current version
    assert len(two) == 2 and len(ten) == 10
    assert {r["current_version"]["number"] for r in ten} == {1}
    assert all(len(r["current_version"]["lines"]) == 1 for r in ten)


# -- amend -------------------------------------------------------------------------------------


def amend_payload(**kw):
    payload = {
        "effective_from": "2027-01-01", "reason": "租金调整",
        "steps": [{"start_date": "2025-01-01", "price": "70", "basis": "sqm_month"}],
    }  # fmt: skip
    payload.update(kw)
    return payload


def test_amend_is_refused_to_anonymous_other_company_and_read_only_changing_nothing(
    api, agent_b, readonly_a, lease_a
):
    url = f"{LEASES}{lease_a.pk}/amend/"
    refused(api, None, url, amend_payload(), lease_a, 403)
    refused(api, agent_b, url, amend_payload(), lease_a, 404)
    refused(api, readonly_a, url, amend_payload(), lease_a, 403)
    assert list(lease_a.versions.values_list("number", flat=True)) == [1]


def test_amend_by_the_agent_adds_a_version_from_the_effective_date(api, agent_a, lease_a):
    # given an active lease at 60 a m²
    # when the agent amends it to 70 a m² from 1 Jan 2027
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/amend/", amend_payload(), format="json")
    # then version 2 takes effect on that day with the new price; version 1 is kept
    assert r.status_code == 200, r.json()
    current = r.json()["current_version"]
    assert (current["number"], current["effective_from"], current["reason"]) == (
        2, "2027-01-01", "租金调整",
    )  # fmt: skip
    assert current["steps"] == [{"start_date": "2025-01-01", "price": "70.0000",
                                 "basis": "sqm_month"}]  # fmt: skip
    after = state(lease_a)
    assert after["versions"] == [(1, date(2025, 1, 1)), (2, date(2027, 1, 1))]
    assert after["status"] == "active" and after["end_date"] == date(2027, 12, 31)
    assert after["events"][-1] == "amended"
    v2 = lease_a.versions.get(number=2)
    assert (v2.created_by, list(v2.steps.values_list("price", flat=True))) == (agent_a, [D("70")])
    v1 = lease_a.versions.get(number=1)
    assert list(v1.steps.values_list("price", flat=True)) == [D("60")]
    event = LeaseEvent.objects.get(lease=lease_a, kind="amended")
    assert (event.actor, event.data) == (agent_a, {"version": 2, "effective_from": "2027-01-01"})


def test_amend_before_the_current_version_names_the_date_in_english(api, agent_a, lease_a):
    before = state(lease_a)
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/amend/",
                          amend_payload(effective_from="2024-12-01"), format="json",
                          headers=EN)  # fmt: skip
    assert r.status_code == 400
    assert r.json() == {
        "effective_from": [
            "The amendment must take effect after 2025-01-01 and by the end date 2027-12-31."
        ]
    }
    assert state(lease_a) == before


# -- renew -------------------------------------------------------------------------------------


RENEW = {"number": "HT-2025-001-R1", "end_date": "2030-12-31"}


def test_renew_is_refused_to_anonymous_other_company_and_read_only_changing_nothing(
    api, agent_b, readonly_a, lease_a
):
    url = f"{LEASES}{lease_a.pk}/renew/"
    refused(api, None, url, RENEW, lease_a, 403)
    refused(api, agent_b, url, RENEW, lease_a, 404)
    refused(api, readonly_a, url, RENEW, lease_a, 403)
    assert not Lease.objects.filter(renewal_of=lease_a).exists()


def test_renew_by_the_agent_creates_a_linked_draft_from_the_day_after_the_end(
    api, agent_a, lease_a, units_a
):
    # given an active lease ending 31 Dec 2027
    # when the agent renews it to 2030
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/renew/", RENEW, format="json")
    # then a draft renewal links back to it, from 1 Jan 2028, on the same unit and price
    assert r.status_code == 201, r.json()
    body = r.json()
    renewal = Lease.objects.get(renewal_of=lease_a)
    assert body["id"] == renewal.pk
    assert (body["number"], body["status"], body["renewal_of"]) == (
        "HT-2025-001-R1", "draft", lease_a.pk,
    )  # fmt: skip
    assert (body["start_date"], body["end_date"], body["deposit_amount"]) == (
        "2028-01-01", "2030-12-31", "18000.00",
    )  # fmt: skip
    assert (renewal.company, renewal.tenant) == (lease_a.company, lease_a.tenant)
    assert list(renewal.lines.values_list("unit_id", "area")) == [(units_a[0].pk, D("100.00"))]
    assert list(renewal.versions.get().steps.values_list("start_date", "price")) == [
        (date(2028, 1, 1), D("60"))
    ]
    assert Lease.objects.get(pk=lease_a.pk).status == "active"
    assert state(lease_a)["events"][-1] == "renewed"


# -- terminate ---------------------------------------------------------------------------------


TERMINATE = {"kind": "early", "move_out_date": "2025-03-15", "paid": "20400"}


def _receive_deposit(lease):
    services.lease_deposit_receive(lease, amount=D("18000"), received_on=TODAY, today=TODAY)


def test_terminate_is_refused_to_anonymous_other_company_and_read_only_changing_nothing(
    api, agent_b, readonly_a, lease_a
):
    url = f"{LEASES}{lease_a.pk}/terminate/"
    refused(api, None, url, TERMINATE, lease_a, 403)
    refused(api, agent_b, url, TERMINATE, lease_a, 404)
    refused(api, readonly_a, url, TERMINATE, lease_a, 403)
    assert Lease.objects.get(pk=lease_a.pk).status == "active"
    assert not LeaseSettlement.objects.exists()


def test_terminate_by_the_agent_ends_the_lease_and_records_the_settlement(
    api, agent_a, lease_a, units_a
):
    # given the deposit of 18,000 received and Q1 paid in full (3 × 6,800 = 20,400)
    _receive_deposit(lease_a)
    # when the tenant leaves early after 15 March 2025
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/terminate/", TERMINATE, format="json")
    # then rent 12,000 + 6,000 × 15/31 = 14,903.23, fee 1,600 + 800 × 15/31 = 1,987.10:
    # due 16,890.33; outstanding −3,509.67; penalty 2 × 6,000; balance −9,509.67 (a refund)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert {k: body[k] for k in ("kind", "move_out_date", "charges_due", "paid", "outstanding",
                                 "penalty", "deposit_offset", "balance")} == {
        "kind": "early", "move_out_date": "2025-03-15", "charges_due": "16890.33",
        "paid": "20400.00", "outstanding": "-3509.67", "penalty": "12000.00",
        "deposit_offset": "18000.00", "balance": "-9509.67",
    }  # fmt: skip
    record = LeaseSettlement.objects.get(lease=lease_a)
    assert (record.balance, record.created_by) == (D("-9509.67"), agent_a)
    after = state(lease_a)
    assert (after["status"], after["move_out_date"], after["termination_kind"]) == (
        "terminated", date(2025, 3, 15), "early",
    )  # fmt: skip
    assert after["events"][-1] == "terminated"
    assert lease_a.lines.get().period.upper == date(2025, 3, 16)
    assert Unit.objects.get(pk=units_a[0].pk).status == "vacant"
    listing = UnitListing.objects.get(unit=units_a[0])
    assert (listing.vacant_since, listing.vacancy_reason) == (date(2025, 3, 16),
                                                              "early_termination")  # fmt: skip


def test_terminate_outside_the_term_is_refused_in_english(api, agent_a, lease_a):
    before = state(lease_a)
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/terminate/",
                          {**TERMINATE, "move_out_date": "2029-01-01"}, format="json",
                          headers=EN)  # fmt: skip
    assert r.status_code == 400
    assert r.json() == {
        "move_out_date": ["The move-out date must lie within the term (2025-01-01 to 2027-12-31)."]
    }
    assert state(lease_a) == before


# -- settlement preview ------------------------------------------------------------------------


def test_settlement_preview_is_refused_to_anonymous_other_company_and_read_only_post(
    api, agent_b, readonly_a, lease_a
):
    # A POST preview is treated as a write, so read-only gets 403 there.
    url = f"{LEASES}{lease_a.pk}/settlement-preview/"
    refused(api, None, url, TERMINATE, lease_a, 403)
    refused(api, agent_b, url, TERMINATE, lease_a, 404)
    refused(api, readonly_a, url, TERMINATE, lease_a, 403)


def test_settlement_preview_by_get_is_open_to_read_only_and_scoped(
    api, agent_b, readonly_a, lease_a
):
    # given the deposit received
    _receive_deposit(lease_a)
    before = state(lease_a)
    url = f"{LEASES}{lease_a.pk}/settlement-preview/"
    # when a read-only user of the landlord previews by GET
    r = api(readonly_a).get(url, TERMINATE)
    # then the figures are the POST preview's, and nothing changes
    assert r.status_code == 200, r.json()
    assert (r.json()["balance"], r.json()["penalty"]) == ("-9509.67", "12000.00")
    assert state(lease_a) == before
    # another company's user does not see the lease; a bad date names its field
    assert api(agent_b).get(url, TERMINATE).status_code == 404
    bad = api(readonly_a).get(url, {**TERMINATE, "move_out_date": "2025-02-30"})
    assert bad.status_code == 400 and "move_out_date" in bad.json()


def test_settlement_preview_shows_the_figures_and_changes_nothing(api, agent_a, lease_a):
    # given the deposit received
    _receive_deposit(lease_a)
    before = state(lease_a)
    # when the agent previews an early move-out after 15 March 2025
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/settlement-preview/", TERMINATE, format="json")
    # then the figures are those a termination would record, and the lease is untouched
    assert r.status_code == 200, r.json()
    body = r.json()
    assert {k: body[k] for k in ("kind", "move_out_date", "charges_due", "paid", "outstanding",
                                 "penalty", "deposit_offset", "balance")} == {
        "kind": "early", "move_out_date": "2025-03-15", "charges_due": "16890.33",
        "paid": "20400.00", "outstanding": "-3509.67", "penalty": "12000.00",
        "deposit_offset": "18000.00", "balance": "-9509.67",
    }  # fmt: skip
    assert body["lines"] == [
        {"item": "property_fee", "amount": "1987.10"},
        {"item": "rent", "amount": "14903.23"},
        {"item": "paid", "amount": "-20400.00"},
        {"item": "penalty", "amount": "12000.00", "months": "2.00", "monthly_rent": "6000.00"},
        {"item": "deposit", "amount": "-18000.00"},
    ]
    assert state(lease_a) == before


# -- deposit -----------------------------------------------------------------------------------


DEPOSIT = {"amount": "10000", "received_on": "2025-01-05"}


def test_deposit_is_refused_to_anonymous_other_company_and_read_only_changing_nothing(
    api, agent_b, readonly_a, lease_a
):
    url = f"{LEASES}{lease_a.pk}/deposit/"
    refused(api, None, url, DEPOSIT, lease_a, 403)
    refused(api, agent_b, url, DEPOSIT, lease_a, 404)
    refused(api, readonly_a, url, DEPOSIT, lease_a, 403)
    assert Lease.objects.get(pk=lease_a.pk).deposit_received == D("0")


def test_deposit_by_the_agent_records_the_receipt(api, agent_a, lease_a):
    # when the agent records 10,000 of the 18,000 deposit received on 5 January
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/deposit/", DEPOSIT, format="json")
    # then the lease shows it, with an event naming who and how much
    assert r.status_code == 200, r.json()
    assert (r.json()["deposit_received"], r.json()["deposit_received_on"]) == (
        "10000.00", "2025-01-05",
    )  # fmt: skip
    after = state(lease_a)
    assert (after["deposit_received"], after["deposit_received_on"]) == (
        D("10000.00"), date(2025, 1, 5),
    )  # fmt: skip
    event = LeaseEvent.objects.get(lease=lease_a, kind="deposit_received")
    assert (event.actor, event.on, event.data) == (
        agent_a, timezone.localdate(), {"amount": "10000.00"},
    )  # fmt: skip


def test_deposit_beyond_the_agreed_amount_is_refused_in_english(api, agent_a, lease_a):
    before = state(lease_a)
    r = api(agent_a).post(f"{LEASES}{lease_a.pk}/deposit/",
                          {**DEPOSIT, "amount": "18000.01"}, format="json",
                          headers=EN)  # fmt: skip
    assert r.status_code == 400
    assert r.json() == {"amount": ["More than the deposit of 18000.00."]}
    assert state(lease_a) == before


# -- turnover reports --------------------------------------------------------------------------


@pytest.fixture
def turnover_lease(tenant_a, units_a):
    """Active, monthly, 8 % of turnover."""
    return active(tenant_a, units_a[1:2], number="HT-2025-TO", turnover_rate=D("0.08"),
                  payment_cycle=1)  # fmt: skip


TURNOVER_REPORT = {"period_start": "2025-01-01", "period_end": "2025-02-01", "amount": "300000"}


def test_turnover_reports_list_is_scoped(api, agent_a, agent_b, readonly_a, turnover_lease):
    # given one report of A's lease
    report = services.turnover_report_create(
        lease=turnover_lease, period_start=date(2025, 1, 1), period_end=date(2025, 2, 1),
        amount=D("300000"), today=TODAY,
    )  # fmt: skip
    # then anonymous is refused, B sees none, A's users see it
    assert api().get(TURNOVER).status_code == 403
    assert api(agent_b).get(TURNOVER).json()["count"] == 0
    assert api(agent_b).get(f"{TURNOVER}{report.pk}/").status_code == 404
    assert api(readonly_a).get(TURNOVER).json()["count"] == 1
    [row] = api(agent_a).get(TURNOVER).json()["results"]
    assert row.pop("created_at")
    assert row == {
        "id": report.pk, "lease": turnover_lease.pk, "period_start": "2025-01-01",
        "period_end": "2025-02-01", "amount": "300000.00", "reported_on": "2025-01-01",
    }  # fmt: skip


def test_turnover_report_create_is_refused_to_anonymous_other_company_and_read_only(
    api, agent_b, readonly_a, turnover_lease
):
    payload = {**TURNOVER_REPORT, "lease": turnover_lease.pk}
    refused(api, None, TURNOVER, payload, turnover_lease, 403)
    # B cannot even name A's lease
    r = refused(api, agent_b, TURNOVER, payload, turnover_lease, 400)
    assert list(r.json()) == ["lease"]
    refused(api, readonly_a, TURNOVER, payload, turnover_lease, 403)
    assert not TurnoverReport.objects.exists()


def test_turnover_report_create_by_the_agent_records_it_today(api, agent_a, turnover_lease):
    # when the agent reports January's turnover
    r = api(agent_a).post(TURNOVER, {**TURNOVER_REPORT, "lease": turnover_lease.pk},
                          format="json")  # fmt: skip
    # then it is stored, reported today by the agent
    assert r.status_code == 201, r.json()
    report = TurnoverReport.objects.get()
    assert r.json()["id"] == report.pk
    assert (report.lease, report.period_start, report.period_end, report.amount) == (
        turnover_lease, date(2025, 1, 1), date(2025, 2, 1), D("300000.00"),
    )  # fmt: skip
    assert (report.reported_on, report.created_by) == (timezone.localdate(), agent_a)
    assert r.json()["reported_on"] == timezone.localdate().isoformat()


def test_turnover_report_for_a_lease_without_a_share_is_refused_in_english(api, agent_a, lease_a):
    r = api(agent_a).post(TURNOVER, {**TURNOVER_REPORT, "lease": lease_a.pk}, format="json",
                          headers=EN)  # fmt: skip
    assert r.status_code == 400
    assert r.json() == {"lease": ["This lease has no turnover share."]}
    assert not TurnoverReport.objects.exists()


# -- unit listings -----------------------------------------------------------------------------


def listing_payload(unit, **kw):
    payload = {"unit": unit.pk, "asking_rent": "65.50", "vacant_since": "2025-01-01",
               "vacancy_reason": "pricing", "note": "朝南"}  # fmt: skip
    payload.update(kw)
    return payload


def test_unit_listings_list_is_scoped(api, agent_a, agent_b, readonly_a, units_a, unit_b):
    # given a listing in A and one in B
    mine = services.unit_listing_update(unit=units_a[0], asking_rent=D("65.50"))
    theirs = services.unit_listing_update(unit=unit_b, asking_rent=D("40.00"))
    # then anonymous is refused and each company sees only its own
    assert api().get(LISTINGS).status_code == 403
    assert [r["id"] for r in api(agent_b).get(LISTINGS).json()["results"]] == [theirs.pk]
    assert [r["id"] for r in api(readonly_a).get(LISTINGS).json()["results"]] == [mine.pk]
    [row] = api(agent_a).get(LISTINGS).json()["results"]
    assert (row["id"], row["unit"], row["asking_rent"]) == (mine.pk, units_a[0].pk, "65.5000")
    assert api(agent_b).get(f"{LISTINGS}{mine.pk}/").status_code == 404


def test_unit_listing_create_is_refused_to_anonymous_other_company_and_read_only(
    api, agent_b, readonly_a, units_a
):
    payload = listing_payload(units_a[0])
    assert api().post(LISTINGS, payload, format="json").status_code == 403
    r = api(agent_b).post(LISTINGS, payload, format="json")
    assert r.status_code == 400 and list(r.json()) == ["unit"]
    assert api(readonly_a).post(LISTINGS, payload, format="json").status_code == 403
    assert not UnitListing.objects.exists()


def test_unit_listing_create_by_the_agent_stores_the_asking_rent(api, agent_a, units_a):
    # when the agent lists unit 0 at 65.50 a m², vacant since New Year for its price
    r = api(agent_a).post(LISTINGS, listing_payload(units_a[0]), format="json")
    # then the listing is stored exactly so
    assert r.status_code == 201, r.json()
    listing = UnitListing.objects.get()
    assert r.json()["id"] == listing.pk
    assert (listing.unit_id, listing.asking_rent, listing.vacant_since, listing.vacancy_reason,
            listing.note) == (units_a[0].pk, D("65.50"), date(2025, 1, 1), "pricing",
                              "朝南")  # fmt: skip
