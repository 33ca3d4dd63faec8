"""Assets (portfolio.Asset points) as an import/export layer that portfolio registers
(portfolio/layers.py): through asset_create and asset_update, codes issued by the coding
rules, per-row errors naming the row and the column, dry run, all or nothing, scoped."""

import io
from datetime import date
from decimal import Decimal

import pandas as pd
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.core.management.base import CommandError

from portfolio.models import Asset, CodeSequence
from spatial.transfer.importer import layer_import
from tests.factories import (
    HEFEI,
    AssetFactory,
    CodingRuleFactory,
    FloorFactory,
    UnitFactory,
    category,
    offset,
)

LAPTOP = "2010000"  # a GB/T 14885 class loaded by the migrations


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def place(tree):
    """A unit of company A, with its floor, building and site coded."""
    floor = FloorFactory(
        code="FL-A", level=2, building__code="B-A", building__site__code="S-A",
        building__site__company=tree.sub_a,
    )  # fmt: skip
    return UnitFactory(code="U-A1", floor=floor)


def _asset_fields(asset: Asset) -> tuple:
    return (
        asset.name, asset.company.code, asset.category.code, asset.status, asset.brand,
        asset.model_number, asset.serial_number, asset.acquisition_cost, asset.acquisition_date,
        asset.in_service_date, asset.unit_id, asset.floor_id, asset.building_id, asset.site_id,
        asset.remarks, round(asset.geom.x, 9), round(asset.geom.y, 9),
    )  # fmt: skip


def _csv(tmp_path, rows: list[dict], name: str = "assets.csv") -> "Path":  # noqa: F821
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False, encoding="utf-8")
    return path


def test_export_then_import_gives_the_same_assets(tree, place, tmp_path):
    # given: two located assets of A, one in a unit, and one without a position (not exported)
    lon, lat = offset(*HEFEI, 5, 5)
    AssetFactory(
        code="AS-1", name="空调主机", company=tree.sub_a, unit=place, status="in_use",
        brand="格力", model_number="GMV-500", serial_number="SN-1",
        acquisition_date=date(2021, 3, 1), in_service_date=date(2021, 4, 1),
        acquisition_cost=Decimal("125000.50"), geom=Point(lon, lat, srid=4326), remarks="一号楼",
    )  # fmt: skip
    AssetFactory(code="AS-2", name="巡逻车", company=tree.sub_a, geom=Point(*HEFEI, srid=4326))
    AssetFactory(code="AS-9", name="无定位", company=tree.sub_a)
    before = {a.code: _asset_fields(a) for a in Asset.objects.filter(code__in=["AS-1", "AS-2"])}
    for fmt, crs_ in (("gpkg", "EPSG:4326"), ("shp", "EPSG:4548"), ("geojson", "EPSG:4326"),
                      ("xlsx", "EPSG:4490")):  # fmt: skip
        out = tmp_path / f"assets.{ {'shp': 'zip'}.get(fmt, fmt) }"
        call_command("export_layer", "assets", str(out), "--format", fmt, "--crs", crs_)
        Asset.objects.filter(code__in=["AS-1", "AS-2"]).delete()
        # when
        report = layer_import(layer="assets", path=out)
        # then
        assert report.ok, (fmt, report.errors)
        assert (report.create, report.update) == (2, 0), fmt
        after = {a.code: _asset_fields(a) for a in Asset.objects.filter(code__in=before)}
        assert after == before, fmt


def test_gpkg_export_holds_points_with_the_import_columns(tree, place, tmp_path):
    AssetFactory(code="AS-1", company=tree.sub_a, geom=Point(*HEFEI, srid=4326))
    out = tmp_path / "assets.gpkg"
    call_command("export_layer", "assets", str(out))
    data = pyogrio.read_dataframe(out)
    assert data.geometry.iloc[0].geom_type == "Point"
    assert {"code", "name", "company_code", "category_code", "unit_code", "status"} <= set(data)


