"""Who changed what and when, recorded for every write through the API."""

import json

from spatial.models import Unit
from tests.factories import FloorFactory, unit_slot


def test_unit_history_lists_creation_and_changes_with_user_and_values(tree, manager_a, api):
    # given: a unit created and then changed through the API
    floor = FloorFactory(building__site__company=tree.sub_a)
    client = api(manager_a)
    created = client.post(
        "/api/units/",
        {
            "type": "Feature",
            "geometry": json.loads(unit_slot(floor.geom, 0).json),
            "properties": {"floor": floor.pk, "code": "U-101", "name": "101室", "use": "office"},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    unit_id = created.json()["id"]
    changed = client.patch(
        f"/api/units/{unit_id}/", {"status": "leased", "gross_area": "120.50"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    # when
    response = client.get(f"/api/units/{unit_id}/history/")
    # then
    assert response.status_code == 200
    newest, oldest = response.json()
    assert (oldest["history_type"], oldest["user"], oldest["changes"]) == (
        "created",
        "manager_a",
        {},
    )
    assert (newest["history_type"], newest["user"]) == ("changed", "manager_a")
    assert newest["changes"]["status"] == {"old": "vacant", "new": "leased"}
    assert newest["changes"]["gross_area"] == {"old": None, "new": "120.50"}
    assert "name" not in newest["changes"]
    assert newest["history_date"] > oldest["history_date"]


def test_history_is_scoped_like_the_row(tree, manager_a, manager_b, api):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    client = api(manager_a)
    created = client.post(
        "/api/units/",
        {
            "type": "Feature",
            "geometry": json.loads(unit_slot(floor.geom, 0).json),
            "properties": {"floor": floor.pk, "code": "U-102", "name": "102室", "use": "retail"},
        },
        format="json",
    )
    unit = Unit.objects.get(pk=created.json()["id"])
    # when
    response = api(manager_b).get(f"/api/units/{unit.pk}/history/")
    # then
    assert response.status_code == 404


def test_history_of_a_change_via_basic_auth_names_the_user(tree, manager_a, api, basic_api):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    created = api(manager_a).post(
        "/api/units/",
        {
            "type": "Feature",
            "geometry": json.loads(unit_slot(floor.geom, 0).json),
            "properties": {"floor": floor.pk, "code": "U-103", "name": "103室", "use": "office"},
        },
        format="json",
    )
    unit_id = created.json()["id"]
    # when
    basic = basic_api(manager_a)
    patched = basic.patch(f"/api/units/{unit_id}/", {"name": "103室（改）"}, format="json")
    history = basic.get(f"/api/units/{unit_id}/history/").json()
    # then
    assert patched.status_code == 200
    assert history[0]["user"] == "manager_a"
    assert history[0]["changes"]["name"] == {"old": "103室", "new": "103室（改）"}
