"""Exporting layers to files: every format and CRS, the import's columns so that an export
imports back as the same features, the layer list's filters, and scoping."""

import io
import json
import zipfile
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from spatial.models import Building, Floor, Parcel, Park, Road, Site, Unit
from spatial.transfer import crs
from spatial.transfer.importer import layer_import
from tests.factories import FloorFactory, ParcelFactory, ParkFactory, RoadFactory, UnitFactory

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def world(tree):
    """Company A: a floor with four units (one leased, one without usable area, one with
    Chinese remarks), a road and a parcel. Company B: a floor with one unit."""
    floor = FloorFactory(
        code="FL-A", level=1, building__code="B-A", building__site__code="S-A",
        building__site__company=tree.sub_a,
    )  # fmt: skip
    UnitFactory(code="U-A1", floor=floor, name="101室", status="leased")
    UnitFactory(code="U-A2", floor=floor, name="102室", usable_area=None)
    UnitFactory(code="U-A3", floor=floor, name="103室", remarks="朝南，带阳台")
    UnitFactory(code="U-A4", floor=floor, name="104室", use="retail", gross_area=Decimal("99.99"))
    site = floor.building.site
    RoadFactory(code="R-A", site=site, name="科创一路", start_stake_m=Decimal("1000.00"),
                end_stake_m=Decimal("1180.00"), width_m=Decimal("12.50"), lanes=4)  # fmt: skip
    title = "皖(2020)合肥市不动产权第0012345号"
    ParcelFactory(code="L-A", site=site, right_end_date=date(2058, 12, 31),
                  official_area=Decimal("36100.00"), title_number=title)  # fmt: skip
    floor_b = FloorFactory(
        code="FL-B", level=1, building__code="B-B", building__site__code="S-B",
        building__site__company=tree.sub_b,
    )  # fmt: skip
    UnitFactory(code="U-B1", floor=floor_b, name="B101")
    return floor


def features(model, codes=None) -> dict[str, tuple]:
    """code → (attributes, geometry) of every row: what a round trip must keep."""
    skip = {"id", "created_at", "updated_at", "geom"}
    fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
    out = {}
    queryset = model.objects.all() if codes is None else model.objects.filter(code__in=codes)
    for row in queryset:
        out[row.code] = (
            tuple(getattr(row, f) for f in fields if f not in ("area_m2", "length_m")),
            shapely.from_wkb(bytes(row.geom.wkb)),
        )
    return out


def assert_same_features(before: dict, after: dict, tolerance: float) -> None:
    assert sorted(after) == sorted(before)
    for code, (attributes, geom) in before.items():
        assert after[code][0] == attributes, code
        assert shapely.hausdorff_distance(after[code][1], geom) <= tolerance, code


def export(layer, tmp_path, fmt, crs_="EPSG:4326", *options) -> "Path":  # noqa: F821
    suffix = {"shp": "zip"}.get(fmt, fmt)
    out = tmp_path / f"{layer}-{fmt}.{suffix}"
    call_command("export_layer", layer, str(out), "--format", fmt, "--crs", crs_, *options)
    return out


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "crs_", "import_crs", "tolerance"),
    [
        ("gpkg", "EPSG:4326", None, 0),
        ("gpkg", "EPSG:4490", None, 1e-12),
        ("shp", "CGCS2000-GK3-CM117", None, 1e-8),
        ("shp", "EPSG:4326", None, 0),
        ("geojson", "EPSG:4326", None, 1e-12),
        ("geojson", "GCJ02", "GCJ02", 1e-8),
        ("xlsx", "EPSG:4548", None, 1e-8),
        ("xlsx", "BD09", None, 1e-8),
        ("csv", "EPSG:4326", None, 0),
        ("kml", "EPSG:4326", None, 1e-12),
    ],
)
def test_export_then_import_gives_the_same_units(world, tmp_path, fmt, crs_, import_crs, tolerance):
    # given the units of company A, exported
    codes = ["U-A1", "U-A2", "U-A3", "U-A4"]
    before = features(Unit, codes)
    out = export("units", tmp_path, fmt, crs_, "--company", "HFCT-A")
    # when they are deleted and the file imported
    Unit.objects.filter(code__in=codes).delete()
    report = layer_import(layer="units", path=out, crs=import_crs)
    # then
    assert report.ok, report.errors
    assert (report.create, report.update) == (4, 0)
    assert_same_features(before, features(Unit, codes), tolerance)


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "xlsx"])
def test_export_then_import_gives_the_same_roads_and_parcels(world, tmp_path, fmt):
    for layer, model in (("roads", Road), ("parcels", Parcel)):
        before = features(model)
        out = export(layer, tmp_path, fmt)
        model.objects.all().delete()
        report = layer_import(layer=layer, path=out)
        assert report.ok, report.errors
        assert_same_features(before, features(model), 1e-12)


