"""Live tracking in a real headless Chromium: a real `track_ingest` worker against the test
database and the real Mosquitto broker; a device leaves its fence and the map's alert panel
shows the alert (toast and list) without a reload, the device's marker moves, and the alert is
acknowledged from the map. Fails on a request to another host or a console error."""

import time
from datetime import UTC, datetime

import pytest

from tests.browser.conftest import log_in, shows_text
from tests.factories import PASSWORD, offset, rect
from tests.tracking_support import (  # noqa: F401 - clean_history is an autouse fixture
    Publisher,
    WorkerProcess,
    clean_history,
    unique_root,
    wait_for,
)
from tracking import services
from tracking.choices import DeviceKind, GeofenceKind, Level, RuleKind
from tracking.models import Alert

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CORNER = (117.2005, 31.8005)
INSIDE = offset(*CORNER, 100, 100)
OUTSIDE = offset(*CORNER, 500, 100)


@pytest.fixture
def fenced(tree):
    device = services.device_create(company=tree.sub_a, code="TRK-LIVE", kind=DeviceKind.GNSS)
    fence = services.geofence_save(
        company=tree.sub_a, name="场站", kind=GeofenceKind.POLYGON, geom=rect(*CORNER, 200, 200)
    )
    rule = services.rule_save(
        company=tree.sub_a, name="车辆不得离开场站", kind=RuleKind.EXIT, level=Level.CRITICAL,
        geofence=fence, devices=[device], debounce_points=2,
    )  # fmt: skip
    return device, rule


def test_an_alert_appears_when_a_device_crosses_its_fence(
    tree, fenced, field_a, live_server, watched
):
    # given: a worker, and the map open over the yard with an empty alert panel
    device, rule = fenced
    root = unique_root()
    worker = WorkerProcess(root, client_id=f"{root}-w1")
    publisher = Publisher(root, tree.sub_a.code)
    page = watched.page
    try:
        log_in(page, live_server.url, field_a.username, PASSWORD)
        page.goto(f"{live_server.url}/map/?at={INSIDE[0]},{INSIDE[1]},16")
        page.wait_for_function("(GeoMap.stats.alertPolls || 0) >= 1")
        page.wait_for_function("(GeoMap.stats.features.geofences || 0) >= 1")
        assert page.locator("#alerts-list li[data-alert]").count() == 0
        # when: the device reports inside, then leaves the fence
        start = time.time() - 300
        for i, where in enumerate([INSIDE] * 3 + [OUTSIDE] * 3):
            publisher.send(device.code, "position", {"ts": start + 30 * i, "lon": where[0],
                                                     "lat": where[1], "speed": 20})  # fmt: skip
        assert wait_for("SELECT count(*) FROM tracking_alert WHERE rule_id = %s", [rule.pk], 1) == 1
        # then: the panel shows it, with a toast, without reloading the page
        page.wait_for_selector(".toast[data-alert]", timeout=20_000)
        item = page.locator("#alerts-list li[data-alert]")
        assert item.count() == 1
        assert "车辆不得离开场站" in item.inner_text()
        # and the device's marker has moved to its last fix, outside the fence
        page.wait_for_function(
            f"""(() => {{
                const m = GeoMap.layers.positions.getLayers()[0];
                return m && Math.abs(m.getLatLng().lng - {OUTSIDE[0]}) < 1e-6;
            }})()"""
        )
        # when: the alert is clicked, the map goes to it
        page.click("#alerts-list .alert-zoom")
        centre = page.evaluate("[GeoMap.map.getCenter().lng, GeoMap.map.getCenter().lat]")
        assert abs(centre[0] - OUTSIDE[0]) < 1e-4 and abs(centre[1] - OUTSIDE[1]) < 1e-4
        # when: it is acknowledged from the panel
        with page.expect_response("**/acknowledge/") as answer:
            page.click("#alerts-list button.acknowledge")
        # then
        assert answer.value.status == 200
        page.wait_for_selector("#alerts-list li[data-status=acknowledged] .done")
    finally:
        publisher.close()
        output = worker.stop()
    alert = Alert.objects.get(rule=rule)
    assert alert.status == "acknowledged", output
    assert alert.acknowledged_by_id == field_a.pk
    watched.assert_clean()


def test_alerts_page_closes_an_alert_only_with_a_note(tree, fenced, field_a, live_server, watched):
    # given: an open alert
    device, rule = fenced
    now = datetime.now(UTC)
    alert_id, _ = services.alert_raise(
        rule_id=rule.pk, company_id=tree.sub_a.pk, level=Level.CRITICAL, subject=device.code,
        message="离开场站", triggered_at=now, now=now, device_id=device.pk,
    )  # fmt: skip
    page = watched.page
    log_in(page, live_server.url, field_a.username, PASSWORD)
    page.goto(f"{live_server.url}/alerts/?status=open")
    row = page.locator(f"#list-table tr[data-id='{alert_id}']")
    # when: closed without a note
    with page.expect_response("**/close/") as answer:
        row.locator("button[data-action=close]").click()
    # then: refused, the reason shown, the alert still open
    assert answer.value.status == 400
    shows_text(page.locator("#alert-error"))
    assert Alert.objects.get(pk=alert_id).status == "open"
    # when: closed with a note
    row.locator("input[name=note]").fill("已找回车辆")
    with page.expect_navigation():
        row.locator("button[data-action=close]").click()
    # then
    alert = Alert.objects.get(pk=alert_id)
    assert (alert.status, alert.note) == ("closed", "已找回车辆")
    assert page.locator(f"#list-table tr[data-id='{alert_id}']").count() == 0
    watched.errors = [e for e in watched.errors if "400" not in e]
    watched.assert_clean()
