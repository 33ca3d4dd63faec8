"""Importing layers from files: every format, CRS handling, a report naming row, field and
reason for every bad row, all-or-nothing writes, upserts by code, dry runs, bad files, and
the scoped API upload."""

import json
import zipfile
from decimal import Decimal

import numpy as np
import pytest
import shapely
from django.core.management import call_command
from django.core.management.base import CommandError
from shapely import wkt as shapely_wkt

from spatial.choices import Role
from spatial.models import Building, Floor, Membership, Parcel, Park, Road, Site, Unit
from spatial.transfer import crs
from spatial.transfer.importer import layer_import
from spatial.transfer.sources import TransferError
from tests import transfer_files as files
from tests.factories import (
    HEFEI,
    FloorFactory,
    SiteFactory,
    UnitFactory,
    UserFactory,
    offset,
    origin,
    rect,
    unit_slot,
)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def floor_b(tree):
    return FloorFactory(
        code="FL-B",
        level=1,
        building__code="B-B",
        building__site__code="S-B",
        building__site__company=tree.sub_b,
    )


def snapshot(model=Unit) -> list[tuple]:
    """Everything an import could change, to compare before and after."""
    fields = [f.attname for f in model._meta.concrete_fields if f.name != "geom"]
    return sorted(
        (*row[:-1], row[-1].wkb.hex()) for row in model.objects.values_list(*fields, "geom")
    )


def history_count(model=Unit) -> int:
    return model.history.count()


def geometry_of(code: str):
    return shapely.from_wkb(bytes(Unit.objects.get(code=code).geom.wkb))


def same_shape(a, b, tolerance: float) -> bool:
    """The same vertices within `tolerance` (degrees), whatever the ring's orientation and
    starting vertex (a Shapefile turns outer rings clockwise)."""
    ring_a, ring_b = (set(map(tuple, shapely.get_coordinates(g))) for g in (a, b))
    return len(ring_a) == len(ring_b) and shapely.hausdorff_distance(a, b) <= tolerance


# -- formats ------------------------------------------------------------------------------------


def test_geopackage_creates_units_with_their_floor_building_and_site(tree, floor_a, tmp_path):
    # given
    rows = files.unit_rows(floor_a, 3)
    path = files.write_gpkg(tmp_path / "units.gpkg", rows)
    # when
    report = layer_import(layer="units", path=path)
    # then
    assert report.ok and report.committed
    assert (report.rows, report.create, report.update) == (3, 3, 0)
    assert (report.format, report.crs, report.crs_source) == ("GPKG", "EPSG:4326", "file")
    unit = Unit.objects.get(code="IMP-U001")
    assert (unit.floor_id, unit.building_id, unit.site_id, unit.company_id) == (
        floor_a.pk,
        floor_a.building_id,
        floor_a.building.site_id,
        tree.sub_a.pk,
    )
    assert (unit.name, unit.number, unit.use, unit.status) == ("101室", "101", "office", "vacant")
    assert (unit.gross_area, unit.usable_area) == (Decimal("81.00"), Decimal("68.50"))
    assert unit.outside_floor is False
    assert unit.area_m2 == pytest.approx(81, rel=0.01)
    assert same_shape(geometry_of("IMP-U001"), rows[0]["geometry"], 1e-12)
    assert Unit.history.filter(code="IMP-U001", history_type="+").count() == 1


def test_shapefile_zip_in_gauss_kruger_cm117_lands_within_a_millimetre(tree, floor_a, tmp_path):
    # given a zipped Shapefile in CGCS2000 GK CM117 with a .prj and a UTF-8 .cpg
    rows = files.unit_rows(floor_a, 2)
    path = files.write_shp_zip(tmp_path / "units.zip", rows)
    # when
    report = layer_import(layer="units", path=path)
    # then
    assert report.ok, report.errors
    assert (report.format, report.crs) == ("ESRI Shapefile", "EPSG:4548")
    assert report.columns["usable_area"] == "usable_are"  # the 10-character Shapefile name
    assert Unit.objects.get(code="IMP-U002").name == "102室"
    imported = geometry_of("IMP-U001")
    assert same_shape(imported, rows[0]["geometry"], 1e-8)  # about 1 mm


def test_shapefile_without_cpg_is_read_as_utf8_or_gbk(tree, floor_a, tmp_path):
    rows = files.unit_rows(floor_a, 1)
    path = files.write_shp_zip(tmp_path / "units.zip", rows, cpg=False, encoding="GBK")
    report = layer_import(layer="units", path=path)
    assert report.ok, report.errors
    assert Unit.objects.get(code="IMP-U001").name == "101室"
    assert "No .cpg file: attributes read as GB18030." in report.warnings


def test_shapefile_without_prj_needs_a_crs(tree, floor_a, tmp_path):
    rows = files.unit_rows(floor_a, 1)
    path = files.write_shp_zip(tmp_path / "units.zip", rows, prj=False)
    # without a CRS: refused, naming crs
    with pytest.raises(TransferError) as raised:
        layer_import(layer="units", path=path)
    assert raised.value.field == "crs"
    assert Unit.objects.count() == 0
    # with the zone named
    report = layer_import(layer="units", path=path, crs="CGCS2000-GK3-CM117")
    assert report.ok and report.crs == "EPSG:4548" and report.crs_source == "given"
    assert same_shape(geometry_of("IMP-U001"), rows[0]["geometry"], 1e-8)


