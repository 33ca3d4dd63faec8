"""The web pages' JSON endpoints under /api/web/: polygon figures against hand-computed
values, bad polygons, search, floor-plan units, revitalisation candidates and the cockpit.

Every endpoint: anonymous, another subsidiary, allowed.
"""

import json
from decimal import Decimal as D

import pytest

from tests.factories import offset, origin, rect
from tests.web_portfolio import AS_OF, portfolio_build

EN = {"Accept-Language": "en"}
STATS = "/api/web/polygon-stats/"


@pytest.fixture
def pf(tree):
    return portfolio_build(tree)


def _around(floor) -> dict:
    """A GeoJSON polygon 2 m around the floor (and so its three units and A's asset)."""
    lon, lat = offset(*origin(floor.geom), -2, -2)
    return json.loads(rect(lon, lat, 64, 44).json)


# -- polygon figures ---------------------------------------------------------------------------


def test_polygon_figures_match_hand_computed_values(pf, manager_a, api):
    # given: 3 units × 100 m², one let at 60 yuan/m²/month; A's asset of 1,000 yuan inside
    body = {"geom": _around(pf.floor), "as_of": AS_OF.isoformat()}
    # when
    response = api(manager_a).post(STATS, body, format="json")
    # then
    assert response.status_code == 200
    figures = response.json()
    assert figures["units"] == 3
    assert D(str(figures["gross_area"])) == D("300.00")
    assert D(str(figures["leasable_area"])) == D("300.00")
    assert D(str(figures["leased_area"])) == D("100.00")
    assert D(str(figures["vacant_area"])) == D("200.00")
    assert D(str(figures["occupancy_by_area"])) == D("0.3333")
    assert D(str(figures["occupancy_by_count"])) == D("0.3333")
    assert D(str(figures["monthly_rent"])) == D("6000.00")
    assert D(str(figures["rent_per_sqm_month"])) == D("60.00")
    assert figures["assets"] == 1  # B's asset on the same spot is not A's to see
    assert D(str(figures["asset_cost"])) == D("1000.00")


def test_polygon_figures_are_scoped_to_the_users_companies(pf, manager_b, group_admin, api):
    # given
    body = {"geom": _around(pf.floor), "as_of": AS_OF.isoformat()}
    # when
    seen_by_b = api(manager_b).post(STATS, body, format="json").json()
    seen_by_group = api(group_admin).post(STATS, body, format="json").json()
    # then
    assert (seen_by_b["units"], seen_by_b["assets"]) == (0, 1)
    assert D(str(seen_by_b["asset_cost"])) == D("500.00")
    assert (seen_by_group["units"], seen_by_group["assets"]) == (3, 2)


def test_polygon_figures_accept_a_feature_and_count_only_units_it_meets(pf, manager_a, api):
    # given: a 2 m square inside U-A1 (the let one) only
    lon, lat = offset(*origin(pf.leased.geom), 2, 2)
    square = json.loads(rect(lon, lat, 2, 2).json)
    feature = {"type": "Feature", "properties": {}, "geometry": square}
    # when
    figures = (
        api(manager_a)
        .post(STATS, {"geom": feature, "as_of": AS_OF.isoformat()}, format="json")
        .json()
    )
    # then
    assert figures["units"] == 1
    assert D(str(figures["occupancy_by_area"])) == D("1.0000")
    assert figures["assets"] == 0


@pytest.mark.parametrize(
    ("geom", "reason"),
    [
        (None, "This field is required."),
        ("not a geometry", "Not a GeoJSON or WKT geometry."),
        ({"type": "Point", "coordinates": [117.25, 31.85]}, "Draw a polygon, not a Point."),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "The geometry is invalid: Self-intersection",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[31.85, 117.2], [31.86, 117.2], [31.86, 117.3], [31.85, 117.2]]],
            },
            "Coordinates are outside the valid range",
        ),  # fmt: skip
    ],
)
def test_bad_polygon_is_a_400_naming_geom(pf, manager_a, api, geom, reason):
    # when
    response = api(manager_a).post(STATS, {"geom": geom}, format="json", headers=EN)
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["geom"]
    assert response.json()["geom"][0].startswith(reason)


def test_polygon_figures_need_a_signed_in_user(pf, api):
    # when
    response = api().post(STATS, {"geom": _around(pf.floor)}, format="json")
    # then
    assert response.status_code == 403


