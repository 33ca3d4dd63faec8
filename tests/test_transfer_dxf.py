"""DXF export (GDAL's DXF driver): outlines on a CAD layer named after the layer, the codes
as text labels, read back with pyogrio and ogrinfo, and imported again."""

import subprocess

import numpy as np
import pyogrio
import pytest
import shapely
from django.core.management import call_command

from spatial.models import Road, Unit
from spatial.transfer import crs
from spatial.transfer.importer import layer_import
from tests.test_transfer_export import _download, export, features, world

__all__ = ["world"]  # the fixture, reused


pytestmark = pytest.mark.usefixtures("english")


def _entities(path) -> "pyogrio.GeoDataFrame":  # noqa: F821
    return pyogrio.read_dataframe(path)


def test_dxf_export_draws_each_unit_as_a_closed_polyline_with_its_code_as_a_label(world, tmp_path):
    # given
    expected = {u.code: u.geom for u in Unit.objects.filter(company__code="HFCT-A")}
    target = crs.parse_crs("CGCS2000-GK3-CM117")
    # when
    out = export("units", tmp_path, "dxf", "CGCS2000-GK3-CM117", "--company", "HFCT-A")
    # then: GDAL reads it back: one polyline and one label per unit, on their CAD layers
    data = _entities(out)
    outlines = data[data["Layer"] == "units"]
    labels = data[data["Layer"] == "units_code"]
    assert len(outlines) == len(labels) == 4
    assert set(outlines["SubClasses"]) == {"AcDbEntity:AcDbPolyline"}
    assert set(labels["SubClasses"]) == {"AcDbEntity:AcDbMText"}
    assert sorted(labels["Text"]) == sorted(expected)
    # each label lies inside the outline of its unit, in Gauss-Krüger metres
    rings = np.asarray(outlines.geometry.array, dtype=object)
    for text, point in zip(labels["Text"], labels.geometry.array, strict=True):
        projected = crs.from_wgs84(np.array([shapely.from_wkb(bytes(expected[text].wkb))]), target)[
            0
        ]
        assert projected.contains(point)
        assert any(shapely.Polygon(r.coords).equals_exact(projected, 1e-6) for r in rings)


def test_ogrinfo_reads_the_dxf(world, tmp_path):
    # given
    out = export("roads", tmp_path, "dxf", "EPSG:4548")
    # when
    info = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", str(out)], capture_output=True, text=True, check=True
    ).stdout
    # then
    assert "Layer (String) = roads" in info
    assert "Text (String) = R-A" in info
    assert "LINESTRING" in info


def test_dxf_export_imports_back_with_the_code_labels(world, tmp_path):
    # given: units exported to CAD in Gauss-Krüger, then removed
    codes = ["U-A1", "U-A2", "U-A3", "U-A4"]
    before = features(Unit, codes)
    out = export("units", tmp_path, "dxf", "CGCS2000-GK3-CM117", "--company", "HFCT-A")
    Unit.objects.filter(code__in=codes).delete()
    # when: DXF carries outlines and codes only; the rest comes with --set
    report = layer_import(
        layer="units", path=out, crs="CGCS2000-GK3-CM117", source_layer="units",
        defaults={"floor_code": "FL-A", "use": "office"},
    )  # fmt: skip
    # then: the same codes and outlines (within 1 mm); names fall back to the codes
    assert report.ok, report.errors
    assert report.create == 4
    after = {u.code: u for u in Unit.objects.filter(code__in=codes)}
    assert sorted(after) == codes
    for code, (_attributes, geom) in before.items():
        stored = shapely.from_wkb(bytes(after[code].geom.wkb))
        assert shapely.hausdorff_distance(stored, geom) < 1e-8  # degrees: about 1 mm
        assert after[code].name == code


def test_dxf_roads_round_trip_through_the_nearest_label(world, tmp_path):
    before = features(Road)
    out = export("roads", tmp_path, "dxf", "EPSG:4548")
    Road.objects.all().delete()
    report = layer_import(
        layer="roads", path=out, crs="EPSG:4548", source_layer="roads",
        defaults={"grade": "internal", "start_stake_m": "1000", "end_stake_m": "1180",
                  "site_code": "S-A"},
    )  # fmt: skip
    assert report.ok, report.errors
    after = features(Road)
    assert sorted(after) == sorted(before)
    assert shapely.hausdorff_distance(after["R-A"][1], before["R-A"][1]) < 1e-8


def test_api_exports_dxf(world, manager_a, api, tmp_path):
    # when
    response = api(manager_a).get("/api/export/units/?format=dxf&crs=EPSG:4548")
    # then
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('units.dxf"')
    assert response["X-Feature-Count"] == "4"
    path = tmp_path / "units.dxf"
    path.write_bytes(_download(response))
    assert sorted(_entities(path).query("Layer == 'units_code'")["Text"]) == [
        "U-A1",
        "U-A2",
        "U-A3",
        "U-A4",
    ]


def test_command_takes_dxf_from_the_extension(world, tmp_path):
    out = tmp_path / "plan.dxf"
    call_command("export_layer", "parcels", str(out), "--crs", "EPSG:4548")
    assert _entities(out).query("Layer == 'parcels_code'")["Text"].tolist() == ["L-A"]


def test_a_multipolygon_with_a_hole_draws_every_ring(world, tmp_path):
    # given: a parcel whose polygon has a hole
    from spatial.models import Parcel

    parcel = Parcel.objects.get(code="L-A")
    shell = shapely.from_wkb(bytes(parcel.geom.wkb)).geoms[0]
    hole = shapely.affinity.scale(shell, 0.3, 0.3)
    from django.contrib.gis.geos import GEOSGeometry

    holed = shapely.MultiPolygon([shapely.Polygon(shell.exterior.coords, [hole.exterior.coords])])
    Parcel.objects.filter(pk=parcel.pk).update(geom=GEOSGeometry(holed.wkt, srid=4326))
    # when
    out = export("parcels", tmp_path, "dxf", "EPSG:4548")
    # then: the outer ring and the hole, as two closed polylines
    outlines = _entities(out).query("Layer == 'parcels'")
    assert len(outlines) == 2
    assert all(g.is_closed for g in outlines.geometry)