def test_geojson_in_gcj02_is_shifted_back_to_wgs84(tree, floor_a, tmp_path):
    # given a GeoJSON whose coordinates are GCJ-02 (it claims WGS 84, as GeoJSON always does)
    rows = files.unit_rows(floor_a, 2)
    path = files.write_geojson_gcj02(tmp_path / "units.geojson", rows)
    # when
    report = layer_import(layer="units", path=path, crs="GCJ02")
    # then: the given CRS wins over the file's, and the units land where they belong
    assert report.ok, report.errors
    assert (report.crs, report.crs_source) == ("GCJ02", "given")
    assert same_shape(geometry_of("IMP-U002"), rows[1]["geometry"], 5e-6)  # < 0.5 m
    assert Unit.objects.get(code="IMP-U002").outside_floor is False


def test_geojson_in_gcj02_without_the_crs_lands_hundreds_of_metres_off(tree, floor_a, tmp_path):
    # The file cannot say it is GCJ-02; imported as WGS 84 the units stray from their floor.
    rows = files.unit_rows(floor_a, 1)
    path = files.write_geojson_gcj02(tmp_path / "units.geojson", rows)
    report = layer_import(layer="units", path=path)
    assert report.ok
    assert Unit.objects.get(code="IMP-U001").outside_floor is True


def test_csv_with_chinese_headers_labels_and_gbk_encoding(tree, floor_a, tmp_path):
    # given a CSV as exported from a Chinese Excel: GBK, 编码/名称/用途…, 用途 = 办公
    rows = files.unit_rows(floor_a, 2)
    path = files.write_csv(tmp_path / "units.csv", rows, chinese=True, encoding="gbk")
    # when
    report = layer_import(layer="units", path=path, crs="EPSG:4490")
    # then
    assert report.ok, report.errors
    assert report.columns == {
        "code": "编码",
        "name": "名称",
        "floor_code": "楼层编码",
        "number": "房号",
        "use": "用途",
        "status": "状态",
        "gross_area": "建筑面积",
        "usable_area": "套内面积",
    }
    unit = Unit.objects.get(code="IMP-U002")
    assert (unit.name, unit.use, unit.status, unit.usable_area) == (
        "102室", "office", "vacant", Decimal("68.50")
    )  # fmt: skip


def test_csv_wkt_without_a_crs_is_refused_naming_crs(tree, floor_a, tmp_path):
    path = files.write_csv(tmp_path / "units.csv", files.unit_rows(floor_a, 1))
    with pytest.raises(TransferError) as raised:
        layer_import(layer="units", path=path)
    assert raised.value.field == "crs"


def test_csv_lon_lat_points_are_the_wrong_type_for_units(tree, floor_a, tmp_path):
    # given a point table (lon/lat columns: WGS 84 is assumed)
    path = tmp_path / "points.csv"
    path.write_text(
        "code,name,floor_code,use,lon,lat\nP-1,点1,FL-A,office,117.25,31.85\n", encoding="utf-8"
    )
    # when
    report = layer_import(layer="units", path=path)
    # then
    assert report.crs_source == "assumed: longitude/latitude columns"
    assert [(e.row, e.line, e.field, e.code, e.message) for e in report.errors] == [
        (1, 2, "geom", "wrong_geometry_type", "Expected a Polygon geometry, got a Point.")
    ]
    assert Unit.objects.count() == 0


def test_xlsx_with_wkt_and_a_crs_column(tree, floor_a, tmp_path):
    rows = files.unit_rows(floor_a, 3)
    path = files.write_xlsx(tmp_path / "units.xlsx", rows, crs_="EPSG:4548")
    report = layer_import(layer="units", path=path)
    assert report.ok, report.errors
    assert (report.format, report.crs, report.source_layer) == ("XLSX", "EPSG:4548", "units")
    assert same_shape(geometry_of("IMP-U003"), rows[2]["geometry"], 1e-8)


def test_dxf_closed_polylines_become_units_labelled_by_their_text(tree, floor_a, tmp_path):
    # given a CAD drawing in GK CM117: closed polylines, each with its code written inside
    rows = files.unit_rows(floor_a, 3)
    path = files.write_dxf(tmp_path / "plan.dxf", rows)
    # when: the drawing has no attributes, so the floor and use are set for all rows
    report = layer_import(
        layer="units", path=path, crs="CGCS2000-GK3-CM117", source_layer="UNITS",
        defaults={"floor_code": "FL-A", "use": "office"},
    )  # fmt: skip
    # then
    assert report.ok, report.errors
    assert report.rows == 3
    assert sorted(Unit.objects.values_list("code", "name")) == [
        ("IMP-U001", "IMP-U001"), ("IMP-U002", "IMP-U002"), ("IMP-U003", "IMP-U003")
    ]  # fmt: skip
    assert same_shape(geometry_of("IMP-U002"), rows[1]["geometry"], 1e-8)


def test_dxf_polygon_without_a_label_is_a_row_error(tree, floor_a, tmp_path):
    rows = files.unit_rows(floor_a, 2)
    path = files.write_dxf(tmp_path / "plan.dxf", rows)
    text = path.read_bytes().decode("gbk").replace("\n1\nIMP-U002\n", "\n1\n \n")
    path.write_bytes(text.encode("gbk"))
    report = layer_import(
        layer="units", path=path, crs="EPSG:4548", defaults={"floor_code": "FL-A", "use": "office"}
    )
    assert [(e.field, e.code) for e in report.errors] == [
        ("code", "required"),
        ("name", "required"),
    ]
    assert Unit.objects.count() == 0


