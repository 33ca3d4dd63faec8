"""The import's short paths stay right: rows inserted in one batch are what save() would
store, with their history; a first import takes its ids and codes from one probe (and a
re-import takes none); the garbage collector is given back; the job writes its progress
only now and then; a job is claimed by one statement."""

import gc
import hashlib
import math
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bim import services
from bim.bulk import InsertBatch
from bim.choices import ImportStatus
from bim.models import BimModel, BimSpace, IfcImport
from bim.writer import Writer
from portfolio.models import Asset
from spatial.models import Building, Floor, Site, Unit
from tests.factories import BuildingFactory, FloorFactory, UnitFactory, unit_slot
from tests.test_bim_support import (
    HEFEI,
    Model,
    english,  # noqa: F401 - autouse
    hefei_site,
    run_import,
    sample,
)

HOM = "ExampleHOM_with_radiator.ifc"
SEQUENCES = {Building: "spatial_building", Floor: "spatial_floor", Unit: "spatial_unit",
             Asset: "portfolio_asset", BimModel: "bim_bimmodel"}  # fmt: skip


@pytest.fixture
def site_a(tree):
    return hefei_site(tree.sub_a)


def _last_ids() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t, (SELECT last_value FROM pg_sequences "
            "WHERE sequencename = split_part(pg_get_serial_sequence(t, 'id'), '.', 2)) "
            "FROM unnest(%s::text[]) AS t",
            [list(SEQUENCES.values())],
        )
        return dict(cursor.fetchall())


# -- InsertBatch --------------------------------------------------------------------------


def test_batched_unit_is_stored_as_save_stores_it_with_its_created_history(tree, manager_a):
    floor = FloorFactory(building__site__company=tree.sub_a)
    unit = Unit(
        code="BATCH-1", name="一室", number="101", floor=floor, building=floor.building,
        site=floor.building.site, company=floor.company, use="office", status="vacant",
        gross_area=Decimal("81.25"), usable_area=Decimal("70.10"),
        geom=unit_slot(floor.geom, 1).hexewkb.decode("ascii"), bim_global_id="2O2Fr$t4X7Zf8N",
    )  # fmt: skip
    before = timezone.now()
    batch = InsertBatch()
    batch.add(Unit, [unit], history=True, user=manager_a, reason="IFC import #1")
    assert unit.pk is not None and not Unit.objects.filter(pk=unit.pk).exists()  # queued
    batch.flush()

    stored = Unit.objects.get(pk=unit.pk)
    assert (stored.code, stored.number, stored.gross_area, stored.usable_area) == (
        "BATCH-1", "101", Decimal("81.25"), Decimal("70.10"),
    )  # fmt: skip
    assert stored.geom.equals_exact(GEOSGeometry(unit.__dict__["geom"]), 1e-12)
    assert stored.area_m2 > 0 and stored.created_at >= before
    assert not unit._state.adding
    [history] = Unit.history.filter(id=unit.pk)
    assert (history.history_type, history.history_user, history.history_change_reason) == (
        "+", manager_a, "IFC import #1",
    )  # fmt: skip
    assert (history.code, history.gross_area, history.created_at) == (
        stored.code, stored.gross_area, stored.created_at,
    )  # fmt: skip
    assert history.geom.equals_exact(stored.geom, 0)


def test_batch_of_several_tables_is_one_statement_in_any_order(tree):
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    model = BimModel(building=unit.building, schema="IFC4", length_unit="metre",
                     georef_method="anchor", frame={"origin": [1.5, 2.5]})  # fmt: skip
    model.pk = 9_000_001  # an id given beforehand is kept
    space = BimSpace(unit=unit, model=model, global_id="0aQYS_ILzBdxQD", geometry_area=12.5,
                     net_area=math.nan, gross_area=None)  # fmt: skip
    batch = InsertBatch()
    batch.add(BimSpace, [space], ids=False)  # refers to the model queued after it
    batch.add(BimModel, [model])
    assert not BimModel.objects.filter(pk=model.pk).exists()  # nothing was sent yet
    batch.flush()
    assert not batch

    stored = BimSpace.objects.select_related("model").get(unit=unit)
    assert stored.model.pk == 9_000_001 and stored.model.frame == {"origin": [1.5, 2.5]}
    assert stored.geometry_area == 12.5 and math.isnan(stored.net_area)
    assert stored.gross_area is None and space.pk is None  # its id was the column's own


