"""Road stakes (桩号) by linear referencing: a stake to a point and a point to a stake, along
the road's geodesic length, through the API and scoped like the road itself."""

from decimal import Decimal

import numpy as np
import pytest
from django.contrib.gis.geos import LineString
from django.core.exceptions import ValidationError
from pyproj import Geod

from spatial import linref
from spatial.transfer import crs
from tests.factories import HEFEI, RoadFactory, SiteFactory, offset

GEOD = Geod(ellps="WGS84")


def metres(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def _road_east(tree, start="0.00", end="180.00"):
    """A 180 m road running due east from (10 m, 5 m) into its site (RoadFactory's layout)."""
    return RoadFactory(
        site__company=tree.sub_a, start_stake_m=Decimal(start), end_stake_m=Decimal(end)
    )


def _road_corner(tree):
    """100 m east, then 100 m north: planar fractions in degrees would miss the corner by
    metres (a degree of longitude is shorter than one of latitude); geodesic ones do not."""
    site = SiteFactory(company=tree.sub_a)
    a = HEFEI
    b = offset(*a, east_m=100)
    c = offset(*b, north_m=100)
    return RoadFactory(
        site=site,
        geom=LineString(a, b, c, srid=4326),
        start_stake_m=Decimal("1000.00"),
        end_stake_m=Decimal("1200.00"),
    ), (a, b, c)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metres_"),
    [
        ("K1+234.5", Decimal("1234.5")),
        ("k0+000", Decimal("0")),
        (" K12 + 003 ", Decimal("12003")),
        ("1234.5", Decimal("1234.5")),
        ("90", Decimal("90")),
        ("90m", Decimal("90")),
    ],
)
def test_parse_stake_reads_labels_and_metres(text, metres_):
    assert linref.parse_stake(text) == metres_


@pytest.mark.parametrize("text", ["", "abc", "K1+", "K1+1234", "1e400x", "nan", "K-1+000"])
def test_parse_stake_refuses_bad_input_naming_stake(text):
    with pytest.raises(ValidationError) as raised:
        linref.parse_stake(text)
    assert list(raised.value.message_dict) == ["stake"]


# -- stake → point ------------------------------------------------------------------------------


def test_stake_to_point_is_a_geojson_point_at_that_distance_along_the_road(tree, manager_a, api):
    # given
    road = _road_east(tree)
    start = road.geom.coords[0]
    # when
    response = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=K0%2B090")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "Feature"
    assert body["geometry"]["type"] == "Point"
    assert body["properties"]["stake"] == "K0+090"
    assert body["properties"]["stake_m"] == "90"
    assert metres(start, body["geometry"]["coordinates"]) == pytest.approx(90, abs=0.01)


def test_stake_in_metres_gives_the_same_point_as_the_label(tree, manager_a, api):
    road = _road_east(tree)
    by_label = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=K0%2B045.5")
    by_metres = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=45.5")
    assert by_label.json()["geometry"] == by_metres.json()["geometry"]
    assert by_label.json()["properties"]["stake"] == "K0+045.5"


def test_stake_fraction_follows_the_geodesic_length_around_a_corner(tree, manager_a, api):
    # given a road whose stakes run K1+000 … K1+200 along 100 m east then 100 m north
    road, (_, corner, end) = _road_corner(tree)
    # when
    response = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=K1%2B100")
    # then: the corner, to a few centimetres
    assert response.status_code == 200
    assert metres(corner, response.json()["geometry"]["coordinates"]) < 0.05
    last = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=K1%2B200")
    assert metres(end, last.json()["geometry"]["coordinates"]) < 0.01


def test_stakes_spread_evenly_when_they_differ_from_the_measured_length(tree, manager_a, api):
    # given a 180 m line whose recorded stakes span 200 m
    road = _road_east(tree, "0.00", "200.00")
    start = road.geom.coords[0]
    # when
    response = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=100")
    # then: halfway along the line
    assert metres(start, response.json()["geometry"]["coordinates"]) == pytest.approx(90, abs=0.01)