def test_roads_from_geojson_take_stake_labels(tree, tmp_path):
    site = SiteFactory(code="S-R", company=tree.sub_a)
    a = offset(*origin(site.geom), 10, 5)
    b = offset(*a, east_m=150)
    data = files.gpd.GeoDataFrame(
        [{"编码": "R-1", "名称": "园区一路", "园区编码": "S-R", "道路等级": "支路",
          "起点桩号": "K0+000", "终点桩号": "K0+150.5"}],
        geometry=[shapely.LineString([a, b])], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "roads.geojson"
    data.to_file(path, driver="GeoJSON")
    report = layer_import(layer="roads", path=path)
    assert report.ok, report.errors
    road = Road.objects.get(code="R-1")
    assert (road.site_id, road.company_id, road.grade) == (site.pk, tree.sub_a.pk, "branch")
    assert (road.start_stake_m, road.end_stake_m) == (Decimal("0.00"), Decimal("150.50"))
    assert road.length_m == pytest.approx(150, abs=0.01)


def _layer_file(layer, tmp_path, tree):
    """One good row of each layer, as a GeoPackage."""
    lon, lat = HEFEI
    square = shapely_wkt.loads(rect(lon, lat, 100, 100).wkt)
    rows = {
        "sites": {"code": "S-NEW", "name": "新园区", "company_code": "HFCT-A",
                  "kind": "office_park", "official_area": 10000.0},
        "buildings": {"code": "B-NEW", "name": "新楼", "site_code": "S-A", "use": "office",
                      "floors_above": 12, "year_built": 2019, "gross_area": 12000.5},
        "floors": {"code": "FL-NEW", "name": "2F", "building_code": "B-A", "level": 2,
                   "elevation_m": 4.2},
        "parks": {"code": "P-NEW", "name": "口袋公园", "site_code": "S-A", "kind": "pocket",
                  "opened_year": 2020},
        "parcels": {"code": "L-NEW", "name": "宗地", "site_code": "S-A", "land_use": 5,
                    "land_right": "出让", "right_end_date": "2058-12-31",
                    "official_area": 9999.99},
    }[layer]  # fmt: skip
    geometry = {
        "floors": shapely_wkt.loads(Building.objects.get(code="B-A").geom.wkt),
        "buildings": shapely_wkt.loads(rect(*offset(lon, lat, 150, 150), 30, 20).wkt),
    }.get(layer, square)
    data = files.gpd.GeoDataFrame([rows], geometry=[geometry], crs="EPSG:4326")
    path = tmp_path / f"{layer}.gpkg"
    data.to_file(path, layer=layer, driver="GPKG")
    return path


@pytest.mark.parametrize(
    ("layer", "model", "code", "expect"),
    [
        ("sites", Site, "S-NEW", {"kind": "office_park", "official_area": Decimal("10000.00")}),
        ("buildings", Building, "B-NEW", {"floors_above": 12, "gross_area": Decimal("12000.50")}),
        ("floors", Floor, "FL-NEW", {"level": 2, "elevation_m": Decimal("4.200")}),
        ("parks", Park, "P-NEW", {"kind": "pocket", "opened_year": 2020}),
        ("parcels", Parcel, "L-NEW", {"land_use": "05", "land_right": "granted"}),
    ],
)
def test_every_polygon_layer_imports_from_geopackage(
    tree, floor_a, tmp_path, layer, model, code, expect
):
    path = _layer_file(layer, tmp_path, tree)
    report = layer_import(layer=layer, path=path)
    assert report.ok, report.errors
    row = model.objects.get(code=code)
    assert {k: getattr(row, k) for k in expect} == expect
    assert row.company_id == tree.sub_a.pk
    if layer == "parcels":
        assert str(row.right_end_date) == "2058-12-31"


# -- upsert -------------------------------------------------------------------------------------


def test_existing_codes_are_updated_and_new_ones_created(tree, floor_a, tmp_path):
    # given a stored unit and a file that renames it, leases it and adds a second one
    stored = UnitFactory(code="IMP-U001", floor=floor_a, name="旧名", status="vacant")
    rows = files.unit_rows(floor_a, 2)
    rows[0].update(name="新名", status="leased")
    for row in rows:
        del row["usable_area"]  # not in the file: the stored value stays
    path = files.write_gpkg(tmp_path / "units.gpkg", rows)
    # when
    report = layer_import(layer="units", path=path)
    # then
    assert (report.create, report.update) == (1, 1)
    stored.refresh_from_db()
    assert (stored.name, stored.status, stored.usable_area) == ("新名", "leased", Decimal("68.50"))
    assert Unit.objects.get(code="IMP-U002").usable_area is None
    assert Unit.history.filter(code="IMP-U001", history_type="~").count() == 1


def test_update_keeps_columns_the_file_does_not_have(tree, floor_a, tmp_path):
    stored = UnitFactory(code="U-KEEP", floor=floor_a, status="leased", remarks="备注")
    path = tmp_path / "names.csv"
    path.write_text(f'编码,名称,wkt\nU-KEEP,改名,"{stored.geom.wkt}"\n', encoding="utf-8")
    report = layer_import(layer="units", path=path, crs="EPSG:4326")
    assert report.ok and report.update == 1
    stored.refresh_from_db()
    assert (stored.name, stored.status, stored.remarks, stored.floor_id) == (
        "改名", "leased", "备注", floor_a.pk
    )  # fmt: skip


def test_floor_outline_import_reflags_its_units(tree, floor_a, tmp_path):
    # given a unit inside its floor, and a new outline that leaves it out
    unit = UnitFactory(floor=floor_a)
    assert unit.outside_floor is False
    far = shapely_wkt.loads(rect(*offset(*HEFEI, 500, 500), 60, 40).wkt)
    data = files.gpd.GeoDataFrame(
        [{"code": "FL-A", "name": "1F", "building_code": "B-A", "level": 1}],
        geometry=[far], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "floors.gpkg"
    data.to_file(path, driver="GPKG")
    # when
    report = layer_import(layer="floors", path=path)
    # then
    assert report.ok and report.update == 1
    unit.refresh_from_db()
    assert unit.outside_floor is True


def test_history_rows_are_optional(tree, floor_a, tmp_path):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 2))
    report = layer_import(layer="units", path=path, history=False)
    assert report.ok and Unit.objects.count() == 2
    assert history_count() == 0


