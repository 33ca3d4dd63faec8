"""The real sample models in ../shared/ifc-samples: each with storeys and spaces imports with
the right number of floors and units, its areas within 1 % of its quantity sets, and its
building where the file (or the anchor) says; the georeferencing fixture lands where its
IfcMapConversion says.

The five samples are imported once for the module, in a transaction rolled back at its end.
"""

import math

import ifcopenshell
import ifcopenshell.util.element
import pytest
from django.db import transaction
from pyproj import Geod, Transformer

from bim.models import BimModel, BimSpace
from portfolio.models import Asset
from spatial.choices import CompanyKind
from spatial.models import Building, Floor, Unit
from spatial.services import company_create
from tests.test_bim_support import (
    EXPECTED,
    HEFEI,
    add_space,
    english,  # noqa: F401 - autouse
    hefei_site,
    run_import,
    sample,
)

GEOD = Geod(ellps="WGS84")


@pytest.fixture
def site_a(tree):
    return hefei_site(tree.sub_a)


#: Files without a location of their own are anchored here, their +y axis turned 30° east.
ANCHORED = {"ExampleHOM_with_radiator.ifc", "b03_heating_with_building_blenderBIM.ifc"}
ROTATION = 30.0


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker):
    """{file name: (report, building)} for every sample with storeys and spaces."""
    with django_db_blocker.unblock(), transaction.atomic():
        company = company_create(code="BIM-T", name="样例测试公司", kind=CompanyKind.GROUP)
        site = hefei_site(company, code="BIM-T-S")
        results = {}
        for name in EXPECTED:
            anchor = HEFEI if name in ANCHORED else None
            report = run_import(sample(name), site, anchor=anchor, rotation_deg=ROTATION)
            results[name] = (report, Building.objects.get(pk=report["building"]["id"]))
        yield results
        transaction.set_rollback(True)


def _dms(value) -> float:
    """Compound plane angle → decimal degrees, written out again here for independence."""
    parts = [*value, 0, 0, 0][:4]
    sign = -1 if any(p < 0 for p in parts) else 1
    d, m, s, us = (abs(p) for p in parts)
    return sign * (d + m / 60 + (s + us / 1e6) / 3600)


def _metres(lon1, lat1, lon2, lat2) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_has_the_storeys_and_spaces_counted_by_ifcopenshell(name):
    ifc_file = ifcopenshell.open(str(sample(name)))
    assert len(ifc_file.by_type("IfcBuildingStorey")) == EXPECTED[name]["floors"]
    assert len(ifc_file.by_type("IfcSpace")) == EXPECTED[name]["units"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_imports_a_floor_per_storey_a_unit_per_space_and_its_equipment(imported, name):
    # given / when: imported once for the module
    report, building = imported[name]
    # then
    expected = EXPECTED[name]
    assert Floor.objects.filter(building=building).count() == expected["floors"]
    assert Unit.objects.filter(building=building).count() == expected["units"]
    assert Asset.objects.filter(building=building).count() == expected["assets"]
    assert report["counts"]["floors"]["added"] == expected["floors"]
    assert report["counts"]["units"]["added"] == expected["units"]
    assert report["counts"]["assets"]["added"] == expected["assets"]
    levels = list(Floor.objects.filter(building=building).values_list("level", flat=True))
    assert 0 not in levels and len(set(levels)) == len(levels)
    assert not Unit.objects.filter(building=building, outside_floor=True).exists()
    assert set(Unit.objects.filter(building=building).values_list("bim_global_id", flat=True)) == {
        s.GlobalId for s in ifcopenshell.open(str(sample(name))).by_type("IfcSpace")
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [n for n in sorted(EXPECTED) if n in ("AC20-FZK-Haus.ifc", "ExampleHOM_with_radiator.ifc")],
)
def test_sample_areas_are_within_one_percent_of_its_quantity_sets(imported, name):
    # given: the gross floor areas of the file's quantity sets, read with plain IfcOpenShell
    ifc_file = ifcopenshell.open(str(sample(name)))
    stated = {}
    for space in ifc_file.by_type("IfcSpace"):
        for qto in ("Qto_SpaceBaseQuantities", "BaseQuantities"):
            value = ifcopenshell.util.element.get_pset(space, qto, "GrossFloorArea")
            if value:
                stated[space.GlobalId] = value
                break
    assert len(stated) == EXPECTED[name]["units"]
    _, building = imported[name]
    units = {u.bim_global_id: u for u in Unit.objects.filter(building=building)}
    for global_id, area in stated.items():
        unit = units[global_id]
        # the footprint in the model's metres, and the stored polygon on the spheroid
        assert unit.bim_space.geometry_area == pytest.approx(area, rel=0.01)
        assert unit.area_m2 == pytest.approx(area, rel=0.01)
        assert float(unit.gross_area) == pytest.approx(area, abs=0.005)


@pytest.mark.django_db
def test_authoring_tool_areas_are_stored_beside_the_geometry_area(imported):
    # Revit exports no quantity sets; its room area is the usable area, the geometry beside it.
    report, building = imported["duplex.ifc"]
    unit = Unit.objects.get(building=building, number="A101")
    assert float(unit.usable_area) == pytest.approx(17.94, abs=0.005)
    assert unit.gross_area is None
    assert unit.bim_space.area_source == "PSet_Revit_Dimensions"
    assert unit.bim_space.geometry_area == pytest.approx(15.591, abs=0.001)
    assert any("PSet_Revit_Dimensions" in w for w in report["warnings"])


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["AC20-FZK-Haus.ifc", "Office_A_20110811.ifc", "duplex.ifc"])
def test_sample_with_a_site_reference_lands_within_100_m_of_it(imported, name):
    site = ifcopenshell.open(str(sample(name))).by_type("IfcSite")[0]
    lat, lon = _dms(site.RefLatitude), _dms(site.RefLongitude)
    report, building = imported[name]
    centre = building.geom.centroid
    assert report["georeferencing"]["method"] == "site_reference"
    assert _metres(lon, lat, centre.x, centre.y) < 100
    assert BimModel.objects.get(building=building).georef_method == "site_reference"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ANCHORED))
