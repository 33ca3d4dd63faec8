"""Geometry is validated on every write, through the services and through the API, with a
reason on the `geom` field and nothing written; units are flagged against their floor."""

import json

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.core.exceptions import ValidationError
from django.utils import translation

from spatial import services
from spatial.models import Floor, Site, Unit
from tests.factories import (
    HEFEI,
    BuildingFactory,
    FloorFactory,
    UnitFactory,
    offset,
    origin,
    rect,
    unit_slot,
)


def _bowtie() -> Polygon:
    lon, lat = HEFEI
    east, north = offset(lon, lat, 10, 10)
    return Polygon(((lon, lat), (east, north), (east, lat), (lon, north), (lon, lat)), srid=4326)


def _gauss_kruger() -> Polygon:
    # CGCS2000 3° zone 39 metres, as surveyors deliver them, sent as if they were degrees.
    x, y = 39_500_000, 3_500_000
    return Polygon(((x, y), (x + 10, y), (x + 10, y + 10), (x, y + 10), (x, y)), srid=4326)


def _swapped() -> Polygon:
    square = rect(*HEFEI, 10, 10)
    return Polygon([(lat, lon) for lon, lat in square.exterior_ring.coords], srid=4326)


#: case → (geometry, reason in English, reason in Chinese: the API's default language)
BAD_GEOMETRIES = {
    "self_intersecting": (
        _bowtie,
        "The geometry is invalid: Self-intersection",
        "几何图形无效：Self-intersection",
    ),
    "empty": (lambda: Polygon(srid=4326), "The geometry is empty.", "几何图形为空。"),
    "point_for_a_unit": (
        lambda: Point(*HEFEI, srid=4326),
        "Expected a Polygon geometry, got a Point.",
        "几何类型应为 Polygon，实际为 Point。",
    ),
    "gauss_kruger_metres": (
        _gauss_kruger,
        "Coordinates are outside the valid range",
        "坐标超出有效范围",
    ),
    "lon_lat_swapped": (_swapped, "Coordinates are outside the valid range", "坐标超出有效范围"),
}


@pytest.mark.parametrize("case", BAD_GEOMETRIES)
def test_unit_create_refuses_bad_geometry_naming_geom(tree, case):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    make_geom, reason, _ = BAD_GEOMETRIES[case]
    # when
    with pytest.raises(ValidationError) as raised, translation.override("en"):
        services.feature_create(
            Unit, floor=floor, code="U-BAD", name="坏房源", use="office", geom=make_geom()
        )
    # then
    assert list(raised.value.message_dict) == ["geom"]
    assert raised.value.message_dict["geom"][0].startswith(reason)
    assert Unit.objects.count() == 0


@pytest.mark.parametrize("case", BAD_GEOMETRIES)
def test_unit_post_refuses_bad_geometry_with_400_naming_geom(tree, manager_a, api, case):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    make_geom, _, reason = BAD_GEOMETRIES[case]
    geom = make_geom()
    body = {
        "type": "Feature",
        # GeoJSON has no empty polygon GDAL will read (see below); WKT has one.
        "geometry": geom.wkt if geom.empty else json.loads(geom.json),
        "properties": {"floor": floor.pk, "code": "U-BAD", "name": "坏房源", "use": "office"},
    }
    # when
    response = api(manager_a).post("/api/units/", body, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["geom"]
    assert response.json()["geom"][0].startswith(reason)
    assert Unit.objects.count() == 0


def test_unit_post_with_empty_geojson_coordinates_is_a_400_naming_geom(tree, manager_a, api):
    # given: GDAL cannot even build this one, so the serializer refuses it before the service
    floor = FloorFactory(building__site__company=tree.sub_a)
    body = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": []},
        "properties": {"floor": floor.pk, "code": "U-BAD", "name": "坏房源", "use": "office"},
    }
    # when
    response = api(manager_a).post("/api/units/", body, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["geom"]
    assert len(response.json()["geom"]) == 1
    assert Unit.objects.count() == 0


def test_unit_update_refuses_bad_geometry_and_keeps_the_old_one(tree):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    before = unit.geom.wkt
    # when
    with pytest.raises(ValidationError) as raised:
        services.feature_update(unit, geom=_bowtie())
    # then
    assert list(raised.value.message_dict) == ["geom"]
    unit.refresh_from_db()
    assert unit.geom.wkt == before


def test_site_post_with_a_polygon_is_stored_as_a_multipolygon(tree, manager_a, api):
    # given
    square = rect(*HEFEI, 200, 150)
    body = {
        "type": "Feature",
        "geometry": json.loads(square.json),
        "properties": {
            "code": "HF-BH-01",
            "name": "滨湖科创园",
            "company": tree.sub_a.pk,
            "kind": "office_park",
        },
    }
    # when
    response = api(manager_a).post("/api/sites/", body, format="json")
    # then
    assert response.status_code == 201, response.json()
    assert response.json()["geometry"]["type"] == "MultiPolygon"
    site = Site.objects.get(code="HF-BH-01")
    assert site.geom.geom_type == "MultiPolygon"
    assert site.geom.equals(MultiPolygon(square, srid=4326))
    assert site.company == tree.sub_a


def test_unit_inside_its_floor_is_not_flagged(tree):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    # when
    unit = services.feature_create(
        Unit, floor=floor, code="U-IN", name="内", use="office", geom=unit_slot(floor.geom, 0)
    )
    # then
    unit.refresh_from_db()
    assert unit.outside_floor is False
    assert unit.building == floor.building
    assert unit.site == floor.building.site
    assert unit.company == floor.company


def test_unit_outside_its_floor_is_stored_and_flagged(tree):
    # given: a unit 5 m east of the 60 m wide floor
    floor = FloorFactory(building__site__company=tree.sub_a)
    outside = rect(*offset(*origin(floor.geom), 65, 2), 9, 9)
    # when
    unit = services.feature_create(
        Unit, floor=floor, code="U-OUT", name="外", use="office", geom=outside
    )
    # then
    unit.refresh_from_db()
    assert unit.outside_floor is True


def test_shrinking_a_floor_outline_reflags_its_units(tree):
    # given: one unit in the west of the floor, one in the east
    floor = FloorFactory(building__site__company=tree.sub_a)
    west = UnitFactory(floor=floor, geom=unit_slot(floor.geom, 0))
    east = UnitFactory(floor=floor, geom=unit_slot(floor.geom, 4))
    # when: the outline keeps only the western 30 m
    services.feature_update(floor, geom=rect(*origin(floor.geom), 30, 40))
    # then
    west.refresh_from_db()
    east.refresh_from_db()
    assert (west.outside_floor, east.outside_floor) == (False, True)


def test_restoring_a_floor_outline_clears_the_flag(tree):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    full_outline = floor.geom.clone()
    unit = UnitFactory(floor=floor, geom=unit_slot(floor.geom, 4))
    services.feature_update(floor, geom=rect(*origin(floor.geom), 30, 40))
    # when
    services.feature_update(floor, geom=full_outline)
    # then
    unit.refresh_from_db()
    assert unit.outside_floor is False


def test_floor_without_an_outline_is_stored(tree):
    # given
    building = BuildingFactory(site__company=tree.sub_a)
    # when
    floor = services.feature_create(
        Floor, code="FL-NOGEOM", name="屋面", building=building, level=9, geom=None
    )
    # then
    assert Floor.objects.get(pk=floor.pk).geom is None