# -- bad rows -----------------------------------------------------------------------------------


def _bad_rows_csv(tmp_path, floor):
    good = [unit_slot(floor.geom, n).wkt for n in range(15)]
    lon, lat = origin(floor.geom)
    east, north = offset(lon, lat, 10, 10)
    bowtie = f"POLYGON (({lon} {lat}, {east} {north}, {east} {lat}, {lon} {north}, {lon} {lat}))"
    paris = rect(2.35, 48.85, 10, 10).wkt
    swapped = f"POLYGON (({lat} {lon}, {north} {lon}, {north} {east}, {lat} {lon}))"
    header = "code,name,floor_code,use,status,gross_area,usable_area,wkt"
    lines = [
        header,
        f'OLD-1,改了名字,FL-A,office,vacant,81,68.5,"{good[0]}"',  # 1 good (an update)
        f'U-2,二,FL-A,office,vacant,81,68.5,"{bowtie}"',  # 2 self-intersection
        f'U-3,三,FL-A,office,vacant,81,68.5,"LINESTRING ({lon} {lat}, {east} {north})"',
        f'U-4,四,NOPE,office,vacant,81,68.5,"{good[3]}"',  # 4 unknown floor
        f'OLD-1,五,FL-A,office,vacant,81,68.5,"{good[4]}"',  # 5 duplicate of row 1
        f'U-6,六,FL-A,office,vacant,81,68.5,"{paris}"',  # 6 outside China
        f'U-7,七,FL-A,,vacant,81,68.5,"{good[6]}"',  # 7 use missing
        f'U-8,八,FL-A,spaceship,vacant,81,68.5,"{good[7]}"',  # 8 bad choice
        f'U-9,九,FL-A,office,vacant,abc,68.5,"{good[8]}"',  # 9 not a number
        f'U-10,十,FL-A,office,vacant,81,90,"{good[9]}"',  # 10 usable above gross
        f'bad code!,十一,FL-A,office,vacant,81,68.5,"{good[10]}"',  # 11 bad code
        'U-12,十二,FL-A,office,vacant,81,68.5,"POLYGON (("',  # 12 unreadable WKT
        f'U-13,十三,FL-A,office,vacant,-5,,"{good[12]}"',  # 13 negative area
        f'U-14,十四,FL-A,office,vacant,81,68.5,"{swapped}"',  # 14 lon/lat swapped
        f'U-15,{"名" * 201},FL-A,office,vacant,81,68.5,"{good[14]}"',  # 15 name too long
        "U-16,十六,FL-A,office,vacant,81,68.5,",  # 16 no geometry
        f'U-17,十七,FL-A,office,leased,81.005,68.5,"{good[1]}"',  # 17 good (rounded)
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


EXPECTED_BAD_ROWS = [
    (2, "geom", "invalid_geometry", "The geometry is invalid: Self-intersection"),
    (3, "geom", "wrong_geometry_type", "Expected a Polygon geometry, got a LineString."),
    (4, "floor_code", "unknown_parent", "Unknown floor code “NOPE”."),
    (5, "code", "duplicate_code", "Duplicate code “OLD-1”: also on row 1."),
    (6, "geom", "outside_region", "Coordinates are outside the expected region (longitude 73"),
    (7, "use", "required", "This field cannot be blank."),
    (8, "use", "invalid_choice", "Value 'spaceship' is not a valid choice."),
    (9, "gross_area", "invalid", "“abc” value must be a decimal number."),
    (10, "usable_area", "usable_above_gross", "The usable area cannot exceed the gross floor"),
    (11, "code", "invalid_code", "Use 1-64 letters, digits, '-', '_' or '.'"),
    (12, "geom", "invalid_geometry", "Not a geometry: the WKT text cannot be read."),
    (13, "gross_area", "not_positive", "Ensure this value is greater than 0."),
    (14, "geom", "coordinates_out_of_range", "Coordinates are outside the valid range"),
    (15, "name", "max_length", "Ensure this value has at most 200 characters (it has 201)."),
    (16, "geom", "required", "This field cannot be null."),
]


def test_every_bad_row_is_reported_with_row_field_and_reason_and_nothing_is_written(
    tree, floor_a, tmp_path
):
    # given a stored unit the file would rename, and a file with one bad row of each kind
    stored = UnitFactory(code="OLD-1", floor=floor_a, name="原名")
    path = _bad_rows_csv(tmp_path, floor_a)
    before, history_before = snapshot(), history_count()
    # when
    report = layer_import(layer="units", path=path, crs="EPSG:4326")
    # then
    assert not report.ok and not report.committed
    assert report.error_count == len(EXPECTED_BAD_ROWS)
    found = [(e.row, e.field, e.code, e.message) for e in report.errors]
    for (row, field, code, message), expected in zip(found, EXPECTED_BAD_ROWS, strict=True):
        assert (row, field, code) == expected[:3]
        assert message.startswith(expected[3]), message
    assert all(e.line == e.row + 1 for e in report.errors)  # the header is line 1
    assert (report.create, report.update) == (15, 2)
    # and nothing changed
    assert snapshot() == before
    assert history_count() == history_before
    stored.refresh_from_db()
    assert stored.name == "原名"


def test_bad_rows_through_the_command_exit_with_an_error_and_a_report(
    tree, floor_a, tmp_path, capsys
):
    UnitFactory(code="OLD-1", floor=floor_a)
    path = _bad_rows_csv(tmp_path, floor_a)
    before = snapshot()
    with pytest.raises(CommandError, match="15 errors. Nothing was written."):
        call_command(
            "import_layer", "units", str(path), "--crs", "EPSG:4326",
            "--report", str(tmp_path / "report.json"),
        )  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["valid"] is False
    assert report["errors"][0] == {
        "row": 2,
        "line": 3,
        "field": "geom",
        "code": "invalid_geometry",
        "message": report["errors"][0]["message"],
    }
    assert "row 4 (line 5), floor_code: Unknown floor code “NOPE”." in capsys.readouterr().err
    assert snapshot() == before


def test_bad_geometries_in_a_geopackage_are_reported_like_the_api(tree, floor_a, tmp_path):
    rows = files.unit_rows(floor_a, 3)
    lon, lat = origin(floor_a.geom)
    east, north = offset(lon, lat, 10, 10)
    rows[1]["geometry"] = shapely.Polygon([(lon, lat), (east, north), (east, lat), (lon, north)])
    rows[2]["geometry"] = shapely.Polygon()
    path = files.write_gpkg(tmp_path / "units.gpkg", rows)
    report = layer_import(layer="units", path=path)
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (2, "geom", "invalid_geometry"),
        (3, "geom", "empty_geometry"),
    ]
    assert report.errors[0].message.startswith("The geometry is invalid: Self-intersection[")
    assert Unit.objects.count() == 0