def test_import_with_chinese_headers_issues_codes_by_the_coding_rule(tree, place, tmp_path):
    # given: a ledger without codes, located by unit or by coordinates
    CodingRuleFactory(company=tree.group, pattern="{company}-{category}-{seq:04}")
    lon, lat = offset(*HEFEI, 3, 3)
    path = _csv(tmp_path, [
        {"资产名称": "打印机", "资产分类": LAPTOP, "权属单位编码": "HFCT-A", "房源编码": "U-A1",
         "原值": "3,200.00", "购置日期": "2024年3月1日", "经度": lon, "纬度": lat},
        {"资产名称": "投影仪", "资产分类": LAPTOP, "权属单位编码": "HFCT-A", "房源编码": "U-A1",
         "原值": "5800", "购置日期": "2024/03/02", "经度": lon, "纬度": lat},
    ])  # fmt: skip
    # when
    report = layer_import(layer="assets", path=path)
    # then
    assert report.ok, report.errors
    assert report.create == 2
    printer, projector = Asset.objects.filter(name__in=["打印机", "投影仪"]).order_by("code")
    assert [printer.code, projector.code] == [f"HFCT-A-{LAPTOP}-0001", f"HFCT-A-{LAPTOP}-0002"]
    assert printer.acquisition_cost == Decimal("3200.00")
    assert printer.acquisition_date == date(2024, 3, 1)
    # the unit implies its floor, building and site
    assert (printer.floor_id, printer.building_id, printer.site_id) == (
        place.floor_id,
        place.building_id,
        place.site_id,
    )


def test_each_bad_row_is_reported_with_its_row_and_column_and_nothing_is_written(
    tree, place, tmp_path
):
    # given
    CodingRuleFactory(company=tree.group, pattern="{company}-{category}-{seq:04}")
    lon, lat = HEFEI
    path = _csv(tmp_path, [
        {"code": "OK-1", "name": "好的", "category_code": LAPTOP, "company_code": "HFCT-A",
         "lon": lon, "lat": lat},
        {"code": "BAD-2", "name": "分类错", "category_code": "0000000", "company_code": "HFCT-A",
         "lon": lon, "lat": lat},
        {"code": "BAD-3", "name": "日期错", "category_code": LAPTOP, "company_code": "HFCT-A",
         "acquisition_date": "明年", "lon": lon, "lat": lat},
        {"code": "BAD-4", "name": "房源错", "category_code": LAPTOP, "company_code": "HFCT-A",
         "unit_code": "NO-SUCH", "lon": lon, "lat": lat},
        {"code": "BAD-5", "name": "在国外", "category_code": LAPTOP, "company_code": "HFCT-A",
         "lon": 2.35, "lat": 48.85},
        {"code": "OK-1", "name": "重复", "category_code": LAPTOP, "company_code": "HFCT-A",
         "lon": lon, "lat": lat},
        {"code": "BAD-7", "name": "", "category_code": LAPTOP, "company_code": "HFCT-A",
         "status": "sold", "lon": lon, "lat": lat},
    ])  # fmt: skip
    assets, sequences = Asset.objects.count(), list(CodeSequence.objects.values_list())
    # when
    report = layer_import(layer="assets", path=path)
    # then
    assert not report.ok
    assert {(e.row, e.field, e.code) for e in report.errors} == {
        (2, "category_code", "invalid"),
        (3, "acquisition_date", "invalid"),
        (4, "unit_code", "invalid"),
        (5, "geom", "outside_region"),
        (6, "code", "duplicate_code"),
        (7, "name", "required"),
        (7, "status", "invalid_choice"),
    }
    assert "0000000" in next(e.message for e in report.errors if e.row == 2)
    assert (Asset.objects.count(), list(CodeSequence.objects.values_list())) == (assets, sequences)
    assert not report.committed


def test_dry_run_checks_through_the_services_and_writes_nothing(tree, place, tmp_path):
    # given
    CodingRuleFactory(company=tree.group, pattern="{company}-{category}-{seq:04}")
    path = _csv(tmp_path, [
        {"name": "打印机", "category_code": LAPTOP, "company_code": "HFCT-A", "unit_code": "U-A1"},
        {"name": "早于购置启用", "category_code": LAPTOP, "company_code": "HFCT-A",
         "acquisition_date": "2024-05-01", "in_service_date": "2024-04-01", "unit_code": "U-A1"},
    ])  # fmt: skip
    # when
    report = layer_import(layer="assets", path=path, dry_run=True)
    # then: the model's own rule (asset_create's full_clean) names its field
    assert [(e.row, e.field) for e in report.errors] == [(2, "in_service_date")]
    assert report.create == 1
    assert not Asset.objects.filter(name="打印机").exists()
    assert not CodeSequence.objects.exists()


