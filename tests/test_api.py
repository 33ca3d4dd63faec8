"""The REST API's shape: GeoJSON feature collections, bbox and attribute filters, ordering,
page sizes, a constant number of queries per list, and JSON errors naming the field."""

import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import MultiPolygon

from spatial.models import Site
from tests.factories import (
    HEFEI,
    AssetFactory,
    AssetTagFactory,
    BuildingFactory,
    FloorFactory,
    RoadFactory,
    SiteFactory,
    UnitFactory,
    category,
    offset,
    rect,
    unit_slot,
)

FAR = (117.21, 31.81)  # about 5 km south-west of HEFEI


def _codes(response) -> list[str]:
    return [feature["properties"]["code"] for feature in response.json()["features"]]


def test_site_list_is_a_paginated_geojson_feature_collection(tree, manager_a, api):
    # given
    site = SiteFactory(company=tree.sub_a, code="HF-S-1", name="滨湖科创园")
    # when
    response = api(manager_a).get("/api/sites/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"type", "count", "next", "previous", "features"}
    assert (body["type"], body["count"], body["next"], body["previous"]) == (
        "FeatureCollection",
        1,
        None,
        None,
    )
    [feature] = body["features"]
    assert set(feature) == {"id", "type", "geometry", "properties"}
    assert feature["id"] == site.pk
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["geometry"]["coordinates"] == json.loads(site.geom.json)["coordinates"]
    assert feature["properties"]["code"] == "HF-S-1"
    assert feature["properties"]["name"] == "滨湖科创园"
    assert feature["properties"]["company_code"] == "HFCT-A"
    assert feature["properties"]["area_m2"] == pytest.approx(40_000, rel=0.005)


def test_unit_detail_is_a_geojson_feature_with_its_parents(tree, manager_a, api):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    # when
    response = api(manager_a).get(f"/api/units/{unit.pk}/")
    # then
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Polygon"
    props = feature["properties"]
    assert (props["floor"], props["building"], props["site"]) == (
        unit.floor_id,
        unit.building_id,
        unit.site_id,
    )
    assert (props["gross_area"], props["usable_area"], props["outside_floor"]) == (
        "81.00",
        "68.50",
        False,
    )


def test_road_detail_shows_stakes_in_the_chinese_convention(tree, manager_a, api):
    # given
    road = RoadFactory(site__company=tree.sub_a, start_stake_m="1234.50", end_stake_m="1414.50")
    # when
    props = api(manager_a).get(f"/api/roads/{road.pk}/").json()["properties"]
    # then
    assert (props["start_stake"], props["end_stake"]) == ("K1+234.5", "K1+414.5")


def test_asset_list_is_a_geojson_feature_collection(tree, manager_a, api):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    asset = AssetFactory(company=tree.sub_a, unit=unit)
    # when
    body = api(manager_a).get("/api/assets/").json()
    # then
    assert (body["type"], body["count"]) == ("FeatureCollection", 1)
    [feature] = body["features"]
    assert feature["id"] == asset.pk
    assert feature["geometry"]["type"] == "Point"
    assert feature["properties"]["unit"] == unit.pk
    assert feature["properties"]["category_code"] == "2010000"


# -- bbox --------------------------------------------------------------------------------------


def test_bbox_includes_intersecting_features_and_excludes_far_ones(tree, manager_a, api):
    # given: the bbox covers only the south-west corner of the near site
    SiteFactory(company=tree.sub_a, code="NEAR", geom=MultiPolygon(rect(*HEFEI, 200, 200)))
    SiteFactory(company=tree.sub_a, code="FAR", geom=MultiPolygon(rect(*FAR, 200, 200)))
    lon, lat = HEFEI
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.0005},{lat + 0.0005}"
    # when
    response = api(manager_a).get("/api/sites/", {"bbox": bbox})
    # then
    assert response.status_code == 200
    assert _codes(response) == ["NEAR"]


def test_bbox_on_units_excludes_units_of_another_building(tree, manager_a, api):
    # given
    near = FloorFactory(
        building__site__company=tree.sub_a,
        building__site__geom=MultiPolygon(rect(*HEFEI, 200, 200)),
    )
    far = FloorFactory(
        building__site__company=tree.sub_a,
        building__site__geom=MultiPolygon(rect(*FAR, 200, 200)),
    )
    UnitFactory(floor=near, code="U-NEAR")
    UnitFactory(floor=far, code="U-FAR")
    xmin, ymin, xmax, ymax = near.geom.extent
    # when
    response = api(manager_a).get("/api/units/", {"bbox": f"{xmin},{ymin},{xmax},{ymax}"})
    # then
    assert _codes(response) == ["U-NEAR"]


def test_bbox_on_assets_keeps_points_inside(tree, manager_a, api):
    # given
    AssetFactory(
        company=tree.sub_a,
        code="A-NEAR",
        site=SiteFactory(company=tree.sub_a, geom=MultiPolygon(rect(*HEFEI, 200, 200))),
    )
    AssetFactory(
        company=tree.sub_a,
        code="A-FAR",
        site=SiteFactory(company=tree.sub_a, geom=MultiPolygon(rect(*FAR, 200, 200))),
    )
    east, north = offset(*HEFEI, 200, 200)
    bbox = f"{HEFEI[0]},{HEFEI[1]},{east},{north}"
    # when
    response = api(manager_a).get("/api/assets/", {"bbox": bbox})
    # then
    assert _codes(response) == ["A-NEAR"]