def _building_and_twin(tree) -> tuple[Building, Building]:
    """A stored building and an unsaved one with its code (which the table refuses)."""
    building = BuildingFactory(site__company=tree.sub_a)
    twin = Building(code=building.code, name="重复", site=building.site, company=building.company,
                    geom=building.geom.hexewkb.decode("ascii"), use="office")  # fmt: skip
    return building, twin


def test_batch_raises_what_the_database_refuses(tree):
    building, twin = _building_and_twin(tree)
    batch = InsertBatch()
    batch.add(Building, [twin], history=True)
    with pytest.raises(IntegrityError, match="duplicate key"):
        batch.flush()


def _in_flight() -> bool:
    """Whether the connection has statements on their way (psycopg's pipeline mode)."""
    return connection.connection.pgconn.pipeline_status != 0


def _model_of(unit) -> BimModel:
    return BimModel(building=unit.building, schema="IFC4", length_unit="metre",
                    georef_method="anchor", frame={})  # fmt: skip


def test_sent_statements_are_on_their_way_until_waited_for(tree):
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    batch = InsertBatch()
    with batch.sending():
        cursor = batch.execute("SELECT count(*) FROM bim_bimmodel", [])
        batch.add(BimModel, [_model_of(unit)])
        batch.send()
        assert _in_flight() and not batch  # sent, not awaited
        batch.wait()
        assert not _in_flight()
        assert cursor.fetchone() == (0,)  # the answer was asked before the insert
    assert BimModel.objects.filter(building=unit.building).count() == 1


def test_a_query_made_meanwhile_sees_what_was_sent(tree):
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    model = _model_of(unit)
    batch = InsertBatch()
    with batch.sending():
        batch.add(BimModel, [model])
        batch.send()
        assert _in_flight()
        assert BimModel.objects.filter(pk=model.pk).exists()  # waited for it first
        assert not _in_flight()


def test_leaving_sending_sends_and_waits_for_what_is_queued(tree):
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    model = _model_of(unit)
    batch = InsertBatch()
    with batch.sending():
        batch.add(BimModel, [model])  # queued, never sent by hand
    assert not _in_flight() and not model._state.adding
    assert BimModel.objects.filter(pk=model.pk).exists()


def test_a_refused_statement_is_raised_as_djangos_error_when_waited_for(tree):
    building, twin = _building_and_twin(tree)
    batch = InsertBatch()
    with pytest.raises(IntegrityError, match="duplicate key"):
        with transaction.atomic(), batch.sending():
            batch.add(Building, [twin], history=True)
            batch.send()  # no error yet: on its way
            batch.wait()
    assert not _in_flight()
    assert Building.objects.filter(code=building.code).count() == 1  # the connection works


def test_a_refused_statement_surfaces_at_the_next_query_made_meanwhile(tree):
    building, twin = _building_and_twin(tree)
    batch = InsertBatch()
    with pytest.raises(IntegrityError, match="duplicate key"):
        with transaction.atomic(), batch.sending():
            batch.add(Building, [twin], history=True)
            batch.send()
            Building.objects.count()
    assert Building.objects.filter(code=building.code).count() == 1


def test_an_error_in_between_drops_what_is_on_its_way_and_keeps_its_own_reason(tree):
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    model = _model_of(unit)
    batch = InsertBatch()
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic(), batch.sending():
            batch.add(BimModel, [model])
            batch.send()
            1 / 0  # noqa: B018
    assert not _in_flight()
    assert not BimModel.objects.filter(pk=model.pk).exists()  # rolled back


# -- the import ---------------------------------------------------------------------------


def test_first_import_places_the_model_while_the_probe_is_on_its_way(site_a, monkeypatch):
    seen = []
    place = Writer._place

    def watched(self, *args):
        seen.append(_in_flight())
        return place(self, *args)

    monkeypatch.setattr(Writer, "_place", watched)
    report = run_import(sample(HOM), site_a, anchor=HEFEI)
    assert seen == [True]
    assert report["counts"]["units"]["added"] == 11 and not _in_flight()


def test_first_import_writes_each_row_with_one_created_history_row(site_a):
    report = run_import(sample(HOM), site_a, anchor=HEFEI)
    building = Building.objects.get(pk=report["building"]["id"])
    for model, rows in (
        (Building, Building.objects.filter(pk=building.pk)),
        (Floor, Floor.objects.filter(building=building)),
        (Unit, Unit.objects.filter(building=building)),
        (Asset, Asset.objects.filter(building=building)),
    ):
        ids = sorted(rows.values_list("pk", flat=True))
        created = model.history.filter(id__in=ids, history_type="+")
        assert sorted(created.values_list("id", flat=True)) == ids, model
    assert (Floor.objects.filter(building=building).count(), len(ids)) == (3, 1)
    assert BimSpace.objects.filter(model__building=building).count() == 11
    assert building.bim_model.schema == "IFC4"