def test_floor_levels_must_be_unique_in_the_building_and_not_zero(tree, floor_a, tmp_path):
    outline = shapely_wkt.loads(floor_a.geom.wkt)
    data = files.gpd.GeoDataFrame(
        [
            {"code": "FL-2", "name": "2F", "building_code": "B-A", "level": 2},
            {"code": "FL-2B", "name": "2F", "building_code": "B-A", "level": 2},
            {"code": "FL-1X", "name": "1F", "building_code": "B-A", "level": 1},
            {"code": "FL-0", "name": "0F", "building_code": "B-A", "level": 0},
            {"code": "FL-3", "name": "3F", "building_code": "B-A", "level": "三"},
        ],
        geometry=[outline] * 5, crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "floors.gpkg"
    data.to_file(path, driver="GPKG")
    report = layer_import(layer="floors", path=path)
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (2, "level", "duplicate_level"),
        (3, "level", "duplicate_level"),  # FL-A is level 1
        (4, "level", "level_zero"),
        (5, "level", "invalid"),
    ]
    assert Floor.objects.count() == 1


def test_road_stakes_must_increase(tree, tmp_path):
    SiteFactory(code="S-R", company=tree.sub_a)
    line = shapely.LineString([HEFEI, offset(*HEFEI, east_m=100)])
    data = files.gpd.GeoDataFrame(
        [{"code": "R-1", "name": "路", "site_code": "S-R", "grade": "branch",
          "start_stake_m": "K0+200", "end_stake_m": "K0+100"}],
        geometry=[line], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "roads.gpkg"
    data.to_file(path, driver="GPKG")
    report = layer_import(layer="roads", path=path)
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (1, "end_stake_m", "stakes_not_increasing")
    ]


def test_a_site_without_a_company_is_a_row_error(tree, tmp_path):
    data = files.gpd.GeoDataFrame(
        [{"code": "S-X", "name": "园区", "kind": "office_park"}],
        geometry=[shapely_wkt.loads(rect(*HEFEI, 50, 50).wkt)], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "sites.gpkg"
    data.to_file(path, driver="GPKG")
    report = layer_import(layer="sites", path=path)
    assert [(e.field, e.code) for e in report.errors] == [("company_code", "required")]
    # the import's company fills it
    assert layer_import(layer="sites", path=path, company="HFCT-A1").ok
    assert Site.objects.get(code="S-X").company_id == tree.project_a.pk


def test_the_expected_region_is_configurable(tree, floor_a, tmp_path):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 1))
    report = layer_import(layer="units", path=path, region=(100.0, 20.0, 110.0, 30.0), dry_run=True)
    assert [(e.field, e.code) for e in report.errors] == [("geom", "outside_region")]
    assert "longitude 100.0..110.0" in report.errors[0].message


# -- dry run ------------------------------------------------------------------------------------


def test_dry_run_reports_the_counts_and_writes_nothing(tree, floor_a, tmp_path):
    # given one stored unit the file renames, and two new ones
    stored = UnitFactory(code="IMP-U001", floor=floor_a, name="旧名")
    rows = files.unit_rows(floor_a, 3)
    path = files.write_gpkg(tmp_path / "units.gpkg", rows)
    before, history_before = snapshot(), history_count()
    # when
    report = layer_import(layer="units", path=path, dry_run=True)
    # then
    assert report.ok and report.dry_run and not report.committed
    assert (report.create, report.update) == (2, 1)
    assert snapshot() == before and history_count() == history_before
    stored.refresh_from_db()
    assert stored.name == "旧名"


def test_dry_run_with_bad_rows_gives_the_same_report(tree, floor_a, tmp_path):
    UnitFactory(code="OLD-1", floor=floor_a)
    path = _bad_rows_csv(tmp_path, floor_a)
    before = snapshot()
    dry = layer_import(layer="units", path=path, crs="EPSG:4326", dry_run=True)
    real = layer_import(layer="units", path=path, crs="EPSG:4326")
    assert dry.errors == real.errors
    assert snapshot() == before


