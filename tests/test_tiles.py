"""Vector tiles: /tiles/{layer}/{z}/{x}/{y}.pbf, decoded with mapbox_vector_tile.

Features sit around the centre of the zoom-16 tile that holds HEFEI, so they fall well
inside one tile; pixel places are checked against Web Mercator worked out here.
"""

import base64
import math
from datetime import date, timedelta
from decimal import Decimal

import mapbox_vector_tile
import pytest
from django.conf import settings
from django.contrib.gis.geos import LineString, MultiPolygon, Point
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from spatial import tiles
from spatial.choices import Role
from spatial.models import Membership, Unit
from tests.factories import (
    HEFEI,
    PASSWORD,
    AssetFactory,
    BuildingFactory,
    FloorFactory,
    ParcelFactory,
    ParkFactory,
    RoadFactory,
    SiteFactory,
    UnitFactory,
    UserFactory,
    offset,
    rect,
    unit_slot,
)

MVT = "application/vnd.mapbox-vector-tile"
Z = 16


def tile_fraction(lon: float, lat: float, z: int) -> tuple[float, float]:
    """(lon, lat) in tile units at zoom z: the integer part is the tile, the rest the place."""
    n = 2**z
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return x, y


def tile_of(lon: float, lat: float, z: int = Z) -> tuple[int, int, int]:
    x, y = tile_fraction(lon, lat, z)
    return z, int(x), int(y)


def pixel(lon: float, lat: float, z: int = Z) -> tuple[float, float]:
    """Where (lon, lat) lands on its tile's 4096 grid, y down."""
    x, y = tile_fraction(lon, lat, z)
    return (x - int(x)) * 4096, (y - int(y)) * 4096


def tile_centre(z: int, x: int, y: int) -> tuple[float, float]:
    n = 2**z
    lon = (x + 0.5) / n * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lon, lat


TILE = tile_of(*HEFEI)
CENTRE = tile_centre(*TILE)  # every feature of these tests is within 300 m of it


def url(layer: str, z: int, x: int, y: int, query: str = "") -> str:
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf" + (f"?{query}" if query else "")


def tile_url(layer: str, tile=TILE, query: str = "") -> str:
    return url(layer, *tile, query)


def features(response, layer: str) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == MVT
    if not response.content:
        return []
    decoded = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    assert set(decoded) <= {layer}
    return decoded.get(layer, {}).get("features", [])


def ids(response, layer: str) -> list[int]:
    return sorted(feature["id"] for feature in features(response, layer))


def site_at(company, east_m: float = -150, north_m: float = -150, size_m: float = 200, **kw):
    """A site whose south-west corner is `east_m`, `north_m` from the tile centre."""
    corner = offset(*CENTRE, east_m, north_m)
    return SiteFactory(company=company, geom=MultiPolygon(rect(*corner, size_m, size_m)), **kw)


def unit_in(company, **kw):
    site = site_at(company)
    floor = FloorFactory(building__site=site, level=3)
    return UnitFactory(floor=floor, **kw)


# -- features, attributes and places ---------------------------------------------------------


def test_units_tile_holds_the_unit_with_the_attributes_the_map_needs(tree, manager_a, api):
    # given
    unit = unit_in(tree.sub_a, code="U-101", name="101室", number="101", status="leased")
    # when
    response = api(manager_a).get(tile_url("units"))
    # then
    [feature] = features(response, "units")
    assert feature["id"] == unit.pk
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Polygon"
    properties = feature["properties"]
    assert properties.pop("area_m2") == pytest.approx(81, rel=0.01)
    assert properties == {
        "id": unit.pk,
        "code": "U-101",
        "name": "101室",
        "company_id": tree.sub_a.pk,
        "company_code": "HFCT-A",
        "number": "101",
        "site_id": unit.site_id,
        "building_id": unit.building_id,
        "floor_id": unit.floor_id,
        "level": 3,
        "use": "office",
        "status": "leased",
        "gross_area": 81.0,
        "usable_area": 68.5,
        "outside_floor": False,
        "availability": "vacant",  # registered by leasing: no lease holds it
    }


def test_unit_polygon_lands_on_the_tile_pixels_of_its_corners(tree, manager_a, api):
    # given
    unit = unit_in(tree.sub_a)
    west, south, east, north = unit.geom.extent
    # when
    response = api(manager_a).get(tile_url("units"))
    # then
    [feature] = features(response, "units")
    [ring] = feature["geometry"]["coordinates"]
    xs = sorted({x for x, _ in ring})
    ys = sorted({y for _, y in ring})
    expected_x = sorted([pixel(west, south)[0], pixel(east, north)[0]])
    expected_y = sorted([pixel(west, north)[1], pixel(east, south)[1]])  # y grows downwards
    assert len(xs) == 2 and len(ys) == 2
    assert xs == pytest.approx(expected_x, abs=1)
    assert ys == pytest.approx(expected_y, abs=1)


