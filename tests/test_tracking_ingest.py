"""The ingest engine in-process: validation, storage, state, debouncing, telemetry rules."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils.translation import gettext

from tests.factories import AssetFactory, offset, rect
from tests.tracking_support import clean_history  # noqa: F401 - autouse fixture
from tracking import services
from tracking.choices import DeviceKind, GeofenceKind, Level, RuleKind
from tracking.engine import Engine
from tracking.ingest import Raw
from tracking.models import Alert, DeviceEvent, DeviceState, RejectedMessage, WorkOrder

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 17:00 in Shanghai
CORNER = (117.2005, 31.8005)
INSIDE = offset(*CORNER, 100, 100)
OUTSIDE = offset(*CORNER, 500, 100)
ROOT = "sam"


@pytest.fixture
def device(tree):
    return services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)


@pytest.fixture
def fence(tree):
    return services.geofence_save(
        company=tree.sub_a, name="场站", kind=GeofenceKind.POLYGON, geom=rect(*CORNER, 200, 200)
    )


def exit_rule(tree, fence, device, **extra):
    fields = dict(
        company=tree.sub_a,
        name="不得离开",
        kind=RuleKind.EXIT,
        level=Level.WARNING,
        geofence=fence,
        devices=[device],
        debounce_points=2,
    )
    return services.rule_save(**{**fields, **extra})


def msg(device_code: str, kind: str, payload, company: str = "HFCT-A") -> Raw:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Raw(f"{ROOT}/{company}/{device_code}/{kind}", body, NOW)


def fix(seconds_before_now: float, where, **extra) -> dict:
    t = (NOW - timedelta(seconds=seconds_before_now)).timestamp()
    return {"ts": t, "lon": where[0], "lat": where[1], **extra}


def run(*messages: Raw):
    return Engine(root=ROOT).process(list(messages), NOW)


def positions(device) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_position WHERE device_id = %s", [device.pk])
        return cursor.fetchone()[0]


def test_each_bad_message_is_rejected_with_its_reason(device):
    # given one good fix among messages wrong in every way the worker checks
    messages = [
        msg("TRK-1", "position", fix(60, INSIDE)),
        msg("TRK-1", "position", b"\xff\xfe not utf8"),
        msg("TRK-1", "position", b"[1, 2]"),
        msg("TRK-1", "position", {"lon": 117.2, "lat": 31.8}),
        msg("TRK-1", "position", {"ts": "yesterday", "lon": 117.2, "lat": 31.8}),
        msg("TRK-1", "position", {"ts": "2026-03-02T09:00:00", "lon": 117.2, "lat": 31.8}),
        msg("TRK-1", "position", fix(-3600, INSIDE)),
        msg("TRK-1", "position", fix(86400 * 60, INSIDE)),
        msg("TRK-1", "position", fix(50, (117.2, 95.0))),
        msg("TRK-1", "position", fix(40, INSIDE, speed=900)),
        msg("TRK-1", "position", {"ts": NOW.timestamp() - 30, "lon": "117.2", "lat": 31.8}),
        msg("TRK-1", "position", fix(20, INSIDE), company="HFCT-B"),
        msg("NOPE", "position", fix(20, INSIDE)),
        Raw("sam/HFCT-A/TRK-1", b"{}", NOW),
        msg("TRK-1", "telemetry", {"ts": NOW.timestamp() - 10}),
    ]
    # when
    result = run(*messages)
    # then the good one is stored and each other is kept with why
    assert (result.positions, result.rejected) == (1, 14)
    reasons = list(RejectedMessage.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == [
        "malformed_json",
        "malformed_json",
        "missing_field",
        "bad_timestamp",
        "bad_timestamp",
        "future_timestamp",
        "stale_timestamp",
        "out_of_range",
        "impossible_speed",
        "bad_value",
        "wrong_company",
        "unknown_device",
        "bad_topic",
        "missing_field",
    ]
    naive = RejectedMessage.objects.filter(reason="bad_timestamp").order_by("id").last()
    assert "offset" in naive.detail
    assert RejectedMessage.objects.filter(reason="wrong_company").get().company_id == (
        device.company_id
    )


def test_a_jump_faster_than_the_device_can_move_is_rejected_against_its_last_fix(device):
    # given a known fix; when the next claims 50 km away 60 s later (3000 km/h)
    far = offset(*INSIDE, 50_000, 0)
    result = run(msg("TRK-1", "position", fix(120, INSIDE)), msg("TRK-1", "position", fix(60, far)))
    # then it is rejected and the state stays at the plausible fix
    assert (result.positions, result.rejected) == (1, 1)
    assert RejectedMessage.objects.get().reason == "impossible_speed"
    state = DeviceState.objects.get(device=device)
    assert state.geom.x == pytest.approx(INSIDE[0])


def test_duplicates_are_stored_once_and_late_fixes_do_not_move_the_state_back(device):
    # given fixes at t-60 and t-30, then the t-60 one again and an older one arriving late
    first = run(
        msg("TRK-1", "position", fix(60, INSIDE)), msg("TRK-1", "position", fix(30, INSIDE))
    )
    older = offset(*INSIDE, 30, 0)
    again = run(msg("TRK-1", "position", fix(60, INSIDE)), msg("TRK-1", "position", fix(90, older)))
    # then
    assert (first.positions, again.positions, again.duplicates) == (2, 1, 1)
    assert positions(device) == 3
    state = DeviceState.objects.get(device=device)
    assert state.ts == NOW - timedelta(seconds=30)
    assert state.geom.x == pytest.approx(INSIDE[0])


def test_debounce_ignores_a_single_fix_across_the_boundary(tree, device, fence):
    # given an exit rule needing 2 consecutive fixes outside
    rule = exit_rule(tree, fence, device)
    track = [INSIDE, INSIDE, OUTSIDE, INSIDE, INSIDE, OUTSIDE, INSIDE]
    # when the device jitters out for single fixes only
    run(*[msg("TRK-1", "position", fix(600 - 30 * i, p)) for i, p in enumerate(track)])
    # then no alert, and the device is confirmed inside
    assert Alert.objects.count() == 0
    assert DeviceState.objects.get(device=device).rules[str(rule.pk)]["side"] == "in"
    # when it then stays outside for two fixes, spread over two batches
    run(msg("TRK-1", "position", fix(300, OUTSIDE)))
    assert Alert.objects.count() == 0
    run(msg("TRK-1", "position", fix(270, OUTSIDE)), msg("TRK-1", "position", fix(240, OUTSIDE)))
    # then exactly one alert, at the confirming fix
    alert = Alert.objects.get()
    assert alert.triggered_at == NOW - timedelta(seconds=270)
    assert alert.geom.x == pytest.approx(OUTSIDE[0])


def test_an_open_alert_counts_repeats_and_a_closed_one_lets_a_new_one_open(tree, device, fence):
    exit_rule(tree, fence, device, debounce_points=1)
    track = [INSIDE, OUTSIDE, INSIDE, OUTSIDE]
    run(*[msg("TRK-1", "position", fix(600 - 60 * i, p)) for i, p in enumerate(track)])
    alert = Alert.objects.get()
    assert alert.count == 2
    services.alert_close(alert, user=None, now=NOW, note="司机已返回")
    run(msg("TRK-1", "position", fix(300, INSIDE)), msg("TRK-1", "position", fix(240, OUTSIDE)))
    assert list(Alert.objects.order_by("id").values_list("status", "count")) == [
        ("closed", 2),
        ("open", 1),
    ]


def test_enter_rule_respects_the_fence_time_window(tree, device, fence):
    # given a no-entry rule watched only on weekdays 08:00-12:00 Shanghai time
    services.geofence_save(
        fence, time_windows=[{"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "12:00"}]
    )
    services.rule_save(
        company=tree.sub_a, name="禁入", kind=RuleKind.ENTER, geofence=fence, debounce_points=1
    )
    # when it enters at 16:5x (outside the window)
    run(msg("TRK-1", "position", fix(600, OUTSIDE)), msg("TRK-1", "position", fix(540, INSIDE)))
    # then nothing; when it leaves and enters again at 10:00 next morning, an alert
    assert Alert.objects.count() == 0
    morning = NOW + timedelta(hours=17)
    engine = Engine(root=ROOT)
    out = {
        "ts": (morning - timedelta(seconds=60)).timestamp(),
        "lon": OUTSIDE[0],
        "lat": OUTSIDE[1],
    }
    inside = {"ts": morning.timestamp(), "lon": INSIDE[0], "lat": INSIDE[1]}
    engine.process(
        [Raw("sam/HFCT-A/TRK-1/position", json.dumps(p).encode(), morning) for p in (out, inside)],
        morning,
    )
    # (stored in the default language, whatever catalogue is compiled)
    assert Alert.objects.get().message == gettext("{device} entered {fence}").format(
        device="TRK-1", fence="场站"
    )


def test_dwell_rule_fires_once_after_n_minutes_inside(tree, device, fence):
    rule = services.rule_save(
        company=tree.sub_a,
        name="停留",
        kind=RuleKind.DWELL,
        geofence=fence,
        minutes=10,
        debounce_points=1,
    )
    run(msg("TRK-1", "position", fix(1800, OUTSIDE)))
    run(*[msg("TRK-1", "position", fix(1740 - 60 * i, INSIDE)) for i in range(15)])
    alert = Alert.objects.get(rule=rule)
    assert alert.count == 1
    assert alert.triggered_at == NOW - timedelta(seconds=1740 - 600)


def test_threshold_rule_needs_the_breach_to_last_and_opens_a_work_order(tree, device):
    sensor = services.device_create(
        company=tree.sub_a,
        code="SEN-1",
        kind=DeviceKind.SENSOR,
        asset=AssetFactory(company=tree.sub_a),
    )
    services.rule_save(
        company=tree.sub_a,
        name="超温",
        kind=RuleKind.ABOVE,
        metric="temp",
        threshold=80,
        minutes=5,
        devices=[sensor],
        level=Level.CRITICAL,
        opens_work_order=True,
    )
    readings = [70, 85, 90, 70, 85, 86, 88, 90, 91, 92, 93]  # one per minute
    run(
        *[
            msg(
                "SEN-1",
                "telemetry",
                {"ts": (NOW - timedelta(minutes=20 - i)).timestamp(), "values": {"temp": v}},
            )
            for i, v in enumerate(readings)
        ]
    )
    alert = Alert.objects.get()
    # the first breach (2 min) is too short; the second starts at minute 4, fires at minute 9
    assert alert.triggered_at == NOW - timedelta(minutes=11)
    order = WorkOrder.objects.get()
    assert order.alert_id == alert.pk and order.asset_id == sensor.asset_id
    state = DeviceState.objects.get(device=sensor)
    assert state.telemetry == {"temp": 93}


def test_rate_of_change_rule(tree):
    services.device_create(company=tree.sub_a, code="SEN-2", kind=DeviceKind.SENSOR)
    services.rule_save(
        company=tree.sub_a, name="温升过快", kind=RuleKind.RATE, metric="temp", threshold=2
    )
    values = [20, 21, 22, 30]  # +1, +1, then +8 per minute
    run(
        *[
            msg(
                "SEN-2",
                "telemetry",
                {"ts": (NOW - timedelta(minutes=10 - i)).timestamp(), "values": {"temp": v}},
            )
            for i, v in enumerate(values)
        ]
    )
    assert Alert.objects.get().triggered_at == NOW - timedelta(minutes=7)


def test_a_reader_read_places_the_tag_at_the_reader(tree):
    reader = services.device_create(
        company=tree.sub_a,
        code="RDR-1",
        kind=DeviceKind.RFID_READER,
        location=Point(*INSIDE, srid=4326),
    )
    tag = services.device_create(company=tree.sub_a, code="E2003412", kind=DeviceKind.RFID_TAG)
    result = run(
        msg("RDR-1", "event", {"ts": NOW.timestamp() - 5, "type": "read", "tag": "E2003412"}),
        msg("RDR-1", "event", {"ts": NOW.timestamp() - 4, "type": "read", "tag": "UNKNOWN"}),
    )
    assert (result.positions, result.events, result.rejected) == (1, 1, 1)
    assert DeviceState.objects.get(device=tag).geom.x == pytest.approx(INSIDE[0])
    assert DeviceEvent.objects.get().device_id == reader.pk
    assert RejectedMessage.objects.get().reason == "unknown_tag"