def test_reimport_takes_no_ids_and_a_new_space_still_gets_its_history(tmp_path, site_a):
    run_import(sample(HOM), site_a, anchor=HEFEI)
    before = _last_ids()
    again = run_import(sample(HOM), site_a, anchor=HEFEI)
    assert again["counts"]["units"]["unchanged"] == 11
    assert _last_ids() == before  # a building that exists gets no ids allocated
    # a version with one more space: its unit gets an id of its own, and its history
    model = Model()
    model.add_space(model.storeys[0], "R1", (0, 0, 4, 3))
    run_import(model.write(tmp_path / "v1.ifc"), site_a, anchor=HEFEI)
    model.add_space(model.storeys[0], "R2", (5, 0, 9, 3))
    report = run_import(model.write(tmp_path / "v2.ifc"), site_a, anchor=HEFEI)
    [added] = [e for e in report["added"] if e["kind"] == "unit"]
    assert added["code"].endswith("-R2")
    assert Unit.history.filter(id=added["id"], history_type="+").count() == 1


def test_unit_code_taken_elsewhere_gets_a_suffix(site_a, tree):
    # the unit code a first import would give is taken by a unit of another building
    other = FloorFactory(building__site=site_a, building__company=tree.sub_a)
    UnitFactory(floor=other, code="HF-BIM-My-Building-F1-Living1")
    report = run_import(sample(HOM), site_a, anchor=HEFEI)
    codes = {e["name"]: e["code"] for e in report["added"] if e["kind"] == "unit"}
    assert codes["Living1"] == "HF-BIM-My-Building-F1-Living1-2"
    assert codes["Kitchen5"].startswith("HF-BIM-My-Building-F")


def test_building_code_taken_gives_its_floors_and_units_the_suffix_too(site_a):
    BuildingFactory(site=site_a, company=site_a.company, code="HF-BIM-My-Building")
    report = run_import(sample(HOM), site_a, anchor=HEFEI)
    assert report["building"]["code"] == "HF-BIM-My-Building-2"
    floors = Floor.objects.filter(building_id=report["building"]["id"])
    assert set(floors.values_list("code", flat=True)) == {
        f"HF-BIM-My-Building-2-F{n}" for n in (1, 2, 3)
    }
    units = Unit.objects.filter(building_id=report["building"]["id"])
    assert all(
        code.startswith("HF-BIM-My-Building-2-F") for code in units.values_list("code", flat=True)
    )


def test_building_code_given_and_taken_is_refused(site_a):
    BuildingFactory(site=site_a, company=site_a.company, code="BIM-TAKEN")
    with pytest.raises(ValidationError) as caught:
        run_import(sample(HOM), site_a, anchor=HEFEI, building_code="BIM-TAKEN")
    assert "building_code" in caught.value.message_dict
    assert not Building.objects.filter(bim_global_id__gt="").exists()


def test_garbage_collector_is_given_back_after_an_import_and_after_a_failure(tmp_path, site_a):
    frozen = gc.get_freeze_count()
    run_import(sample(HOM), site_a, anchor=HEFEI)
    assert gc.get_freeze_count() == frozen and gc.isenabled()
    model = Model()
    model.add_space(model.storeys[0], "R1", (0, 0, 4, 3))
    with pytest.raises(ValidationError, match="anchor"):
        run_import(model.write(tmp_path / "nowhere.ifc"), site_a)  # no location of its own
    assert gc.get_freeze_count() == frozen


# -- the job ------------------------------------------------------------------------------


def _queued(site) -> IfcImport:
    with sample(HOM).open("rb") as handle:
        return services.ifc_import_create(site=site, upload=File(handle, name=HOM), anchor=HEFEI)


def test_claim_is_one_statement_that_starts_the_job(site_a, django_assert_num_queries):
    job = _queued(site_a)
    now = timezone.now()
    with django_assert_num_queries(1):
        claimed = services.ifc_import_claim(job_id=job.pk, now=now)
    assert (claimed.pk, claimed.status, claimed.attempts, claimed.progress) == (
        job.pk, ImportStatus.RUNNING, 1, 0,
    )  # fmt: skip
    assert claimed.started_at == claimed.heartbeat_at == now
    assert claimed.file.name == job.file.name and claimed.site_id == site_a.pk
    assert services.ifc_import_claim(job_id=job.pk) is None  # running: not queued any more
    assert services.ifc_import_claim(job_id=job.pk + 1000) is None


