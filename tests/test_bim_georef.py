"""Georeferencing math (no database): compound angles, the three ways to place a model, the
map conversion's scale checked against the units, and the frame's inverse."""

import math

import pytest
from pyproj import Geod, Transformer

from bim.ifc import georef
from bim.ifc.mapping import equipment_category, is_basement, unit_use
from bim.writer import _levels

GEOD = Geod(ellps="WGS84")


pytestmark = pytest.mark.usefixtures("english")


def test_compound_angles_become_decimal_degrees_with_their_sign():
    assert georef.compound_angle_to_degrees((49, 6, 1, 566000)) == pytest.approx(49.100435)
    assert georef.compound_angle_to_degrees((-71, -3, -35, -194702)) == pytest.approx(
        -(71 + 3 / 60 + 35.194702 / 3600)
    )
    assert georef.compound_angle_to_degrees((0, -30, 0)) == pytest.approx(-0.5)
    assert georef.compound_angle_to_degrees(None) is None


def test_placeholder_locations_are_missing_or_zero():
    assert georef.is_placeholder(None, None)
    assert georef.is_placeholder(0.0, 0.0)
    assert georef.is_placeholder(8.4, None)
    assert not georef.is_placeholder(117.25, 31.85)


def test_site_reference_turns_the_model_by_true_north():
    # given: true north points along local +x (the model is drawn east-up)
    frame = georef.frame_from_site_reference(lon=117.25, lat=31.85, true_north=(1.0, 0.0))
    # when
    lon, lat = frame.to_lonlat([0.0, 100.0], [0.0, 0.0])
    # then: 100 m along +x is 100 m due north of the reference point
    azimuth, _, distance = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    assert (lon[0], lat[0]) == pytest.approx((117.25, 31.85))
    assert azimuth == pytest.approx(0.0, abs=1e-6)
    assert distance == pytest.approx(100.0, abs=1e-6)


def test_site_reference_point_is_at_the_site_placement_origin():
    frame = georef.frame_from_site_reference(
        lon=8.43, lat=49.1, true_north=None, origin_xy=(50.0, -20.0)
    )
    lon, lat = frame.to_lonlat([50.0], [-20.0])
    assert (lon[0], lat[0]) == pytest.approx((8.43, 49.1))


def test_anchor_rotation_is_the_compass_bearing_of_the_model_y_axis():
    frame = georef.frame_from_anchor(lon=117.25, lat=31.85, rotation_deg=90.0)
    lon, lat = frame.to_lonlat([0.0, 0.0], [0.0, 50.0])
    azimuth, _, distance = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
    assert azimuth == pytest.approx(90.0, abs=1e-6)
    assert distance == pytest.approx(50.0, abs=1e-6)


@pytest.mark.parametrize(
    "frame",
    [
        georef.frame_from_anchor(lon=117.25, lat=31.85, rotation_deg=-37.5),
        georef.frame_from_site_reference(lon=-71.06, lat=42.36, true_north=(0.3, 0.95)),
        georef.Frame(
            method="map_conversion",
            e0=512_345.0,
            n0=3_524_000.0,
            rotation_deg=12.0,
            crs="EPSG:4548",
        ),
    ],  # fmt: skip
    ids=["anchor", "site", "map"],
)
def test_to_local_inverts_to_lonlat_to_a_tenth_of_a_millimetre(frame):
    xs, ys = [0.0, 12.5, -40.0, 250.0], [0.0, 7.25, 33.0, -120.0]
    lon, lat = frame.to_lonlat(xs, ys)
    back_x, back_y = frame.to_local(lon, lat)
    assert list(back_x) == pytest.approx(xs, abs=1e-4)
    assert list(back_y) == pytest.approx(ys, abs=1e-4)


def _conversion(**overrides) -> georef.MapConversion:
    values = dict(
        eastings=512_000.0, northings=3_524_000.0, orthogonal_height=0.0,
        x_axis_abscissa=math.cos(math.radians(30)), x_axis_ordinate=math.sin(math.radians(30)),
        scale=None, crs_name="EPSG:4548", map_unit_m=1.0,
    )  # fmt: skip
    values.update(overrides)
    return georef.MapConversion(**values)


def test_map_conversion_places_local_metres_in_the_projected_crs():
    # given: a project in metres, the map in metres
    frame, warnings = georef.frame_from_map_conversion(_conversion(), project_unit_m=1.0)
    # when
    lon, lat = frame.to_lonlat([10.0], [0.0])
    # then: 10 m along local x is 10 m along the 30° axis in the grid
    expected = Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True).transform(
        512_000.0 + 10 * math.cos(math.radians(30)), 3_524_000.0 + 10 * math.sin(math.radians(30))
    )
    assert (lon[0], lat[0]) == pytest.approx(expected, abs=1e-9)
    assert warnings == []


def test_map_conversion_without_scale_for_a_millimetre_project_uses_the_unit_ratio():
    frame, warnings = georef.frame_from_map_conversion(_conversion(), project_unit_m=0.001)
    assert frame.scale == pytest.approx(1.0)
    assert len(warnings) == 1 and "no Scale" in warnings[0]