# -- bad files ----------------------------------------------------------------------------------


def _bad_file(kind: str, tmp_path):
    if kind == "not_spatial":
        path = tmp_path / "notes.txt"
        path.write_text("这不是空间数据\n", encoding="utf-8")
    elif kind == "picture_named_gpkg":
        path = tmp_path / "units.gpkg"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    elif kind == "unreadable_zip":
        path = tmp_path / "units.zip"
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    elif kind == "zip_without_shp":
        path = tmp_path / "units.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "no shapefile here")
    elif kind == "zip_without_dbf":
        path = tmp_path / "units.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("units.shp", b"\x00" * 100)
            archive.writestr("units.shx", b"\x00" * 100)
    elif kind == "empty_file":
        path = tmp_path / "units.geojson"
        path.write_bytes(b"")
    elif kind == "no_features":
        path = tmp_path / "units.geojson"
        path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    elif kind == "broken_geojson":
        path = tmp_path / "units.geojson"
        path.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    elif kind == "csv_without_geometry":
        path = tmp_path / "units.csv"
        path.write_text("code,name\nU-1,一\n", encoding="utf-8")
    elif kind == "gpkg_without_crs":
        path = tmp_path / "units.gpkg"
        data = files.gpd.GeoDataFrame(
            [{"code": "U-1"}], geometry=[shapely.box(500_000, 3_500_000, 500_010, 3_500_010)]
        )
        with pytest.warns(UserWarning, match="'crs' was not provided"):
            data.to_file(path, driver="GPKG")
    elif kind == "two_layers":
        path = tmp_path / "mixed.gpkg"
        for name in ("a", "b"):
            files.gpd.GeoDataFrame(
                [{"code": "U-1"}], geometry=[shapely.box(117, 31, 117.1, 31.1)], crs=4326
            ).to_file(path, layer=name, driver="GPKG")
    return path


BAD_FILES = {
    "not_spatial": ("file", "Not a spatial file this import reads"),
    "picture_named_gpkg": ("file", "units.gpkg is not a valid GPKG file."),
    "unreadable_zip": ("file", "Not a readable zip file"),
    "zip_without_shp": ("file", "The zip holds no Shapefile (.shp)."),
    "zip_without_dbf": ("file", "The Shapefile units.shp lacks its .dbf file."),
    "empty_file": ("file", "The file is empty."),
    "no_features": ("file", "The file holds no features."),
    "broken_geojson": ("file", "Not a readable spatial file"),
    "csv_without_geometry": ("file", "No geometry column"),
    "gpkg_without_crs": ("crs", "The file does not say which coordinate system"),
    "two_layers": ("source_layer", "The file holds several layers (a, b)"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_files_are_refused_with_a_clear_error_and_nothing_written(
    tree, floor_a, tmp_path, kind
):
    # given
    stored = UnitFactory(code="U-1", floor=floor_a, name="原名")
    path = _bad_file(kind, tmp_path)
    before = snapshot()
    field, message = BAD_FILES[kind]
    # when
    with pytest.raises(TransferError) as raised:
        layer_import(layer="units", path=path)
    # then
    assert raised.value.field == field
    assert raised.value.message.startswith(message), raised.value.message
    assert snapshot() == before
    stored.refresh_from_db()
    assert stored.name == "原名"


def test_unknown_layer_and_bad_crs_are_refused_naming_them(tree, floor_a, tmp_path):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 1))
    with pytest.raises(TransferError) as raised:
        layer_import(layer="spaceships", path=path)
    assert raised.value.field == "layer"
    with pytest.raises(TransferError) as raised:
        layer_import(layer="units", path=path, crs="EPSG:999999")
    assert raised.value.field == "crs"
    with pytest.raises(TransferError) as raised:
        layer_import(layer="units", path=path, defaults={"colour": "red"})
    assert raised.value.field == "set"
    assert Unit.objects.count() == 0


def test_command_refuses_a_bad_file_without_writing(tree, floor_a, tmp_path):
    path = _bad_file("zip_without_shp", tmp_path)
    with pytest.raises(CommandError, match=r"file: The zip holds no Shapefile \(.shp\)"):
        call_command("import_layer", "units", str(path))
    assert Unit.objects.count() == 0


def test_command_imports_and_dry_runs(tree, floor_a, tmp_path, capsys):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 2))
    call_command("import_layer", "units", str(path), "--dry-run")
    assert "2 to create, 0 to update. Dry run: nothing was written." in capsys.readouterr().out
    assert Unit.objects.count() == 0
    call_command("import_layer", "units", str(path), "--no-history")
    assert "2 created, 0 updated" in capsys.readouterr().out
    assert Unit.objects.count() == 2 and history_count() == 0


# -- the API upload, scoped ---------------------------------------------------------------------


def _upload(client, path, layer="units", **data):
    with path.open("rb") as handle:
        return client.post(
            f"/api/import/{layer}/", {"file": handle, **data}, format="multipart",
            HTTP_ACCEPT_LANGUAGE="en",
        )  # fmt: skip


def test_api_import_creates_rows_and_returns_the_report(tree, floor_a, manager_a, api, tmp_path):
    path = files.write_shp_zip(tmp_path / "units.zip", files.unit_rows(floor_a, 2))
    response = _upload(api(manager_a), path)
    assert response.status_code == 200
    body = response.json()
    assert (body["valid"], body["committed"], body["create"], body["update"]) == (
        True, True, 2, 0
    )  # fmt: skip
    assert body["crs"] == "EPSG:4548"
    assert Unit.history.filter(code="IMP-U001").get().history_user_id == manager_a.pk