def test_progress_is_written_at_most_twice_a_second_and_never_before_the_end(site_a, monkeypatch):
    job = services.ifc_import_claim(job_id=_queued(site_a).pk)
    clock = [1000.0]
    monkeypatch.setattr(services.time, "monotonic", lambda: clock[0])
    progress = services._Progress(job)

    def stored() -> tuple[int, str]:
        return IfcImport.objects.values_list("progress", "message").get(pk=job.pk)

    progress(10, "reading")  # right after the claim: nothing
    assert stored() == (0, "")
    clock[0] += 0.6
    progress(40, "geometry")
    assert stored() == (40, "geometry")
    clock[0] += 0.2
    progress(60, "more geometry")  # too soon
    assert stored() == (40, "geometry")
    clock[0] += 5
    progress(100, "done")  # the end is the job's outcome, written by ifc_import_run
    assert stored() == (40, "geometry")
    finished = services.ifc_import_run(job)
    assert (finished.status, stored()[0]) == (ImportStatus.SUCCEEDED, 100)


# -- the upload stored and the site locked -------------------------------------------------


def _stored_digest(job: IfcImport) -> str:
    with job.file.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_upload_in_memory_is_stored_and_hashed_in_one_read(site_a, monkeypatch):
    data = sample(HOM).read_bytes()
    hashed = []
    monkeypatch.setattr(services, "_digest", lambda handle: hashed.append(handle) or ("", 0))
    job = services.ifc_import_create(
        site=site_a, upload=SimpleUploadedFile(HOM, data), anchor=HEFEI
    )
    job.refresh_from_db()
    assert hashed == []  # no second read
    assert (job.size, job.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert _stored_digest(job) == job.sha256


def test_upload_spooled_to_disk_is_moved_and_hashed(site_a):
    data = sample(HOM).read_bytes()
    upload = TemporaryUploadedFile(HOM, "application/octet-stream", len(data), None)
    upload.write(data)
    upload.flush()
    spooled = Path(upload.temporary_file_path())
    job = services.ifc_import_create(site=site_a, upload=upload, anchor=HEFEI)
    job.refresh_from_db()
    assert (job.size, job.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert not spooled.exists()  # moved into the storage, not copied
    assert _stored_digest(job) == job.sha256
    upload.close()  # as Django closes a request's uploads


class _WholeReadStorage(FileSystemStorage):
    """A storage that reads the content whole (as object stores' clients do), not in
    chunks."""

    def _save(self, name, content):
        return super()._save(name, ContentFile(content.read()))


def test_upload_to_a_storage_that_reads_it_whole_is_still_hashed(site_a, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}._WholeReadStorage",
                    "OPTIONS": {"location": str(settings.MEDIA_ROOT)}},
    }  # fmt: skip
    data = sample(HOM).read_bytes()
    job = services.ifc_import_create(
        site=site_a, upload=SimpleUploadedFile(HOM, data), anchor=HEFEI
    )
    assert isinstance(job.file.storage._wrapped, _WholeReadStorage)
    job.refresh_from_db()
    assert (job.size, job.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_site_is_read_with_its_company_in_one_locking_statement(tree, django_assert_num_queries):
    site = hefei_site(tree.sub_a)
    with transaction.atomic():
        with django_assert_num_queries(1):
            locked = services._site_locked(site.pk)
            assert locked.company.path == tree.sub_a.path  # read with it, no query
        assert (locked.pk, locked.code, locked.company_id) == (site.pk, site.code, tree.sub_a.pk)
        assert locked.get_deferred_fields() == {"geom"}
        # another connection cannot lock the row while the import holds it
        with psycopg.connect(**_connection_params()) as other:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute(
                    "SELECT 1 FROM spatial_site WHERE id = %s FOR UPDATE NOWAIT", [site.pk]
                )


def _connection_params() -> dict:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return params


def test_import_into_a_site_that_does_not_exist_names_the_site_and_writes_nothing(site_a):
    missing = Site(pk=site_a.pk + 1000)
    with pytest.raises(ValidationError) as raised:
        services.model_import(
            path=sample(HOM), site=missing, options=services.ImportOptions(anchor=HEFEI),
            today=timezone.localdate(),
        )  # fmt: skip
    assert list(raised.value.message_dict) == ["site"]
    assert not Building.objects.exists()