def test_asset_point_lands_on_its_tile_pixel(tree, manager_a, api):
    # given
    where = offset(*CENTRE, 37, -52)
    asset = AssetFactory(company=tree.sub_a, geom=Point(*where, srid=4326), status="idle")
    z, x, y = tile_of(*where, 18)
    # when
    response = api(manager_a).get(url("assets", z, x, y))
    # then
    [feature] = features(response, "assets")
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == pytest.approx(pixel(*where, 18), abs=1)
    assert feature["properties"] == {
        "id": asset.pk,
        "code": asset.code,
        "name": asset.name,
        "company_id": tree.sub_a.pk,
        "company_code": "HFCT-A",
        "category_code": "2010000",
        "status": "idle",
    }


def _make(layer: str, company):
    site = site_at(company)
    if layer == "sites":
        return site
    if layer == "buildings":
        return BuildingFactory(site=site)
    if layer == "floors":
        return FloorFactory(building__site=site)
    if layer == "units":
        return UnitFactory(floor__building__site=site)
    if layer == "roads":
        line = LineString(offset(*CENTRE, -100, 0), offset(*CENTRE, 100, 0), srid=4326)
        return RoadFactory(site=site, geom=line, grade="arterial", end_stake_m=Decimal(200))
    if layer == "parks":
        return ParkFactory(site=site)
    if layer == "parcels":
        return ParcelFactory(site=site)
    return AssetFactory(company=company, geom=Point(*CENTRE, srid=4326))


@pytest.mark.parametrize("layer", list(tiles.LAYERS))
def test_every_layer_serves_its_features_with_the_declared_fields(tree, manager_a, api, layer):
    # given
    row = _make(layer, tree.sub_a)
    declared = set(tiles.layer_fields(tiles.LAYERS[layer]))
    # when
    response = api(manager_a).get(tile_url(layer))
    # then
    [feature] = features(response, layer)
    assert feature["id"] == row.pk
    assert set(feature["properties"]) <= declared
    assert {"id", "code", "name", "company_id", "company_code"} <= set(feature["properties"])
    assert feature["properties"]["code"] == row.code


def test_empty_area_gives_an_empty_tile(tree, manager_a, api):
    # given
    unit_in(tree.sub_a)
    far = tile_of(*offset(*CENTRE, 5000, 5000))
    # when
    response = api(manager_a).get(tile_url("units", far))
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == MVT
    assert response.content == b""
    assert response["ETag"] == tiles.tile_etag(b"")


def test_a_unit_across_the_tile_edge_is_in_both_tiles_clipped_at_the_buffer(tree, manager_a, api):
    # given: a unit reaching 10 m either side of the tile's east edge
    z, x, y = TILE
    edge = (x + 1) / 2**z * 360 - 180
    floor = FloorFactory(building__site=site_at(tree.sub_a))
    unit = UnitFactory(floor=floor, geom=rect(*offset(edge, CENTRE[1], east_m=-10), 20, 5))
    # when
    here = api(manager_a).get(tile_url("units"))
    east = api(manager_a).get(tile_url("units", (z, x + 1, y)))
    # then
    assert ids(here, "units") == [unit.pk]
    assert ids(east, "units") == [unit.pk]
    [feature] = features(here, "units")
    assert max(px for px, _ in feature["geometry"]["coordinates"][0]) == 4096 + tiles.BUFFER


# -- scoping, authentication ------------------------------------------------------------------


def test_user_of_subsidiary_b_gets_no_features_of_a_in_the_same_tile(
    tree, manager_a, manager_b, api
):
    # given
    unit_a = unit_in(tree.sub_a)
    site_b = site_at(tree.sub_b, east_m=60, north_m=60)
    unit_b = UnitFactory(floor__building__site=site_b)
    # when
    as_a = api(manager_a).get(tile_url("units"))
    as_b = api(manager_b).get(tile_url("units"))
    # then
    assert ids(as_a, "units") == [unit_a.pk]
    assert ids(as_b, "units") == [unit_b.pk]
    assert as_a["ETag"] != as_b["ETag"]


def test_group_admin_sees_every_subsidiary_in_the_tile(tree, group_admin, api):
    # given
    unit_a = unit_in(tree.project_a)
    unit_b = UnitFactory(floor__building__site=site_at(tree.sub_b, east_m=60, north_m=60))
    # when
    response = api(group_admin).get(tile_url("units"))
    # then
    assert ids(response, "units") == sorted([unit_a.pk, unit_b.pk])


def test_user_without_a_company_gets_an_empty_tile(tree, api):
    # given
    unit_in(tree.sub_a)
    nobody = UserFactory()
    # when
    response = api(nobody).get(tile_url("units"))
    # then
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", [tile_url("units"), "/tiles/", "/tiles/units.json"])
def test_anonymous_is_refused(tree, api, path):
    # given
    unit_in(tree.sub_a)
    # when
    response = api().get(path)
    # then
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_wrong_basic_credentials_are_refused(tree, manager_a, basic_api):
    # when
    response = basic_api(manager_a, password="wrong").get(tile_url("units"))
    # then
    assert response.status_code == 403
    assert "detail" in response.json()