@pytest.mark.parametrize("stake", ["K0%2B180.01", "K1%2B000", "-1"])
def test_stake_outside_the_road_is_a_400_naming_stake(tree, manager_a, api, stake):
    road = _road_east(tree)
    response = api(manager_a).get(
        f"/api/roads/{road.pk}/stake-to-point/?stake={stake}", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["stake"]


def test_stake_before_the_start_stake_is_a_400_naming_the_range(tree, manager_a, api):
    road = _road_east(tree, "500.00", "680.00")
    response = api(manager_a).get(
        f"/api/roads/{road.pk}/stake-to-point/?stake=K0%2B100", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == {"stake": ["K0+100 is outside this road's stakes, K0+500 to K0+680."]}


@pytest.mark.parametrize("query", ["", "?stake=", "?stake=abc", "?stake=K1%2B2000"])
def test_bad_stake_is_a_400_naming_stake(tree, manager_a, api, query):
    road = _road_east(tree)
    response = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/{query}")
    assert response.status_code == 400
    assert list(response.json()) == ["stake"]


def test_stake_to_point_in_gcj02_is_shifted_like_a_phone_map(tree, manager_a, api):
    road = _road_east(tree)
    wgs = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=90").json()
    gcj = api(manager_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=90&crs=GCJ02").json()
    expected = crs.wgs84_to_gcj02(*wgs["geometry"]["coordinates"])
    assert gcj["geometry"]["coordinates"] == pytest.approx([float(v) for v in expected], abs=1e-12)
    assert gcj["properties"]["crs"] == "GCJ02"


# -- point → stake ------------------------------------------------------------------------------


def test_point_to_stake_gives_the_stake_and_the_distance_from_the_road(tree, manager_a, api):
    # given a point 12 m north of the road, 50 m from its start
    road = _road_east(tree)
    lon, lat = offset(*road.geom.coords[0], east_m=50, north_m=12)
    # when
    response = api(manager_a).get(f"/api/roads/{road.pk}/point-to-stake/?lon={lon}&lat={lat}")
    # then
    assert response.status_code == 200
    body = response.json()
    assert Decimal(body["stake_m"]) == pytest.approx(Decimal("50"), abs=Decimal("0.05"))
    assert body["stake"].startswith("K0+0")
    assert body["distance_m"] == pytest.approx(12, abs=0.01)
    assert metres(body["point_on_road"]["coordinates"], (lon, lat)) == pytest.approx(12, abs=0.01)


def test_point_to_stake_after_the_corner_counts_both_legs(tree, manager_a, api):
    road, (_, corner, _) = _road_corner(tree)
    lon, lat = offset(*corner, east_m=5, north_m=30)
    body = api(manager_a).get(f"/api/roads/{road.pk}/point-to-stake/?lon={lon}&lat={lat}").json()
    assert Decimal(body["stake_m"]) == pytest.approx(Decimal("1130"), abs=Decimal("0.05"))
    assert body["stake"] == "K1+130"
    assert body["distance_m"] == pytest.approx(5, abs=0.01)


def test_point_to_stake_takes_gcj02_input(tree, manager_a, api):
    road = _road_east(tree)
    lon, lat = offset(*road.geom.coords[0], east_m=70, north_m=3)
    glon, glat = (float(v) for v in crs.wgs84_to_gcj02(lon, lat))
    wgs = api(manager_a).get(f"/api/roads/{road.pk}/point-to-stake/?lon={lon}&lat={lat}").json()
    gcj = (
        api(manager_a)
        .get(f"/api/roads/{road.pk}/point-to-stake/?lon={glon}&lat={glat}&crs=GCJ02")
        .json()
    )
    assert gcj["stake_m"] == wgs["stake_m"]
    assert gcj["distance_m"] == pytest.approx(wgs["distance_m"], abs=0.001)
    assert np.allclose(
        gcj["point_on_road"]["coordinates"],
        [float(v) for v in crs.wgs84_to_gcj02(*wgs["point_on_road"]["coordinates"])],
        atol=1e-9,
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("lat=31.85", "lon"),
        ("lon=abc&lat=31.85", "lon"),
        ("lon=117.25", "lat"),
        ("lon=117.25&lat=95", "lat"),
        ("lon=200&lat=31.85", "lon"),
        ("lon=117.25&lat=31.85&crs=EPSG:4548", "crs"),
        ("lon=117.25&lat=31.85&crs=nonsense", "crs"),
    ],
)
def test_bad_point_is_a_400_naming_the_value(tree, manager_a, api, query, field):
    road = _road_east(tree)
    response = api(manager_a).get(f"/api/roads/{road.pk}/point-to-stake/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


# -- scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["stake-to-point/?stake=10", "point-to-stake/?lon=117&lat=31"])
def test_stakes_are_refused_to_anonymous_users(tree, api, path):
    road = _road_east(tree)
    assert api().get(f"/api/roads/{road.pk}/{path}").status_code == 403


@pytest.mark.parametrize("path", ["stake-to-point/?stake=10", "point-to-stake/?lon=117&lat=31"])
def test_stakes_of_another_companys_road_are_a_404(tree, manager_b, api, path):
    road = _road_east(tree)
    assert api(manager_b).get(f"/api/roads/{road.pk}/{path}").status_code == 404


def test_read_only_users_may_locate_stakes(tree, readonly_a, api):
    road = _road_east(tree)
    assert api(readonly_a).get(f"/api/roads/{road.pk}/stake-to-point/?stake=10").status_code == 200
