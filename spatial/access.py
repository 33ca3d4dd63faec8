"""Access scoping: users act in companies through roles.

A membership at a company reaches that company and every company below it, so a
membership at the group (集团) sees all. What a role may change is a list of app
labels or model labels; viewing is open to every role inside its companies.
Everything that lists, shows, exports or maps data goes through
`RestrictedQuerySet.restrict()`, which calls `company_ids()` here.
"""

from collections.abc import Iterable

from django.db.models import Model, Q
from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from spatial.choices import Role

ALL = None  # sentinel: no restriction

#: What each role may add, change and delete: app labels or "app.model" labels.
ROLE_WRITES: dict[str, frozenset[str]] = {
    Role.GROUP_ADMIN: frozenset({"*"}),
    Role.ASSET_MANAGER: frozenset({"spatial", "portfolio", "bim"}),
    Role.LEASING_AGENT: frozenset({"leasing"}),
    # finance.collection and finance.invoicing are apps with labels of their own.
    Role.FINANCE: frozenset({"finance", "collection", "invoicing"}),
    Role.FIELD_STAFF: frozenset({"tracking", "portfolio.asset", "portfolio.assettag"}),
    Role.READ_ONLY: frozenset(),
    Role.GIS_ANALYST: frozenset(),
}

#: Master data only a group administrator changes, even where an app label would allow it.
ADMIN_ONLY = frozenset(
    {"spatial.company", "spatial.membership", "portfolio.category", "portfolio.codingrule"}
)

ACTIONS = ("view", "add", "change", "delete")


def role_may(role: str, action: str, model: type[Model]) -> bool:
    if action == "view":
        return True
    grants = ROLE_WRITES.get(role, frozenset())
    if "*" in grants:
        return True
    label = model._meta.label_lower
    if label in grants:
        return True
    return model._meta.app_label in grants and label not in ADMIN_ONLY


def _memberships(user) -> list[tuple[str, str]]:
    cached = getattr(user, "_geoasset_memberships", None)
    if cached is None:
        cached = list(user.memberships.values_list("company__path", "role"))
        user._geoasset_memberships = cached
    return cached


def holds_role(user, company, roles: frozenset[str]) -> bool:
    """Does `user` hold one of `roles` at `company` or at a company above it?"""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return any(role in roles and company.path.startswith(path) for path, role in _memberships(user))


def _subtree_ids(paths: Iterable[str]) -> frozenset[int]:
    from spatial.models import Company

    condition = Q()
    for path in set(paths):
        condition |= Q(path__startswith=path)
    if not condition:
        return frozenset()
    return frozenset(Company.objects.filter(condition).values_list("pk", flat=True))


def company_ids(user, action: str, model: type[Model]) -> frozenset[int] | None:
    """The ids of the companies whose rows of `model` `user` may `action`; ALL for no limit."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return ALL
    paths = tuple(sorted(p for p, role in _memberships(user) if role_may(role, action, model)))
    cache = user.__dict__.setdefault("_geoasset_scope", {})
    if paths not in cache:
        cache[paths] = _subtree_ids(paths)
    return cache[paths]


ANY_COMPANY = object()  # sentinel: in at least one company


def can(user, action: str, model: type[Model], company_id=ANY_COMPANY) -> bool:
    """May `user` `action` rows of `model` in `company_id` (or in any company)?

    A row of a company-scoped model with no company (a new group at the top) is
    reserved to superusers.
    """
    ids = company_ids(user, action, model)
    if ids is ALL:
        return True
    if company_id is ANY_COMPANY or getattr(model, "scope_field", "company") is None:
        return bool(ids)
    if company_id is None and getattr(model, "scope_null_is_shared", False):
        return has_group_grant(user, action, model)
    return company_id in ids


def has_group_grant(user, action: str, model: type[Model]) -> bool:
    """Does `user` hold a role allowing `action` at a top-level (group) company?

    Rows shared by all companies (a coding rule with no company) are changed only so.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return any(
        path.count("/") == 2 and role_may(role, action, model) for path, role in _memberships(user)
    )


def ensure_can(user, action: str, model: type[Model], company_id: int | None) -> None:
    if not can(user, action, model, company_id):
        raise PermissionDenied(
            f"You may not {action} {model._meta.verbose_name} records of this company."
        )


_METHOD_ACTIONS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class ScopedPermission(permissions.BasePermission):
    """DRF permission: signed in; writes only where a role allows them.

    Reads need no check here: the viewset's queryset is already restricted, so an
    object outside the user's companies is a 404.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        model = getattr(getattr(view, "queryset", None), "model", None)
        if model is None:
            return True
        return can(user, _METHOD_ACTIONS.get(request.method, "change"), model)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        action = _METHOD_ACTIONS.get(request.method, "change")
        return can(request.user, action, type(obj), scope_company_id(obj))


def scope_company_id(obj: Model) -> int | None:
    field = getattr(type(obj), "scope_field", "company")
    if field is None:
        return None
    if field == "pk":
        return obj.pk
    # A scope reached through a relation ("asset__company") is read along that relation.
    *relations, last = field.split("__")
    for name in relations:
        obj = getattr(obj, name)
    return getattr(obj, f"{last}_id")