def test_http_basic_and_session_users_get_the_same_tile(tree, manager_a, basic_api, client):
    # given
    unit = unit_in(tree.sub_a)
    client.force_login(manager_a)
    # when
    basic = basic_api(manager_a).get(tile_url("units"))
    session = client.get(tile_url("units"))
    # then
    assert ids(basic, "units") == [unit.pk]
    assert session.content == basic.content


def test_one_query_per_tile_for_a_superuser(tree, api, django_assert_num_queries):
    # given
    unit_in(tree.sub_a)
    admin = UserFactory(is_superuser=True)
    client = api(admin)
    # then
    with django_assert_num_queries(1):
        response = client.get(tile_url("units", query=f"status=vacant&company={tree.group.pk}"))
    assert len(features(response, "units")) == 1


def test_a_members_tile_adds_only_the_scope_lookups(
    tree, manager_a, api, django_assert_num_queries
):
    # given
    unit_in(tree.sub_a)
    client = api(manager_a)
    # then: memberships and their company subtree (access.company_ids), then the tile
    with django_assert_num_queries(3):
        response = client.get(tile_url("units", query="floor=1"))
    assert response.status_code == 200
    # and the next tiles reuse the scope: the tile's statement only
    with django_assert_num_queries(1):
        response = client.get(tile_url("units", query="floor=1"))
    assert response.status_code == 200


# -- the cached scope follows memberships and companies -----------------------------------------


def _codes(response, layer: str = "units") -> set[str]:
    return {f["properties"]["code"] for f in features(response, layer)}


def test_a_new_membership_shows_at_once_and_a_removed_one_hides(tree, manager_a, api):
    # given: a unit of each subsidiary in the same tile, the scope of A cached
    unit_in(tree.sub_a, code="U-A")
    unit_in(tree.sub_b, code="U-B")
    client = api(manager_a)
    assert _codes(client.get(tile_url("units"))) == {"U-A"}
    # when: manager_a gets a role at B
    membership = Membership.objects.create(user=manager_a, company=tree.sub_b, role=Role.READ_ONLY)
    manager_a = type(manager_a).objects.get(pk=manager_a.pk)  # a new request loads the user
    # then
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-A", "U-B"}
    # when: the role is taken away again
    membership.delete()
    manager_a = type(manager_a).objects.get(pk=manager_a.pk)
    # then
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-A"}


def test_a_company_added_below_a_members_company_shows_at_once(tree, manager_a, api):
    # given
    from spatial.choices import CompanyKind
    from spatial.services import company_create

    unit_in(tree.sub_a, code="U-A")
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-A"}
    # when: a project company below A, with a unit
    project = company_create(
        code="HFCT-A2", name="新项目公司", kind=CompanyKind.PROJECT, parent=tree.sub_a
    )
    unit_in(project, code="U-A2")
    manager_a = type(manager_a).objects.get(pk=manager_a.pk)
    # then
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-A", "U-A2"}


def test_a_change_that_skips_the_signals_shows_once_the_scope_expires(
    tree, manager_a, api, settings
):
    # given: a membership moved by a bulk update (no signal: another process, a script)
    unit_in(tree.sub_a, code="U-A")
    unit_in(tree.sub_b, code="U-B")
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-A"}
    Membership.objects.filter(user=manager_a).update(company=tree.sub_b)
    manager_a = type(manager_a).objects.get(pk=manager_a.pk)
    # then: within the cache's time the old scope is served ...
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-A"}
    # ... and after it the new one
    settings.TILES_SCOPE_SECONDS = 0
    assert _codes(api(manager_a).get(tile_url("units"))) == {"U-B"}


# -- zooms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", list(tiles.LAYERS))
def test_below_its_min_zoom_a_layer_is_an_empty_tile_without_a_query(
    tree, manager_a, api, django_assert_num_queries, layer
):
    # given
    _make(layer, tree.sub_a)
    min_zoom = tiles.MIN_ZOOM[layer]
    client = api(manager_a)
    # when
    with django_assert_num_queries(0):
        below = client.get(url(layer, *tile_of(*CENTRE, min_zoom - 1)))
    at = client.get(url(layer, *tile_of(*CENTRE, min_zoom)))
    # then
    assert below.status_code == 200
    assert below.content == b""
    assert len(features(at, layer)) == 1


def test_min_zooms_are_the_declared_table():
    assert tiles.MIN_ZOOM == {
        "sites": 8,
        "parks": 10,
        "roads": 10,
        "parcels": 12,
        "buildings": 13,
        "floors": 15,
        "units": 15,
        "assets": 15,
    }
    assert {name: layer.min_zoom for name, layer in tiles.LAYERS.items()} == tiles.MIN_ZOOM


