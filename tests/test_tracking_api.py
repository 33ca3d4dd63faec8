"""Tracking API: scoping, live positions, geofences (circle, corridor, import), alerts."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.gis.geos import Point

from tests.factories import AssetFactory, RoadFactory, SiteFactory, offset, rect
from tests.tracking_support import clean_history  # noqa: F401 - autouse fixture
from tracking import services
from tracking.choices import DeviceKind, GeofenceKind, RuleKind
from tracking.engine import Engine
from tracking.ingest import Raw
from tracking.models import Alert, Geofence, RejectedMessage

pytestmark = pytest.mark.django_db
CORNER = (117.2005, 31.8005)
NOW = datetime.now(UTC)


@pytest.fixture
def alert_a(tree):
    services.device_create(company=tree.sub_a, code="TRK-1", kind=DeviceKind.GNSS)
    fence = services.geofence_save(
        company=tree.sub_a, name="场站", kind=GeofenceKind.POLYGON, geom=rect(*CORNER, 200, 200)
    )
    services.rule_save(
        company=tree.sub_a, name="不得离开", kind=RuleKind.EXIT, geofence=fence, debounce_points=1
    )
    inside, outside = offset(*CORNER, 100, 100), offset(*CORNER, 400, 100)
    messages = [
        Raw(
            "sam/HFCT-A/TRK-1/position",
            json.dumps(
                {"ts": (NOW - timedelta(seconds=s)).timestamp(), "lon": p[0], "lat": p[1]}
            ).encode(),
            NOW,
        )
        for s, p in ((120, inside), (60, outside))
    ]
    Engine(root="sam").process(messages, NOW)
    return Alert.objects.get()


def test_positions_are_one_feature_collection_scoped_to_the_user(
    api, alert_a, manager_a, manager_b
):
    # given a device of company A with a known position
    # when A's manager and B's manager ask for the live map
    mine = api(manager_a).get("/api/tracking/positions/")
    theirs = api(manager_b).get("/api/tracking/positions/")
    anonymous = api().get("/api/tracking/positions/")
    # then
    assert mine.status_code == 200 and mine["Content-Type"] == "application/geo+json"
    features = json.loads(mine.content)["features"]
    assert [f["properties"]["code"] for f in features] == ["TRK-1"]
    assert features[0]["geometry"]["type"] == "Point"
    assert json.loads(theirs.content)["features"] == []
    assert anonymous.status_code in (401, 403)
    empty_box = api(manager_a).get("/api/tracking/positions/?bbox=100,20,101,21")
    assert json.loads(empty_box.content)["features"] == []


def test_alerts_list_and_close_with_a_note(api, alert_a, field_a, manager_b, readonly_a):
    listed = api(field_a).get("/api/tracking/alerts/?status=open")
    assert listed.status_code == 200
    assert [f["id"] for f in listed.json()["features"]] == [alert_a.pk]
    # another company's manager cannot see it, a read-only user cannot close it
    assert api(manager_b).get(f"/api/tracking/alerts/{alert_a.pk}/").status_code == 404
    assert (
        api(manager_b).post(f"/api/tracking/alerts/{alert_a.pk}/close/", {"note": "x"}).status_code
        == 403
    )
    assert (
        api(readonly_a).post(f"/api/tracking/alerts/{alert_a.pk}/close/", {"note": "x"}).status_code
        == 403
    )
    # closing needs a note
    no_note = api(field_a).post(f"/api/tracking/alerts/{alert_a.pk}/close/", {"note": ""})
    assert no_note.status_code == 400 and "note" in no_note.json()
    alert_a.refresh_from_db()
    assert alert_a.status == "open"
    ack = api(field_a).post(f"/api/tracking/alerts/{alert_a.pk}/acknowledge/", {})
    assert ack.status_code == 200 and ack.json()["properties"]["status"] == "acknowledged"
    done = api(field_a).post(f"/api/tracking/alerts/{alert_a.pk}/close/", {"note": "已处理"})
    assert done.status_code == 200
    alert_a.refresh_from_db()
    assert (alert_a.status, alert_a.note, alert_a.closed_by) == ("closed", "已处理", field_a)


def test_circle_and_corridor_geofences_are_buffered(api, tree, field_a):
    site = SiteFactory(company=tree.sub_a)
    road = RoadFactory(site=site)  # a 180 m road
    circle = api(field_a).post(
        "/api/tracking/geofences/",
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "company": tree.sub_a.pk,
                "name": "圆",
                "kind": "circle",
                "center": {"type": "Point", "coordinates": list(CORNER)},
                "radius_m": 100,
            },
        },
        format="json",
    )
    assert circle.status_code == 201, circle.json()
    corridor = api(field_a).post(
        "/api/tracking/geofences/",
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "company": tree.sub_a.pk,
                "name": "走廊",
                "kind": "corridor",
                "road": road.pk,
                "width_m": 20,
            },
        },
        format="json",
    )
    assert corridor.status_code == 201, corridor.json()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name, ST_Area(geom::geography) FROM tracking_geofence")
        areas = dict(cursor.fetchall())
    assert areas["圆"] == pytest.approx(3.14159 * 100**2, rel=0.01)
    # 180 m × 20 m plus two half-discs of radius 10 m at the round ends
    assert areas["走廊"] == pytest.approx(180 * 20 + 3.14159 * 10**2, rel=0.02)


def test_bad_geofence_and_rule_input_names_the_field(api, tree, field_a):
    no_radius = api(field_a).post(
        "/api/tracking/geofences/",
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "company": tree.sub_a.pk,
                "name": "圆",
                "kind": "circle",
                "center": {"type": "Point", "coordinates": list(CORNER)},
            },
        },
        format="json",
    )
    assert no_radius.status_code == 400 and "radius_m" in no_radius.json()
    windows = api(field_a).post(
        "/api/tracking/geofences/",
        {
            "type": "Feature",
            "geometry": json.loads(rect(*CORNER, 50, 50).geojson),
            "properties": {
                "company": tree.sub_a.pk,
                "name": "窗",
                "kind": "polygon",
                "time_windows": [{"days": [8], "start": "08:00"}],
            },
        },
        format="json",
    )
    assert windows.status_code == 400 and "time_windows" in windows.json()
    rule = api(field_a).post(
        "/api/tracking/rules/",
        {"company": tree.sub_a.pk, "name": "超温", "kind": "above", "metric": "temp"},
        format="json",
    )
    assert rule.status_code == 400 and "threshold" in rule.json()
    assert Geofence.objects.count() == 0


def test_geofence_import_is_all_or_nothing(api, tree, field_a, manager_b):
    good = {
        "type": "Feature",
        "properties": {"name": "一号"},
        "geometry": json.loads(rect(*CORNER, 50, 50).geojson),
    }
    bad = {
        "type": "Feature",
        "properties": {"name": "坏"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[117.2, 31.8], [117.3, 31.9], [117.3, 31.8], [117.2, 31.9], [117.2, 31.8]]
            ],
        },
    }

    def upload(features, user=field_a, company=tree.sub_a.pk):
        body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
        file = io.BytesIO(body)
        file.name = "fences.geojson"
        return api(user).post(
            "/api/tracking/geofences/import/",
            {"file": file, "company": company},
            format="multipart",
            HTTP_ACCEPT_LANGUAGE="en",  # the message is asserted in English (default: zh)
        )

    failed = upload([good, bad])
    assert failed.status_code == 400 and "Feature 2" in failed.json()["file"][0]
    assert Geofence.objects.count() == 0
    assert upload([good], user=manager_b).status_code == 403  # B's manager: no tracking role
    ok = upload([good, good])
    assert ok.status_code == 201 and ok.json()["created"] == 2


def test_rejected_messages_are_for_administrators_only(api, tree, group_admin, field_a):
    Engine(root="sam").process([Raw("sam/HFCT-A/NOPE/position", b"{}", NOW)], NOW)
    assert api(field_a).get("/api/tracking/rejected-messages/").status_code == 403
    listed = api(group_admin).get("/api/tracking/rejected-messages/")
    assert listed.status_code == 200
    assert [r["reason"] for r in listed.json()["results"]] == ["unknown_device"]
    assert RejectedMessage.objects.count() == 1


def test_devices_endpoint_scoping_and_validation(api, tree, field_a, manager_b):
    asset = AssetFactory(company=tree.sub_a)
    reader = api(field_a).post(
        "/api/tracking/devices/",
        {"code": "RDR-9", "kind": "rfid_reader", "company": tree.sub_a.pk, "asset": asset.pk},
        format="json",
    )
    assert reader.status_code == 400 and "location" in reader.json()
    made = api(field_a).post(
        "/api/tracking/devices/",
        {
            "code": "RDR-9",
            "kind": "rfid_reader",
            "company": tree.sub_a.pk,
            "location": json.loads(Point(*CORNER).geojson),
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    denied = api(manager_b).post(
        "/api/tracking/devices/",
        {"code": "GPS-B", "kind": "gnss", "company": tree.sub_a.pk},
        format="json",
    )
    assert denied.status_code in (400, 403)
    assert api(manager_b).get("/api/tracking/devices/").json()["count"] == 0
