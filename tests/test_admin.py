"""The admin writes through the services, like the API."""

from django.contrib.auth import get_user_model

from spatial.models import Unit
from tests.factories import FloorFactory, unit_slot


def _superuser():
    return get_user_model().objects.create_superuser("root", "root@example.cn", "pw-2026-root")


def test_admin_add_unit_fills_derived_fields_through_the_service(tree, client):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    client.force_login(_superuser())
    data = {
        "code": "U-ADMIN-1",
        "name": "101",
        "company": tree.sub_a.pk,
        "floor": floor.pk,
        "use": "office",
        "status": "vacant",
        "geom": unit_slot(floor.geom, 0).wkt,
    }
    # when
    response = client.post("/admin/spatial/unit/add/", data)
    # then
    assert response.status_code == 302
    unit = Unit.objects.get(code="U-ADMIN-1")
    assert (unit.building_id, unit.site_id) == (floor.building_id, floor.building.site_id)
    assert unit.outside_floor is False


def test_admin_add_unit_with_invalid_geometry_stores_nothing(tree, client):
    # given: a bow-tie polygon
    floor = FloorFactory(building__site__company=tree.sub_a)
    client.force_login(_superuser())
    data = {
        "code": "U-ADMIN-2",
        "name": "102",
        "company": tree.sub_a.pk,
        "floor": floor.pk,
        "use": "office",
        "status": "vacant",
        "geom": (
            "SRID=4326;POLYGON((117.2 31.8, 117.201 31.801, "
            "117.201 31.8, 117.2 31.801, 117.2 31.8))"
        ),
    }
    # when
    response = client.post("/admin/spatial/unit/add/", data)
    # then
    assert response.status_code == 200  # the form again, with the error
    assert not Unit.objects.filter(code="U-ADMIN-2").exists()
