"""Re-importing a newer version of a model updates it by GlobalId and reports what was added,
changed and removed; a unit something refers to (an asset, a lease) is never deleted."""

from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.root
import pytest
from django.core.exceptions import ValidationError
from django.core.files import File

from bim import services
from bim.choices import ImportStatus
from bim.models import BimSpace
from portfolio.choices import AssetStatus
from portfolio.models import Asset
from spatial.choices import UnitStatus
from spatial.models import Floor, Unit
from tests.factories import AssetFactory, AssetTagFactory, FloorFactory, category
from tests.test_bim_support import (
    HEFEI,
    add_space,
    counts,
    english,  # noqa: F401 - autouse
    hefei_site,
    sample,
)

HOM = "ExampleHOM_with_radiator.ifc"


@pytest.fixture
def site_a(tree):
    return hefei_site(tree.sub_a)


def _job(path: Path, site, **options):
    with path.open("rb") as handle:
        job = services.ifc_import_create(
            site=site, upload=File(handle, name=path.name), anchor=HEFEI, **options
        )
    return services.ifc_import_run(services.ifc_import_claim(job_id=job.pk))


def _version(tmp_path: Path, edit) -> tuple[Path, ifcopenshell.file]:
    ifc_file = ifcopenshell.open(str(sample(HOM)))
    edit(ifc_file)
    path = tmp_path / f"v{len(list(tmp_path.glob('v*.ifc'))) + 2}.ifc"
    ifc_file.write(str(path))
    return path, ifc_file


def _space(ifc_file, name: str):
    return next(s for s in ifc_file.by_type("IfcSpace") if s.Name == name)


def _storey(ifc_file, name: str):
    return next(s for s in ifc_file.by_type("IfcBuildingStorey") if s.Name == name)


def _unit(name: str) -> Unit:
    return Unit.objects.get(name=name)


def _gids(entries, kind: str) -> set[str]:
    return {e["global_id"] for e in entries if e["kind"] == kind}


def test_reimport_adds_changes_removes_and_keeps_by_global_id(tmp_path, site_a, tree):
    # given: version 1, a desk registered by hand in the kitchen and a lease on the bathroom
    first = _job(sample(HOM), site_a)
    assert first.status == ImportStatus.SUCCEEDED
    kitchen, bath, children = _unit("Kitchen5"), _unit("Bath9"), _unit("Children7")
    desk = AssetFactory(company=tree.sub_a, unit=kitchen, category=category("6010000"))
    Unit.objects.filter(pk=bath.pk).update(status=UnitStatus.LEASED)
    living = _unit("Living1")

    # and version 2: three spaces gone, one renamed, one new
    def edit(ifc_file):
        for name in ("Kitchen5", "Bath9", "Children7"):
            ifcopenshell.api.root.remove_product(ifc_file, product=_space(ifc_file, name))
        _space(ifc_file, "Living1").Name = "Living Room"
        add_space(ifc_file, _storey(ifc_file, "1stFloor"), "Study11", (0.5, 0.5, 3.5, 3.0))

    path, v2 = _version(tmp_path, edit)
    study = _space(v2, "Study11").GlobalId
    # when
    job = _job(path, site_a)
    # then
    assert job.status == ImportStatus.SUCCEEDED, job.message
    report = job.report
    assert report["counts"]["units"] == {
        "added": 1, "changed": 1, "unchanged": 7, "removed": 1, "kept": 2,
    }  # fmt: skip
    assert _gids(report["added"], "unit") == {study}
    [changed] = [e for e in report["changed"] if e["kind"] == "unit"]
    assert (changed["global_id"], changed["fields"]) == (living.bim_global_id, ["name"])
    assert _gids(report["removed"], "unit") == {children.bim_global_id}
    kept = {e["global_id"]: e for e in report["kept"] if e["kind"] == "unit"}
    assert set(kept) == {kitchen.bim_global_id, bath.bim_global_id}
    assert kept[kitchen.bim_global_id]["reason"] == "kept: referenced by 1 asset"
    assert "Leased" in kept[bath.bim_global_id]["reason"]
    # the units themselves
    assert not Unit.objects.filter(pk=children.pk).exists()
    kitchen.refresh_from_db()
    bath.refresh_from_db()
    assert (kitchen.status, bath.status) == (UnitStatus.UNAVAILABLE, UnitStatus.LEASED)
    assert BimSpace.objects.get(unit=kitchen).removed_in_id == job.pk
    assert Unit.objects.get(pk=living.pk).name == "Living Room"
    assert Unit.objects.get(bim_global_id=study).floor.name == "1stFloor"
    desk.refresh_from_db()
    assert desk.unit_id == kitchen.pk
    assert Unit.objects.filter(building=kitchen.building).count() == 11 - 3 + 1 + 2


def test_reimport_of_the_same_version_changes_nothing(site_a):
    _job(sample(HOM), site_a)
    before = counts()
    job = _job(sample(HOM), site_a)
    counts_ = job.report["counts"]
    assert counts_["units"] == {"added": 0, "changed": 0, "unchanged": 11, "removed": 0, "kept": 0}
    assert counts_["floors"]["unchanged"] == 3 and counts_["assets"]["unchanged"] == 1
    assert counts() == before
    assert job.report["georeferencing"]["method"] == "anchor"


