"""Clock rules (offline, idle), date rules (certificates, leases, maintenance, net book
value), the health index with hand-computed numbers, and webhooks."""

import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.gis.geos import Point

from tests.factories import AssetFactory, DocumentFactory, offset
from tests.tracking_support import clean_history  # noqa: F401 - autouse fixture
from tracking import services, webhooks
from tracking.choices import DeviceKind, GeofenceKind, Level, RuleKind
from tracking.engine import Engine
from tracking.health import health_compute
from tracking.ingest import Raw
from tracking.models import Alert, DeviceState, HealthScore, MaintenancePlan
from tracking.periodic import net_book_value, rules_daily, rules_tick

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
HERE = (117.2105, 31.8105)


def send(code: str, kind: str, payload: dict, at: datetime = NOW):
    raw = Raw(f"sam/HFCT-A/{code}/{kind}", json.dumps(payload).encode(), at)
    return Engine(root="sam").process([raw], at)


def test_offline_rule_fires_once_and_marks_the_device_offline(tree):
    device = services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)
    quiet = services.device_create(company=tree.sub_a, code="TRK-2", kind=DeviceKind.GNSS)
    services.rule_save(company=tree.sub_a, name="离线", kind=RuleKind.OFFLINE, minutes=30)
    for code, at in (("TRK-1", NOW - timedelta(hours=1)), ("TRK-2", NOW - timedelta(minutes=5))):
        send(code, "position", {"ts": at.timestamp(), "lon": HERE[0], "lat": HERE[1]}, at=at)
    # when the tick runs twice
    first = rules_tick(now=NOW)
    second = rules_tick(now=NOW + timedelta(minutes=1))
    # then one alert for the silent device, counted again, not duplicated
    assert (first["offline"], second["offline"]) == (1, 0)
    alert = Alert.objects.get()
    assert (alert.device_id, alert.count) == (device.pk, 2)
    assert DeviceState.objects.get(device=device).online is False
    assert DeviceState.objects.get(device=quiet).online is True


def test_idle_rule_needs_neither_movement_nor_a_run_signal(tree):
    still = services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)
    running = services.device_create(company=tree.sub_a, code="TRK-2", kind=DeviceKind.GNSS)
    services.rule_save(company=tree.sub_a, name="闲置", kind=RuleKind.IDLE, days=3)
    old = NOW - timedelta(days=5)
    for code in ("TRK-1", "TRK-2"):
        send(code, "position", {"ts": old.timestamp(), "lon": HERE[0], "lat": HERE[1]})
    send(
        "TRK-2", "telemetry", {"ts": (NOW - timedelta(days=1)).timestamp(), "values": {"run": True}}
    )
    assert rules_tick(now=NOW)["idle"] == 1
    assert Alert.objects.get().device_id == still.pk
    assert running.pk != still.pk


def test_date_rules_over_certificates_leases_maintenance_and_book_value(tree):
    asset = AssetFactory(
        company=tree.sub_a,
        acquisition_cost=Decimal("10000.00"),
        acquisition_date=date(2020, 1, 1),
        in_service_date=date(2020, 3, 1),
        useful_life_months=60,
        residual_rate=Decimal("0.05"),
    )
    DocumentFactory(target=asset, expiry_date=TODAY + timedelta(days=20))
    DocumentFactory(target=asset, expiry_date=TODAY + timedelta(days=200))
    MaintenancePlan.objects.create(
        asset=asset, title="年检", interval_days=365, next_due=TODAY + timedelta(days=3)
    )
    for kind, extra in (
        (RuleKind.CERTIFICATE_EXPIRY, {"days": 30}),
        (RuleKind.MAINTENANCE_DUE, {"days": 7}),
        (RuleKind.NBV_BELOW, {"share": Decimal("0.10")}),
        (RuleKind.LEASE_EXPIRY, {"days": 60}),
    ):
        services.rule_save(company=tree.sub_a, name=str(kind), kind=kind, **extra)
    # 72 months since March 2020 ≥ 60: fully depreciated to the 5% residual
    assert net_book_value(asset, as_of=TODAY) == Decimal("500.00")
    opened = rules_daily(today=TODAY, now=NOW)
    again = rules_daily(today=TODAY, now=NOW)
    assert opened == {
        "certificate_expiry": 1,
        "maintenance_due": 1,
        "nbv_below": 1,
        "lease_expiry": 0,
    }
    assert sum(again.values()) == 0
    assert Alert.objects.filter(asset=asset).count() == 3


