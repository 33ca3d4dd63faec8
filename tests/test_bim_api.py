"""The BIM API: uploads that run as background jobs (anonymous, wrong company, allowed), the
job's status and report, the workers that run them, and floor plans in building metres."""

import time
from datetime import timedelta

import ifcopenshell
import ifcopenshell.geom
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from bim import services, tasks
from bim.choices import ImportStatus
from bim.ifc.geometry import GEOMETRY_LIBRARY, geometry_settings
from bim.models import IfcImport
from portfolio.models import Asset
from spatial.models import Floor, Unit
from tests.factories import UnitFactory
from tests.test_bim_support import (
    HEFEI,
    counts,
    english,  # noqa: F401 - autouse
    hefei_site,
    importer_and_site,
    run_import,
    sample,
)

HOM = "ExampleHOM_with_radiator.ifc"
URL = "/api/bim/imports/"


@pytest.fixture
def site_a(tree):
    return hefei_site(tree.sub_a)


@pytest.fixture
def workers(settings):
    """Jobs wait for a worker instead of starting a thread in the web process."""
    settings.BIM_IMPORT_RUNNER = "worker"


def _upload(name: str = HOM, content: bytes | None = None) -> SimpleUploadedFile:
    data = content if content is not None else sample(name).read_bytes()
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def _post(client, site, **fields):
    data = {"file": _upload(), "site": site.pk, "anchor_lon": HEFEI[0], "anchor_lat": HEFEI[1]}
    data.update(fields)
    # English messages, as the asserts below read them.
    return client.post(URL, data, format="multipart", headers={"Accept-Language": "en"})


# -- uploads -------------------------------------------------------------------------------------


def test_anonymous_upload_is_refused(api, site_a):
    response = _post(api(), site_a)
    assert response.status_code in (401, 403)
    assert IfcImport.objects.count() == 0


@pytest.mark.parametrize("user", ["readonly_a", "agent_a"])
def test_upload_by_a_role_that_may_not_add_is_forbidden(api, site_a, request, user):
    response = _post(api(request.getfixturevalue(user)), site_a)
    assert response.status_code == 403
    assert IfcImport.objects.count() == 0


def test_upload_into_another_companys_site_is_refused(api, site_a, manager_b, workers):
    response = _post(api(manager_b), site_a)
    assert response.status_code == 400
    assert "site" in response.json()
    assert IfcImport.objects.count() == 0


