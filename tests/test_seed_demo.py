"""The demo data: `seed_demo --scale demo` and `demo_users`."""

from datetime import date
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F, Q

from portfolio.models import Asset, AssetTag, Category, CodeSequence
from portfolio.services import asset_create
from spatial.choices import CompanyKind, Role
from spatial.models import FEATURE_MODELS, Company, Membership, Site, Unit
from spatial.services import unit_is_outside
from spatial.validators import validate_uscc

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--scale", "demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    counts = {
        model.__name__: model.objects.count()
        for model in (Company, *FEATURE_MODELS, Asset, AssetTag, CodeSequence)
    }
    units = list(
        Unit.objects.order_by("code").values_list("code", "gross_area", "usable_area", "status")
    )
    assets = list(Asset.objects.order_by("code").values_list("code", "acquisition_cost"))
    return {"counts": counts, "units": units, "assets": assets}


def test_seed_demo_is_deterministic_across_resets():
    # given
    seed()
    first = snapshot()

    # when
    seed("--reset")

    # then
    assert snapshot() == first
    assert 2_000 <= first["counts"]["Unit"] <= 4_000
    assert first["counts"]["Site"] >= 12
    assert all(first["counts"][m.__name__] > 0 for m in FEATURE_MODELS)


def test_seed_demo_units_lie_inside_their_floor():
    seed()

    assert Unit.objects.count() > 0
    assert not Unit.objects.filter(outside_floor=True).exists()
    assert not Unit.objects.filter(geom__isvalid=False).exists()
    # The flag agrees with the service's own check, unit by unit, on a sample.
    for unit in Unit.objects.select_related("floor")[::97]:
        assert unit.building_id == unit.floor.building_id
        assert not unit_is_outside(unit.geom, unit.floor.geom)


def test_seed_demo_rows_pass_model_validation():
    seed()

    for model in (*FEATURE_MODELS, Asset):
        for instance in model.objects.order_by("pk")[:15]:
            instance.full_clean()  # raises ValidationError naming the field


def test_seed_demo_builds_group_subsidiaries_and_project_companies():
    seed()

    group = Company.objects.get(kind=CompanyKind.GROUP)
    subsidiaries = list(Company.objects.filter(parent=group))
    projects = list(Company.objects.filter(parent__in=subsidiaries))
    assert group.parent is None and group.path == f"/{group.pk}/"
    assert len(subsidiaries) >= 3
    assert {c.kind for c in subsidiaries} == {CompanyKind.SUBSIDIARY}
    assert len(projects) >= 3
    assert {c.kind for c in projects} == {CompanyKind.PROJECT}
    for company in projects:
        assert company.path == f"{company.parent.path}{company.pk}/"
    assert Company.objects.count() == 1 + len(subsidiaries) + len(projects)
    for company in Company.objects.all():
        validate_uscc(company.uscc)
    assert Company.objects.values("uscc").distinct().count() == Company.objects.count()
    # Sites belong to project companies or subsidiaries, never to the group itself.
    assert not Site.objects.filter(company=group).exists()


def test_seed_demo_usable_area_never_exceeds_gross_area():
    seed()

    assert not Unit.objects.filter(Q(gross_area__isnull=True) | Q(usable_area__isnull=True))
    assert not Unit.objects.filter(usable_area__gt=F("gross_area")).exists()


def test_seed_demo_if_empty_does_not_duplicate():
    # given
    seed()
    before = snapshot()

    # when
    out = seed("--if-empty")

    # then
    assert "already holds" in out
    assert snapshot() == before


def test_seed_demo_refuses_a_database_with_data_without_reset():
    seed()

    with pytest.raises(CommandError, match="--reset"):
        seed()


def test_asset_create_after_seeding_continues_the_code_sequence():
    # given: the busiest seeded sequence, e.g. key "LZZY-2010000-2024-#"
    seed()
    sequence = CodeSequence.objects.order_by("-last_value", "key").first()
    company_code, category_code, year, _ = sequence.key.split("-")
    prefix = f"{company_code}-{category_code}-{year}-"
    assert Asset.objects.filter(code__startswith=prefix).count() == sequence.last_value

    # when
    asset = asset_create(
        today=date(int(year), 12, 1),
        name="测试新增资产",
        category=Category.objects.get(code=category_code),
        company=Company.objects.get(code=company_code),
    )

    # then
    assert asset.code == f"{prefix}{sequence.last_value + 1:05d}"
    assert Asset.objects.filter(code=asset.code).count() == 1
    sequence.refresh_from_db()
    assert sequence.last_value == Asset.objects.filter(code__startswith=prefix).count()


def test_seed_demo_tags_are_well_formed_and_unique():
    seed()

    for tag in AssetTag.objects.filter(kind="rfid_epc")[:50]:
        assert len(tag.value) == 24 and int(tag.value, 16) >= 0
    for tag in AssetTag.objects.filter(kind="nfc_uid")[:50]:
        assert len(tag.value) == 14 and int(tag.value, 16) >= 0
    assert AssetTag.objects.values("value").distinct().count() == AssetTag.objects.count()


def test_demo_users_is_idempotent_and_prints_the_logins(monkeypatch):
    # given
    seed()
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-pass")

    # when
    call_command("demo_users", stdout=StringIO())
    out = StringIO()
    call_command("demo_users", stdout=out)

    # then
    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    assert users.get(username="admin").check_password("another-demo-pass")
    demo = users.get(username="demo")
    assert demo.is_staff and not demo.is_superuser
    group_admin = Membership.objects.get(user=demo)
    assert group_admin.role == Role.GROUP_ADMIN
    assert group_admin.company.kind == CompanyKind.GROUP
    agent = Membership.objects.get(user__username="agent")
    assert agent.role == Role.LEASING_AGENT
    assert agent.company.kind == CompanyKind.SUBSIDIARY
    assert Membership.objects.filter(user__username__in=["demo", "agent", "viewer"]).count() == 3
    text = out.getvalue()
    assert "another-demo-pass" in text
    assert "agent" in text and "庐州置业有限公司" in text


def test_seed_demo_has_amended_leases_whose_versions_hand_over_cleanly():
    from leasing import rent
    from leasing.models import Lease, LeaseUnit

    seed()

    amended = list(Lease.objects.filter(versions__number=2).distinct()[:20])
    # about one office or shop lease in twelve carries a rent amendment
    assert len(amended) >= 5
    for lease in amended:
        v1, v2 = lease.versions.order_by("number")
        assert v1.effective_from == lease.start_date < v2.effective_from <= date(2026, 6, 30)
        assert v2.reason.startswith("变更")
        lines = list(LeaseUnit.objects.filter(lease=lease).order_by("version__number"))
        # version 1 holds the unit until version 2 takes over; only the last is current
        assert [line.current for line in lines] == [False, True]
        assert lines[0].period.upper == lines[1].period.lower == v2.effective_from
        assert lines[0].unit_id == lines[1].unit_id
        # the rent engine reads both versions: the amended price applies from its date
        terms = rent.terms_for_lease(lease)
        assert [t.version for t in terms] == [1, 2]
        before = rent.monthly_rent(terms[0], v2.effective_from - rent.DAY)
        after = rent.monthly_rent(terms[1], v2.effective_from)
        assert before != after
