"""Shared fixtures: a small company tree, users with roles in it, and API clients.

集团 group
├── 子公司 A ── 项目公司 A1
└── 子公司 B
"""

import base64
from dataclasses import dataclass

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from spatial.choices import CompanyKind, Role
from spatial.models import Company
from spatial.services import company_create
from tests.factories import PASSWORD, FloorFactory, member


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.MEDIA_ROOT = tmp_path / "media"
    # Hashing passwords at full strength only slows the suite down.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # WhiteNoise warns when STATIC_ROOT is missing; nothing is collected for tests.
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    # The hashed-name manifest exists only after collectstatic; pages render with plain names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


_SERIALIZED: dict[str, str] = {}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Keep the serialized test database (data migrations' rows: GB/T 14885 classes, charge
    items, account codes) apart from the connection object.

    `serialized_rollback` tests restore it from `connection._test_serialized_contents`.
    Playwright's sync API runs an event loop in the main thread, and under it asgiref's
    context-local `connections` hands out a fresh connection without that attribute, so
    every transactional test after a browser test would start from empty tables.
    """
    from django.db import connections

    for alias in connections:
        contents = getattr(connections[alias], "_test_serialized_contents", None)
        if contents is not None:
            _SERIALIZED[alias] = contents


def _serialized_contents_reattach() -> None:
    from django.db import connections

    for alias, contents in _SERIALIZED.items():
        if getattr(connections[alias], "_test_serialized_contents", None) is None:
            connections[alias]._test_serialized_contents = contents


def pytest_collection_modifyitems(items):
    """A transactional test must restore the serialized data (`serialized_rollback=True`):
    without it the flush after the test runs post_migrate, which writes content types and
    permissions anew, and the next test that restores the data fails on them."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or not marker.kwargs.get("transaction"):
            continue
        if not marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(
                f"{item.nodeid}: django_db(transaction=True) needs serialized_rollback=True"
            )


@pytest.fixture(autouse=True)
def _serialized_contents(request):
    """Put the serialized contents back on the connection before and after every test."""
    _serialized_contents_reattach()
    yield
    _serialized_contents_reattach()


@dataclass(frozen=True)
class Tree:
    group: Company
    sub_a: Company
    sub_b: Company
    project_a: Company


@pytest.fixture
def tree(db) -> Tree:
    group = company_create(code="HFCT", name="合肥城投集团", kind=CompanyKind.GROUP)
    sub_a = company_create(
        code="HFCT-A", name="合肥滨湖置业有限公司", kind=CompanyKind.SUBSIDIARY, parent=group
    )
    sub_b = company_create(
        code="HFCT-B", name="合肥高新园区运营有限公司", kind=CompanyKind.SUBSIDIARY, parent=group
    )
    project_a = company_create(
        code="HFCT-A1", name="合肥滨湖科创项目公司", kind=CompanyKind.PROJECT, parent=sub_a
    )
    return Tree(group=group, sub_a=sub_a, sub_b=sub_b, project_a=project_a)


@pytest.fixture
def english():
    """Messages in English, for tests that compare them (`usefixtures("english")`)."""
    with translation.override("en"):
        yield


@pytest.fixture
def floor_a(tree):
    """A floor of company A with fixed codes: FL-A in building B-A on site S-A. (Modules that
    want another floor_a define their own.)"""
    return FloorFactory(
        code="FL-A",
        level=1,
        building__code="B-A",
        building__site__code="S-A",
        building__site__company=tree.sub_a,
    )


@pytest.fixture
def group_admin(tree):
    return member("group_admin", tree.group, Role.GROUP_ADMIN)


@pytest.fixture
def manager_a(tree):
    return member("manager_a", tree.sub_a, Role.ASSET_MANAGER)


@pytest.fixture
def readonly_a(tree):
    return member("readonly_a", tree.sub_a, Role.READ_ONLY)


@pytest.fixture
def agent_a(tree):
    return member("agent_a", tree.sub_a, Role.LEASING_AGENT)


@pytest.fixture
def manager_b(tree):
    return member("manager_b", tree.sub_b, Role.ASSET_MANAGER)


@pytest.fixture
def finance_a(tree):
    return member("finance_a", tree.sub_a, Role.FINANCE)


@pytest.fixture
def finance_b(tree):
    return member("finance_b", tree.sub_b, Role.FINANCE)


@pytest.fixture
def field_a(tree):
    return member("field_a", tree.sub_a, Role.FIELD_STAFF)


@pytest.fixture
def api():
    """`api(user)`: an APIClient acting as `user`; `api()` is anonymous."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def basic_api():
    """`basic_api(user)`: an APIClient sending real HTTP Basic credentials."""

    def client_for(user, password: str = PASSWORD) -> APIClient:
        client = APIClient()
        token = base64.b64encode(f"{user.get_username()}:{password}".encode()).decode()
        client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
        return client

    return client_for