def test_upload_queues_a_job_that_a_worker_runs_to_the_end(
    api, site_a, manager_a, workers, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(api(manager_a), site_a, rotation=20)
    # then: accepted, queued, with where to follow it
    assert response.status_code == 202
    body = response.json()
    job = IfcImport.objects.get()
    assert body["id"] == job.pk
    assert body["url"] == f"http://testserver{URL}{job.pk}/"
    assert response["Location"] == f"{URL}{job.pk}/"
    assert (body["status"], body["progress"]) == ("queued", 0)
    assert len(callbacks) == 1
    assert (job.company_id, job.created_by, job.rotation_deg) == (
        site_a.company_id,
        manager_a,
        20.0,
    )
    assert job.sha256 and job.size == sample(HOM).stat().st_size
    # when: a worker runs what is queued
    call_command("run_ifc_worker", "--once")
    # then
    detail = api(manager_a).get(f"{URL}{job.pk}/").json()
    assert (detail["status"], detail["progress"]) == ("succeeded", 100)
    assert detail["report"]["counts"]["units"]["added"] == 11
    assert detail["building_code"] == detail["report"]["building"]["code"]
    assert detail["created_by"] == "manager_a"
    assert Unit.objects.filter(company=site_a.company).count() == 11
    # each row has its history: created, by whom, why
    created = Unit.history.filter(history_type="+")
    assert created.count() == 11
    assert set(created.values_list("history_user", "history_change_reason")) == {
        (manager_a.pk, f"IFC import #{job.pk}")
    }
    assert Asset.history.filter(history_type="+", history_user=manager_a).count() == 1


def test_bad_file_upload_is_a_400_naming_the_file_and_stores_nothing(api, site_a, manager_a):
    before = counts()
    response = _post(api(manager_a), site_a, file=_upload("notes.ifc", b"just some text\n"))
    assert response.status_code == 400
    assert "Not an IFC file" in response.json()["file"][0]
    assert IfcImport.objects.count() == 0 and counts() == before


def test_half_an_anchor_is_a_400(api, site_a, manager_a):
    response = _post(api(manager_a), site_a, anchor_lat="")
    assert response.status_code == 400
    assert list(response.json()) == ["anchor_lat"]


def test_unknown_crs_is_a_400(api, site_a, manager_a):
    response = _post(api(manager_a), site_a, crs="EPSG:999999")
    assert response.status_code == 400
    assert "crs" in response.json()


def test_job_of_another_company_is_not_found(api, site_a, manager_a, manager_b, workers):
    _post(api(manager_a), site_a)
    job = IfcImport.objects.get()
    assert api(manager_b).get(f"{URL}{job.pk}/").status_code == 404
    assert api(manager_b).get(URL).json()["count"] == 0
    assert api(manager_a).get(URL).json()["count"] == 1


def test_import_list_takes_a_constant_number_of_queries(
    api, site_a, manager_a, workers, django_assert_num_queries
):
    for _ in range(3):
        _post(api(manager_a), site_a)
    client = api(manager_a)
    client.get(URL)  # the user's companies are cached on the user from here on
    with django_assert_num_queries(2):  # count, page
        response = client.get(URL)
    assert response.json()["count"] == 3


def test_failed_job_reports_why(api, site_a, manager_a, workers):
    # a model without a location, uploaded without an anchor
    response = _post(api(manager_a), site_a, anchor_lon="", anchor_lat="")
    assert response.status_code == 202
    tasks.work(once=True)
    detail = api(manager_a).get(response.json()["url"]).json()
    assert detail["status"] == "failed"
    assert "--anchor LON,LAT" in detail["message"]  # the job's message, in the default language
    assert Unit.objects.count() == 0


# -- runners ---------------------------------------------------------------------------------------


def test_claimed_job_is_not_claimed_twice_and_the_oldest_goes_first(site_a, workers):
    with sample(HOM).open("rb") as handle:
        first = services.ifc_import_create(site=site_a, upload=_upload())
        second = services.ifc_import_create(site=site_a, upload=_upload())
    assert services.ifc_import_claim().pk == first.pk
    assert services.ifc_import_claim(job_id=first.pk) is None
    assert services.ifc_import_claim().pk == second.pk
    assert services.ifc_import_claim() is None
    del handle


def test_stale_running_job_is_queued_again_then_given_up(site_a):
    job = services.ifc_import_create(site=site_a, upload=_upload())
    job = services.ifc_import_claim(job_id=job.pk)
    old = timezone.now() - timedelta(hours=1)
    IfcImport.objects.filter(pk=job.pk).update(heartbeat_at=old)
    assert services.ifc_imports_requeue_stale(older_than=timedelta(minutes=15)) == 1
    assert IfcImport.objects.get(pk=job.pk).status == ImportStatus.QUEUED
    IfcImport.objects.filter(pk=job.pk).update(status="running", attempts=3, heartbeat_at=old)
    assert services.ifc_imports_requeue_stale(older_than=timedelta(minutes=15)) == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "gave up" in job.message


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_upload_runs_in_a_thread_of_the_web_process_after_commit(api, settings):
    # given: committed data the thread's own connection can see
    settings.BIM_IMPORT_RUNNER = "thread"
    user, site = importer_and_site("BIM-TH", "线程测试公司")
    # when
    response = _post(api(user), site)
    assert response.status_code == 202
    job_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = IfcImport.objects.get(pk=job_id)
        if job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
            break
        time.sleep(0.2)
    # then
    assert job.status == ImportStatus.SUCCEEDED, job.message
    assert (job.progress, job.attempts) == (100, 1)
    assert Unit.objects.filter(building=job.building).count() == 11


# -- floor plans -----------------------------------------------------------------------------------


def _ifc_bounds(name: str) -> dict[str, tuple[float, float, float, float]]:
    """Each space's XY bounds in the model's own metres, straight from IfcOpenShell."""
    ifc_file = ifcopenshell.open(str(sample(name)))
    iterator = ifcopenshell.geom.iterator(
        geometry_settings(), ifc_file, 1, include=ifc_file.by_type("IfcSpace"),
        geometry_library=GEOMETRY_LIBRARY,
    )  # fmt: skip
    bounds = {}
    assert iterator.initialize()
    while True:
        shape = iterator.get()
        xy = np.array(shape.geometry.verts).reshape(-1, 3)[:, :2]
        bounds[shape.guid] = (*xy.min(axis=0), *xy.max(axis=0))
        if not iterator.next():
            break
    return bounds


def _plan_bounds(feature) -> tuple[float, float, float, float]:
    ring = np.array(feature["geometry"]["coordinates"][0])
    return (*ring.min(axis=0), *ring.max(axis=0))


def test_floor_plan_is_in_the_models_own_metres(api, site_a, manager_a):
    # given: a model placed at an anchor, turned 30°
    run_import(sample(HOM), site_a, anchor=HEFEI, rotation_deg=30.0)
    floor = Floor.objects.get(name="GroundFloor")
    # when
    response = api(manager_a).get(f"/api/bim/floors/{floor.pk}/plan/")
    # then
    assert response.status_code == 200
    plan = response.json()
    assert plan["type"] == "FeatureCollection" and plan["units"] == "metre"
    assert plan["floor"]["level"] == 1
    assert plan["transform"]["method"] == "anchor"
    assert plan["transform"]["rotation_deg"] == -30.0
    outline, *units = plan["features"]
    assert outline["properties"] == {"kind": "floor", "id": floor.pk, "code": floor.code}
    assert len(units) == 5
    expected = _ifc_bounds(HOM)
    for feature in units:
        props = feature["properties"]
        assert set(props) >= {"id", "code", "name", "number", "use", "status", "gross_area"}
        assert _plan_bounds(feature) == pytest.approx(expected[props["bim_global_id"]], abs=0.002)
    hobby = next(f for f in units if f["properties"]["name"] == "Hobby2")
    assert hobby["properties"]["gross_area"] == "12.94"
    assert hobby["properties"]["geometry_area"] == pytest.approx(12.94, abs=0.01)
    # and on the map, the same units
    on_map = api(manager_a).get(f"/api/units/?floor={floor.pk}").json()
    assert {f["id"] for f in on_map["features"]} == {f["id"] for f in units}


def test_floor_plan_of_a_drawn_building_is_north_up_metres_around_it(api, tree, manager_a):
    unit = UnitFactory(floor__building__site__company=tree.sub_a)
    response = api(manager_a).get(f"/api/bim/floors/{unit.floor_id}/plan/")
    assert response.status_code == 200
    plan = response.json()
    assert plan["transform"]["method"] == "local"
    [feature] = [f for f in plan["features"] if f["properties"]["kind"] == "unit"]
    xmin, ymin, xmax, ymax = _plan_bounds(feature)
    assert (xmax - xmin, ymax - ymin) == (pytest.approx(9, abs=0.01), pytest.approx(9, abs=0.01))


def test_floor_plan_is_scoped(api, site_a, manager_a, manager_b, readonly_a):
    run_import(sample(HOM), site_a, anchor=HEFEI)
    floor = Floor.objects.get(name="GroundFloor")
    url = f"/api/bim/floors/{floor.pk}/plan/"
    assert api().get(url).status_code in (401, 403)
    assert api(manager_b).get(url).status_code == 404
    assert api(readonly_a).get(url).status_code == 200
    assert api(manager_a).get("/api/bim/floors/999999/plan/").status_code == 404


def test_floor_plan_takes_a_constant_number_of_queries(
    api, site_a, manager_a, django_assert_num_queries
):
    run_import(sample(HOM), site_a, anchor=HEFEI)
    client = api(manager_a)
    client.get(f"/api/bim/floors/{Floor.objects.first().pk}/plan/")  # companies cached
    for name in ("GroundFloor", "attic"):  # five units, then one
        floor = Floor.objects.get(name=name)
        with django_assert_num_queries(3):  # floor, frame, units
            assert client.get(f"/api/bim/floors/{floor.pk}/plan/").status_code == 200


def test_upload_page_lists_sites_the_user_may_import_into(client, site_a, manager_a, readonly_a):
    client.force_login(manager_a)
    page = client.get("/bim/imports/")
    assert page.status_code == 200
    assert site_a.code in page.content.decode()
    client.force_login(readonly_a)
    assert site_a.code not in client.get("/bim/imports/").content.decode()