def test_internal_roads_join_the_map_after_the_arterials(tree, manager_a, api):
    # given
    site = site_at(tree.sub_a)
    line = LineString(offset(*CENTRE, -100, 0), offset(*CENTRE, 100, 0), srid=4326)
    arterial = RoadFactory(site=site, geom=line, grade="arterial", end_stake_m=Decimal(200))
    internal = RoadFactory(site=site, geom=line, grade="internal", end_stake_m=Decimal(200))
    client = api(manager_a)
    # when
    z12 = client.get(url("roads", *tile_of(*CENTRE, 12)))
    z14 = client.get(url("roads", *tile_of(*CENTRE, 14)))
    # then
    assert ids(z12, "roads") == [arterial.pk]
    assert ids(z14, "roads") == sorted([arterial.pk, internal.pk])


def test_polygons_are_simplified_below_zoom_14_and_still_drawn(tree, manager_a, api):
    # given
    site = site_at(tree.sub_a)
    layer = tiles.LAYERS["sites"]
    # when
    low, _ = tiles.tile_sql(layer, user=manager_a, z=13, x=0, y=0)
    high, _ = tiles.tile_sql(layer, user=manager_a, z=14, x=0, y=0)
    response = api(manager_a).get(url("sites", *tile_of(*CENTRE, 10)))
    # then
    assert "ST_Simplify" in low
    assert "ST_Simplify" not in high
    [feature] = features(response, "sites")
    assert feature["id"] == site.pk
    assert feature["geometry"]["type"] == "Polygon"


# -- filters -----------------------------------------------------------------------------------


def test_floor_filter_leaves_the_units_of_that_floor(tree, manager_a, api):
    # given
    site = site_at(tree.sub_a)
    building = BuildingFactory(site=site)
    ground = FloorFactory(building=building, level=1)
    first = FloorFactory(building=building, level=2)
    on_ground = UnitFactory(floor=ground)
    UnitFactory(floor=first)
    # when
    response = api(manager_a).get(tile_url("units", query=f"floor={ground.pk}"))
    # then
    assert ids(response, "units") == [on_ground.pk]


def test_status_filter_takes_several_statuses(tree, manager_a, api):
    # given
    floor = FloorFactory(building__site=site_at(tree.sub_a))
    vacant = UnitFactory(floor=floor, status="vacant")
    leased = UnitFactory(floor=floor, status="leased")
    UnitFactory(floor=floor, status="reserved")
    # when
    response = api(manager_a).get(tile_url("units", query="status=vacant,leased"))
    # then
    assert ids(response, "units") == sorted([vacant.pk, leased.pk])


def test_company_filter_takes_the_companies_below_it(tree, group_admin, api):
    # given
    in_project = unit_in(tree.project_a)
    UnitFactory(floor__building__site=site_at(tree.sub_b, east_m=60, north_m=60))
    # when
    response = api(group_admin).get(tile_url("units", query=f"company={tree.sub_a.pk}"))
    # then
    assert ids(response, "units") == [in_project.pk]


def test_site_and_building_filters(tree, manager_a, api):
    # given
    site = site_at(tree.sub_a)
    other_site = site_at(tree.sub_a, east_m=60, north_m=60)
    building = BuildingFactory(site=site)
    BuildingFactory(site=other_site)
    floor = FloorFactory(building=building)
    FloorFactory(building__site=other_site)
    client = api(manager_a)
    # when
    buildings = client.get(tile_url("buildings", query=f"site={site.pk}"))
    floors = client.get(tile_url("floors", query=f"site={site.pk}"))
    by_building = client.get(tile_url("floors", query=f"building={building.pk}"))
    # then
    assert ids(buildings, "buildings") == [building.pk]
    assert ids(floors, "floors") == [floor.pk]
    assert ids(by_building, "floors") == [floor.pk]


def test_a_filter_outside_the_users_companies_finds_nothing(tree, manager_a, manager_b, api):
    # given
    unit = unit_in(tree.sub_a)
    # when
    response = api(manager_b).get(tile_url("units", query=f"floor={unit.floor_id}"))
    # then
    assert response.content == b""


def test_empty_filters_and_unknown_parameters_are_ignored(tree, manager_a, api):
    # given
    unit = unit_in(tree.sub_a)
    # when
    response = api(manager_a).get(tile_url("units", query="company=&status=&v=17"))
    # then
    assert ids(response, "units") == [unit.pk]


@pytest.mark.parametrize(
    ("layer", "query", "field"),
    [
        ("units", "site=abc", "site"),
        ("units", "building=0", "building"),
        ("units", "floor=-3", "floor"),
        ("units", "company=1.5", "company"),
        ("units", "status=vacant,sold", "status"),
        ("assets", "status=vacant", "status"),
        ("roads", "floor=1", "floor"),
        ("sites", "status=vacant", "status"),
    ],
)
def test_bad_filter_is_a_400_naming_the_parameter(tree, manager_a, api, layer, query, field):
    # when
    response = api(manager_a).get(tile_url(layer, query=query))
    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]