@pytest.mark.parametrize(
    "bbox",
    [
        "117.2,31.8,117.3",  # three numbers
        "117.2,31.8,east,31.9",  # not a number
        "117.3,31.8,117.2,31.9",  # minimum after maximum
        "39500000,3500000,39501000,3501000",  # projected metres
        "31.8,117.2,31.9,117.3",  # latitude and longitude swapped
    ],
)
def test_bad_bbox_is_a_400_naming_bbox(tree, manager_a, api, bbox):
    # when
    response = api(manager_a).get("/api/sites/", {"bbox": bbox})
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["bbox"]
    assert len(response.json()["bbox"]) == 1


# -- attribute filters, ordering, pages --------------------------------------------------------


def test_filter_by_company_keeps_only_that_company(tree, group_admin, api):
    # given
    SiteFactory(company=tree.sub_a, code="S-A")
    SiteFactory(company=tree.project_a, code="S-A1")
    SiteFactory(company=tree.sub_b, code="S-B")
    # when
    response = api(group_admin).get("/api/sites/", {"company": tree.sub_a.pk})
    # then
    assert _codes(response) == ["S-A"]


def test_filter_by_company_tree_includes_the_companies_below(tree, group_admin, api):
    # given
    SiteFactory(company=tree.sub_a, code="S-A")
    SiteFactory(company=tree.project_a, code="S-A1")
    SiteFactory(company=tree.sub_b, code="S-B")
    # when
    response = api(group_admin).get("/api/sites/", {"company_tree": tree.sub_a.pk})
    # then
    assert _codes(response) == ["S-A", "S-A1"]


def test_filter_by_company_tree_of_an_unknown_company_is_empty(tree, group_admin, api):
    # given
    SiteFactory(company=tree.sub_a)
    # when
    response = api(group_admin).get("/api/sites/", {"company_tree": 999_999})
    # then
    assert response.json()["features"] == []


def test_filter_buildings_by_site(tree, manager_a, api):
    # given
    site = SiteFactory(company=tree.sub_a)
    BuildingFactory(site=site, code="B-1")
    BuildingFactory(site__company=tree.sub_a, code="B-2")
    # when
    response = api(manager_a).get("/api/buildings/", {"site": site.pk})
    # then
    assert _codes(response) == ["B-1"]


def test_filter_units_by_building_and_status(tree, manager_a, api):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    UnitFactory(floor=floor, code="U-LEASED", status="leased")
    UnitFactory(floor=floor, code="U-VACANT", status="vacant")
    UnitFactory(floor__building__site__company=tree.sub_a, code="U-ELSEWHERE", status="leased")
    client = api(manager_a)
    # when
    by_building = client.get("/api/units/", {"building": floor.building_id})
    by_both = client.get("/api/units/", {"building": floor.building_id, "status": "leased"})
    # then
    assert _codes(by_building) == ["U-LEASED", "U-VACANT"]
    assert _codes(by_both) == ["U-LEASED"]


def test_filter_assets_by_category_code_prefix(tree, manager_a, api):
    # given
    AssetFactory(company=tree.sub_a, code="A-PC", category=category("2010000"))
    AssetFactory(company=tree.sub_a, code="A-PRINTER", category=category("2020000"))
    AssetFactory(company=tree.sub_a, code="A-HOUSE", category=category("1020000"))
    client = api(manager_a)
    # when
    computers = client.get("/api/assets/", {"category_code": "2010000"})
    equipment = client.get("/api/assets/", {"category_code": "20"})
    # then
    assert _codes(computers) == ["A-PC"]
    assert _codes(equipment) == ["A-PC", "A-PRINTER"]


def test_filter_assets_by_status(tree, manager_a, api):
    # given
    AssetFactory(company=tree.sub_a, code="A-1", status="idle")
    AssetFactory(company=tree.sub_a, code="A-2", status="in_use")
    # when
    response = api(manager_a).get("/api/assets/", {"status": "idle"})
    # then
    assert _codes(response) == ["A-1"]


def test_ordering_by_code_descending_and_by_name(tree, manager_a, api):
    # given
    SiteFactory(company=tree.sub_a, code="S-1", name="丙")
    SiteFactory(company=tree.sub_a, code="S-2", name="甲")
    SiteFactory(company=tree.sub_a, code="S-3", name="乙")
    client = api(manager_a)
    # when
    by_code = client.get("/api/sites/", {"ordering": "-code"})
    by_name = client.get("/api/sites/", {"ordering": "name"})
    # then
    assert _codes(by_code) == ["S-3", "S-2", "S-1"]
    names = [f["properties"]["name"] for f in by_name.json()["features"]]
    assert names == sorted(names)