def test_api_dry_run_answers_200_and_writes_nothing(tree, floor_a, manager_a, api, tmp_path):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 2))
    response = _upload(api(manager_a), path, dry_run="true")
    assert response.status_code == 200
    assert (response.json()["create"], response.json()["committed"]) == (2, False)
    assert Unit.objects.count() == 0


def test_api_import_with_bad_rows_is_a_400_with_the_report(tree, floor_a, manager_a, api, tmp_path):
    UnitFactory(code="OLD-1", floor=floor_a)
    path = _bad_rows_csv(tmp_path, floor_a)
    before = snapshot()
    response = _upload(api(manager_a), path, crs="EPSG:4326")
    assert response.status_code == 400
    assert response.json()["error_count"] == len(EXPECTED_BAD_ROWS)
    assert response.json()["errors"][2]["field"] == "floor_code"
    assert snapshot() == before


def test_api_bad_file_is_a_400_naming_the_field(tree, floor_a, manager_a, api, tmp_path):
    response = _upload(api(manager_a), _bad_file("zip_without_shp", tmp_path))
    assert response.status_code == 400
    assert response.json() == {"file": ["The zip holds no Shapefile (.shp)."]}
    response = api(manager_a).post("/api/import/units/", {}, format="multipart")
    assert response.status_code == 400 and list(response.json()) == ["file"]


def test_api_unknown_layer_is_a_404(tree, floor_a, manager_a, api, tmp_path):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 1))
    assert _upload(api(manager_a), path, layer="spaceships").status_code == 404


def test_api_import_is_refused_to_anonymous_and_read_only_users(
    tree, floor_a, readonly_a, api, tmp_path
):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 1))
    assert _upload(api(), path).status_code == 403
    assert _upload(api(readonly_a), path).status_code == 403
    assert Unit.objects.count() == 0


def test_api_rows_on_another_companys_floor_are_errors(
    tree, floor_a, floor_b, manager_b, api, tmp_path
):
    # given manager B, who cannot see floor FL-A of company A
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 2))
    # when
    response = _upload(api(manager_b), path)
    # then
    assert response.status_code == 400
    assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (1, "floor_code", "unknown_parent"),
        (2, "floor_code", "unknown_parent"),
    ]
    assert Unit.objects.count() == 0


def test_api_codes_of_another_companys_rows_cannot_be_taken_over(
    tree, floor_a, floor_b, manager_b, api, tmp_path
):
    # given a unit of company A, and a file of manager B reusing its code on B's floor
    stored = UnitFactory(code="IMP-U001", floor=floor_a, name="A的房源")
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_b, 1))
    before = snapshot()
    # when
    response = _upload(api(manager_b), path)
    # then
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("code", "forbidden")]
    assert snapshot() == before
    stored.refresh_from_db()
    assert stored.name == "A的房源"


def test_api_import_into_a_company_you_cannot_write_is_refused(
    tree, floor_a, manager_a, agent_a, api, tmp_path
):
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 1))
    # a company manager A cannot see at all
    response = _upload(api(manager_a), path, company="HFCT-B")
    assert response.status_code == 400
    assert response.json() == {"company": ["Unknown company 'HFCT-B'."]}
    # a leasing agent sees company A but may not write the spatial graph
    assert _upload(api(agent_a), path).status_code == 403
    assert Unit.objects.count() == 0


def test_api_import_as_a_sub_company_user_into_the_group_company_is_forbidden(
    tree, manager_a, api, tmp_path
):
    # manager A sees HFCT-A and below, not the group; a site file naming the group fails
    data = files.gpd.GeoDataFrame(
        [{"code": "S-G", "name": "集团园区", "company_code": "HFCT", "kind": "office_park"},
         {"code": "S-A1", "name": "项目园区", "company_code": "HFCT-A1", "kind": "office_park"}],
        geometry=[shapely_wkt.loads(rect(*HEFEI, 50, 50).wkt)] * 2, crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "sites.gpkg"
    data.to_file(path, driver="GPKG")
    response = _upload(api(manager_a), path, layer="sites")
    assert response.status_code == 400
    assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (1, "company_code", "unknown_company")
    ]
    assert Site.objects.count() == 0
    # alone, the row in manager A's project company imports
    data.iloc[[1]].to_file(path, driver="GPKG")
    assert _upload(api(manager_a), path, layer="sites").status_code == 200
    assert Site.objects.get().company_id == tree.project_a.pk


