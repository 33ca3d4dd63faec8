"""Tracking on the web pages: the map's geofence and live-position layers and alerts panel
config, the alerts list (filters, who gets the buttons, XLSX export), the alerts-by-level
widget, and the imports page (every registered layer, IFC jobs with their progress)."""

import json
from datetime import UTC, datetime
from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.factories import rect
from tracking import services
from tracking.choices import DeviceKind, GeofenceKind, Level, RuleKind
from tracking.models import Alert

CORNER = (117.2005, 31.8005)
NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


@pytest.fixture
def alerts(tree):
    """In A: a tracker, a yard fence, an exit rule and three alerts (critical open,
    warning open, info closed); in B: one critical open alert."""
    device = services.device_create(company=tree.sub_a, code="TRK-W1", kind=DeviceKind.GNSS)
    fence = services.geofence_save(
        company=tree.sub_a, name="场站", kind=GeofenceKind.POLYGON, geom=rect(*CORNER, 200, 200)
    )
    rule = services.rule_save(
        company=tree.sub_a, name="车辆不得离开场站", kind=RuleKind.EXIT, level=Level.CRITICAL,
        geofence=fence, devices=[device],
    )  # fmt: skip
    made = {}
    for subject, level in (("TRK-W1", Level.CRITICAL), ("TRK-W2", Level.WARNING),
                           ("TRK-W3", Level.INFO)):  # fmt: skip
        made[subject], _ = services.alert_raise(
            rule_id=rule.pk, company_id=tree.sub_a.pk, level=level, subject=subject,
            message=f"{subject} 离开场站", triggered_at=NOW, now=NOW, device_id=device.pk,
            lon=CORNER[0], lat=CORNER[1],
        )  # fmt: skip
    services.alert_close(Alert.objects.get(pk=made["TRK-W3"]), user=None, now=NOW, note="已处理")
    device_b = services.device_create(company=tree.sub_b, code="TRK-B1", kind=DeviceKind.GNSS)
    rule_b = services.rule_save(
        company=tree.sub_b, name="B规则", kind=RuleKind.OFFLINE, level=Level.CRITICAL, minutes=5,
        devices=[device_b],
    )  # fmt: skip
    made["B"], _ = services.alert_raise(
        rule_id=rule_b.pk, company_id=tree.sub_b.pk, level=Level.CRITICAL, subject="TRK-B1",
        message="离线", triggered_at=NOW, now=NOW, device_id=device_b.pk,
    )  # fmt: skip
    return made


# -- the map -----------------------------------------------------------------------------------


def _map_config(client) -> dict:
    html = client.get("/en/map/").content.decode()
    start = html.index('<script id="map-config" type="application/json">')
    body = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return json.loads(body)


def test_map_has_geofence_and_live_position_layers_and_the_alerts_panel(tree, field_a, client):
    # given
    client.force_login(field_a)
    # when
    config = _map_config(client)
    html = client.get("/en/map/").content.decode()
    # then
    layers = {layer["id"]: layer for layer in config["layers"]}
    assert layers["geofences"]["source"].startswith("/api/tracking/geofences/")
    assert layers["positions"]["source"] == "/api/tracking/positions/"
    assert layers["positions"]["refresh_seconds"] == 5
    assert config["extras"]["alerts"]["mayChange"] == {"all": False, "ids": [tree.sub_a.pk,
                                                        tree.project_a.pk]}  # fmt: skip
    assert "status=open" in config["extras"]["alerts"]["alertsUrl"]
    assert 'id="alerts-panel"' in html
    assert "web/livemap.js" in html


def test_a_read_only_user_gets_no_acknowledge_rights_on_the_map(tree, readonly_a, client):
    # given
    client.force_login(readonly_a)
    # when
    config = _map_config(client)
    # then
    assert config["extras"]["alerts"]["mayChange"] == {"all": False, "ids": []}


def test_layers_are_registered_once(tree):
    # given
    from web import alerts, maplayers

    # when: registered again (ready() running twice in a test process)
    alerts.register()
    # then
    ids = [layer.id for layer in maplayers.LAYERS]
    assert ids.count("positions") == 1 and ids.count("geofences") == 1
    assert ids.index("positions") < ids.index("candidates")


# -- the alerts list ---------------------------------------------------------------------------