def test_page_size_splits_the_collection_into_pages(tree, manager_a, api):
    # given
    for n in range(5):
        SiteFactory(company=tree.sub_a, code=f"S-{n}")
    client = api(manager_a)
    # when
    first = client.get("/api/sites/", {"page_size": 2})
    last = client.get("/api/sites/", {"page_size": 2, "page": 3})
    # then
    assert first.json()["count"] == 5
    assert _codes(first) == ["S-0", "S-1"]
    assert first.json()["previous"] is None
    assert "page=2" in first.json()["next"]
    assert "page_size=2" in first.json()["next"]
    assert _codes(last) == ["S-4"]
    assert last.json()["next"] is None


# -- queries per list --------------------------------------------------------------------------


def _fresh(user):
    """The user as a new request would load it: no cached memberships."""
    return get_user_model().objects.get(pk=user.pk)


# Memberships, the companies they reach, the count, the page: a constant per list.
UNIT_LIST_QUERIES = 4
ASSET_LIST_QUERIES = 5  # ... and the tags of the whole page, prefetched in one query


def test_unit_list_queries_do_not_grow_with_the_rows(
    tree, manager_a, api, django_assert_num_queries
):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    for n in range(2):
        UnitFactory(floor=floor, geom=unit_slot(floor.geom, n))
    # when / then
    client = api(_fresh(manager_a))
    with django_assert_num_queries(UNIT_LIST_QUERIES):
        assert client.get("/api/units/").json()["count"] == 2
    # given: ten times as many, over several floors and buildings
    for _ in range(18):
        UnitFactory(floor__building__site__company=tree.sub_a)
    # when / then
    client = api(_fresh(manager_a))
    with django_assert_num_queries(UNIT_LIST_QUERIES):
        assert client.get("/api/units/").json()["count"] == 20


def test_asset_list_queries_do_not_grow_with_the_rows(
    tree, manager_a, api, django_assert_num_queries
):
    # given
    for _ in range(2):
        AssetTagFactory(asset__company=tree.sub_a)
    # when / then
    client = api(_fresh(manager_a))
    with django_assert_num_queries(ASSET_LIST_QUERIES):
        assert client.get("/api/assets/").json()["count"] == 2
    # given: ten times as many, each with two tags and a place in the graph
    for _ in range(18):
        unit = UnitFactory(floor__building__site__company=tree.sub_a)
        tag = AssetTagFactory(asset__company=tree.sub_a, asset__unit=unit)
        AssetTagFactory(asset=tag.asset, kind="qr", value=f"https://hf.example/{tag.pk}")
    # when / then
    client = api(_fresh(manager_a))
    with django_assert_num_queries(ASSET_LIST_QUERIES):
        assert client.get("/api/assets/").json()["count"] == 20


# -- errors ------------------------------------------------------------------------------------


def test_missing_name_is_a_400_naming_name(tree, manager_a, api):
    # given
    body = {
        "type": "Feature",
        "geometry": json.loads(rect(*HEFEI, 100, 100).json),
        "properties": {"code": "S-NONAME", "company": tree.sub_a.pk, "kind": "mixed"},
    }
    # when
    response = api(manager_a).post("/api/sites/", body, format="json")
    # then
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["name"]
    assert Site.objects.count() == 0


def test_duplicate_code_is_a_400_naming_code(tree, manager_a, api):
    # given
    SiteFactory(company=tree.sub_a, code="S-TAKEN")
    body = {
        "type": "Feature",
        "geometry": json.loads(rect(*HEFEI, 100, 100).json),
        "properties": {
            "code": "S-TAKEN",
            "name": "重复",
            "company": tree.sub_a.pk,
            "kind": "mixed",
        },
    }
    # when
    response = api(manager_a).post("/api/sites/", body, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["code"]
    assert Site.objects.count() == 1


def test_deleting_a_site_with_buildings_is_a_409_and_keeps_it(tree, manager_a, api):
    # given
    building = BuildingFactory(site__company=tree.sub_a)
    # when
    response = api(manager_a).delete(f"/api/sites/{building.site_id}/")
    # then
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["detail"]
    assert Site.objects.filter(pk=building.site_id).exists()


def test_deleting_a_floor_removes_its_units(tree, manager_a, api):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    # when
    response = api(manager_a).delete(f"/api/floors/{unit.floor_id}/")
    # then
    assert response.status_code == 204
    assert not type(unit).objects.filter(pk=unit.pk).exists()


def test_usable_area_above_gross_area_is_a_400_naming_usable_area(tree, manager_a, api):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    # when
    response = api(manager_a).patch(
        f"/api/units/{unit.pk}/", {"properties": {"usable_area": "90.00"}}, format="json"
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["usable_area"]
    unit.refresh_from_db()
    assert unit.usable_area == Decimal("68.50")


def test_road_end_stake_before_start_is_a_400_naming_end_stake(tree, manager_a, api):
    # given
    road = RoadFactory(site__company=tree.sub_a)
    # when
    response = api(manager_a).patch(
        f"/api/roads/{road.pk}/", {"properties": {"start_stake_m": "200.00"}}, format="json"
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["end_stake_m"]
