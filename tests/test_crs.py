"""Coordinate systems at the edges: CRS names and EPSG codes, CGCS2000 Gauss-Krüger zones,
and the GCJ-02 / BD-09 conversions against the published reference values."""

import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod

from spatial.transfer import crs

GEOD = Geod(ellps="WGS84")
BEIJING = (116.404, 39.915)  # the reference point of the coordtransform / eviltransform READMEs


def metres_between(lon1, lat1, lon2, lat2) -> np.ndarray:
    _, _, distance = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(distance)


# -- GCJ-02 and BD-09 against the literature ----------------------------------------------------


def test_wgs84_to_gcj02_matches_the_published_reference_pair():
    # when
    lon, lat = crs.wgs84_to_gcj02(*BEIJING)
    # then (wandergis/coordtransform README: wgs84togcj02(116.404, 39.915))
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-12)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-12)


def test_gcj02_to_bd09_matches_the_published_reference_pair():
    lon, lat = crs.gcj02_to_bd09(*BEIJING)
    assert float(lon) == pytest.approx(116.41036949371029, abs=1e-12)
    assert float(lat) == pytest.approx(39.92133699351021, abs=1e-12)


def test_wgs84_to_bd09_matches_the_published_reference_pair():
    lon, lat = crs.wgs84_to_bd09(*BEIJING)
    assert float(lon) == pytest.approx(116.41662724378733, abs=1e-12)
    assert float(lat) == pytest.approx(39.922699552216216, abs=1e-12)


def test_bd09_to_gcj02_agrees_with_the_published_closed_form_to_a_micro_degree():
    # The README's bd09togcj02(116.404, 39.915) is the closed form; ours refines it further.
    lon, lat = crs.bd09_to_gcj02(*BEIJING)
    assert float(lon) == pytest.approx(116.39762729119315, abs=1e-6)
    assert float(lat) == pytest.approx(39.90865673957631, abs=1e-6)
    again = crs.gcj02_to_bd09(lon, lat)
    assert float(metres_between(*again, *BEIJING)) < 1e-4


def test_gcj02_offset_in_beijing_is_a_few_hundred_metres():
    gcj = crs.wgs84_to_gcj02(*BEIJING)
    assert 300 < float(metres_between(*BEIJING, *gcj)) < 800


def test_gcj02_to_wgs84_inverts_the_published_pair_to_a_millimetre():
    # given the GCJ-02 coordinates of the reference point
    gcj = (116.41024449916938, 39.91640428150164)
    # when
    lon, lat = crs.gcj02_to_wgs84(*gcj)
    # then
    assert float(metres_between(lon, lat, *BEIJING)) < 0.001


def test_gcj02_inverse_is_better_than_half_a_metre_all_over_china():
    # given a grid over the whole of China, every 0.2 degrees
    lon, lat = np.meshgrid(np.arange(73.8, 134.9, 0.2), np.arange(4.0, 53.4, 0.2))
    # when
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    # then
    error = metres_between(lon.ravel(), lat.ravel(), back[0].ravel(), back[1].ravel())
    assert error.max() < 0.5
    assert error.max() < 1e-3  # in practice: the iteration stops at 1e-9 degrees


def test_bd09_round_trip_is_better_than_half_a_metre_all_over_china():
    lon, lat = np.meshgrid(np.arange(73.8, 134.9, 0.5), np.arange(4.0, 53.4, 0.5))
    back = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    error = metres_between(lon.ravel(), lat.ravel(), back[0].ravel(), back[1].ravel())
    assert error.max() < 1e-3


@pytest.mark.parametrize(
    "place", [(-0.1246, 51.5007), (151.2093, -33.8688), (139.7454, 35.6586), (2.2945, 48.8584)]
)
def test_points_outside_china_pass_through_gcj02_unchanged(place):
    assert tuple(map(float, crs.wgs84_to_gcj02(*place))) == place
    assert tuple(map(float, crs.gcj02_to_wgs84(*place))) == place


def test_conversions_are_vectorised_and_keep_the_shape():
    lon = np.array([[116.404, 117.25], [121.47, -0.1246]])
    lat = np.array([[39.915, 31.85], [31.23, 51.5007]])
    out_lon, out_lat = crs.wgs84_to_gcj02(lon, lat)
    assert out_lon.shape == (2, 2)
    assert out_lon[1, 1] == -0.1246  # London: unchanged
    assert out_lon[0, 0] == pytest.approx(116.41024449916938, abs=1e-12)