# -- search ------------------------------------------------------------------------------------


def test_search_finds_codes_and_names_the_user_may_see(pf, manager_a, api):
    # when
    by_code = api(manager_a).get("/api/web/search/", {"q": "U-A"}).json()["results"]
    by_name = api(manager_a).get("/api/web/search/", {"q": "配电"}).json()["results"]
    other = api(manager_a).get("/api/web/search/", {"q": "U-B1"}).json()["results"]
    # then
    assert [(h["kind"], h["code"]) for h in by_code] == [
        ("unit", "U-A1"), ("unit", "U-A2"), ("unit", "U-A3")
    ]  # fmt: skip
    assert by_code[0]["level"] == 1
    assert by_code[0]["building"] == pf.building.pk
    xmin, ymin, xmax, ymax = by_code[0]["bbox"]
    assert xmin < by_code[0]["lon"] < xmax and ymin < by_code[0]["lat"] < ymax
    assert [(h["kind"], h["code"]) for h in by_name] == [("asset", "A-WEB-1")]
    assert other == []


def test_search_puts_an_exact_code_first(pf, manager_a, api):
    # when
    results = api(manager_a).get("/api/web/search/", {"q": "u-a2"}).json()["results"]
    # then
    assert results[0]["code"] == "U-A2"


@pytest.mark.parametrize(("q", "reason"), [("", "Type a code"), ("x" * 101, "At most 100")])
def test_search_refuses_empty_and_overlong_queries(pf, manager_a, api, q, reason):
    # when
    response = api(manager_a).get("/api/web/search/", {"q": q}, headers=EN)
    # then
    assert response.status_code == 400
    assert response.json()["q"][0].startswith(reason)


def test_search_needs_a_signed_in_user(pf, api):
    assert api().get("/api/web/search/", {"q": "U"}).status_code == 403


# -- floor-plan units --------------------------------------------------------------------------


def test_floor_units_carry_availability_tenant_lease_end_and_rent(pf, agent_a, api):
    # when
    response = api(agent_a).get(
        f"/api/web/floors/{pf.floor.pk}/units/", {"as_of": AS_OF.isoformat()}
    )
    # then
    assert response.status_code == 200
    units = {u["code"]: u for u in response.json()["units"]}
    assert sorted(units) == ["U-A1", "U-A2", "U-A3"]
    leased = units["U-A1"]
    assert leased["availability"] == "leased"
    assert leased["tenant_name"] == "合肥某科技有限公司"
    assert leased["lease_end"] == "2027-12-31"
    assert D(str(leased["rent_sqm_month"])) == D("60")
    assert leased["lease"] == pf.lease.pk
    assert units["U-A2"]["availability"] == "vacant"
    assert units["U-A2"]["tenant_name"] is None


def test_floor_units_show_expiring_within_90_days(pf, agent_a, api):
    # when: 60 days before the lease ends
    response = api(agent_a).get(f"/api/web/floors/{pf.floor.pk}/units/", {"as_of": "2027-11-01"})
    # then
    units = {u["code"]: u for u in response.json()["units"]}
    assert units["U-A1"]["availability"] == "expiring"


def test_floor_units_of_another_subsidiary_are_not_found(pf, manager_b, api):
    # when
    response = api(manager_b).get(f"/api/web/floors/{pf.floor.pk}/units/")
    # then
    assert response.status_code == 404


def test_floor_units_refuse_a_bad_date(pf, agent_a, api):
    # when
    response = api(agent_a).get(
        f"/api/web/floors/{pf.floor.pk}/units/", {"as_of": "2025-13-01"}, headers=EN
    )
    # then
    assert response.status_code == 400
    assert response.json() == {"as_of": ["Give a date as YYYY-MM-DD."]}


# -- revitalisation candidates -----------------------------------------------------------------


def test_candidates_are_long_vacant_units_idle_assets_and_low_yield_buildings(pf, manager_a, api):
    # when
    response = api(manager_a).get(
        "/api/web/candidates/", {"as_of": AS_OF.isoformat(), "days": 30}, headers=EN
    )
    # then
    assert response.status_code == 200
    data = response.json()
    assert data["type"] == "FeatureCollection"
    found = {(f["properties"]["kind"], f["properties"]["code"]): f for f in data["features"]}
    assert sorted(found) == [
        ("asset", "A-WEB-1"), ("building", pf.building.code), ("unit", "U-A2"), ("unit", "U-A3")
    ]  # fmt: skip
    assert found[("asset", "A-WEB-1")]["properties"]["reason"] == "Asset status is idle"
    assert found[("asset", "A-WEB-1")]["geometry"]["type"] == "Point"
    building = found[("building", pf.building.code)]["properties"]
    assert building["reason"] == "Low yield: 33.3% of the leasable area let"
    unit = found[("unit", "U-A2")]["properties"]
    assert unit["reason_code"] == "vacant:never_leased"
    assert unit["reason"].startswith("Vacant")


