"""The map-first pages through the Django test client: signed-in users get them, anonymous
users are sent to log in, rows of another subsidiary are a 404, lists export to XLSX."""

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook

from leasing.models import Lease
from tests.web_portfolio import portfolio_build


@pytest.fixture
def pf(tree):
    return portfolio_build(tree)


def _pages(pf) -> list[str]:
    return [
        "/map/",
        f"/buildings/{pf.building.pk}/floors/",
        f"/buildings/{pf.building.pk}/floors/?floor={pf.floor.pk}",
        f"/leases/new/?units={pf.vacant.pk},{pf.vacant2.pk}",
        f"/leases/{pf.lease.pk}/",
        f"/tenants/{pf.tenant.pk}/",
        f"/assets/{pf.asset.pk}/",
        "/cockpit/",
        "/imports/",
        "/lists/assets/",
        "/lists/leases/",
        "/lists/tenants/",
        "/lists/bills/",
        "/lists/receipts/",
        "/alerts/",
    ]


def test_every_page_renders_for_a_signed_in_user(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    for path in _pages(pf):
        # when
        response = client.get(path)
        # then
        assert response.status_code == 200, path
        html = response.content.decode()
        assert '<html lang="zh-hans">' in html, path
        assert re.findall(r"""(?:src|href)\s*=\s*["']https?://""", html) == [], path


def test_every_page_sends_anonymous_users_to_log_in(pf, client):
    for path in _pages(pf):
        # when
        response = client.get(path)
        # then
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/?next="), path


def test_pages_are_in_english_under_en(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get("/en/map/")
    # then
    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()


@pytest.mark.parametrize("kind", ["asset", "lease", "tenant", "building"])
def test_rows_of_another_subsidiary_are_not_found(pf, manager_b, client, kind):
    # given: manager_b works in subsidiary B; everything in pf but unit_b is A's
    client.force_login(manager_b)
    path = {
        "asset": f"/assets/{pf.asset.pk}/",
        "lease": f"/leases/{pf.lease.pk}/",
        "tenant": f"/tenants/{pf.tenant.pk}/",
        "building": f"/buildings/{pf.building.pk}/floors/",
    }[kind]
    # when
    response = client.get(path)
    # then
    assert response.status_code == 404


def test_asset_page_shows_documents_tags_history_and_position(pf, manager_a, client):
    # given
    from tests.factories import AssetTagFactory, DocumentFactory

    DocumentFactory(target=pf.asset, title="不动产权证-测试")
    AssetTagFactory(asset=pf.asset, value="6901234999999")
    client.force_login(manager_a)
    # when
    response = client.get(f"/en/assets/{pf.asset.pk}/")
    # then
    html = response.content.decode()
    assert "不动产权证-测试" in html
    assert re.search(r'href="/api/documents/\d+/download/"', html)
    assert "6901234999999" in html
    assert "created" in html  # the history's first record
    assert response.context["point"] == [pf.asset.geom.x, pf.asset.geom.y]


def test_lease_draft_form_is_prefilled_with_the_picked_units(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(f"/en/leases/new/?units={pf.vacant.pk},{pf.vacant2.pk}")
    # then
    assert [u.pk for u in response.context["units"]] == [pf.vacant.pk, pf.vacant2.pk]
    assert response.context["company"] == pf.vacant.company
    assert response.context["may_write"] is True
    assert [t.pk for t in response.context["tenants"]] == [pf.tenant.pk]
    assert str(response.context["total_area"]) == "200.00"
    html = response.content.decode()
    assert f'name="area-{pf.vacant.pk}"' in html


def test_lease_draft_form_ignores_units_of_another_subsidiary(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(f"/en/leases/new/?units={pf.unit_b.pk}")
    # then
    assert response.status_code == 200
    assert response.context["units"] == []
    assert response.context["missing"] == [pf.unit_b.pk]


def test_lease_draft_form_refuses_ids_that_are_not_numbers(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get("/en/leases/new/?units=1,abc")
    # then
    assert response.status_code == 404


def test_lease_page_shows_the_rent_schedule_and_a_bills_hook(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(f"/en/leases/{pf.lease.pk}/")
    # then
    html = response.content.decode()
    assert response.context["schedule"][0]["lines"][0].amount > 0
    assert len(response.context["schedule"]) == 12  # three years, quarterly
    assert 'id="bills"' in html
    assert "HT-WEB-001" in html


def test_cockpit_lists_its_widgets(pf, agent_a, client):
    # given
    client.force_login(agent_a)
    # when
    response = client.get("/en/cockpit/")
    # then
    html = response.content.decode()
    for widget in ("kpis", "occupancy_by_company", "expiries_by_month", "vacancy_loss_by_site"):
        assert f'data-widget="{widget}"' in html


# -- lists and XLSX ----------------------------------------------------------------------------


def _sheet(response) -> list[tuple]:
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = load_workbook(BytesIO(response.content), read_only=True)
    return list(workbook.active.iter_rows(values_only=True))


def test_asset_list_exports_the_users_rows_to_xlsx(pf, manager_a, client):
    # given
    client.force_login(manager_a)
    # when
    response = client.get("/en/lists/assets/?format=xlsx")
    # then
    rows = _sheet(response)
    assert rows[0][:3] == ("Code", "Name", "Category")
    assert [r[0] for r in rows[1:]] == ["A-WEB-1"]  # not B's asset
    assert rows[1][1] == "配电柜"
    assert rows[1][3] == "Idle"
    assert rows[1][7] == 1000
    assert 'attachment; filename="assets-' in response["Content-Disposition"]


def test_lease_list_export_follows_the_filters(pf, group_admin, client):
    # given: one active lease, one draft
    from leasing import services as leasing_services
    from tests.web_portfolio import LEASE_START

    leasing_services.lease_create(
        today=LEASE_START, number="HT-WEB-DRAFT", tenant=pf.tenant, use="office",
        start_date=LEASE_START, end_date=LEASE_START.replace(year=2026),
        units=[{"unit": pf.vacant}],
        steps=[{"start_date": LEASE_START, "price": 50, "basis": "sqm_month"}],
    )  # fmt: skip
    client.force_login(group_admin)
    # when
    everything = _sheet(client.get("/en/lists/leases/?format=xlsx"))
    drafts = _sheet(client.get("/en/lists/leases/?format=xlsx&status=draft"))
    # then
    assert sorted(r[0] for r in everything[1:]) == ["HT-WEB-001", "HT-WEB-DRAFT"]
    assert [r[0] for r in drafts[1:]] == ["HT-WEB-DRAFT"]
    assert Lease.objects.count() == 2


def test_list_page_searches_and_pages(pf, manager_a, client):
    # given
    client.force_login(manager_a)
    # when
    found = client.get("/en/lists/assets/?q=配电")
    missed = client.get("/en/lists/assets/?q=nothing-like-this")
    # then
    assert [row[0][0] for row in found.context["table"]] == ["A-WEB-1"]
    assert found.context["table"][0][0][1] == f"/en/assets/{pf.asset.pk}/"
    assert missed.context["table"] == []
    assert "format=xlsx" in found.context["export_query"]


def test_unknown_list_is_not_found(pf, manager_a, client):
    # given
    client.force_login(manager_a)
    # when
    response = client.get("/en/lists/nothing/")
    # then
    assert response.status_code == 404