# -- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("z", "x", "y", "field"),
    [
        ("23", "0", "0", "z"),
        ("-1", "0", "0", "z"),
        ("a", "0", "0", "z"),
        ("3", "8", "0", "x"),
        ("3", "0", "8", "y"),
        ("3", "-1", "0", "x"),
        ("3", "1.5", "0", "x"),
        ("16", "0", "65536", "y"),
    ],
)
def test_tile_address_out_of_range_is_a_400_naming_it(tree, manager_a, api, z, x, y, field):
    # when
    response = api(manager_a).get(
        f"/tiles/units/{z}/{x}/{y}.pbf", HTTP_ACCEPT="application/x-protobuf"
    )
    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == [field]


def test_highest_zoom_and_last_tile_are_served(tree, manager_a, api):
    # when
    response = api(manager_a).get(url("units", 22, 2**22 - 1, 2**22 - 1))
    # then
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", ["/tiles/lakes/16/1/1.pbf", "/tiles/lakes.json"])
def test_unknown_layer_is_a_404_in_json(tree, manager_a, api, path):
    # when
    response = api(manager_a).get(path)
    # then
    assert response.status_code == 404
    assert "lakes" in response.json()["detail"]


def test_other_addresses_under_tiles_are_a_404_in_json(tree, manager_a, api):
    # when
    response = api(manager_a).get("/tiles/units/16/1.pbf")
    # then
    assert response.status_code == 404
    assert "/tiles/{layer}/{z}/{x}/{y}.pbf" in response.json()["detail"]


# -- caching -----------------------------------------------------------------------------------


def test_tile_headers_keep_it_private_to_the_user(tree, manager_a, api):
    # given
    unit_in(tree.sub_a)
    # when
    response = api(manager_a).get(tile_url("units"))
    # then
    assert response["Cache-Control"] == f"private, max-age={tiles.CACHE_SECONDS}"
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"Cookie", "Authorization"} <= vary
    assert response["ETag"] == tiles.tile_etag(response.content)


def test_if_none_match_with_the_etag_is_a_304(tree, manager_a, api):
    # given
    unit_in(tree.sub_a)
    client = api(manager_a)
    etag = client.get(tile_url("units"))["ETag"]
    # when
    same = client.get(tile_url("units"), HTTP_IF_NONE_MATCH=etag)
    weak = client.get(tile_url("units"), HTTP_IF_NONE_MATCH=f'"other", W/{etag}')
    stale = client.get(tile_url("units"), HTTP_IF_NONE_MATCH='"other"')
    # then
    assert same.status_code == 304
    assert same.content == b""
    assert same["ETag"] == etag
    assert same["Cache-Control"] == f"private, max-age={tiles.CACHE_SECONDS}"
    assert weak.status_code == 304
    assert stale.status_code == 200
    assert stale["ETag"] == etag


def test_a_change_to_a_unit_changes_the_etag(tree, manager_a, api):
    # given
    unit = unit_in(tree.sub_a, status="vacant")
    client = api(manager_a)
    before = client.get(tile_url("units"))["ETag"]
    # when
    Unit.objects.filter(pk=unit.pk).update(status="leased")
    after = client.get(tile_url("units"), HTTP_IF_NONE_MATCH=before)
    # then
    assert after.status_code == 200
    assert after["ETag"] != before