def test_sample_without_a_location_stands_at_the_anchor_turned_by_the_rotation(imported, name):
    report, building = imported[name]
    centre = building.geom.centroid
    assert report["georeferencing"]["method"] == "anchor"
    assert _metres(*HEFEI, centre.x, centre.y) < 100
    # the model's origin is at the anchor and its +y axis points 30° east of north
    frame = BimModel.objects.get(building=building).frame
    assert (frame["lon0"], frame["lat0"], frame["rotation_deg"]) == (*HEFEI, -ROTATION)


@pytest.mark.django_db
def test_truncated_storeys_without_spaces_still_become_floors_with_the_building_outline(imported):
    _, building = imported["duplex.ifc"]
    foundation = Floor.objects.get(building=building, name="T/FDN")
    roof = Floor.objects.get(building=building, name="Roof")
    assert (foundation.level, roof.level) == (-1, 3)
    assert foundation.geom.equals_exact(building.geom, 1e-9)
    assert float(foundation.elevation_m) == -1.25


@pytest.mark.django_db
def test_equipment_lands_in_its_space_or_the_space_around_it(imported):
    # Office_A contains its furniture in spaces; b03 only in the storey, found by footprint
    _, office = imported["Office_A_20110811.ifc"]
    assert not Asset.objects.filter(building=office, unit__isnull=True).exists()
    _, heating = imported["b03_heating_with_building_blenderBIM.ifc"]
    located = Asset.objects.filter(building=heating, unit__isnull=False).count()
    assert located > 0
    for asset in Asset.objects.filter(building=heating, unit__isnull=False).select_related("unit"):
        assert asset.unit.geom.buffer(1e-6).covers(asset.geom)
    categories = set(
        Asset.objects.filter(building=heating).values_list("category__code", flat=True)
    )
    assert categories == {"2100000"}


@pytest.mark.django_db
def test_millimetre_model_is_scaled_to_metres(imported):
    report, building = imported["b03_heating_with_building_blenderBIM.ifc"]
    assert report["file"]["length_unit"] == "millimetre"
    living = Unit.objects.get(building=building, name="GF_Living")
    assert living.area_m2 == pytest.approx(80.64, rel=0.005)


# -- the georeferencing fixture ----------------------------------------------------------------


