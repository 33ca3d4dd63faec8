"""The fast ingest path: buffered reads in the paho-mqtt client, the per-worker state
memory (validated by the row's xmin) and timestamps on the microsecond grid."""

import inspect
import json
import socket
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

from tests.factories import offset, rect
from tests.tracking_support import clean_history  # noqa: F401 - autouse fixture
from tracking import services
from tracking.choices import DeviceKind, GeofenceKind, Level, RuleKind
from tracking.engine import Engine
from tracking.ingest import Raw, parse_epoch
from tracking.models import Alert, DeviceState
from tracking.mqtt import (
    PAHO_INTERNALS,
    BufferedClient,
    _packet,
    _text,
    publish_packet,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CORNER = (117.2005, 31.8005)
INSIDE = offset(*CORNER, 100, 100)
OUTSIDE = offset(*CORNER, 500, 100)


# -- MQTT packets ---------------------------------------------------------------------------


def test_paho_internals_that_the_buffered_client_relies_on_are_unchanged():
    # BufferedClient overrides private methods of paho-mqtt's Client (pinned 2.1.0): if an
    # upgrade renames them or stops routing reads and PUBLISH through them, fail here
    # rather than lose messages or speed silently.
    assert paho_version == "2.1.0", "check BufferedClient against the new paho source"
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    for name in PAHO_INTERNALS:
        assert hasattr(client, name), name
    assert "self._sock_recv(" in inspect.getsource(paho.Client._packet_read)
    assert "self._packet_handle()" in inspect.getsource(paho.Client._packet_read)
    assert "self._packet_read()" in inspect.getsource(paho.Client.loop_read)
    assert "self._handle_publish()" in inspect.getsource(paho.Client._packet_handle)
    assert set(client._in_packet) >= {"command", "packet"}
    assert paho.MQTTMessage(topic=b"t")._topic == b"t"  # PahoSubscriber's bad-UTF-8 path
    for name in ("_sock_recv", "loop_read", "_handle_publish", "reconnect"):
        assert getattr(BufferedClient, name) is not getattr(paho.Client, name), name


def test_the_buffered_paho_client_delivers_every_message_whatever_the_read_boundaries():
    # given PUBLISH packets of QoS 0 and 1 (one with a 2-byte length, one with a non-ASCII
    # topic), one carrying a property (left to paho's own parser) and a PINGRESP
    sent = [
        ("sam/A/D1/position", b'{"ts": 1}', 0, 0),
        ("sam/A/D2/position", b"x" * 300, 1, 7),
        ("sam/A/\u8f66/event", b"{}", 1, 65535),
    ]
    with_property = _packet(0x30, _text("sam/A/D3/telemetry") + b"\x02\x01\x01" + b"{}")
    stream = b"".join(publish_packet(t, p, q, i) for t, p, q, i in sent)
    stream += with_property + b"\xd0\x00"
    for cut in range(1, len(stream)):
        client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, manual_ack=True)
        fields, messages, reads = [], [], []
        client.on_publish_fields = lambda *args, fields=fields: fields.append(args)
        client.on_message = lambda c, u, m, messages=messages: messages.append(
            (m.topic, m.payload, m.qos, m.properties.PayloadFormatIndicator)
        )
        client.on_read = lambda reads=reads, fields=fields: reads.append(len(fields))
        ours, broker = socket.socketpair()
        ours.setblocking(False)
        client._sock = ours
        try:
            # when the stream arrives in two reads cut at any byte
            for part in (stream[:cut], stream[cut:]):
                broker.sendall(part)
                assert client.loop_read() == paho.MQTT_ERR_SUCCESS
                # then nothing is left in the buffer for a select() that would not see it
                assert client._rpos >= len(client._rbuf)
        finally:
            ours.close()
            broker.close()
        # and every message comes out once, intact, in order
        assert fields == sent, cut
        assert messages == [("sam/A/D3/telemetry", b"{}", 0, 1)], cut
        assert len(reads) == 2


# -- state memory ---------------------------------------------------------------------------


@pytest.fixture
def fenced(tree):
    device = services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)
    fence = services.geofence_save(
        company=tree.sub_a, name="场站", kind=GeofenceKind.POLYGON, geom=rect(*CORNER, 200, 200)
    )
    rule = services.rule_save(
        company=tree.sub_a,
        name="不得离开",
        kind=RuleKind.EXIT,
        level=Level.WARNING,
        geofence=fence,
        devices=[device],
        debounce_points=2,
    )
    return device, rule


