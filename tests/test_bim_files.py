"""Files an import must refuse with a clear error and without a trace in the database, and
files it must read right: units (feet), placeholder locations, quantities that disagree."""

import ifcopenshell
import ifcopenshell.api.georeference
import ifcopenshell.util.unit
import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management import call_command
from django.core.management.base import CommandError
from pyproj import Transformer

from bim import services
from bim.choices import ImportStatus
from bim.ifc.reader import read_model
from bim.models import IfcImport
from portfolio.models import Asset
from spatial.models import Building, Floor, Unit
from tests.factories import CodingRuleFactory
from tests.test_bim_support import (
    HEFEI,
    Model,
    counts,
    english,  # noqa: F401 - autouse
    hefei_site,
    run_import,
    sample,
)


@pytest.fixture
def site_a(tree):
    return hefei_site(tree.sub_a)


def _upload(path, site):
    with path.open("rb") as handle:
        return services.ifc_import_create(site=site, upload=File(handle, name=path.name))


def _text(tmp_path):
    path = tmp_path / "notes.ifc"
    path.write_text("Meeting notes: the model follows next week.\n", encoding="utf-8")
    return path


def _truncated(tmp_path):
    data = sample("AC20-FZK-Haus.ifc").read_bytes()
    path = tmp_path / "half.ifc"
    path.write_bytes(data[: len(data) // 2])
    return path


def _schema(schema):
    def make(tmp_path):
        text = sample("ExampleHOM_with_radiator.ifc").read_text(encoding="utf-8")
        path = tmp_path / f"{schema}.ifc"
        path.write_text(text.replace("FILE_SCHEMA(('IFC4'))", f"FILE_SCHEMA(('{schema}'))"))
        return path

    return make


def _empty(tmp_path):
    path = tmp_path / "empty.ifc"
    path.write_bytes(b"")
    return path


def _xml(tmp_path):
    path = tmp_path / "model.ifcxml"
    path.write_text('<?xml version="1.0"?><ifcXML/>', encoding="utf-8")
    return path


def _zip(tmp_path):
    path = tmp_path / "model.ifczip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_text, "Not an IFC file"),
        (_truncated, "The file is truncated"),
        (_schema("IFC2X2"), "Unsupported IFC schema 'IFC2X2'"),
        (_schema("CIS2"), "Unsupported IFC schema 'CIS2'"),
        (_empty, "The file is empty"),
        (_xml, "ifcXML"),
        (_zip, "ZIP archive"),
    ],
    ids=["text", "truncated", "ifc2x2", "cis2", "empty", "ifcxml", "ifczip"],
)
def test_bad_file_is_refused_at_upload_and_nothing_is_stored(tmp_path, site_a, make, message):
    # given
    path = make(tmp_path)
    before = counts()
    # when
    with pytest.raises(ValidationError) as error:
        _upload(path, site_a)
    # then
    assert message in error.value.message_dict["file"][0]
    assert counts() == before
    assert IfcImport.objects.count() == 0


def _no_storeys(tmp_path):
    return Model(storeys=0).write(tmp_path / "no-storeys.ifc")


def _no_spaces(tmp_path):
    return Model(storeys=2).write(tmp_path / "no-spaces.ifc")


def _spaces_without_geometry(tmp_path):
    model = Model()
    import ifcopenshell.api.aggregate
    import ifcopenshell.api.root

    space = ifcopenshell.api.root.create_entity(model.file, ifc_class="IfcSpace", name="101")
    ifcopenshell.api.aggregate.assign_object(
        model.file, products=[space], relating_object=model.storeys[0]
    )
    return model.write(tmp_path / "no-geometry.ifc")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_no_storeys, "The model has no storeys (IfcBuildingStorey)"),
        (_no_spaces, "The model has no spaces (IfcSpace)"),
        (_spaces_without_geometry, "No space of the model has a body geometry"),
        (lambda tmp: sample("geolocation-mapconversion-angle.ifc"), "no spaces"),
    ],
    ids=["no-storeys", "no-spaces", "no-geometry", "georef-fixture"],
)
def test_model_without_storeys_or_spaces_fails_its_job_and_writes_nothing(
    tmp_path, site_a, make, message
):
    # given
    job = _upload(make(tmp_path), site_a)
    before = counts()
    # when
    job = services.ifc_import_run(services.ifc_import_claim(job_id=job.pk))
    # then
    assert job.status == ImportStatus.FAILED
    assert message in job.message
    assert job.progress == 100
    assert job.report == {"error": job.message}
    assert counts() == before


def test_command_reports_a_bad_file_and_stores_nothing(tmp_path, site_a):
    before = counts()
    with pytest.raises(CommandError, match="The file is truncated"):
        call_command("import_ifc", str(_truncated(tmp_path)), site=site_a.code)
    with pytest.raises(CommandError, match="no spaces"):
        call_command("import_ifc", str(_no_spaces(tmp_path)), site=site_a.code)
    assert counts() == before


