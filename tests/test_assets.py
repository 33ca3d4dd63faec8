"""The asset register: GB/T 14885 categories, coding rules and sequential codes (also under
concurrent writers), locations completed up the spatial graph, and tags."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import translation

from portfolio import services
from portfolio.coding import parse_pattern
from portfolio.models import Asset, AssetTag, CodeSequence, CodingRule
from spatial.choices import CompanyKind
from spatial.services import company_create
from tests.factories import (
    TODAY,
    AssetFactory,
    BuildingFactory,
    CategoryFactory,
    CodingRuleFactory,
    FloorFactory,
    RoadFactory,
    UnitFactory,
    category,
)

# -- categories --------------------------------------------------------------------------------


def test_gbt14885_houses_are_loaded_with_a_20_year_useful_life(db):
    # when
    house = category("1020000")
    # then
    assert house.name == "房屋"
    assert house.parent.code == "1"
    assert house.level == 2
    assert house.standard == "GB/T 14885-2010"
    assert house.useful_life_months == 240
    assert house.residual_rate == Decimal("0.0500")


def test_gbt14885_land_is_loaded_without_depreciation(db):
    # when
    land = category("1010000")
    # then
    assert land.name == "土地、海域及无居民海岛"
    assert land.useful_life_months is None
    assert land.residual_rate == Decimal("0.0000")


def test_asset_create_takes_useful_life_and_residual_rate_from_its_category(tree):
    # when
    asset = services.asset_create(
        today=TODAY, code="A-1", name="办公楼", company=tree.sub_a, category=category("1020000")
    )
    # then
    asset.refresh_from_db()
    assert (asset.useful_life_months, asset.residual_rate) == (240, Decimal("0.0500"))


def test_asset_create_keeps_values_given_over_category_defaults(tree):
    # when
    asset = services.asset_create(
        today=TODAY,
        code="A-1",
        name="服务器",
        company=tree.sub_a,
        category=category("2010000"),
        useful_life_months=72,
        residual_rate=Decimal("0.0300"),
    )
    # then
    asset.refresh_from_db()
    assert (asset.useful_life_months, asset.residual_rate) == (72, Decimal("0.0300"))


# -- coding rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "{company}-{category}-{year}",  # no {seq}
        "{company}-{colour}-{seq:04}",  # unknown token
        "{seq:03}-{company}-{seq:03}",  # two {seq}
        "{company}-{seq:20}",  # too wide
        "{company-{seq}",  # malformed
    ],
)
def test_bad_coding_pattern_is_refused_naming_pattern(tree, pattern):
    # when
    with pytest.raises(ValidationError) as raised:
        CodingRule(name="坏规则", pattern=pattern, company=tree.sub_a).full_clean()
    # then
    assert list(raised.value.message_dict) == ["pattern"]


@pytest.mark.parametrize(
    "pattern",
    ["{company}-{category}-{year}", "{company}-{colour}-{seq:04}", "{seq:03}-{seq:03}"],
)
def test_bad_coding_pattern_posted_is_a_400_naming_pattern(tree, group_admin, api, pattern):
    # when
    response = api(group_admin).post(
        "/api/coding-rules/",
        {"name": "坏规则", "pattern": pattern, "company": tree.sub_a.pk},
        format="json",
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["pattern"]
    assert CodingRule.objects.count() == 0


def test_pattern_messages_say_what_is_wrong(db):
    # when
    with translation.override("en"), pytest.raises(ValidationError) as raised:
        parse_pattern("{seq}-{colour}-{seq}")
    # then
    assert raised.value.message_dict == {
        "pattern": [
            "Unknown token {colour}; use {category}, {company}, {month}, {seq}, {year}, {yy}.",
            "The pattern may contain {seq} only once.",
        ]
    }


def _issue(company, code: str, on: date = TODAY) -> str:
    return services.asset_code_issue(company=company, category=category(code), on=on)


def test_company_rule_wins_over_a_global_rule(tree):
    # given
    CodingRuleFactory(name="全集团", pattern="G-{seq:04}", priority=10)
    CodingRuleFactory(name="A公司", pattern="{company}-{seq:04}", company=tree.sub_a)
    # when / then
    assert _issue(tree.sub_a, "2010000") == "HFCT-A-0001"
    assert _issue(tree.sub_b, "2010000") == "G-0001"


def test_nearer_company_rule_wins_over_the_group_rule(tree):
    # given
    CodingRuleFactory(pattern="GRP-{seq:03}", company=tree.group)
    CodingRuleFactory(pattern="A-{seq:03}", company=tree.sub_a)
    # when / then
    assert _issue(tree.project_a, "2010000") == "A-001"
    assert _issue(tree.sub_b, "2010000") == "GRP-001"


def test_sub_category_rule_wins_over_its_parent_category_rule(tree):
    # given
    CodingRuleFactory(pattern="TY-{seq:04}", category=category("2"))
    CodingRuleFactory(pattern="JSJ-{seq:04}", category=category("2010000"))
    # when / then
    assert _issue(tree.sub_a, "2010000") == "JSJ-0001"
    assert _issue(tree.sub_a, "2020000") == "TY-0001"
    with pytest.raises(ValidationError) as raised:
        _issue(tree.sub_a, "1020000")  # no rule for houses
    assert list(raised.value.message_dict) == ["code"]


def test_inactive_rules_are_ignored(tree):
    # given
    CodingRuleFactory(pattern="OLD-{seq:04}", company=tree.sub_a, is_active=False)
    CodingRuleFactory(pattern="NEW-{seq:04}")
    # when / then
    assert _issue(tree.sub_a, "2010000") == "NEW-0001"


def test_codes_are_sequential_per_prefix_and_year(tree):
    # given
    CodingRuleFactory(pattern="{company}-{category}-{year}-{seq:05}")
    # when
    codes = [
        _issue(tree.sub_a, "2010000"),
        _issue(tree.sub_a, "2010000"),
        _issue(tree.sub_a, "2020000"),
        _issue(tree.sub_b, "2010000"),
        _issue(tree.sub_a, "2010000"),
        _issue(tree.sub_a, "2010000", on=date(2026, 1, 2)),
    ]
    # then
    assert codes == [
        "HFCT-A-2010000-2025-00001",
        "HFCT-A-2010000-2025-00002",
        "HFCT-A-2020000-2025-00001",
        "HFCT-B-2010000-2025-00001",
        "HFCT-A-2010000-2025-00003",
        "HFCT-A-2010000-2026-00001",
    ]


def test_asset_create_without_a_code_issues_one(tree):
    # given
    CodingRuleFactory(pattern="{company}-{yy}{month}-{seq:04}")
    # when
    first = services.asset_create(
        today=TODAY, name="电脑", company=tree.sub_a, category=category("2010000")
    )
    second = services.asset_create(
        today=TODAY, name="打印机", company=tree.sub_a, category=category("2020000")
    )
    # then
    assert (first.code, second.code) == ("HFCT-A-2506-0001", "HFCT-A-2506-0002")


def test_asset_post_without_a_code_issues_one(tree, manager_a, api):
    # given
    CodingRuleFactory(pattern="{company}-{seq:06}", company=tree.sub_a)
    # when
    response = api(manager_a).post(
        "/api/assets/",
        {"name": "空调", "category": category("2200000").pk, "company": tree.sub_a.pk},
        format="json",
    )
    # then
    assert response.status_code == 201, response.json()
    assert response.json()["properties"]["code"] == "HFCT-A-000001"


def test_a_rolled_back_creation_does_not_consume_a_number(tree):
    # given
    CodingRuleFactory(pattern="{company}-{seq:04}")
    # when: the caller's transaction fails after the asset was created
    with pytest.raises(RuntimeError), transaction.atomic():
        services.asset_create(
            today=TODAY, name="回滚", company=tree.sub_a, category=category("2010000")
        )
        raise RuntimeError("the surrounding work failed")
    # and asset_create itself fails on a bad tag after the code was issued
    with pytest.raises(ValidationError):
        services.asset_create(
            today=TODAY,
            name="坏标签",
            company=tree.sub_a,
            category=category("2010000"),
            tags=[{"kind": "rfid_epc", "value": "not hex"}],
        )
    asset = services.asset_create(
        today=TODAY, name="成功", company=tree.sub_a, category=category("2010000")
    )
    # then
    assert asset.code == "HFCT-A-0001"
    assert list(Asset.objects.values_list("code", flat=True)) == ["HFCT-A-0001"]


THREADS, PER_THREAD = 8, 10


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_asset_creation_issues_distinct_codes_without_gaps():
    # given: committed data the threads' own connections can see
    company = company_create(code="HFCT-C", name="并发测试公司", kind=CompanyKind.SUBSIDIARY)
    CodingRuleFactory(pattern="{company}-{year}-{seq:05}", company=company)
    computers = category("2010000")
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def register(thread: int) -> None:
        try:
            barrier.wait()
            for n in range(PER_THREAD):
                services.asset_create(
                    today=TODAY, name=f"并发{thread}-{n}", company=company, category=computers
                )
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(t,)) for t in range(THREADS)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert errors == []
    codes = list(Asset.objects.filter(company=company).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == THREADS * PER_THREAD
    assert sorted(int(code.rsplit("-", 1)[1]) for code in codes) == list(range(1, 81))
    assert {code.rsplit("-", 1)[0] for code in codes} == {"HFCT-C-2025"}
    assert CodeSequence.objects.get().last_value == 80


# -- location ----------------------------------------------------------------------------------


def test_asset_at_a_unit_gets_floor_building_and_site(tree):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    # when
    asset = AssetFactory(company=tree.sub_a, unit=unit)
    # then
    asset.refresh_from_db()
    assert (asset.floor_id, asset.building_id, asset.site_id) == (
        unit.floor_id,
        unit.building_id,
        unit.site_id,
    )


def test_asset_at_a_unit_and_another_building_is_refused_naming_building(tree):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    other = BuildingFactory(site=unit.site)
    # when
    with pytest.raises(ValidationError) as raised:
        AssetFactory(company=tree.sub_a, unit=unit, building=other)
    # then
    assert list(raised.value.message_dict) == ["building"]
    assert Asset.objects.count() == 0


def test_asset_post_at_inconsistent_floor_and_unit_is_a_400_naming_floor(tree, manager_a, api):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    other_floor = FloorFactory(building=unit.building)
    body = {
        "code": "A-X",
        "name": "错位",
        "category": category("2010000").pk,
        "company": tree.sub_a.pk,
        "unit": unit.pk,
        "floor": other_floor.pk,
    }
    # when
    response = api(manager_a).post("/api/assets/", body, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["floor"]
    assert Asset.objects.count() == 0


def test_asset_without_a_position_gets_a_point_inside_its_unit(tree):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    # when
    asset = AssetFactory(company=tree.sub_a, unit=unit)
    # then
    asset.refresh_from_db()
    assert asset.geom.geom_type == "Point"
    assert unit.geom.covers(asset.geom)


def test_asset_on_a_road_gets_its_site_and_a_point_on_the_road(tree):
    # given
    road = RoadFactory(site__company=tree.sub_a)
    # when
    asset = AssetFactory(company=tree.sub_a, road=road, category=category("2200000"))
    # then
    asset.refresh_from_db()
    assert asset.site_id == road.site_id
    assert road.geom.distance(asset.geom) < 1e-9


def test_asset_moved_to_another_unit_takes_the_new_place(tree):
    # given
    first = UnitFactory(floor__building__site__company=tree.sub_a)
    second = UnitFactory(floor__building__site__company=tree.sub_a)
    asset = AssetFactory(company=tree.sub_a, unit=first)
    # when
    services.asset_update(asset, unit=second)
    # then
    asset.refresh_from_db()
    assert (asset.unit_id, asset.floor_id, asset.building_id, asset.site_id) == (
        second.pk,
        second.floor_id,
        second.building_id,
        second.site_id,
    )
    assert second.geom.covers(asset.geom)


# -- tags --------------------------------------------------------------------------------------


def _asset(tree) -> Asset:
    return AssetFactory(company=tree.sub_a)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("rfid_epc", "3034257bf7194e4000001a85", "3034257BF7194E4000001A85"),
        ("rfid_epc", "3034 257B F719 4E40 0000 1A85", "3034257BF7194E4000001A85"),
        ("nfc_uid", "04:a2:2b:9a:c1:5e:80", "04A22B9AC15E80"),
        ("nfc_uid", "04-A2-2B-9A", "04A22B9A"),
        ("barcode", " 6901234567892 ", "6901234567892"),
    ],
)
def test_tag_values_are_normalised(tree, kind, value, stored):
    # when
    tag = services.asset_tag_add(asset=_asset(tree), kind=kind, value=value)
    # then
    tag.refresh_from_db()
    assert tag.value == stored


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("rfid_epc", "3034257BF7194E4000001A8"),  # not whole 16-bit words
        ("rfid_epc", "3034257BF7194E4000001AXY"),  # not hexadecimal
        ("nfc_uid", "04:A2:2B:9A:C1"),  # 5 bytes
        ("nfc_uid", "ZZA22B9A"),
        ("barcode", "条形码"),  # not ASCII
    ],
)
def test_badly_formed_tag_values_are_refused_naming_value(tree, kind, value):
    # given
    asset = _asset(tree)
    # when
    with pytest.raises(ValidationError) as raised:
        services.asset_tag_add(asset=asset, kind=kind, value=value)
    # then
    assert list(raised.value.message_dict) == ["value"]
    assert AssetTag.objects.count() == 0


def test_a_tag_value_on_a_second_asset_is_a_400_naming_value(tree, manager_a, api):
    # given
    first, second = _asset(tree), _asset(tree)
    services.asset_tag_add(asset=first, kind="nfc_uid", value="04A22B9AC15E80")
    # when: the same UID, written the way a phone app reports it
    response = api(manager_a).post(
        "/api/asset-tags/",
        {"asset": second.pk, "kind": "nfc_uid", "value": "04:a2:2b:9a:c1:5e:80"},
        format="json",
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["value"]
    assert list(AssetTag.objects.values_list("asset_id", flat=True)) == [first.pk]


def test_a_tag_value_on_a_second_asset_is_refused_by_the_service_naming_value(tree):
    # given
    first, second = _asset(tree), _asset(tree)
    services.asset_tag_add(asset=first, kind="barcode", value="6901234567892")
    # when
    with pytest.raises(ValidationError) as raised:
        services.asset_tag_add(asset=second, kind="barcode", value="6901234567892")
    # then
    assert list(raised.value.message_dict) == ["value"]
    assert AssetTag.objects.filter(asset=second).count() == 0


def test_badly_formed_tag_posted_is_a_400_naming_value(tree, manager_a, api):
    # given
    asset = _asset(tree)
    # when
    response = api(manager_a).post(
        "/api/asset-tags/",
        {"asset": asset.pk, "kind": "rfid_epc", "value": "hello"},
        format="json",
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["value"]
    assert AssetTag.objects.count() == 0


def test_asset_post_with_new_tags_creates_them_all_or_nothing(tree, manager_a, api):
    # given
    body = {
        "code": "A-T",
        "name": "叉车",
        "category": category("2100000").pk,
        "company": tree.sub_a.pk,
        "new_tags": [
            {"kind": "rfid_epc", "value": "3034257bf7194e4000001a85"},
            {"kind": "nfc_uid", "value": "not a uid"},
        ],
    }
    client = api(manager_a)
    # when
    refused = client.post("/api/assets/", body, format="json")
    body["new_tags"] = body["new_tags"][:1]
    accepted = client.post("/api/assets/", body, format="json")
    # then
    assert refused.status_code == 400
    assert list(refused.json()) == ["value"]
    assert accepted.status_code == 201, accepted.json()
    assert [t["value"] for t in accepted.json()["properties"]["tags"]] == [
        "3034257BF7194E4000001A85"
    ]
    assert Asset.objects.count() == 1


def test_custom_category_below_gbt14885_gets_rules_of_its_parent(tree):
    # given
    laptops = CategoryFactory(code="2010100", parent=category("2010000"))
    CodingRuleFactory(pattern="JSJ-{seq:03}", category=category("2010000"))
    # when
    asset = services.asset_create(today=TODAY, name="笔记本", company=tree.sub_a, category=laptops)
    # then
    assert asset.code == "JSJ-001"
    assert asset.useful_life_months == 60


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "An NFC UID is 4, 7 or 10 bytes in hexadecimal."),
        ("zh-hans", "NFC UID 须为 4、7 或 10 字节的十六进制。"),
    ],
)
def test_tag_format_message_is_in_the_request_language(tree, manager_a, api, language, message):
    # given
    asset = _asset(tree)
    # when
    response = api(manager_a).post(
        "/api/asset-tags/",
        {"asset": asset.pk, "kind": "nfc_uid", "value": "04A2"},
        format="json",
        headers={"Accept-Language": language},
    )
    # then
    assert response.status_code == 400
    assert response.json() == {"value": [message]}


def test_global_coding_rule_is_seen_by_all_and_set_only_by_the_group(
    tree, group_admin, manager_a, api
):
    # given
    body = {"name": "全集团", "pattern": "{company}-{seq:06}", "company": None}
    # when
    denied = api(manager_a).post("/api/coding-rules/", body, format="json")
    created = api(group_admin).post("/api/coding-rules/", body, format="json")
    seen = api(manager_a).get("/api/coding-rules/")
    # then
    assert denied.status_code == 403
    assert created.status_code == 201
    assert [r["id"] for r in seen.json()["results"]] == [created.json()["id"]]