def test_prepared_and_plain_statements_give_the_same_tile(tree, manager_a, api, settings):
    # given
    floor = FloorFactory(building__site=site_at(tree.sub_a))
    for n in range(5):
        UnitFactory(floor=floor, geom=unit_slot(floor.geom, n))
    client = api(manager_a)
    # when: the third fetch runs a statement prepared on the connection
    prepared = [client.get(tile_url("units")).content for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement ~ 'ST_AsMVT'")
        [(statements,)] = cursor.fetchall()
    settings.TILES_PREPARED_STATEMENTS = False
    plain = client.get(tile_url("units")).content
    # then
    assert statements == 1
    assert len(features_of(plain)) == 5
    assert prepared == [plain] * 3


def features_of(content: bytes) -> list[dict]:
    return mapbox_vector_tile.decode(content)["units"]["features"]


# -- the index ---------------------------------------------------------------------------------


def test_index_lists_the_layers_with_zooms_fields_and_tile_urls(tree, manager_a, api):
    # when
    response = api(manager_a).get("/tiles/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["content_type"] == MVT
    assert (body["extent"], body["minzoom"], body["maxzoom"]) == (4096, 0, 22)
    layers = {layer["id"]: layer for layer in body["layers"]}
    assert list(layers) == list(tiles.LAYERS)
    units = layers["units"]
    assert (units["minzoom"], units["maxzoom"]) == (15, 22)
    assert units["tiles"] == ["http://testserver/tiles/units/{z}/{x}/{y}.pbf"]
    assert units["fields"]["level"] == "Number"
    assert units["fields"]["status"] == "String"
    assert units["fields"]["outside_floor"] == "Boolean"
    assert units["filters"] == ["company", "site", "building", "floor", "status"]
    assert "vacant" in units["statuses"]
    assert layers["roads"]["filters"] == ["company", "site"]
    assert api(manager_a).get("/tiles/layers.json").json() == body


def test_layer_tilejson_carries_the_filters_into_the_tile_url(tree, manager_a, api):
    # when
    response = api(manager_a).get("/tiles/units.json?floor=7&status=vacant,leased")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"] == [
        "http://testserver/tiles/units/{z}/{x}/{y}.pbf?floor=7&status=vacant,leased"
    ]
    assert (body["minzoom"], body["maxzoom"]) == (15, 22)
    assert body["vector_layers"][0]["id"] == "units"
    assert "floor_id" in body["vector_layers"][0]["fields"]


def test_layer_tilejson_refuses_a_bad_filter(tree, manager_a, api):
    # when
    response = api(manager_a).get("/tiles/parks.json?status=vacant")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["status"]


def test_any_signed_in_user_reads_the_index(tree, api):
    # when
    response = api(UserFactory()).get("/tiles/")
    # then
    assert response.status_code == 200


def test_role_does_not_matter_for_viewing_tiles(tree, api):
    # given
    unit = unit_in(tree.sub_a)
    agent = UserFactory()
    Membership.objects.create(user=agent, company=tree.sub_a, role=Role.LEASING_AGENT)
    # when
    response = api(agent).get(tile_url("units"))
    # then
    assert ids(response, "units") == [unit.pk]


# -- attributes registered by other apps: a unit's lease state (leasing/layers.py) ---------------


def lease_states(company, floor, *, today: date | None = None) -> dict[str, Unit]:
    """Five units on `floor`, one per availability, with leases dated around the real today
    (tiles and WFS compute availability as of the request's local date)."""
    from leasing import services as leasing

    today = today or timezone.localdate()
    units = {
        state: UnitFactory(code=f"AV-{state}", floor=floor, company=company)
        for state in ("vacant", "leased", "expiring", "reserved", "not_leasable")
    }
    Unit.objects.filter(pk=units["not_leasable"].pk).update(status="self_used")
    tenant = leasing.tenant_create(
        company=company, kind="company", name="合肥某科技有限公司", uscc="91340100MA4JURQ20P",
        contact_name="王伟", phone="13812341234", size="medium",
    )  # fmt: skip

    def lease(unit, number, start, end, *, activate=True):
        data = dict(
            number=number, tenant=tenant, use="office", start_date=start, end_date=end,
            units=[{"unit": unit, "area": Decimal("80")}],
            steps=[{"start_date": start, "price": Decimal("62.5"), "basis": "sqm_month"}],
            payment_cycle=3,
        )  # fmt: skip
        created = leasing.lease_create(today=min(today, start), **data)
        leasing.lease_submit(created, today=min(today, start))
        leasing.lease_approve(created, today=min(today, start))
        if activate:
            leasing.lease_activate(created, today=today)

    lease(units["leased"], "HT-L", today - timedelta(days=30), today + timedelta(days=400))
    lease(units["expiring"], "HT-E", today - timedelta(days=300), today + timedelta(days=30))
    lease(
        units["reserved"], "HT-R", today + timedelta(days=10), today + timedelta(days=375),
        activate=False,
    )  # fmt: skip
    return units


def test_units_carry_availability_lease_end_rent_and_tenant_from_leasing(tree, manager_a, api):
    # given: units in each state of availability, around today
    floor = FloorFactory(
        building__site__company=tree.sub_a, geom=rect(*offset(*CENTRE, -60, -60), 120, 120)
    )
    units = lease_states(tree.sub_a, floor)
    today = timezone.localdate()
    # when
    response = api(manager_a).get(tile_url("units"))
    # then
    by_code = {f["properties"]["code"]: f["properties"] for f in features(response, "units")}
    assert {code: p["availability"] for code, p in by_code.items()} == {
        "AV-vacant": "vacant",
        "AV-leased": "leased",
        "AV-expiring": "expiring",
        "AV-reserved": "reserved",
        "AV-not_leasable": "not_leasable",
    }
    leased = by_code["AV-leased"]
    assert leased["lease_end"] == (today + timedelta(days=400)).isoformat()
    assert leased["rent_sqm_month"] == 62.5
    assert leased["tenant_name"] == "合肥某科技有限公司"
    assert by_code["AV-expiring"]["lease_end"] == (today + timedelta(days=30)).isoformat()
    # a unit no lease holds today has no lease attributes (left out of the feature)
    for code in ("AV-vacant", "AV-reserved", "AV-not_leasable"):
        assert not {"lease_end", "rent_sqm_month", "tenant_name"} & set(by_code[code])
    assert units["leased"].pk == next(
        f["id"] for f in features(response, "units") if f["properties"]["code"] == "AV-leased"
    )


def test_tile_availability_agrees_with_the_leasing_selector(tree, manager_a, api):
    # given
    from leasing.selectors import availability_of, units_availability

    floor = FloorFactory(
        building__site__company=tree.sub_a, geom=rect(*offset(*CENTRE, -60, -60), 120, 120)
    )
    lease_states(tree.sub_a, floor)
    today = timezone.localdate()
    # when
    response = api(manager_a).get(tile_url("units"))
    # then: the same state as the leasing app's own rule, unit by unit
    expected = {
        u.code: availability_of(u, as_of=today)["availability"]
        for u in units_availability(user=manager_a, as_of=today)
    }
    tiles_say = {f["properties"]["code"]: f["properties"]["availability"]
                 for f in features(response, "units")}  # fmt: skip
    assert tiles_say == expected


def test_the_index_lists_the_registered_unit_attributes(tree, manager_a, api):
    # when
    response = api(manager_a).get("/tiles/units.json")
    # then
    fields = response.json()["vector_layers"][0]["fields"]
    assert fields["availability"] == "String"
    assert fields["lease_end"] == "String"
    assert fields["rent_sqm_month"] == "Number"
    assert fields["tenant_name"] == "String"


def test_registered_attributes_keep_one_query_per_tile(tree, api, django_assert_num_queries):
    # given
    admin = UserFactory(is_superuser=True)
    floor = FloorFactory(
        building__site__company=tree.sub_a, geom=rect(*offset(*CENTRE, -60, -60), 120, 120)
    )
    lease_states(tree.sub_a, floor)
    client = api(admin)
    # when / then: the lease state is joined inside the tile's one statement
    with django_assert_num_queries(1):
        response = client.get(tile_url("units"))
    assert len(features(response, "units")) == 5


def test_a_layer_registered_twice_is_refused():
    # given
    from django.core.exceptions import ImproperlyConfigured

    from spatial import layers

    # when / then
    with pytest.raises(ImproperlyConfigured):
        layers.tile_layer_register(tiles.LAYERS["assets"], min_zoom=15)
    with pytest.raises(ImproperlyConfigured):
        layers.tile_attributes_register("units", layers.tile_extensions("units")[0])


@pytest.fixture(autouse=True)
def _fresh_scope_cache():
    # Scopes and session users are cached per process; each test starts without any.
    tiles.tile_scope_cache_clear()
    tiles.tile_session_cache_clear()


# -- the session's user is kept per process too ------------------------------------------------


def test_a_session_tile_after_the_first_runs_only_the_tile_statement(
    tree, manager_a, client, django_assert_num_queries
):
    # given
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    client.get(tile_url("units"))
    # when / then: no session, user or scope lookups
    with django_assert_num_queries(1):
        response = client.get(tile_url("units"))
    assert len(features(response, "units")) == 1


def test_signing_out_ends_the_sessions_tiles(tree, manager_a, client):
    # given
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    assert client.get(tile_url("units")).status_code == 200
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    # when
    client.logout()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie  # replaying the old session cookie
    # then
    assert client.get(tile_url("units")).status_code == 403


def test_a_deactivated_user_loses_the_tiles_at_once(tree, manager_a, client):
    # given
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    assert client.get(tile_url("units")).status_code == 200
    # when
    manager_a.is_active = False
    manager_a.save()
    # then
    assert client.get(tile_url("units")).status_code == 403


def test_a_cached_session_user_does_not_keep_old_memberships(tree, manager_a, client):
    # given: the session user is cached with the scope of A
    unit_in(tree.sub_a, code="U-A")
    unit_in(tree.sub_b, code="U-B")
    client.force_login(manager_a)
    assert _codes(client.get(tile_url("units"))) == {"U-A"}
    # when
    Membership.objects.create(user=manager_a, company=tree.sub_b, role=Role.READ_ONLY)
    # then
    assert _codes(client.get(tile_url("units"))) == {"U-A", "U-B"}


# -- the fast path: tiles for known users answered before the rest of the stack --------------


def _fast_path(request):
    """TileFastPathMiddleware over a stand-in for the rest of the stack, which says so."""
    passed_on = HttpResponse(b"passed on", status=299)
    return tiles.TileFastPathMiddleware(lambda request: passed_on)(request)


def _session_request(client, path: str, **headers):
    return RequestFactory().get(
        path, HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}", **headers
    )