def test_candidates_are_scoped(pf, manager_b, api):
    # when
    data = api(manager_b).get("/api/web/candidates/", {"as_of": AS_OF.isoformat()}).json()
    # then
    codes = {f["properties"]["code"] for f in data["features"]}
    assert not codes & {"U-A2", "U-A3", "A-WEB-1"}


def test_candidates_refuse_a_negative_day_count(pf, manager_a, api):
    response = api(manager_a).get("/api/web/candidates/", {"days": -1}, headers=EN)
    assert response.status_code == 400
    assert list(response.json()) == ["days"]


# -- cockpit -----------------------------------------------------------------------------------


def test_cockpit_key_figures(pf, agent_a, api):
    # when
    response = api(agent_a).get("/api/web/cockpit/kpis/", {"as_of": AS_OF.isoformat()}, headers=EN)
    # then
    assert response.status_code == 200
    items = {i["label"]: i["value"] for i in response.json()["items"]}
    assert items["Occupancy by area"] == pytest.approx(1 / 3)
    assert items["Leased area (m²)"] == 100
    assert items["Monthly rent (yuan)"] == 6000
    assert items["Average rent (yuan/m²/month)"] == 60
    # 2025-06-01 to 2027-12-31: 944 days left / 365
    assert items["WALE by area (years)"] == pytest.approx(2.59, abs=0.005)


def test_cockpit_filtered_by_company_counts_only_its_sites(pf, group_admin, tree, api):
    # when
    whole = api(group_admin).get("/api/web/cockpit/kpis/", {"as_of": AS_OF.isoformat()})
    only_a = api(group_admin).get(
        "/api/web/cockpit/kpis/", {"as_of": AS_OF.isoformat(), "company": tree.sub_a.pk}
    )
    only_b = api(group_admin).get(
        "/api/web/cockpit/kpis/", {"as_of": AS_OF.isoformat(), "company": tree.sub_b.pk}
    )
    # then: A has 300 m² (100 let), B one vacant unit of 81 m²
    values = lambda r: [i["value"] for i in r.json()["items"]][:3]  # noqa: E731
    assert values(whole) == [pytest.approx(100 / 381), 100, 281]
    assert values(only_a) == [pytest.approx(1 / 3), 100, 200]
    assert values(only_b) == [0, 0, 81]


def test_cockpit_expiries_by_month(pf, agent_a, api):
    # when
    data = (
        api(agent_a).get("/api/web/cockpit/expiries_by_month/", {"as_of": AS_OF.isoformat()}).json()
    )
    # then
    assert data["kind"] == "bar"
    assert data["categories"] == ["2027-12"]
    assert data["series"][0]["data"] == [100.0]
    assert data["series"][1]["data"] == [1]


def test_cockpit_refuses_another_subsidiarys_company_and_unknown_widgets(pf, manager_b, tree, api):
    # when
    foreign = api(manager_b).get("/api/web/cockpit/kpis/", {"company": tree.sub_a.pk}, headers=EN)
    unknown = api(manager_b).get("/api/web/cockpit/nothing/")
    # then
    assert foreign.status_code == 400
    assert foreign.json() == {"company": ["No such company among yours."]}
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "widget",
    ["occupancy_by_company", "occupancy_by_site", "vacancy_loss_by_site", "rent_by_site"],
)
def test_cockpit_charts_answer_with_categories_and_series(pf, agent_a, api, widget):
    # when
    data = api(agent_a).get(f"/api/web/cockpit/{widget}/", {"as_of": AS_OF.isoformat()}).json()
    # then
    assert data["kind"] == "bar"
    assert len(data["categories"]) == 1
    assert all(len(s["data"]) == 1 for s in data["series"])


def test_cockpit_needs_a_signed_in_user(pf, api):
    assert api().get("/api/web/cockpit/kpis/").status_code == 403
