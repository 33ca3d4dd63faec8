"""Background jobs on Celery (web/celery.py) with the real Redis and a real worker process:
the beat schedule names commands that exist and parse, the command task refuses others, and an
IFC upload with BIM_IMPORT_RUNNER=celery is run to the end by a worker."""

import os
import subprocess
import sys
import time
import uuid

import pytest
import redis
from django.conf import settings
from django.core.management import get_commands, load_command_class

from bim.choices import ImportStatus
from bim.models import IfcImport
from spatial.models import Unit
from tests import tracking_support
from tests.test_bim_api import _post
from tests.test_bim_support import importer_and_site
from tests.tracking_support import ROOT
from web import celery


def test_every_scheduled_command_exists_and_its_arguments_parse():
    commands = get_commands()
    for name, (task, args, _when) in celery.SCHEDULE.items():
        assert task in celery.app.tasks, name
        if task == "geoasset.command":
            command, *rest = args
            assert command in celery.COMMANDS, name
            instance = load_command_class(commands[command], command)
            parser = instance.create_parser("manage.py", command)
            parser.parse_args(rest)  # exits (SystemExit) on arguments the command does not take


def test_the_schedule_is_what_a_deployment_would_put_in_cron():
    schedule = celery.app.conf.beat_schedule
    assert schedule["tracking-tick"]["schedule"].minute == set(range(60))
    assert schedule["leases-daily"]["schedule"].hour == {0}
    assert schedule["billing-monthly"]["schedule"].day_of_month == {1}
    assert str(celery.app.conf.timezone) == settings.TIME_ZONE


@pytest.mark.parametrize("name", ["flush", "createsuperuser", "loaddata", "no_such_command"])
def test_the_command_task_runs_only_the_periodic_commands(name):
    with pytest.raises(ValueError, match="background jobs may run"):
        celery.command(name)


@pytest.mark.django_db
def test_the_command_task_runs_a_periodic_command():
    # when: run in this process, as a worker would
    out = celery.command("leases_daily")
    # then
    assert isinstance(out, str)


class CeleryWorker:
    """`celery -A web.celery worker` in a child process against the test database, on a
    queue of its own so that nothing else (a `make run` worker) takes its tasks."""

    def __init__(self, queue: str):
        env = {
            **os.environ,
            "DATABASE_URL": tracking_support.test_database_url(),
            "CELERY_QUEUE": queue,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # where this test's uploads are stored
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "web.celery", "worker", "--pool", "solo",
            "--queues", queue, "--without-heartbeat", "--without-gossip", "--without-mingle",
            "--loglevel", "info",
        ]  # fmt: skip
        self.log = open(ROOT / "var" / f"test-celery-{queue}.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        out = self.output()
        self.log.close()
        os.unlink(self.log.name)
        return out


@pytest.fixture
def queue(settings):
    """A queue of this test's own, for the sender (this process) and the worker alike."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    yield name
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(name)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_upload_with_the_celery_runner_is_run_by_a_worker(api, settings, queue):
    # given: committed data the worker's own connection can see
    settings.BIM_IMPORT_RUNNER = "celery"
    user, site = importer_and_site("BIM-CQ", "任务队列测试公司")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # when: the upload commits, its job's id goes to Redis ...
    response = _post(api(user), site)
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert broker.llen(queue) == 1
    assert IfcImport.objects.get(pk=job_id).status == ImportStatus.QUEUED
    # ... and a worker started afterwards takes it from there
    worker = CeleryWorker(queue)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = IfcImport.objects.get(pk=job_id)
            if job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
                break
            if worker.process.poll() is not None:
                break
            time.sleep(0.3)
    finally:
        output = worker.stop()
    # then
    assert job.status == ImportStatus.SUCCEEDED, (job.message, output)
    assert (job.progress, job.attempts) == (100, 1)
    assert Unit.objects.filter(building=job.building).count() == 11
    assert "bim.ifc_import" in output
    assert broker.llen(queue) == 0  # acknowledged


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sweep_sends_queued_jobs_again_and_a_repeated_message_runs_once(api, settings, queue):
    # given: a job queued while no message reached the workers (say, Redis restarted)
    from bim import tasks

    settings.BIM_IMPORT_RUNNER = "worker"  # the upload sends nothing
    user, site = importer_and_site("BIM-SW", "补发测试公司")
    response = _post(api(user), site)
    job_id = response.json()["id"]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert broker.llen(queue) == 0
    # when: the sweep runs twice (two messages for one job) and a worker drains the queue
    assert tasks.sweep() == 1
    assert tasks.sweep() == 1
    assert broker.llen(queue) == 2
    worker = CeleryWorker(queue)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and broker.llen(queue):
            time.sleep(0.3)
        while time.monotonic() < deadline:
            job = IfcImport.objects.get(pk=job_id)
            if job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
                break
            time.sleep(0.3)
        time.sleep(1)  # the second message's task finishes (finding nothing to claim)
    finally:
        output = worker.stop()
    # then: the job ran once
    assert job.status == ImportStatus.SUCCEEDED, (job.message, output)
    assert IfcImport.objects.get(pk=job_id).attempts == 1
    assert output.count("bim.ifc_import") >= 2
    assert Unit.objects.filter(building=job.building).count() == 11
