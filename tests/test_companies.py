"""The company hierarchy: paths follow every move, and no company goes under itself."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from spatial import selectors, services
from spatial.choices import CompanyKind
from spatial.models import Company


def _paths() -> dict[str, str]:
    return dict(Company.objects.values_list("code", "path"))


def test_company_create_sets_the_path_from_the_root(tree):
    # when / then
    assert _paths() == {
        "HFCT": f"/{tree.group.pk}/",
        "HFCT-A": f"/{tree.group.pk}/{tree.sub_a.pk}/",
        "HFCT-B": f"/{tree.group.pk}/{tree.sub_b.pk}/",
        "HFCT-A1": f"/{tree.group.pk}/{tree.sub_a.pk}/{tree.project_a.pk}/",
    }


def test_moving_a_subsidiary_moves_its_whole_subtree(tree):
    # given: a project company below B, and one below that
    b1 = services.company_create(
        code="HFCT-B1", name="高新项目公司", kind=CompanyKind.PROJECT, parent=tree.sub_b
    )
    b1x = services.company_create(
        code="HFCT-B1X", name="高新项目分公司", kind=CompanyKind.PROJECT, parent=b1
    )
    g, a, b = tree.group.pk, tree.sub_a.pk, tree.sub_b.pk
    # when: B becomes a subsidiary of A
    services.company_update(tree.sub_b, parent=tree.sub_a)
    # then
    paths = _paths()
    assert paths["HFCT-B"] == f"/{g}/{a}/{b}/"
    assert paths["HFCT-B1"] == f"/{g}/{a}/{b}/{b1.pk}/"
    assert paths["HFCT-B1X"] == f"/{g}/{a}/{b}/{b1.pk}/{b1x.pk}/"
    # and the rest of the tree stays where it was
    assert paths["HFCT"] == f"/{g}/"
    assert paths["HFCT-A"] == f"/{g}/{a}/"
    assert paths["HFCT-A1"] == f"/{g}/{a}/{tree.project_a.pk}/"
    assert set(selectors.company_subtree(company=Company.objects.get(pk=a))) == {
        tree.sub_a,
        tree.project_a,
        tree.sub_b,
        b1,
        b1x,
    }


def test_a_company_cannot_move_under_its_own_descendant(tree):
    # given
    before = _paths()
    # when
    with pytest.raises(ValidationError) as raised, translation.override("en"):
        services.company_update(tree.sub_a, parent=tree.project_a)
    # then
    assert raised.value.message_dict == {
        "parent": ["A company cannot be placed under itself or below."]
    }
    assert _paths() == before
    assert Company.objects.get(pk=tree.sub_a.pk).parent_id == tree.group.pk


def test_a_company_cannot_be_its_own_parent(tree):
    # given
    before = _paths()
    # when
    with pytest.raises(ValidationError) as raised:
        services.company_update(tree.sub_b, parent=tree.sub_b)
    # then
    assert list(raised.value.message_dict) == ["parent"]
    assert _paths() == before


def test_company_patch_moving_under_a_descendant_is_a_400_naming_parent(tree, group_admin, api):
    # given
    before = _paths()
    # when
    response = api(group_admin).patch(
        f"/api/companies/{tree.sub_a.pk}/", {"parent": tree.project_a.pk}, format="json"
    )
    # then
    assert response.status_code == 400
    assert list(response.json()) == ["parent"]
    assert _paths() == before


def test_company_patch_moving_a_subsidiary_updates_paths(tree, group_admin, api):
    # when
    response = api(group_admin).patch(
        f"/api/companies/{tree.project_a.pk}/", {"parent": tree.sub_b.pk}, format="json"
    )
    # then
    assert response.status_code == 200, response.json()
    expected = f"/{tree.group.pk}/{tree.sub_b.pk}/{tree.project_a.pk}/"
    assert response.json()["path"] == expected
    assert _paths()["HFCT-A1"] == expected