def test_a_stored_code_is_updated_through_asset_update(tree, place, tmp_path):
    # given
    AssetFactory(code="AS-1", name="旧名", company=tree.sub_a, unit=place, brand="旧")
    path = _csv(tmp_path, [{"code": "AS-1", "name": "新名", "category_code": LAPTOP,
                            "lon": HEFEI[0], "lat": HEFEI[1]}])  # fmt: skip
    # when
    report = layer_import(layer="assets", path=path)
    # then: given columns change, the others stay
    assert (report.create, report.update) == (0, 1), report.errors
    asset = Asset.objects.get(code="AS-1")
    assert (asset.name, asset.brand, asset.company_id) == ("新名", "旧", tree.sub_a.pk)
    assert (round(asset.geom.x, 9), round(asset.geom.y, 9)) == (HEFEI[0], HEFEI[1])


def test_import_is_scoped_to_what_the_user_may_write(tree, place, manager_b, tmp_path):
    # given: B's manager importing into A, and changing one of A's assets
    AssetFactory(code="AS-A", company=tree.sub_a)
    path = _csv(tmp_path, [
        {"code": "NEW-1", "name": "x", "category_code": LAPTOP, "company_code": "HFCT-A",
         "lon": HEFEI[0], "lat": HEFEI[1]},
        {"code": "AS-A", "name": "y", "category_code": LAPTOP,
         "lon": HEFEI[0], "lat": HEFEI[1]},
        {"code": "NEW-3", "name": "z", "category_code": LAPTOP, "unit_code": "U-A1",
         "company_code": "HFCT-B", "lon": HEFEI[0], "lat": HEFEI[1]},
    ])  # fmt: skip
    # when
    report = layer_import(layer="assets", path=path, user=manager_b)
    # then: A's company and unit are unknown to B; A's stored code is not B's to change
    assert {(e.row, e.field) for e in report.errors} == {
        (1, "company_code"),
        (2, "code"),
        (3, "unit_code"),
    }
    assert Asset.objects.get(code="AS-A").name != "y"
    assert not Asset.objects.filter(code__in=["NEW-1", "NEW-3"]).exists()


def test_api_import_and_export_of_assets(tree, place, manager_a, manager_b, api, tmp_path):
    # given
    path = _csv(tmp_path, [{"code": "API-1", "name": "门禁", "category_code": LAPTOP,
                            "unit_code": "U-A1", "lon": HEFEI[0], "lat": HEFEI[1]}])  # fmt: skip
    # when
    with path.open("rb") as handle:
        dry = api(manager_a).post(
            "/api/import/assets/", {"file": handle, "dry_run": "true"}, format="multipart"
        )
    with path.open("rb") as handle:
        done = api(manager_a).post("/api/import/assets/", {"file": handle}, format="multipart")
    mine = api(manager_a).get("/api/export/assets/?format=geojson")
    theirs = api(manager_b).get("/api/export/assets/?format=geojson")
    # then
    assert dry.status_code == 200 and dry.json()["create"] == 1
    assert done.status_code == 200, done.json()
    assert Asset.objects.get(code="API-1").company == tree.sub_a  # the unit's company
    assert mine["X-Feature-Count"] == "1"
    data = pyogrio.read_dataframe(io.BytesIO(b"".join(mine.streaming_content)))
    assert data["code"].tolist() == ["API-1"]
    assert theirs["X-Feature-Count"] == "0"


def test_api_import_of_assets_is_refused_to_anonymous_and_read_only(
    tree, place, readonly_a, api, tmp_path
):
    path = _csv(tmp_path, [{"name": "x", "category_code": LAPTOP}])
    for client in (api(), api(readonly_a)):
        with path.open("rb") as handle:
            response = client.post("/api/import/assets/", {"file": handle}, format="multipart")
        assert response.status_code in (401, 403)
    assert not Asset.objects.exists()


def test_command_imports_and_exports_assets(tree, place, tmp_path):
    # given
    path = _csv(tmp_path, [{"code": "CMD-1", "name": "x", "category_code": LAPTOP,
                            "unit_code": "U-A1", "lon": HEFEI[0], "lat": HEFEI[1]}])  # fmt: skip
    bad = _csv(tmp_path, [{"code": "CMD-2", "name": "x", "category_code": "nope"}], "bad.csv")
    # when / then
    call_command("import_layer", "assets", str(path))
    assert Asset.objects.filter(code="CMD-1").exists()
    with pytest.raises(CommandError, match="1 errors"):
        call_command("import_layer", "assets", str(bad))
    out = tmp_path / "out.geojson"
    call_command("export_layer", "assets", str(out), "--company", "HFCT-A")
    assert pyogrio.read_dataframe(out)["code"].tolist() == ["CMD-1"]
    assert shapely.get_x(pyogrio.read_dataframe(out).geometry.iloc[0]) == pytest.approx(HEFEI[0])
    assert category(LAPTOP).code == LAPTOP