@pytest.mark.parametrize(
    ("layer", "model"),
    [("sites", Site), ("buildings", Building), ("floors", Floor), ("parks", Park)],
)
def test_export_then_import_gives_the_same_parents_and_parks(world, tmp_path, layer, model):
    ParkFactory(code="P-A", site=world.building.site, green_area=Decimal("5000.00"))
    before = features(model)
    out = export(layer, tmp_path, "shp", "CGCS2000-GK3-CM117")
    # as updates: the rows cannot be deleted while units hang from them
    model.objects.update(name="?", remarks="?")
    report = layer_import(layer=layer, path=out)
    assert report.ok, report.errors
    assert report.update == len(before)
    assert_same_features(before, features(model), 1e-8)


def test_reimporting_an_export_updates_every_row_and_changes_nothing(world, tmp_path):
    before = features(Unit)
    out = export("units", tmp_path, "gpkg")
    report = layer_import(layer="units", path=out)
    assert (report.create, report.update) == (0, 5)
    assert_same_features(before, features(Unit), 0)


# -- what the files hold ------------------------------------------------------------------------


def test_shapefile_export_is_a_zip_with_prj_and_utf8_cpg(world, tmp_path):
    out = export("units", tmp_path, "shp", "CGCS2000-GK3-CM117")
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        assert names == ["units.cpg", "units.dbf", "units.prj", "units.shp", "units.shx"]
        assert archive.read("units.cpg").decode().strip() == "UTF-8"
        assert "CGCS2000" in archive.read("units.prj").decode()
    data = pyogrio.read_dataframe(f"/vsizip/{out}")
    assert sorted(data["name"]) == ["101室", "102室", "103室", "104室", "B101"]
    assert "朝南，带阳台" in set(data["remarks"])
    assert {"comp_code", "floor_code", "usable_are", "bldg_code"} <= set(data.columns)
    assert data.crs.to_epsg() == 4548
    assert 500_000 < data.geometry.iloc[0].centroid.x < 530_000  # metres, CM117


def test_xlsx_export_has_wkt_coordinates_and_the_crs(world, tmp_path):
    out = export("units", tmp_path, "xlsx", "EPSG:4548")
    data = pd.read_excel(out, sheet_name="units")
    assert list(data.columns[:3]) == ["code", "name", "company_code"]
    assert {"wkt", "x", "y", "crs"} <= set(data.columns)
    assert set(data["crs"]) == {"EPSG:4548"}
    assert data["wkt"].iloc[0].startswith("POLYGON ((5")
    geographic = pd.read_excel(export("units", tmp_path, "xlsx", "EPSG:4490"))
    assert {"lon", "lat"} <= set(geographic.columns)
    assert geographic["lon"].between(117, 118).all()


def test_gcj02_export_shifts_every_vertex_by_the_published_formula(world, tmp_path):
    out = export("units", tmp_path, "geojson", "GCJ02", "--site", "S-A")
    data = json.loads(out.read_text(encoding="utf-8"))
    first = next(f for f in data["features"] if f["properties"]["code"] == "U-A1")
    stored = Unit.objects.get(code="U-A1").geom.coords[0]
    expected = np.array(stored)
    shifted = np.column_stack(crs.wgs84_to_gcj02(expected[:, 0], expected[:, 1]))
    assert np.allclose(first["geometry"]["coordinates"][0], shifted, atol=1e-12)


def test_kml_export_refuses_a_projected_crs(world, tmp_path):
    with pytest.raises(CommandError, match="crs: KML holds longitude/latitude only"):
        export("units", tmp_path, "kml", "EPSG:4548")


# -- filters (the command) -----------------------------------------------------------------------


def _codes(path) -> list[str]:
    return sorted(pyogrio.read_dataframe(path)["code"])


def test_command_filters_by_company_site_status_and_bbox(world, tmp_path):
    assert _codes(export("units", tmp_path, "gpkg")) == ["U-A1", "U-A2", "U-A3", "U-A4", "U-B1"]
    assert _codes(export("units", tmp_path, "gpkg", "EPSG:4326", "--company", "HFCT-B")) == ["U-B1"]
    assert _codes(export("units", tmp_path, "gpkg", "EPSG:4326", "--status", "leased")) == ["U-A1"]
    assert _codes(export("units", tmp_path, "gpkg", "EPSG:4326", "--site", "S-B")) == ["U-B1"]
    assert _codes(export("units", tmp_path, "gpkg", "EPSG:4326", "--filter", "use=retail")) == [
        "U-A4"
    ]
    xmin, ymin, xmax, ymax = Unit.objects.get(code="U-A1").geom.extent
    bbox = f"{xmin},{ymin},{xmax},{ymax}"
    assert "U-A1" in _codes(export("units", tmp_path, "gpkg", "EPSG:4326", "--bbox", bbox))
    assert "U-B1" not in _codes(export("units", tmp_path, "gpkg", "EPSG:4326", "--bbox", bbox))


