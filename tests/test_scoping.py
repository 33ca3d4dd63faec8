"""Every endpoint is scoped: anonymous users are refused, users see and change only the
rows of their companies and what their role allows, and a denied write changes nothing."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.gis.geos import LineString, MultiPolygon
from django.db.models import Model

from portfolio.models import Asset, AssetTag, Category, CodingRule, Document
from spatial import access
from spatial.choices import CompanyKind, Role
from spatial.models import (
    Building,
    Company,
    Floor,
    Membership,
    Parcel,
    Park,
    Road,
    Site,
    Unit,
)
from spatial.services import company_create
from tests.factories import (
    AssetFactory,
    AssetTagFactory,
    BuildingFactory,
    CodingRuleFactory,
    DocumentFactory,
    FloorFactory,
    ParcelFactory,
    ParkFactory,
    RoadFactory,
    SiteFactory,
    UnitFactory,
    UserFactory,
    category,
    offset,
    origin,
    pdf_upload,
    rect,
    site_origin,
    unit_slot,
)

# A corner of Hefei no factory-made site reaches: new features posted by the tests go here.
FREE = site_origin(1599)


def _feature(geom, **properties) -> dict:
    return {"type": "Feature", "geometry": json.loads(geom.json), "properties": properties}


def _new_company(company: Company) -> Company:
    return company_create(
        code=f"{company.code}-P9", name="新项目公司", kind=CompanyKind.PROJECT, parent=company
    )


def _building_body(site: Site) -> dict:
    footprint = rect(*offset(*origin(site.geom), 100, 100), 30, 30)
    return _feature(footprint, code="NEW-B", name="新楼", site=site.pk)


def _floor_body(building: Building) -> dict:
    return _feature(building.geom, code="NEW-F", name="9F", building=building.pk, level=9)


def _unit_body(floor: Floor) -> dict:
    return _feature(
        unit_slot(floor.geom, 7), code="NEW-U", name="新房源", floor=floor.pk, use="office"
    )


@dataclass(frozen=True)
class Endpoint:
    """One router endpoint: how to make a row of a company, and how to write one."""

    url: str
    model: type[Model]
    make: Callable[[Company], Model]
    create_body: Callable[[Company], dict]
    change: dict | None = field(default_factory=lambda: {"name": "改过的名字"})
    writer_role: str = Role.ASSET_MANAGER  # the role that may write these rows
    multipart: bool = False


ENDPOINTS = {
    "companies": Endpoint(
        url="/api/companies/",
        model=Company,
        make=_new_company,
        create_body=lambda c: {
            "code": "NEW-CO",
            "name": "新公司",
            "kind": "project",
            "parent": c.pk,
        },
        writer_role=Role.GROUP_ADMIN,
    ),
    "sites": Endpoint(
        url="/api/sites/",
        model=Site,
        make=lambda c: SiteFactory(company=c),
        create_body=lambda c: _feature(
            rect(*FREE, 200, 200),
            code="NEW-S",
            name="新园区",
            company=c.pk,
            kind="industrial_park",
        ),
    ),
    "buildings": Endpoint(
        url="/api/buildings/",
        model=Building,
        make=lambda c: BuildingFactory(site__company=c),
        create_body=lambda c: _building_body(SiteFactory(company=c)),
    ),
    "floors": Endpoint(
        url="/api/floors/",
        model=Floor,
        make=lambda c: FloorFactory(building__site__company=c),
        create_body=lambda c: _floor_body(BuildingFactory(site__company=c)),
    ),
    "units": Endpoint(
        url="/api/units/",
        model=Unit,
        make=lambda c: UnitFactory(floor__building__site__company=c),
        create_body=lambda c: _unit_body(FloorFactory(building__site__company=c)),
    ),
    "roads": Endpoint(
        url="/api/roads/",
        model=Road,
        make=lambda c: RoadFactory(site__company=c),
        create_body=lambda c: _feature(
            LineString(FREE, offset(*FREE, 300, 0), srid=4326),
            code="NEW-R",
            name="新路",
            company=c.pk,
            grade="branch",
            end_stake_m="300.00",
        ),
    ),
    "parks": Endpoint(
        url="/api/parks/",
        model=Park,
        make=lambda c: ParkFactory(site__company=c),
        create_body=lambda c: _feature(
            MultiPolygon(rect(*FREE, 80, 80), srid=4326),
            code="NEW-P",
            name="新公园",
            company=c.pk,
            kind="community",
        ),
    ),
    "parcels": Endpoint(
        url="/api/parcels/",
        model=Parcel,
        make=lambda c: ParcelFactory(site__company=c),
        create_body=lambda c: _feature(
            MultiPolygon(rect(*FREE, 80, 80), srid=4326),
            code="NEW-L",
            name="新宗地",
            company=c.pk,
            land_use="06",
        ),
    ),
    "coding-rules": Endpoint(
        url="/api/coding-rules/",
        model=CodingRule,
        make=lambda c: CodingRuleFactory(company=c),
        create_body=lambda c: {"name": "新规则", "pattern": "{company}-{seq:04}", "company": c.pk},
        writer_role=Role.GROUP_ADMIN,
    ),
    "assets": Endpoint(
        url="/api/assets/",
        model=Asset,
        make=lambda c: AssetFactory(company=c),
        create_body=lambda c: {
            "code": "NEW-A",
            "name": "新资产",
            "category": category("2020000").pk,
            "company": c.pk,
        },
    ),
    "asset-tags": Endpoint(
        url="/api/asset-tags/",
        model=AssetTag,
        make=lambda c: AssetTagFactory(asset__company=c),
        create_body=lambda c: {
            "asset": AssetFactory(company=c).pk,
            "kind": "barcode",
            "value": "NEW-TAG-0001",
        },
        change=None,  # tags are added and removed, never edited
    ),
    "documents": Endpoint(
        url="/api/documents/",
        model=Document,
        make=lambda c: DocumentFactory(target=AssetFactory(company=c)),
        create_body=lambda c: {
            "kind": "invoice",
            "title": "新发票",
            "target_type": "asset",
            "target_id": AssetFactory(company=c).pk,
            "file": pdf_upload(),
        },
        change={"title": "改过的标题"},
        multipart=True,
    ),
}


def _ids(response) -> set[int]:
    body = response.json()
    if isinstance(body, list):
        return {row["id"] for row in body}
    if "features" in body:
        return {feature["id"] for feature in body["features"]}
    return {row["id"] for row in body["results"]}


def _snapshot(row: Model) -> dict | None:
    """The row as stored now (None when it is gone)."""
    return type(row).objects.filter(pk=row.pk).values().first()


def _writer(company: Company, endpoint: Endpoint):
    """A user who may write this endpoint's rows in `company` (and its subtree)."""
    user = UserFactory(username=f"{endpoint.writer_role}_{company.code}")
    Membership.objects.create(user=user, company=company, role=endpoint.writer_role)
    return user