def raw(seconds_before_now: float, where, ts: float | None = None) -> Raw:
    t = ts if ts is not None else (NOW - timedelta(seconds=seconds_before_now)).timestamp()
    body = json.dumps({"ts": t, "lon": where[0], "lat": where[1]}).encode()
    return Raw("sam/HFCT-A/TRK-1/position", body, NOW)


def test_a_worker_sees_what_another_worker_wrote_since_it_last_held_the_device(fenced):
    # given two workers (engines, each with its own state memory)
    device, rule = fenced
    first, second = Engine(root="sam"), Engine(root="sam")
    first.process([raw(300, INSIDE)], NOW)
    assert device.pk in first._states
    # when the second takes the first fix outside (debounce 1 of 2) and the first the next
    second.process([raw(240, OUTSIDE)], NOW)
    first.process([raw(180, OUTSIDE)], NOW)
    # then the first carried on from the second's pending count: exactly one alert
    alert = Alert.objects.get()
    assert alert.rule_id == rule.pk and alert.count == 1
    assert alert.triggered_at == NOW - timedelta(seconds=180)
    # and the second, whose memory is now stale, reloads: still outside, no repeat
    second.process([raw(120, OUTSIDE)], NOW)
    assert Alert.objects.get().count == 1
    assert DeviceState.objects.get(device=device).rules[str(rule.pk)]["side"] == "out"


def test_a_write_from_outside_the_worker_invalidates_its_memory(fenced):
    device, rule = fenced
    engine = Engine(root="sam")
    engine.process([raw(300, INSIDE), raw(240, INSIDE)], NOW)
    # when something else rewrites the state (here: forgets the rule state)
    DeviceState.objects.filter(device=device).update(rules={})
    engine.process([raw(180, OUTSIDE), raw(120, OUTSIDE)], NOW)
    # then the worker read the row again: the first fix it sees sets the side, no alert
    assert Alert.objects.count() == 0
    assert DeviceState.objects.get(device=device).rules[str(rule.pk)]["side"] == "out"


def test_a_failed_batch_empties_the_memory_and_leaves_no_state_behind(fenced, monkeypatch):
    device, _ = fenced
    engine = Engine(root="sam")
    engine.process([raw(300, INSIDE)], NOW)
    before = DeviceState.objects.get(device=device).ts

    def broken(*args, **kwargs):
        raise RuntimeError("alerting failed")

    monkeypatch.setattr(engine, "_alerts", broken)
    with pytest.raises(RuntimeError):
        engine.process([raw(240, OUTSIDE)], NOW)
    assert engine._states == {}
    assert DeviceState.objects.get(device=device).ts == before
    monkeypatch.undo()
    # the same fix again is processed against the stored state, not the rolled-back one
    result = engine.process([raw(240, OUTSIDE)], NOW)
    assert (result.positions, result.duplicates) == (1, 0)
    assert DeviceState.objects.get(device=device).ts == NOW - timedelta(seconds=240)


# -- timestamps -----------------------------------------------------------------------------


def test_times_are_kept_on_the_microsecond_grid():
    assert parse_epoch(1767225600.1234565) * 1e6 == round(1767225600.1234565 * 1e6)
    assert parse_epoch(1767225600500) == 1767225600.5
    assert parse_epoch("2026-01-01T08:00:00+08:00") == 1767225600.0
    for bad in (True, None, "2026-01-01T08:00:00", float("inf"), 1e300):
        with pytest.raises((ValueError, OverflowError)):
            parse_epoch(bad)


def test_a_redelivered_fix_with_sub_microsecond_time_counts_once(fenced):
    # given a device inside, then one fix outside whose time has sub-microsecond digits
    device, _ = fenced
    odd = (NOW - timedelta(seconds=200)).timestamp() + 0.0000004
    engine = Engine(root="sam")
    engine.process([raw(300, INSIDE), raw(0, OUTSIDE, ts=odd)], NOW)
    # when the broker delivers it again (to this worker and to a fresh one)
    again = engine.process([raw(0, OUTSIDE, ts=odd)], NOW)
    other = Engine(root="sam").process([raw(0, OUTSIDE, ts=odd)], NOW)
    # then it is a duplicate both times and never the second debounce point
    assert (again.positions, again.duplicates) == (0, 1)
    assert (other.positions, other.duplicates) == (0, 1)
    assert Alert.objects.count() == 0