def test_alerts_list_filters_by_level_and_status_and_is_scoped(alerts, field_a, client):
    # given
    client.force_login(field_a)
    # when
    every = client.get("/en/alerts/")
    critical = client.get("/en/alerts/?level=critical")
    closed = client.get("/en/alerts/?status=closed")
    # then: A's three, never B's
    assert sorted(row[4][0] for row in every.context["table"]) == ["TRK-W1", "TRK-W2", "TRK-W3"]
    assert [row[4][0] for row in critical.context["table"]] == ["TRK-W1"]
    assert [row[4][0] for row in closed.context["table"]] == ["TRK-W3"]


def test_alerts_list_offers_acknowledge_and_close_only_to_those_who_may(
    alerts, field_a, readonly_a, client
):
    # given
    client.force_login(field_a)
    # when
    html = client.get("/en/alerts/").content.decode()
    # then: two open alerts, each with acknowledge and close; the closed one with neither
    assert html.count('data-action="acknowledge"') == 2
    assert html.count('data-action="close"') == 2
    # when a read-only user looks
    client.force_login(readonly_a)
    html = client.get("/en/alerts/").content.decode()
    # then
    assert 'data-action="acknowledge"' not in html


def test_alerts_list_exports_to_xlsx(alerts, field_a, client):
    # given
    client.force_login(field_a)
    # when
    response = client.get("/en/alerts/?format=xlsx&status=open")
    # then
    rows = list(load_workbook(BytesIO(response.content), read_only=True).active.iter_rows(
        values_only=True))  # fmt: skip
    assert rows[0][:5] == ("Opened at", "Level", "Status", "Rule", "Subject")
    assert sorted((r[1], r[4]) for r in rows[1:]) == [("Critical", "TRK-W1"), ("Warning", "TRK-W2")]
    assert isinstance(rows[1][0], datetime)
    assert 'filename="alerts-' in response["Content-Disposition"]


def test_alerts_page_needs_a_login(db, client):
    response = client.get("/alerts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_acknowledge_from_the_page_is_refused_for_a_read_only_user(
    alerts, readonly_a, field_a, api
):
    # when: what the page's button posts
    url = f"/api/tracking/alerts/{alerts['TRK-W1']}/acknowledge/"
    refused = api(readonly_a).post(url, {"note": ""}, format="json")
    # then
    assert refused.status_code == 403
    assert Alert.objects.get(pk=alerts["TRK-W1"]).status == "open"
    # when field staff do it
    done = api(field_a).post(url, {"note": ""}, format="json")
    # then
    assert done.status_code == 200
    assert Alert.objects.get(pk=alerts["TRK-W1"]).status == "acknowledged"


# -- the cockpit -------------------------------------------------------------------------------


def test_alerts_by_level_counts_alerts_not_closed(alerts, field_a, group_admin, tree, api):
    # when
    mine = api(field_a).get("/api/web/cockpit/alerts_by_level/").json()
    everyone = api(group_admin).get("/api/web/cockpit/alerts_by_level/").json()
    only_b = api(group_admin).get(f"/api/web/cockpit/alerts_by_level/?company={tree.sub_b.pk}")
    # then
    assert mine["kind"] == "pie"
    assert {s["level"]: s["value"] for s in mine["series"]} == {
        "info": 0, "warning": 1, "critical": 1}  # fmt: skip
    assert {s["level"]: s["value"] for s in everyone["series"]}["critical"] == 2
    assert {s["level"]: s["value"] for s in only_b.json()["series"]} == {
        "info": 0, "warning": 0, "critical": 1}  # fmt: skip


# -- imports -----------------------------------------------------------------------------------


def test_imports_page_lists_every_registered_layer_and_ifc_jobs(tree, manager_a, client):
    # given: an IFC job under way
    from bim.models import IfcImport
    from tests.factories import SiteFactory

    site = SiteFactory(company=tree.sub_a)
    job = IfcImport.objects.create(
        company=tree.sub_a,
        site=site,
        original_name="科创中心.ifc",
        status="running",
        progress=40,
        size=10,
        sha256="0" * 64,
        file="ifc/x.ifc",
    )
    client.force_login(manager_a)
    # when
    response = client.get("/en/imports/")
    # then
    html = response.content.decode()
    assert "assets" in response.context["layers"]
    assert "units" in response.context["layers"]
    assert '<option value="assets">' in html
    assert f'data-job="{job.pk}" data-status="running"' in html
    assert 'value="40"' in html