def test_api_default_values_for_columns_the_file_lacks(tree, floor_a, manager_a, api, tmp_path):
    rows = files.unit_rows(floor_a, 1)
    for row in rows:
        del row["use"], row["floor_code"]
    path = files.write_gpkg(tmp_path / "units.gpkg", rows)
    response = api(manager_a).post(
        "/api/import/units/",
        {"file": path.open("rb"), "set": ["use=商铺", "floor_code=FL-A"]},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    assert Unit.objects.get().use == "retail"


@pytest.mark.parametrize(
    ("column", "value", "code", "message"),
    [
        ("gross_area", "123456789012", "max_whole_digits", "Ensure that there are no more"),
        ("gross_area", "1e30", "max_digits", "Ensure that there are no more than 12 digits"),
        ("gross_area", "1,234.5", None, None),  # thousands separators are fine
        ("status", "已出租", None, None),  # the Chinese label of "leased"
        ("status", "Leased", None, None),  # the English one
        ("status", "rented", "invalid_choice", "Value 'rented' is not a valid choice."),
        ("number", "x" * 31, "max_length", "Ensure this value has at most 30 characters"),
    ],
)
def test_attribute_values_are_parsed_or_reported(tree, floor_a, tmp_path, column, value, code,
                                                 message):  # fmt: skip
    row = files.unit_rows(floor_a, 1)[0]
    row[column] = value
    path = tmp_path / "one.csv"
    files.table([row]).to_csv(path, index=False)
    report = layer_import(layer="units", path=path, crs="EPSG:4326", dry_run=True)
    if code is None:
        assert report.ok, report.errors
    else:
        assert [(e.field, e.code) for e in report.errors] == [(column, code)]
        assert report.errors[0].message.startswith(message)


def test_building_numbers_years_and_parcel_dates_are_checked(tree, floor_a, tmp_path):
    square = shapely_wkt.loads(rect(*offset(*HEFEI, 150, 150), 30, 20).wkt)
    data = files.gpd.GeoDataFrame(
        [{"code": "B-1", "name": "楼", "site_code": "S-A", "floors_above": "-2",
          "year_built": 1700, "height_m": "0"},
         {"code": "B-2", "name": "楼", "site_code": "S-A", "floors_above": "2.5",
          "year_built": 2020, "height_m": "12"}],
        geometry=[square, square], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "buildings.gpkg"
    data.to_file(path, driver="GPKG")
    report = layer_import(layer="buildings", path=path, dry_run=True)
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (1, "floors_above", "min_value"),
        (1, "height_m", "not_positive"),
        (1, "year_built", "out_of_range"),
        (2, "floors_above", "invalid"),
    ]
    parcel = files.gpd.GeoDataFrame(
        [{"code": "L-1", "name": "宗地", "site_code": "S-A", "land_use": "05",
          "right_end_date": "2058年13月1日"}],
        geometry=[square], crs="EPSG:4326",
    )  # fmt: skip
    parcel.to_file(tmp_path / "parcels.gpkg", driver="GPKG")
    report = layer_import(layer="parcels", path=tmp_path / "parcels.gpkg", dry_run=True)
    assert [(e.field, e.code) for e in report.errors] == [("right_end_date", "invalid")]


def test_csv_line_numbers_count_blank_lines(tree, floor_a, tmp_path):
    good = unit_slot(floor_a.geom, 0).wkt
    path = tmp_path / "gaps.csv"
    path.write_text(
        f'code,name,floor_code,use,wkt\n\nU-1,一,FL-A,office,"{good}"\n\nU-2,二,NOPE,office,"{good}"\n',
        encoding="utf-8",
    )
    report = layer_import(layer="units", path=path, crs="EPSG:4326", dry_run=True)
    assert [(e.row, e.line, e.field) for e in report.errors] == [(2, 5, "floor_code")]


def test_api_rows_in_a_company_seen_but_not_writable_are_forbidden(tree, floor_a, api, tmp_path):
    # given a user who manages project company A1 and only reads subsidiary A
    user = UserFactory(username="a1_manager")
    Membership.objects.create(user=user, company=tree.project_a, role=Role.ASSET_MANAGER)
    Membership.objects.create(user=user, company=tree.sub_a, role=Role.READ_ONLY)
    path = files.write_gpkg(tmp_path / "units.gpkg", files.unit_rows(floor_a, 1))
    # when the import names company A: refused as a whole
    response = _upload(api(user), path, company="HFCT-A")
    assert response.status_code == 403
    assert response.json() == {"detail": "You may not import units into HFCT-A."}
    # when the rows fall to company A through their floor: each row is refused
    response = _upload(api(user), path)
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("company_code", "forbidden")
    ]
    # into A1, which the user manages, the same rows import
    response = _upload(api(user), path, company="HFCT-A1")
    assert response.status_code == 200
    assert Unit.objects.get().company_id == tree.project_a.pk


def test_dxf_roads_are_polylines_labelled_by_the_nearest_text(tree, tmp_path):
    # given two roads drawn in GK CM117 — one a closed loop, which stays a line — each with
    # its code written beside it
    SiteFactory(code="S-R", company=tree.sub_a)
    gk = crs.parse_crs("EPSG:4548")
    a, b = offset(*HEFEI, east_m=0), offset(*HEFEI, east_m=200)
    c, d = offset(*HEFEI, north_m=100), offset(*HEFEI, east_m=200, north_m=100)
    lines = crs.from_wgs84(
        np.array([shapely.LineString([a, b]), shapely.LineString([c, d, offset(*d, 0, 50), c])]),
        gk,
    )
    out = ["0", "SECTION", "2", "ENTITIES"]
    for code, line in zip(("R-1", "R-2"), lines, strict=True):
        coords = shapely.get_coordinates(line).tolist()
        out += ["0", "LWPOLYLINE", "8", "ROADS", "90", str(len(coords)), "70", "0"]
        for x, y in coords:
            out += ["10", repr(x), "20", repr(y)]
        label = line.interpolate(0.5, normalized=True)
        out += ["0", "TEXT", "8", "LABELS", "10", repr(label.x), "20", repr(label.y + 3),
                "30", "0.0", "40", "2.0", "1", code]  # fmt: skip
    out += ["0", "ENDSEC", "0", "EOF"]
    path = tmp_path / "roads.dxf"
    path.write_text("\n".join(out) + "\n", encoding="ascii")
    # when
    report = layer_import(
        layer="roads", path=path, crs="CGCS2000-GK3-CM117",
        defaults={"site_code": "S-R", "grade": "internal", "end_stake_m": "400"},
    )  # fmt: skip
    # then
    assert report.ok, report.errors
    assert sorted(Road.objects.values_list("code", flat=True)) == ["R-1", "R-2"]
    assert Road.objects.get(code="R-1").length_m == pytest.approx(200, abs=0.01)
    assert Road.objects.get(code="R-2").geom.closed