def test_a_known_sessions_tile_is_answered_by_the_fast_path_with_the_same_bytes(
    tree, manager_a, client
):
    # given: the first tile of the session went through TileView
    unit_in(tree.sub_a, code="U-A")
    unit_in(tree.sub_b, code="U-B")
    client.force_login(manager_a)
    full = client.get(tile_url("units"))
    # when
    fast = _fast_path(_session_request(client, tile_url("units")))
    # then: the same tile, scoped alike, with the same headers
    assert fast.status_code == 200
    assert fast.content == full.content
    assert _codes(fast) == {"U-A"}
    for header in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
        assert fast[header] == full[header]
    # The bytes hold no text, so only the credentials vary them.
    assert fast["Vary"] == "Cookie, Authorization"


def test_tiles_from_the_fast_path_keep_the_security_headers(tree, manager_a, client):
    # given
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    client.get(tile_url("units"))
    # when: the second tile, answered before the session and locale middleware
    response = client.get(tile_url("units"))
    # then: SecurityMiddleware, which comes first, still adds its headers
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Language" not in response
    assert len(features(response, "units")) == 1


def test_the_fast_path_answers_a_known_etag_with_not_modified(tree, manager_a, client):
    # given
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    etag = client.get(tile_url("units"))["ETag"]
    # when
    response = _fast_path(_session_request(client, tile_url("units"), HTTP_IF_NONE_MATCH=etag))
    # then
    assert response.status_code == 304
    assert response["ETag"] == etag