def test_command_refuses_bad_options(world, tmp_path):
    with pytest.raises(CommandError, match="format: Unknown format"):
        call_command("export_layer", "units", str(tmp_path / "u.gpkg"), "--format", "dwg")
    with pytest.raises(CommandError, match="crs: Unknown CRS"):
        call_command("export_layer", "units", str(tmp_path / "u.gpkg"), "--crs", "Mars")
    with pytest.raises(CommandError, match="bbox"):
        call_command("export_layer", "units", str(tmp_path / "u.gpkg"), "--bbox", "1,2,3")
    with pytest.raises(CommandError, match="roads have no status"):
        call_command("export_layer", "roads", str(tmp_path / "r.gpkg"), "--status", "vacant")


# -- the API, scoped -----------------------------------------------------------------------------


def _download(response) -> bytes:
    return b"".join(response.streaming_content)


def test_api_export_is_a_file_download(world, manager_a, api, tmp_path):
    response = api(manager_a).get("/api/export/units/?format=gpkg&crs=EPSG:4490")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geopackage+sqlite3"
    assert response["Content-Disposition"] == 'attachment; filename="units.gpkg"'
    assert (response["X-Feature-Count"], response["X-CRS"]) == ("4", "EPSG:4490")
    path = tmp_path / "download.gpkg"
    path.write_bytes(_download(response))
    data = pyogrio.read_dataframe(path)
    assert sorted(data["code"]) == ["U-A1", "U-A2", "U-A3", "U-A4"]
    assert data.crs.to_epsg() == 4490


def test_api_export_takes_the_layer_lists_filters(world, manager_a, api):
    response = api(manager_a).get("/api/export/units/?format=csv&status=leased&use=office")
    data = pd.read_csv(io.BytesIO(_download(response)))
    assert list(data["code"]) == ["U-A1"]
    building = world.building_id
    response = api(manager_a).get(f"/api/export/units/?format=geojson&building={building}")
    codes = [f["properties"]["code"] for f in json.loads(_download(response))["features"]]
    assert codes == ["U-A1", "U-A2", "U-A3", "U-A4"]


def test_api_export_of_another_companys_features_is_empty(world, manager_b, api):
    # manager B asks for company A's units by every route; none of them comes back
    for query in ("", "&company_code=HFCT-A", "&site_code=S-A", "&code=U-A1"):
        response = api(manager_b).get(f"/api/export/units/?format=geojson{query}")
        assert response.status_code == 200
        codes = [f["properties"]["code"] for f in json.loads(_download(response))["features"]]
        assert "U-A1" not in codes
    response = api(manager_b).get("/api/export/units/?format=geojson")
    assert response["X-Feature-Count"] == "1"


def test_api_export_is_refused_to_anonymous_users(world, api):
    assert api().get("/api/export/units/?format=gpkg").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("format=dwg", "format"),
        ("format=gpkg&crs=Mars", "crs"),
        ("format=kml&crs=EPSG:4548", "crs"),
        ("format=gpkg&bbox=1,2,3", "bbox"),
        ("format=gpkg&company=abc", "company"),
    ],
)
def test_api_export_bad_parameters_are_a_400_naming_them(world, manager_a, api, query, field):
    response = api(manager_a).get(f"/api/export/units/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_api_export_unknown_layer_is_a_404(world, manager_a, api):
    assert api(manager_a).get("/api/export/spaceships/?format=gpkg").status_code == 404


def test_api_export_queries_do_not_grow_with_the_rows(
    world, group_admin, api, django_assert_num_queries
):
    # a fresh user object each time: the scope of a user is cached on the object
    with CaptureQueriesContext(connection) as few:
        api(User.objects.get(pk=group_admin.pk)).get("/api/export/units/?format=gpkg")
    for n in range(6):
        UnitFactory(floor=world, code=f"U-MORE{n}")
    with django_assert_num_queries(len(few.captured_queries)):
        response = api(User.objects.get(pk=group_admin.pk)).get("/api/export/units/?format=gpkg")
    assert response["X-Feature-Count"] == "11"


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "kml", "xlsx", "csv"])
def test_api_export_every_format(world, manager_a, api, fmt):
    response = api(manager_a).get(f"/api/export/parcels/?format={fmt}")
    assert response.status_code == 200
    assert len(_download(response)) > 100


def test_kml_export_zipped_as_kmz_imports_back(world, tmp_path):
    codes = ["U-A1", "U-A2", "U-A3", "U-A4"]
    before = features(Unit, codes)
    kml = export("units", tmp_path, "kml", "EPSG:4326", "--company", "HFCT-A")
    kmz = tmp_path / "units.kmz"
    with zipfile.ZipFile(kmz, "w") as archive:
        archive.write(kml, "doc.kml")
    Unit.objects.filter(code__in=codes).delete()
    report = layer_import(layer="units", path=kmz)
    assert report.ok, report.errors
    assert report.ignored_columns == []
    assert_same_features(before, features(Unit, codes), 1e-12)