def test_reimport_without_an_anchor_keeps_the_previous_placement(site_a):
    first = _job(sample(HOM), site_a)
    with sample(HOM).open("rb") as handle:
        job = services.ifc_import_create(site=site_a, upload=File(handle, name=HOM))
    job = services.ifc_import_run(services.ifc_import_claim(job_id=job.pk))
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert job.report["georeferencing"]["method"] == "previous"
    assert job.report["counts"]["units"]["unchanged"] == 11
    assert (
        job.report["georeferencing"]["building_centroid"]
        == first.report["georeferencing"]["building_centroid"]
    )


def test_equipment_removed_from_the_model_is_deleted_unless_something_refers_to_it(
    tmp_path, site_a
):
    # given: two radiators; one carries a barcode tag
    def two(ifc_file):
        radiator = ifc_file.by_type("IfcSpaceHeater")[0]
        twin = ifcopenshell.api.root.copy_class(ifc_file, product=radiator)
        twin.Name = "Twin"

    path, _ = _version(tmp_path, two)
    _job(path, site_a)
    tagged = Asset.objects.get(name="Twin")
    AssetTagFactory(asset=tagged)
    plain = Asset.objects.exclude(pk=tagged.pk).get()

    # when: a version without any radiator
    def none(ifc_file):
        for heater in ifc_file.by_type("IfcSpaceHeater"):
            ifcopenshell.api.root.remove_product(ifc_file, product=heater)

    path, _ = _version(tmp_path, none)
    job = _job(path, site_a)
    # then
    assert job.report["counts"]["assets"]["removed"] == 1
    assert job.report["counts"]["assets"]["kept"] == 1
    assert not Asset.objects.filter(pk=plain.pk).exists()
    tagged.refresh_from_db()
    assert tagged.status == AssetStatus.PENDING_DISPOSAL
    [kept] = job.report["kept"]
    assert kept["reason"] == "kept: referenced by 1 asset tag"


def test_storeys_inserted_and_removed_move_the_levels(tmp_path, site_a):
    # given
    _job(sample(HOM), site_a)
    building = Floor.objects.get(name="GroundFloor").building

    # when: a mezzanine between ground and first floor, and no attic any more
    def edit(ifc_file):
        attic = _storey(ifc_file, "attic")
        ifcopenshell.api.root.remove_product(ifc_file, product=_space(ifc_file, "att"))
        ifcopenshell.api.root.remove_product(ifc_file, product=attic)
        mezzanine = ifcopenshell.api.root.create_entity(
            ifc_file, ifc_class="IfcBuildingStorey", name="Mezzanine"
        )
        mezzanine.Elevation = 1.4
        ifcopenshell.api.aggregate.assign_object(
            ifc_file, products=[mezzanine], relating_object=ifc_file.by_type("IfcBuilding")[0]
        )
        add_space(ifc_file, mezzanine, "Gallery", (0.5, 0.5, 3.0, 3.0))

    path, _ = _version(tmp_path, edit)
    job = _job(path, site_a)
    # then
    assert job.status == ImportStatus.SUCCEEDED, job.message
    levels = dict(Floor.objects.filter(building=building).values_list("name", "level"))
    assert levels == {"GroundFloor": 1, "Mezzanine": 2, "1stFloor": 3}
    assert job.report["counts"]["floors"] == {
        "added": 1, "changed": 2, "unchanged": 0, "removed": 1, "kept": 0,
    }  # fmt: skip
    changed = {e["name"]: e["fields"] for e in job.report["changed"] if e["kind"] == "floor"}
    # the ground floor is lower now that the mezzanine is above it; the top storey went up
    assert changed == {"GroundFloor": ["height_m"], "1stFloor": ["level", "height_m"]}


def test_level_taken_by_a_floor_drawn_by_hand_fails_the_import_and_changes_nothing(
    tmp_path, site_a
):
    # given: someone drew a floor at level 4 in the imported building
    _job(sample(HOM), site_a)
    building = Floor.objects.get(name="GroundFloor").building
    FloorFactory(building=building, level=4, code="HAND-4")

    def taller(ifc_file):
        roof = ifcopenshell.api.root.create_entity(
            ifc_file, ifc_class="IfcBuildingStorey", name="Roof"
        )
        roof.Elevation = 9.0
        ifcopenshell.api.aggregate.assign_object(
            ifc_file, products=[roof], relating_object=ifc_file.by_type("IfcBuilding")[0]
        )

    path, _ = _version(tmp_path, taller)
    before = counts()
    # when
    job = _job(path, site_a)
    # then
    assert job.status == ImportStatus.FAILED
    assert "Level 4 of the building is taken by floor HAND-4" in job.message
    assert counts() == before
    with pytest.raises(ValidationError):
        services.model_import(
            path=path, site=site_a, options=services.ImportOptions(anchor=HEFEI), today=None
        )