# -- naming a CRS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "epsg"),
    [
        ("EPSG:4547", 4547),
        ("epsg:4548", 4548),
        ("4548", 4548),
        ("urn:ogc:def:crs:EPSG::4490", 4490),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", 4326),
        ("WGS84", 4326),
        ("CGCS2000", 4490),
        ("CGCS2000-GK3-CM117", 4548),
        ("cgcs2000_gk3_cm117e", 4548),
        ("CGCS2000-GK3-39", 4527),
        ("CGCS2000-GK6-CM117", 4509),
        ("CGCS2000-GK6-20", 4498),
    ],
)
def test_parse_crs_accepts_codes_and_names(text, epsg):
    parsed = crs.parse_crs(text)
    assert (parsed.kind, parsed.epsg, parsed.label) == ("epsg", epsg, f"EPSG:{epsg}")


@pytest.mark.parametrize(
    ("text", "kind"), [("GCJ02", "gcj02"), ("gcj-02", "gcj02"), ("BD09", "bd09")]
)
def test_parse_crs_knows_gcj02_and_bd09(text, kind):
    parsed = crs.parse_crs(text)
    assert parsed.kind == kind
    assert parsed.pyproj() is None
    assert parsed.is_geographic


@pytest.mark.parametrize("text", ["", "EPSG:999999", "Beijing54-ish", "CGCS2000-GK3-CM118"])
def test_parse_crs_refuses_what_it_does_not_know_naming_the_accepted_forms(text):
    with pytest.raises(crs.CrsError):
        crs.parse_crs(text)


@pytest.mark.parametrize("meridian", range(75, 136, 3))
def test_gk3_codes_are_the_cgcs2000_3_degree_zones_in_pyproj(meridian):
    by_meridian = CRS.from_epsg(crs.gk3_epsg(meridian))
    with_prefix = CRS.from_epsg(crs.gk3_epsg(meridian, zone_prefix=True))
    assert by_meridian.name == f"CGCS2000 / 3-degree Gauss-Kruger CM {meridian}E"
    assert with_prefix.name == f"CGCS2000 / 3-degree Gauss-Kruger zone {meridian // 3}"
    params = {p.name: p.value for p in with_prefix.coordinate_operation.params}
    assert params["False easting"] == meridian // 3 * 1_000_000 + 500_000


def test_gk3_codes_span_4534_to_4554_and_4513_to_4533():
    assert [crs.gk3_epsg(m) for m in range(75, 136, 3)] == list(range(4534, 4555))
    assert [crs.gk3_epsg(m, zone_prefix=True) for m in range(75, 136, 3)] == list(range(4513, 4534))


@pytest.mark.parametrize("meridian", range(75, 136, 6))
def test_gk6_codes_are_the_cgcs2000_6_degree_zones_in_pyproj(meridian):
    assert CRS.from_epsg(crs.gk6_epsg(meridian)).name == (f"CGCS2000 / Gauss-Kruger CM {meridian}E")
    zone = (meridian + 3) // 6
    assert CRS.from_epsg(crs.gk6_epsg(meridian, zone_prefix=True)).name == (
        f"CGCS2000 / Gauss-Kruger zone {zone}"
    )


def test_gk3_zone_for_hefei_is_cm117():
    assert crs.gk3_zone_for(117.25) == 117
    assert crs.gk3_zone_for(118.6) == 120


# -- transforming geometries --------------------------------------------------------------------


def test_gauss_kruger_polygon_goes_to_wgs84_and_back_to_a_millimetre():
    # given a 10 m square in CGCS2000 GK CM117 (EPSG:4548, easting first with always_xy)
    square = shapely.box(512_000, 3_525_000, 512_010, 3_525_010)
    gk = crs.parse_crs("CGCS2000-GK3-CM117")
    # when
    (wgs,) = crs.to_wgs84(np.array([square]), gk)
    (back,) = crs.from_wgs84(np.array([wgs]), gk)
    # then: near Hefei, and back where it started
    lon, lat = wgs.centroid.x, wgs.centroid.y
    assert 117.0 < lon < 117.3 and 31.7 < lat < 31.9
    assert back.equals_exact(square, tolerance=0.001)


def test_the_central_meridian_maps_to_the_false_easting():
    gk = crs.parse_crs("EPSG:4548")
    (point,) = crs.from_wgs84(np.array([shapely.Point(117.0, 31.85)]), gk)
    assert point.x == pytest.approx(500_000, abs=1e-6)


def test_gcj02_geometries_are_shifted_vertex_by_vertex():
    ring = shapely.box(117.25, 31.85, 117.26, 31.86)
    (gcj,) = crs.from_wgs84(np.array([ring]), crs.parse_crs("GCJ02"))
    (back,) = crs.to_wgs84(np.array([gcj]), crs.parse_crs("GCJ02"))
    assert shapely.get_num_coordinates(gcj) == 5
    assert not gcj.equals_exact(ring, tolerance=1e-4)  # hundreds of metres apart
    assert back.equals_exact(ring, tolerance=1e-9)


def test_missing_geometries_stay_missing():
    out = crs.to_wgs84(np.array([None, shapely.Point(512_000, 3_525_000)]), crs.parse_crs("4548"))
    assert out[0] is None
    assert 117 < out[1].x < 118