def _owner_id(row: Model) -> int:
    if isinstance(row, Company):
        return row.parent_id
    if isinstance(row, AssetTag):
        return row.asset.company_id
    return row.company_id


def _post(client, endpoint: Endpoint, company: Company):
    body = endpoint.create_body(company)
    return client.post(endpoint.url, body, format="multipart" if endpoint.multipart else "json")


# -- anonymous ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_is_refused_on_every_method(tree, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row = endpoint.make(tree.sub_a)
    before, count = _snapshot(row), endpoint.model.objects.count()
    client = api()
    detail = f"{endpoint.url}{row.pk}/"
    # when
    statuses = [
        client.get(endpoint.url).status_code,
        client.get(detail).status_code,
        _post(client, endpoint, tree.sub_a).status_code,
        client.patch(detail, {"name": "x"}, format="json").status_code,
        client.delete(detail).status_code,
    ]
    # then
    assert statuses == [403] * 5
    assert _snapshot(row) == before
    assert endpoint.model.objects.count() == count


# -- another company ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_user_of_another_company_sees_none_of_its_rows(tree, manager_b, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row_a, row_b = endpoint.make(tree.sub_a), endpoint.make(tree.sub_b)
    # when
    response = api(manager_b).get(endpoint.url, {"page_size": 1000})
    # then
    assert response.status_code == 200
    assert row_b.pk in _ids(response)
    assert row_a.pk not in _ids(response)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_user_of_another_company_gets_404_on_its_detail(tree, manager_b, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row_a = endpoint.make(tree.sub_a)
    # when
    response = api(manager_b).get(f"{endpoint.url}{row_a.pk}/")
    # then
    assert response.status_code == 404
    assert list(response.json()) == ["detail"]


@pytest.mark.parametrize("name", [n for n, e in ENDPOINTS.items() if e.change])
def test_user_of_another_company_cannot_patch_its_rows(tree, api, name):
    # given: a user who may change these rows, but in B
    endpoint = ENDPOINTS[name]
    row_a = endpoint.make(tree.sub_a)
    before = _snapshot(row_a)
    # when
    response = api(_writer(tree.sub_b, endpoint)).patch(
        f"{endpoint.url}{row_a.pk}/", endpoint.change, format="json"
    )
    # then
    assert response.status_code == 404
    assert _snapshot(row_a) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_user_of_another_company_cannot_delete_its_rows(tree, api, name):
    # given: a user who may delete these rows, but in B
    endpoint = ENDPOINTS[name]
    row_a = endpoint.make(tree.sub_a)
    before = _snapshot(row_a)
    # when
    response = api(_writer(tree.sub_b, endpoint)).delete(f"{endpoint.url}{row_a.pk}/")
    # then
    assert response.status_code == 404
    assert _snapshot(row_a) == before


# -- read-only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_read_only_user_sees_its_company_rows(tree, readonly_a, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row_a, row_b = endpoint.make(tree.sub_a), endpoint.make(tree.sub_b)
    client = api(readonly_a)
    # when
    listed = client.get(endpoint.url, {"page_size": 1000})
    detail = client.get(f"{endpoint.url}{row_a.pk}/")
    # then
    assert listed.status_code == 200
    assert row_a.pk in _ids(listed)
    assert row_b.pk not in _ids(listed)
    assert detail.status_code == 200


@pytest.mark.parametrize("name", ENDPOINTS)
def test_read_only_user_cannot_create(tree, readonly_a, api, name):
    # given
    endpoint = ENDPOINTS[name]
    count = endpoint.model.objects.count()
    # when
    response = _post(api(readonly_a), endpoint, tree.sub_a)
    # then
    assert response.status_code == 403
    assert endpoint.model.objects.count() == count


@pytest.mark.parametrize("name", [n for n, e in ENDPOINTS.items() if e.change])
def test_read_only_user_cannot_patch(tree, readonly_a, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row_a = endpoint.make(tree.sub_a)
    before = _snapshot(row_a)
    # when
    response = api(readonly_a).patch(f"{endpoint.url}{row_a.pk}/", endpoint.change, format="json")
    # then
    assert response.status_code == 403
    assert _snapshot(row_a) == before


@pytest.mark.parametrize("name", ENDPOINTS)
def test_read_only_user_cannot_delete(tree, readonly_a, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row_a = endpoint.make(tree.sub_a)
    before = _snapshot(row_a)
    # when
    response = api(readonly_a).delete(f"{endpoint.url}{row_a.pk}/")
    # then
    assert response.status_code == 403
    assert _snapshot(row_a) == before


# -- allowed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_group_admin_sees_rows_of_every_subsidiary(tree, group_admin, api, name):
    # given
    endpoint = ENDPOINTS[name]
    row_a, row_b = endpoint.make(tree.sub_a), endpoint.make(tree.sub_b)
    # when
    response = api(group_admin).get(endpoint.url, {"page_size": 1000})
    # then
    assert response.status_code == 200
    assert {row_a.pk, row_b.pk} <= _ids(response)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_writer_of_the_company_can_create(tree, api, name):
    # given
    endpoint = ENDPOINTS[name]
    writer = _writer(tree.sub_a, endpoint)
    # when
    response = _post(api(writer), endpoint, tree.sub_a)
    # then
    assert response.status_code == 201, response.json()
    created = endpoint.model.objects.get(pk=response.json()["id"])
    assert _owner_id(created) == tree.sub_a.pk


@pytest.mark.parametrize("name", [n for n, e in ENDPOINTS.items() if e.change])
def test_writer_of_the_company_can_patch(tree, api, name):
    # given
    endpoint = ENDPOINTS[name]
    writer = _writer(tree.sub_a, endpoint)
    row_a = endpoint.make(tree.sub_a)
    # when
    response = api(writer).patch(f"{endpoint.url}{row_a.pk}/", endpoint.change, format="json")
    # then
    assert response.status_code == 200, response.json()
    stored = _snapshot(row_a)
    assert {key: stored[key] for key in endpoint.change} == endpoint.change


@pytest.mark.parametrize("name", ENDPOINTS)
def test_writer_of_the_company_can_delete(tree, api, name):
    # given
    endpoint = ENDPOINTS[name]
    writer = _writer(tree.sub_a, endpoint)
    row_a = endpoint.make(tree.sub_a)
    # when
    response = api(writer).delete(f"{endpoint.url}{row_a.pk}/")
    # then
    assert response.status_code == 204
    assert _snapshot(row_a) is None


# -- roles and references ----------------------------------------------------------------------


def test_asset_manager_cannot_change_companies(tree, manager_a, api):
    # given
    before = _snapshot(tree.project_a)
    # when
    response = api(manager_a).patch(
        f"/api/companies/{tree.project_a.pk}/", {"name": "改名"}, format="json"
    )
    # then
    assert response.status_code == 403
    assert _snapshot(tree.project_a) == before


def test_asset_manager_cannot_create_a_site_in_a_company_it_cannot_see(tree, manager_a, api):
    # given: B is not visible to a manager of A, so the reference does not resolve
    body = ENDPOINTS["sites"].create_body(tree.sub_b)
    # when
    response = api(manager_a).post("/api/sites/", body, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["company"]
    assert Site.objects.count() == 0


def test_asset_manager_who_only_views_another_company_cannot_create_there(tree, api):
    # given: manages A, reads the whole group (so B is visible)
    user = UserFactory(username="manager_a_viewer")
    Membership.objects.create(user=user, company=tree.sub_a, role=Role.ASSET_MANAGER)
    Membership.objects.create(user=user, company=tree.group, role=Role.READ_ONLY)
    body = ENDPOINTS["sites"].create_body(tree.sub_b)
    # when
    response = api(user).post("/api/sites/", body, format="json")
    # then
    assert response.status_code == 403
    assert Site.objects.count() == 0


def test_asset_manager_cannot_move_a_row_to_a_company_it_only_views(tree, api):
    # given
    user = UserFactory(username="manager_a_viewer")
    Membership.objects.create(user=user, company=tree.sub_a, role=Role.ASSET_MANAGER)
    Membership.objects.create(user=user, company=tree.group, role=Role.READ_ONLY)
    site = SiteFactory(company=tree.sub_a)
    before = _snapshot(site)
    # when
    response = api(user).patch(f"/api/sites/{site.pk}/", {"company": tree.sub_b.pk}, format="json")
    # then
    assert response.status_code == 403
    assert _snapshot(site) == before


def test_asset_manager_cannot_hang_a_floor_under_another_company_building(tree, manager_a, api):
    # given
    building_b = BuildingFactory(site__company=tree.sub_b)
    body = _feature(building_b.geom, code="F-X", name="1F", building=building_b.pk, level=1)
    # when
    response = api(manager_a).post("/api/floors/", body, format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["building"]
    assert Floor.objects.count() == 0


def test_asset_manager_cannot_move_a_building_to_another_company_site(tree, manager_a, api):
    # given
    building = BuildingFactory(site__company=tree.sub_a)
    site_b = SiteFactory(company=tree.sub_b)
    before = _snapshot(building)
    # when
    response = api(manager_a).patch(
        f"/api/buildings/{building.pk}/", {"site": site_b.pk}, format="json"
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["site"]
    assert _snapshot(building) == before


def test_leasing_agent_sees_but_cannot_edit_spatial_rows(tree, agent_a, api):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    before, sites = _snapshot(unit), Site.objects.count()
    client = api(agent_a)
    # when
    read = client.get(f"/api/units/{unit.pk}/")
    patch = client.patch(f"/api/units/{unit.pk}/", {"status": "leased"}, format="json")
    post = _post(client, ENDPOINTS["sites"], tree.sub_a)
    # then
    assert (read.status_code, patch.status_code, post.status_code) == (200, 403, 403)
    assert _snapshot(unit) == before
    assert Site.objects.count() == sites


# -- categories: shared by all companies, changed by group administrators only -----------------


def test_categories_are_refused_to_anonymous_users(db, api):
    # when
    response = api().get("/api/categories/")
    # then
    assert response.status_code == 403


def test_categories_are_visible_to_every_signed_in_user(tree, manager_b, api):
    # when
    response = api(manager_b).get("/api/categories/")
    # then
    assert response.status_code == 200
    codes = {row["code"] for row in response.json()}
    assert codes == set(Category.objects.values_list("code", flat=True))
    assert {"1010000", "1020000", "2010000"} <= codes


@pytest.mark.parametrize("user", ["manager_a", "readonly_a"])
def test_categories_cannot_be_changed_below_group_administrators(tree, api, request, user):
    # given
    client = api(request.getfixturevalue(user))
    house = category("1020000")
    before, count = _snapshot(house), Category.objects.count()
    # when
    post = client.post(
        "/api/categories/", {"code": "9990001", "name": "x", "parent": house.pk}, format="json"
    )
    patch = client.patch(f"/api/categories/{house.pk}/", {"name": "x"}, format="json")
    delete = client.delete(f"/api/categories/{house.pk}/")
    # then
    assert (post.status_code, patch.status_code, delete.status_code) == (403, 403, 403)
    assert _snapshot(house) == before
    assert Category.objects.count() == count


def test_group_admin_can_add_a_category_below_a_gbt14885_class(tree, group_admin, api):
    # given
    house = category("1020000")
    # when
    response = api(group_admin).post(
        "/api/categories/",
        {"code": "1020100", "name": "办公用房", "parent": house.pk, "useful_life_months": 360},
        format="json",
    )
    # then
    assert response.status_code == 201, response.json()
    added = Category.objects.get(code="1020100")
    assert (added.parent, added.level, added.useful_life_months) == (house, house.level + 1, 360)


# -- me ----------------------------------------------------------------------------------------


def test_me_is_refused_to_anonymous_users(db, api):
    # when
    response = api().get("/api/me/")
    # then
    assert response.status_code == 403


def test_me_lists_only_the_user_own_memberships(tree, manager_a, manager_b, api):
    # when
    response = api(manager_b).get("/api/me/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "manager_b"
    assert body["is_superuser"] is False
    assert [(m["company_code"], m["role"]) for m in body["memberships"]] == [
        ("HFCT-B", "asset_manager")
    ]


def test_http_basic_auth_signs_in_on_the_api(tree, manager_a, basic_api):
    # given
    site = SiteFactory(company=tree.sub_a)
    client = basic_api(manager_a)
    # when
    me = client.get("/api/me/")
    sites = client.get("/api/sites/")
    # then
    assert me.status_code == 200
    assert me.json()["username"] == "manager_a"
    assert sites.status_code == 200
    assert _ids(sites) == {site.pk}


def test_http_basic_auth_with_a_wrong_password_is_refused(tree, manager_a, basic_api):
    # when
    response = basic_api(manager_a, password="wrong").get("/api/me/")
    # then
    assert response.status_code == 403
    assert "username" not in response.json()


# -- restrict() on querysets -------------------------------------------------------------------


def test_restrict_limits_a_queryset_to_the_user_companies(tree, manager_a, manager_b):
    # given
    unit_a = UnitFactory(floor__building__site__company=tree.sub_a)
    unit_a1 = UnitFactory(floor__building__site__company=tree.project_a)
    unit_b = UnitFactory(floor__building__site__company=tree.sub_b)
    # when / then
    assert set(Unit.objects.restrict(manager_a)) == {unit_a, unit_a1}
    assert set(Unit.objects.restrict(manager_b)) == {unit_b}
    assert set(Unit.objects.restrict(manager_a, "change")) == {unit_a, unit_a1}


def test_restrict_for_a_write_leaves_nothing_to_a_read_only_user(tree, readonly_a):
    # given
    SiteFactory(company=tree.sub_a)
    # when / then
    assert Site.objects.restrict(readonly_a).count() == 1
    assert Site.objects.restrict(readonly_a, "change").count() == 0
    assert Site.objects.restrict(readonly_a, "delete").count() == 0


def test_restrict_gives_nothing_to_anonymous_and_everything_to_superusers(tree):
    # given
    SiteFactory(company=tree.sub_a)
    SiteFactory(company=tree.sub_b)
    root = UserFactory(username="root", is_superuser=True)
    # when / then
    assert Site.objects.restrict(AnonymousUser()).count() == 0
    assert Site.objects.restrict(root).count() == 2


def test_membership_at_the_group_reaches_project_companies_two_levels_below(tree):
    # given
    viewer = UserFactory(username="group_viewer")
    Membership.objects.create(user=viewer, company=tree.group, role=Role.READ_ONLY)
    site = SiteFactory(company=tree.project_a)
    # when
    ids = access.company_ids(viewer, "view", Site)
    # then
    assert ids == {tree.group.pk, tree.sub_a.pk, tree.sub_b.pk, tree.project_a.pk}
    assert list(Site.objects.restrict(viewer)) == [site]


def test_restrict_on_asset_tags_follows_the_asset_company(tree, manager_b):
    # given
    AssetTagFactory(asset__company=tree.sub_a)
    tag_b = AssetTagFactory(asset__company=tree.sub_b)
    # when / then
    assert list(AssetTag.objects.restrict(manager_b)) == [tag_b]
