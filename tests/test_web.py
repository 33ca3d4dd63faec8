"""OpenAPI schema and docs served locally; pages in Chinese by default, English on request."""

import re

import pytest

from tests.factories import SiteFactory

ROUTER_ENDPOINTS = (
    "companies",
    "sites",
    "buildings",
    "floors",
    "units",
    "roads",
    "parks",
    "parcels",
    "categories",
    "coding-rules",
    "assets",
    "asset-tags",
    "documents",
    "me",
)


def test_openapi_schema_describes_every_endpoint(tree, manager_a, api):
    # when
    response = api(manager_a).get("/api/schema/", {"format": "json"})
    # then
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "GeoAsset API"
    for name in ROUTER_ENDPOINTS:
        assert f"/api/{name}/" in schema["paths"], name
    assert "/api/units/{id}/history/" in schema["paths"]
    assert "/api/documents/{id}/download/" in schema["paths"]


def test_api_docs_load_only_local_static_assets(tree, manager_a, client):
    # given
    client.force_login(manager_a)
    # when
    response = client.get("/api/docs/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(a.startswith("/static/drf_spectacular_sidecar/") for a in assets)
    assert [a for a in assets if not a.startswith("/")] == []
    assert re.findall(r"https?://(?!testserver)[^\s\"'<>]+", html) == []


# -- language ----------------------------------------------------------------------------------


def test_admin_login_is_in_chinese_by_default(db, client):
    # when
    response = client.get("/admin/login/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans"' in html
    assert "登录" in html


@pytest.mark.parametrize(
    ("path", "headers", "redirects"),
    [
        ("/en/admin/login/", {}, []),
        ("/admin/login/", {"Cookie": "django_language=en"}, [("/en/admin/login/", 302)]),
    ],
)
def test_admin_login_is_in_english_on_request(db, client, path, headers, redirects):
    # when
    response = client.get(path, headers=headers, follow=True)
    # then
    assert response.redirect_chain == redirects
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en"' in html
    assert "Log in" in html
    assert "登录" not in html


def test_home_page_is_in_chinese_by_default(tree, manager_a, client):
    # given
    client.force_login(manager_a)
    # when
    response = client.get("/")
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "空间资产平台" in html


@pytest.mark.parametrize(
    ("path", "headers", "redirects"),
    [("/en/", {}, []), ("/", {"django_language": "en"}, [("/en/", 302)])],
)
def test_home_page_is_in_english_on_request(tree, manager_a, client, path, headers, redirects):
    # given: English chosen by URL or by the language menu's cookie
    client.force_login(manager_a)
    for name, value in headers.items():
        client.cookies[name] = value
    # when
    response = client.get(path, follow=True)
    # then
    assert response.redirect_chain == redirects
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Spatial asset platform" in html
    assert "空间资产平台" not in html


@pytest.mark.parametrize("accept", ["en-US,en;q=0.9", "zh-CN,zh;q=0.9,en;q=0.8"])
def test_pages_stay_chinese_whatever_the_browser_language(db, client, accept):
    # when: no language was chosen in the menu or the URL
    response = client.get("/admin/login/", headers={"Accept-Language": accept})
    # then
    assert response.status_code == 200
    assert '<html lang="zh-hans"' in response.content.decode()


def test_chinese_browser_stays_on_the_unprefixed_page(db, client):
    # when
    response = client.get("/admin/login/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    # then
    assert response.status_code == 200
    assert '<html lang="zh-hans"' in response.content.decode()


def test_language_switch_back_to_chinese_wins_over_an_english_browser(db, client):
    # given: an English browser that chose English, then Chinese, from the language menu
    english = {"Accept-Language": "en"}
    to_en = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/login/"})
    to_zh = client.post(
        "/i18n/setlang/", {"language": "zh-hans", "next": "/en/admin/login/"}, headers=english
    )
    # when
    response = client.get("/admin/login/", headers=english)
    # then
    assert (to_en.status_code, to_en["Location"]) == (302, "/en/admin/login/")
    assert (to_zh.status_code, to_zh["Location"]) == (302, "/admin/login/")
    assert response.status_code == 200
    assert '<html lang="zh-hans"' in response.content.decode()


def test_unknown_page_is_still_a_404_in_english(db, client):
    # when
    response = client.get("/no-such-page/", headers={"Accept-Language": "en"})
    # then
    assert response.status_code == 404


def test_api_errors_follow_accept_language(tree, manager_a, api):
    # given
    client = api(manager_a)
    body = {"type": "Feature", "geometry": None, "properties": {"code": "S-X"}}
    # when
    chinese = client.post("/api/sites/", body, format="json")
    english = client.post("/api/sites/", body, format="json", headers={"Accept-Language": "en"})
    # then
    assert (chinese.status_code, english.status_code) == (400, 400)
    assert chinese.json()["name"] == ["该字段是必填项。"]
    assert english.json()["name"] == ["This field is required."]


def test_home_page_counts_only_what_the_user_may_see(tree, manager_b, client):
    # given
    SiteFactory(company=tree.sub_a)
    SiteFactory(company=tree.sub_b)
    client.force_login(manager_b)
    # when
    response = client.get("/en/")
    # then
    layers = {row["endpoint"]: row["count"] for row in response.context["layers"]}
    assert layers["/api/sites/"] == 1
    assert layers["/api/companies/"] == 1


def test_home_page_sends_anonymous_users_to_the_login_page(db, client):
    # when
    response = client.get("/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_pages_load_nothing_from_other_hosts(tree, manager_a, client):
    # given
    client.force_login(manager_a)
    # when
    pages = [client.get(p).content.decode() for p in ("/", "/admin/", "/accounts/login/")]
    # then
    for html in pages:
        assert re.findall(r"""(?:src|href)\s*=\s*["']https?://""", html) == []