def test_the_fast_path_applies_the_maps_filters(tree, manager_a, client):
    # given
    unit = unit_in(tree.sub_a, code="U-A")
    client.force_login(manager_a)
    client.get(tile_url("units"))
    # when
    same_floor = _fast_path(
        _session_request(client, tile_url("units", query=f"floor={unit.floor_id}"))
    )
    other_floor = _fast_path(
        _session_request(client, tile_url("units", query=f"floor={unit.floor_id + 1000}"))
    )
    # then
    assert _codes(same_floor) == {"U-A"}
    assert other_floor.content == b""


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (tile_url("nonsense"), "get"),  # an unknown layer: TileView says which exist
        (url("units", 16, 70000, 1), "get"),  # x out of range at zoom 16
        (url("units", "z", 1, 1), "get"),
        (tile_url("units", query="floor=-1"), "get"),  # a bad filter
        (tile_url("units", query="status=nonsense"), "get"),  # not a unit status
        (tile_url("units"), "head"),
        (tile_url("units"), "post"),
        ("/tiles/units.json", "get"),
        ("/api/spatial/units/1.pbf", "get"),  # not a tile address
    ],
)
def test_the_fast_path_passes_on_what_it_does_not_answer(tree, manager_a, client, path, method):
    # given: a known session
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    client.get(tile_url("units"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}"
    # when
    response = _fast_path(getattr(RequestFactory(), method)(path, HTTP_COOKIE=cookie))
    # then
    assert response.status_code == 299


def test_the_fast_path_passes_on_unknown_and_anonymous_users(tree, manager_a, basic_api, client):
    # given: nobody has fetched a tile in this process yet
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    token = base64.b64encode(f"{manager_a.get_username()}:{PASSWORD}".encode()).decode()
    # then
    assert _fast_path(RequestFactory().get(tile_url("units"))).status_code == 299
    assert _fast_path(_session_request(client, tile_url("units"))).status_code == 299
    basic = RequestFactory().get(tile_url("units"), HTTP_AUTHORIZATION=f"Basic {token}")
    assert _fast_path(basic).status_code == 299


def test_basic_credentials_that_worked_are_answered_by_the_fast_path(
    tree, manager_a, basic_api, client
):
    # given: QGIS sends its credentials with every tile
    unit_in(tree.sub_a, code="U-A")
    unit_in(tree.sub_b, code="U-B")
    full = basic_api(manager_a).get(tile_url("units"))
    token = base64.b64encode(f"{manager_a.get_username()}:{PASSWORD}".encode()).decode()
    wrong = base64.b64encode(f"{manager_a.get_username()}:wrong".encode()).decode()
    # when
    fast = _fast_path(RequestFactory().get(tile_url("units"), HTTP_AUTHORIZATION=f"Basic {token}"))
    other = RequestFactory().get(tile_url("units"), HTTP_AUTHORIZATION=f"Basic {wrong}")
    # then
    assert fast.status_code == 200
    assert fast.content == full.content
    assert _codes(fast) == {"U-A"}
    assert _fast_path(other).status_code == 299  # other credentials are not the cached ones
    assert basic_api(manager_a, password="wrong").get(tile_url("units")).status_code == 403


def test_a_changed_password_ends_the_cached_basic_credentials(tree, manager_a, basic_api):
    # given
    unit_in(tree.sub_a)
    assert basic_api(manager_a).get(tile_url("units")).status_code == 200
    # when
    manager_a.set_password("another-password-2026")
    manager_a.save()
    # then: through the whole stack, the old password is refused
    assert basic_api(manager_a).get(tile_url("units")).status_code == 403
    assert (
        basic_api(manager_a, password="another-password-2026").get(tile_url("units")).status_code
        == 200
    )


def test_signing_out_ends_the_fast_path_too(tree, manager_a, client):
    # given
    unit_in(tree.sub_a)
    client.force_login(manager_a)
    client.get(tile_url("units"))
    request = _session_request(client, tile_url("units"))
    assert _fast_path(request).status_code == 200
    # when
    client.logout()
    # then
    assert _fast_path(request).status_code == 299