def test_command_imports_a_model_and_prints_the_report(capsys, site_a):
    # when
    call_command(
        "import_ifc",
        str(sample("ExampleHOM_with_radiator.ifc")),
        site=site_a.code,
        anchor=HEFEI,
        rotation=15.0,
    )
    # then
    out = capsys.readouterr().out
    assert "Placed by anchor" in out
    assert "floors: 3 added" in out and "units: 11 added" in out and "assets: 1 added" in out
    assert "Imported ExampleHOM_with_radiator.ifc as #" in out
    job = IfcImport.objects.get()
    assert (job.status, job.progress, job.created_by) == (ImportStatus.SUCCEEDED, 100, None)
    assert job.report["counts"]["units"]["added"] == 11
    assert job.building_id == job.report["building"]["id"] == Building.objects.get().pk
    assert job.finished_at is not None and job.finished_at == job.heartbeat_at


def test_command_refuses_an_unknown_site_and_a_bad_anchor(site_a):
    with pytest.raises(CommandError, match="No site with code"):
        call_command("import_ifc", str(sample("duplex.ifc")), site="NOPE")
    with pytest.raises(CommandError, match="--anchor takes LON,LAT"):
        call_command(
            "import_ifc", str(sample("duplex.ifc")), "--site", site_a.code, "--anchor", "117.2"
        )


# -- placement -----------------------------------------------------------------------------------


def test_model_without_a_location_asks_for_an_anchor(site_a):
    before = counts()
    with pytest.raises(ValidationError) as error:
        run_import(sample("ExampleHOM_with_radiator.ifc"), site_a)
    message = error.value.message_dict["anchor"][0]
    assert "no reference latitude / longitude" in message and "--anchor LON,LAT" in message
    assert counts() == before


def _null_island(tmp_path):
    ifc_file = ifcopenshell.open(str(sample("AC20-FZK-Haus.ifc")))
    site = ifc_file.by_type("IfcSite")[0]
    site.RefLatitude, site.RefLongitude = (0, 0, 0), (0, 0, 0)
    path = tmp_path / "null-island.ifc"
    ifc_file.write(str(path))
    return path


def test_placeholder_location_is_not_taken_for_africa(tmp_path, site_a):
    # given: the site reference point is the (0, 0) an authoring tool writes by default
    path = _null_island(tmp_path)
    before = counts()
    # when / then: without an anchor, a clear error
    with pytest.raises(ValidationError) as error:
        run_import(path, site_a)
    assert "(0, 0) placeholder" in error.value.message_dict["anchor"][0]
    assert counts() == before
    # when / then: with one, the building stands there
    report = run_import(path, site_a, anchor=HEFEI)
    assert report["georeferencing"]["method"] == "anchor"
    lon, lat = report["georeferencing"]["building_centroid"]
    assert abs(lon - HEFEI[0]) < 0.001 and abs(lat - HEFEI[1]) < 0.001
    assert any("placeholder" in w for w in report["warnings"])


def test_anchor_given_for_a_georeferenced_model_is_reported_unused_unless_forced(site_a, tree):
    report = run_import(sample("AC20-FZK-Haus.ifc"), site_a, anchor=HEFEI)
    assert report["georeferencing"]["method"] == "site_reference"
    assert any("anchor given was not used" in w for w in report["warnings"])
    forced = run_import(
        sample("duplex.ifc"), hefei_site(tree.sub_a, "HF-2"), anchor=HEFEI, placement="anchor"
    )
    assert forced["georeferencing"]["method"] == "anchor"
    lon, lat = forced["georeferencing"]["building_centroid"]
    assert abs(lon - HEFEI[0]) < 0.001 and abs(lat - HEFEI[1]) < 0.001


def test_building_of_a_model_stays_in_its_site(site_a, tree):
    run_import(sample("ExampleHOM_with_radiator.ifc"), site_a, anchor=HEFEI)
    other = hefei_site(tree.sub_a, "HF-OTHER")
    before = counts()
    with pytest.raises(ValidationError) as error:
        run_import(sample("ExampleHOM_with_radiator.ifc"), other, anchor=HEFEI)
    assert "import new versions there" in error.value.message_dict["site"][0]
    assert counts() == before


# -- units ---------------------------------------------------------------------------------------


def test_model_in_feet_imports_the_same_metres(tmp_path, site_a):
    # given: the metre sample converted to feet
    metric = read_model(sample("ExampleHOM_with_radiator.ifc"))
    feet_file = ifcopenshell.util.unit.convert_file_length_units(
        ifcopenshell.open(str(sample("ExampleHOM_with_radiator.ifc"))), "FOOT"
    )
    assert ifcopenshell.util.unit.calculate_unit_scale(feet_file) == pytest.approx(0.3048)
    path = tmp_path / "feet.ifc"
    feet_file.write(str(path))
    # when
    report = run_import(path, site_a, anchor=HEFEI)
    # then: the same footprints, areas and elevations in metres
    assert report["file"]["length_unit"] == "foot"
    metres = {s.global_id: s.geometry_area for s in metric.spaces}
    assert len(report["spaces"]) == len(metres) == 11
    for space in report["spaces"]:
        assert space["geometry_area"] == pytest.approx(metres[space["global_id"]], abs=0.001)
    elevations = sorted(float(e) for e in Floor.objects.values_list("elevation_m", flat=True))
    assert elevations == pytest.approx(sorted(s.elevation for s in metric.storeys), abs=0.001)
    assert elevations == pytest.approx([0.0, 2.875, 5.682], abs=0.001)