def _with_a_space(tmp_path, box_m=(-1.0, -1.0, 4.0, 3.5), patch=None):
    """The fixture has a storey but no space; add one (and let `patch` edit the copy)."""
    ifc_file = ifcopenshell.open(str(sample("geolocation-mapconversion-angle.ifc")))
    add_space(ifc_file, ifc_file.by_type("IfcBuildingStorey")[0], "R1", box_m, height=2.8)
    if patch:
        patch(ifc_file)
    path = tmp_path / "geolocation-with-space.ifc"
    ifc_file.write(str(path))
    return path


def _expected_corners(path, crs: str, box_m, map_unit_m: float) -> list[tuple[float, float]]:
    """Where the box's corners go by the file's IfcMapConversion, computed with pyproj."""
    conversion = ifcopenshell.open(str(path)).by_type("IfcMapConversion")[0]
    theta = math.atan2(conversion.XAxisOrdinate, conversion.XAxisAbscissa)
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = []
    x0, y0, x1, y1 = box_m
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        e = conversion.Eastings * map_unit_m + math.cos(theta) * x - math.sin(theta) * y
        n = conversion.Northings * map_unit_m + math.sin(theta) * x + math.cos(theta) * y
        corners.append(to_wgs84.transform(e, n))
    return corners


def _assert_corners(unit, expected):
    ring = unit.geom.exterior_ring.coords[:-1]
    assert len(ring) == 4
    for corner in expected:
        assert min(_metres(*corner, *vertex) for vertex in ring) < 0.005


def test_georeferencing_fixture_lands_where_its_map_conversion_says(tmp_path, tree, site_a):
    # given: the fixture (IfcMapConversion: E 15000, N 0, x axis at -30°, a projected CRS
    # without a name, millimetres) with a space added; the CRS is given at import
    box = (-1.0, -1.0, 4.0, 3.5)
    path = _with_a_space(tmp_path, box)
    # when
    report = run_import(path, site_a, crs="EPSG:4548")
    # then: no MapUnit means the project unit, so the eastings are 15 m
    unit = Unit.objects.get(
        bim_global_id=ifcopenshell.open(str(path)).by_type("IfcSpace")[0].GlobalId
    )
    assert report["georeferencing"]["method"] == "map_conversion"
    _assert_corners(unit, _expected_corners(path, "EPSG:4548", box, map_unit_m=0.001))
    assert any("outside the area of use" in w for w in report["warnings"])
    # its actuators: C (at the origin) and F (a box around 3, 3 m) stand in the space
    in_unit = set(Asset.objects.filter(unit=unit).values_list("name", flat=True))
    assert in_unit == {"C", "F"}
    assert Asset.objects.filter(building=unit.building, unit__isnull=True).count() == 9
    categories = Asset.objects.filter(building=unit.building).values_list(
        "category__code", flat=True
    )
    assert set(categories) == {"2400000"}


def test_map_conversion_in_metres_without_scale_for_a_millimetre_model_is_scaled(
    tmp_path, tree, site_a
):
    # given: the fixture re-targeted on Hefei: CGCS2000 GK CM 117E, eastings in metres,
    # MapUnit metre, and no Scale although the model is in millimetres
    def hefei(ifc_file):
        conversion = ifc_file.by_type("IfcMapConversion")[0]
        conversion.Eastings, conversion.Northings = 500_123.0, 3_524_456.0
        crs = conversion.TargetCRS
        crs.Name = "EPSG:4548"
        crs.MapUnit = ifc_file.createIfcSIUnit(None, "LENGTHUNIT", None, "METRE")

    box = (0.0, 0.0, 12.0, 8.0)
    path = _with_a_space(tmp_path, box, patch=hefei)
    # when
    report = run_import(path, site_a)
    # then
    unit = Unit.objects.get(building_id=report["building"]["id"], name="R1")
    _assert_corners(unit, _expected_corners(path, "EPSG:4548", box, map_unit_m=1.0))
    assert unit.area_m2 == pytest.approx(96.0, rel=0.001)
    assert any("no Scale" in w for w in report["warnings"])
    assert _metres(117.0, 31.85, *unit.geom.centroid.coords) < 1000


def test_bim_space_records_are_kept_per_unit(imported, db):
    _, building = imported["AC20-FZK-Haus.ifc"]
    spaces = BimSpace.objects.filter(unit__building=building)
    assert spaces.count() == 7
    bedroom = spaces.get(long_name="Schlafzimmer")
    assert (bedroom.name, bedroom.unit.number, bedroom.unit.use) == ("4", "4", "apartment")
    assert bedroom.area_source == "BaseQuantities"