def test_map_conversion_scale_written_without_the_unit_ratio_is_corrected():
    frame, warnings = georef.frame_from_map_conversion(
        _conversion(scale=0.9996), project_unit_m=0.001
    )
    assert frame.scale == pytest.approx(0.9996)
    assert "ignores the units" in warnings[0]


def test_map_conversion_with_matching_scale_gives_no_warning():
    frame, warnings = georef.frame_from_map_conversion(
        _conversion(scale=0.001), project_unit_m=0.001
    )
    assert (frame.scale, warnings) == (pytest.approx(1.0), [])


def test_map_conversion_without_map_unit_is_in_the_project_unit():
    # IFC: no MapUnit means the project's length unit, so eastings 15000 in a mm project = 15 m
    frame, warnings = georef.frame_from_map_conversion(
        _conversion(eastings=15000.0, northings=0.0, map_unit_m=None), project_unit_m=0.001
    )
    assert (frame.e0, frame.scale, warnings) == (pytest.approx(15.0), pytest.approx(1.0), [])


def test_map_conversion_without_map_unit_takes_it_from_the_scale():
    # IfcOpenShell writes Scale 0.001 and no MapUnit for a millimetre model on a metre map
    frame, warnings = georef.frame_from_map_conversion(
        _conversion(map_unit_m=None, scale=0.001), project_unit_m=0.001
    )
    assert (frame.e0, frame.scale, warnings) == (512_000.0, pytest.approx(1.0), [])


def test_map_conversion_needs_a_named_crs():
    with pytest.raises(georef.GeorefError, match="no name"):
        georef.frame_from_map_conversion(_conversion(crs_name=""), project_unit_m=1.0)
    frame, _ = georef.frame_from_map_conversion(
        _conversion(crs_name=""), project_unit_m=1.0, crs_override="EPSG:4547"
    )
    assert frame.crs == "EPSG:4547"


def test_map_conversion_refuses_a_geographic_crs():
    with pytest.raises(georef.GeorefError, match="not a projected"):
        georef.frame_from_map_conversion(_conversion(crs_name="EPSG:4326"), project_unit_m=1.0)


# -- tables --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "ifc_class", "type_class", "predefined", "expected"),
    [
        ("IFC4", "IfcPump", "IfcPumpType", None, ("2100000", None)),
        ("IFC4", "IfcSpaceHeater", None, None, ("2100000", None)),
        ("IFC4", "IfcLightFixture", None, None, ("2200000", None)),
        ("IFC2X3", "IfcFlowTerminal", "IfcLightFixtureType", None, ("2200000", None)),
        ("IFC2X3", "IfcFlowTerminal", "IfcElectricApplianceType", "COMPUTER", ("2010000", None)),
        ("IFC4", "IfcCommunicationsAppliance", None, "ROUTER", ("2310000", None)),
        ("IFC4", "IfcFurniture", None, None, ("6010000", None)),
        ("IFC2X3", "IfcFurnishingElement", "IfcFurnitureType", None, ("6010000", None)),
        ("IFC4", "IfcSensor", None, None, ("2400000", None)),
        ("IFC4", "IfcWall", None, None, (None, None)),
    ],
)
def test_equipment_classes_map_to_gbt14885_categories(
    schema, ifc_class, type_class, predefined, expected
):
    assert equipment_category(schema, ifc_class, type_class, predefined) == expected


def test_pipes_and_fittings_are_skipped_with_a_reason():
    code, reason = equipment_category("IFC4", "IfcPipeSegment", None, None)
    assert code is None and "building services" in str(reason)


def test_space_names_give_unit_uses():
    assert unit_use("OPEN OFFICE") == "office"
    assert unit_use("Schlafzimmer") == "apartment"
    assert unit_use("MENS RR") == "public"
    assert unit_use("Basement_Stock") == "warehouse"
    assert unit_use("办公室") == "office"
    assert unit_use("att") == "other"


class _Storey:
    def __init__(self, name, elevation):
        self.name, self.long_name, self.elevation = name, "", elevation


@pytest.mark.parametrize(
    ("storeys", "levels"),
    [
        ([("EG", 0.0), ("OG", 2.7)], [1, 2]),
        ([("T/FDN", -1.25), ("Level 1", 0.0), ("Level 2", 3.1), ("Roof", 6.0)], [-1, 1, 2, 3]),
        ([("B2", -7.0), ("B1", -3.5), ("1F", 0.0)], [-2, -1, 1]),
        ([("Keller", 0.0), ("Erdgeschoss", 2.8)], [-1, 1]),
        ([("Ground", 100.0), ("First", 103.0)], [1, 2]),
    ],
)
def test_storeys_get_levels_with_basements_negative_and_no_level_zero(storeys, levels):
    assert _levels([_Storey(n, e) for n, e in storeys]) == levels
    assert is_basement("UG", 0.0) and not is_basement("Bad", 0.0)