def test_net_area_above_gross_is_swapped_and_reported(tmp_path, site_a):
    # given: an exporter that wrote the two areas the wrong way round
    model = Model()
    model.add_space(
        model.storeys[0],
        "101",
        (0, 0, 8, 5),
        long_name="Office",
        quantities={"GrossFloorArea": 38.0, "NetFloorArea": 40.0},
    )
    path = model.write(tmp_path / "swapped.ifc")
    # when
    report = run_import(path, site_a, anchor=HEFEI)
    # then
    unit = Unit.objects.get(number="101")
    assert (float(unit.gross_area), float(unit.usable_area)) == (40.0, 38.0)
    assert unit.use == "office" and unit.name == "Office"
    assert any("exceeds gross area" in w for w in report["warnings"])
    assert unit.bim_space.geometry_area == pytest.approx(40.0)


# -- schemas -------------------------------------------------------------------------------------


def test_ifc4x3_model_with_its_map_conversion_imports(tmp_path, site_a):
    # given: an IFC4X3 model in millimetres, georeferenced the way IfcOpenShell writes it
    # (CGCS2000 3-degree Gauss-Kruger CM 117E, eastings in metres, Scale 0.001, no MapUnit)
    model = Model(schema="IFC4X3", storeys=2)
    model.add_space(
        model.storeys[0], "101", (0, 0, 10, 6), long_name="Office",
        quantities={"GrossFloorArea": 60.0, "NetFloorArea": 57.5},
    )  # fmt: skip
    model.add_space(model.storeys[1], "201", (0, 0, 10, 6), long_name="Meeting room")
    ifcopenshell.api.georeference.add_georeferencing(model.file)
    ifcopenshell.api.georeference.edit_georeferencing(
        model.file,
        projected_crs={"Name": "EPSG:4548"},
        coordinate_operation={"Eastings": 512_345.0, "Northings": 3_524_000.0, "Scale": 0.001,
                              "XAxisAbscissa": 1.0, "XAxisOrdinate": 0.0},
    )  # fmt: skip
    path = model.write(tmp_path / "ifc4x3.ifc")
    assert ifcopenshell.open(str(path)).schema_identifier == "IFC4X3_ADD2"
    # when
    report = run_import(path, site_a)
    # then
    assert report["georeferencing"]["method"] == "map_conversion"
    assert report["warnings"] == []
    office = Unit.objects.get(number="101")
    expected = Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True).transform(
        512_345.0, 3_524_000.0
    )
    corner = min(office.geom.exterior_ring.coords, key=lambda c: (c[0], c[1]))
    assert corner == pytest.approx(expected, abs=1e-7)
    assert office.area_m2 == pytest.approx(60.0, rel=0.001)
    assert (float(office.gross_area), float(office.usable_area)) == (60.0, 57.5)
    assert sorted(Floor.objects.values_list("level", flat=True)) == [1, 2]


def test_equipment_codes_come_from_the_coding_rules_when_one_applies(site_a, tree):
    # given: a rule for the company; none other applies
    CodingRuleFactory(pattern="{company}-{category}-{seq:04}", company=tree.sub_a)
    # when
    run_import(sample("b03_heating_with_building_blenderBIM.ifc"), site_a, anchor=HEFEI)
    # then: 23 assets numbered in one sequence, with their category's useful life
    codes = sorted(Asset.objects.values_list("code", flat=True))
    assert codes == [f"HFCT-A-2100000-{n:04d}" for n in range(1, 24)]
    boiler = Asset.objects.get(bim_global_id=_global_id("IfcBoiler"))
    assert (boiler.useful_life_months, boiler.status, boiler.company_id) == (
        120,
        "in_use",
        tree.sub_a.pk,
    )


def test_equipment_codes_without_a_rule_are_the_building_code_and_the_global_id(site_a):
    run_import(sample("b03_heating_with_building_blenderBIM.ifc"), site_a, anchor=HEFEI)
    boiler = Asset.objects.get(bim_global_id=_global_id("IfcBoiler"))
    assert boiler.code == f"{boiler.building.code}-{boiler.bim_global_id.replace('$', '.')}"


def _global_id(ifc_class: str) -> str:
    ifc_file = ifcopenshell.open(str(sample("b03_heating_with_building_blenderBIM.ifc")))
    return ifc_file.by_type(ifc_class)[0].GlobalId
