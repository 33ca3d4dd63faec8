"""End to end with a real Mosquitto broker and real `track_ingest` worker processes."""

import time

import pytest

from tests.factories import offset, rect
from tests.tracking_support import (  # noqa: F401 - clean_history is an autouse fixture
    Publisher,
    WorkerProcess,
    clean_history,
    unique_root,
    wait_for,
)
from tracking import services
from tracking.choices import DeviceKind, GeofenceKind, Level, RuleKind
from tracking.models import Alert, DeviceState, RejectedMessage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CORNER = (117.2005, 31.8005)
INSIDE = offset(*CORNER, 100, 100)
OUTSIDE = offset(*CORNER, 500, 100)


@pytest.fixture
def fenced(tree):
    """A tracker in company A, a 200 m square yard and a must-stay-inside rule."""
    device = services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)
    fence = services.geofence_save(
        company=tree.sub_a, name="场站", kind=GeofenceKind.POLYGON, geom=rect(*CORNER, 200, 200)
    )
    rule = services.rule_save(
        company=tree.sub_a,
        name="车辆不得离开场站",
        kind=RuleKind.EXIT,
        level=Level.CRITICAL,
        geofence=fence,
        devices=[device],
        debounce_points=2,
    )
    return device, fence, rule


def _fix(t: float, where: tuple[float, float]) -> dict:
    return {"ts": t, "lon": where[0], "lat": where[1], "speed": 20}


def test_crossing_a_fence_raises_exactly_one_alert(tree, fenced):
    # given a worker and a device inside its fence
    device, fence, rule = fenced
    root = unique_root()
    worker = WorkerProcess(root, client_id=f"{root}-w1")
    publisher = Publisher(root, tree.sub_a.code)
    start = time.time() - 600
    try:
        # when it reports 3 fixes inside, then 5 outside, with a jitter back on the boundary
        track = [INSIDE] * 3 + [OUTSIDE] * 5
        for i, where in enumerate(track):
            publisher.send(device.code, "position", _fix(start + 30 * i, where))
        stored = wait_for(
            "SELECT count(*) FROM tracking_position WHERE device_id = %s", [device.pk], 8
        )
    finally:
        publisher.close()
        output = worker.stop()
    # then every fix is stored, one exit alert is open and the state is outside
    assert stored == 8, output
    alerts = list(Alert.objects.filter(rule=rule))
    assert len(alerts) == 1
    assert alerts[0].device_id == device.pk and alerts[0].level == Level.CRITICAL
    assert alerts[0].status == "open" and alerts[0].count == 1
    state = DeviceState.objects.get(device=device)
    assert state.rules[str(rule.pk)]["side"] == "out"
    assert state.inside == []
    assert state.online is True


def test_a_bad_message_is_kept_with_its_reason_and_the_good_ones_around_it_are_stored(tree, fenced):
    device, _, _ = fenced
    root = unique_root()
    worker = WorkerProcess(root, client_id=f"{root}-w1")
    publisher = Publisher(root, tree.sub_a.code)
    start = time.time() - 600
    try:
        publisher.send(device.code, "position", _fix(start, INSIDE))
        publisher.send(device.code, "position", b"{not json")
        publisher.send(device.code, "position", {"ts": start + 10, "lon": 200, "lat": 31.8})
        publisher.send(device.code, "position", {"ts": start + 20, "lat": 31.8})
        publisher.send(device.code, "position", _fix(time.time() + 86400, INSIDE))
        publisher.send("NO-SUCH-DEVICE", "position", _fix(start + 30, INSIDE))
        publisher.send(device.code, "position", _fix(start + 40, INSIDE))
        rejected = wait_for("SELECT count(*) FROM tracking_rejectedmessage", [], 5)
        stored = wait_for(
            "SELECT count(*) FROM tracking_position WHERE device_id = %s", [device.pk], 2
        )
        # the worker is still alive and keeps storing
        publisher.send(device.code, "position", _fix(start + 50, INSIDE))
        later = wait_for(
            "SELECT count(*) FROM tracking_position WHERE device_id = %s", [device.pk], 3
        )
    finally:
        publisher.close()
        output = worker.stop()
    assert (rejected, stored, later) == (5, 2, 3), output
    reasons = dict(RejectedMessage.objects.values_list("reason", "payload"))
    assert set(reasons) == {
        "malformed_json",
        "out_of_range",
        "missing_field",
        "future_timestamp",
        "unknown_device",
    }
    assert reasons["malformed_json"] == "{not json"
    assert RejectedMessage.objects.get(reason="missing_field").detail == "lon"


def test_two_workers_on_a_shared_subscription_store_every_message_once(tree, fenced):
    device, _, _ = fenced
    others = [
        services.device_create(company=tree.sub_a, code=f"TRK-{n}", kind=DeviceKind.GNSS)
        for n in range(2, 11)
    ]
    root = unique_root()
    first = WorkerProcess(root, client_id=f"{root}-w1")
    second = WorkerProcess(root, client_id=f"{root}-w2")
    publisher = Publisher(root, tree.sub_a.code)
    start = time.time() - 3000
    try:
        # 10 devices × 60 fixes, each device moving 50 m every 10 s
        for i in range(60):
            for d in [device, *others]:
                where = offset(*INSIDE, 50 * (i % 4), 0)
                publisher.send(d.code, "position", _fix(start + 10 * i, where), qos=1)
        stored = wait_for("SELECT count(*) FROM tracking_position", [], 600, timeout=30)
    finally:
        publisher.close()
        out1, out2 = first.stop(), second.stop()
    assert stored == 600, out1 + out2
    # both workers took part, and together received each message exactly once
    received = [int(o.rsplit("received=", 1)[1].split()[0]) for o in (out1, out2)]
    assert sum(received) == 600 and min(received) > 0, received
    assert RejectedMessage.objects.count() == 0
    states = DeviceState.objects.filter(device__company=tree.sub_a)
    assert {round(s.ts.timestamp(), 3) for s in states} == {round(start + 590, 3)}


def test_a_restarted_worker_resumes_without_losing_state(tree, fenced):
    # given a worker that saw the device inside its fence, then stopped
    device, _, rule = fenced
    root = unique_root()
    client_id = f"{root}-w1"
    publisher = Publisher(root, tree.sub_a.code)
    start = time.time() - 600
    worker = WorkerProcess(root, client_id=client_id)
    try:
        for i in range(3):
            publisher.send(device.code, "position", _fix(start + 30 * i, INSIDE))
        wait_for("SELECT count(*) FROM tracking_position", [], 3)
        first_output = worker.stop()
        # when fixes outside are published while no worker runs, and a new one starts
        publisher.send(device.code, "position", _fix(start + 90, OUTSIDE))
        worker = WorkerProcess(root, client_id=client_id)
        publisher.send(device.code, "position", _fix(start + 120, OUTSIDE))
        stored = wait_for("SELECT count(*) FROM tracking_position", [], 5)
        alerts = wait_for("SELECT count(*) FROM tracking_alert", [], 1)
    finally:
        publisher.close()
        output = worker.stop()
    # then the message sent while it was down is stored, and the crossing is seen
    # against the state the first worker left: exactly one alert
    assert "received=3" in first_output
    assert (stored, alerts) == (5, 1), output
    assert Alert.objects.get().rule_id == rule.pk
    assert DeviceState.objects.get(device=device).rules[str(rule.pk)]["side"] == "out"