def test_rule_validation_names_the_missing_field(tree):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        services.rule_save(
            company=tree.sub_a, name="x", kind=RuleKind.NBV_BELOW, share=Decimal("1.5")
        )
    assert "share" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.rule_save(company=tree.sub_a, name="x", kind=RuleKind.EXIT)
    assert "geofence" in error.value.message_dict


def test_health_index_matches_the_documented_formula(tree):
    # given an asset half way through a 60-month life
    asset = AssetFactory(
        company=tree.sub_a,
        in_service_date=date(2023, 9, 2),
        acquisition_date=date(2023, 9, 1),
        useful_life_months=60,
    )
    sensor = services.device_create(
        company=tree.sub_a,
        code="SEN-1",
        kind=DeviceKind.SENSOR,
        asset=asset,
        normal_ranges={"temp": [0, 80]},
    )
    # 4 readings this week, 1 out of range → telemetry penalty 40 × 0.25 = 10
    for hours, value in ((30, 20), (20, 95), (10, 40), (2, 60)):
        send(
            "SEN-1",
            "telemetry",
            {"ts": (NOW - timedelta(hours=hours)).timestamp(), "values": {"temp": value}},
        )
    # one open critical alert (15) and one warning closed last week (5 / 2 = 2.5)
    fence = services.geofence_save(
        company=tree.sub_a,
        name="f",
        kind=GeofenceKind.CIRCLE,
        center=Point(*HERE, srid=4326),
        radius_m=50,
    )
    rule = services.rule_save(company=tree.sub_a, name="r", kind=RuleKind.EXIT, geofence=fence)
    for n, level in ((1, Level.CRITICAL), (2, Level.WARNING)):
        services.alert_raise(
            rule_id=rule.pk,
            company_id=tree.sub_a.pk,
            level=level,
            subject=f"s{n}",
            message="m",
            triggered_at=NOW,
            now=NOW,
            device_id=sensor.pk,
            asset_id=asset.pk,
        )
    services.alert_close(
        Alert.objects.get(subject="s2"), user=None, now=NOW - timedelta(days=7), note="ok"
    )
    # one overdue maintenance plan → 5
    MaintenancePlan.objects.create(
        asset=asset, title="保养", interval_days=90, next_due=TODAY - timedelta(days=1)
    )
    # when
    assert health_compute(as_of=TODAY, now=NOW) == 1
    # then 100 − 10 − 17.5 − 5 − 15 × 30/60 = 60
    score = HealthScore.objects.get(asset=asset)
    assert score.score == Decimal("60.0")
    assert (
        score.components["telemetry"],
        score.components["alerts"],
        score.components["maintenance"],
        score.components["age"],
    ) == (10.0, 17.5, 5.0, 7.5)
    # a second run the same day replaces the row; the next day adds one (history)
    health_compute(as_of=TODAY, now=NOW)
    health_compute(as_of=TODAY + timedelta(days=1), now=NOW + timedelta(days=1))
    assert HealthScore.objects.filter(asset=asset).count() == 2


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_new_alert_is_posted_to_the_rule_webhook(tree):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)
        fence = services.geofence_save(
            company=tree.sub_a,
            name="圈",
            kind=GeofenceKind.CIRCLE,
            center=Point(*HERE, srid=4326),
            radius_m=100,
        )
        services.rule_save(
            company=tree.sub_a,
            name="出圈",
            kind=RuleKind.EXIT,
            geofence=fence,
            debounce_points=1,
            webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
        )
        now = datetime.now(UTC)
        far = offset(*HERE, 500, 0)
        send(
            "TRK-1",
            "position",
            {"ts": now.timestamp() - 60, "lon": HERE[0], "lat": HERE[1]},
            at=now,
        )
        send(
            "TRK-1", "position", {"ts": now.timestamp() - 30, "lon": far[0], "lat": far[1]}, at=now
        )
        webhooks.drain(10)
    finally:
        server.shutdown()
    assert len(_Hook.received) == 1
    assert _Hook.received[0]["device"] == "TRK-1" and _Hook.received[0]["kind"] == "exit"
