"""Running import jobs in the background.

The queue is the `bim_ifcimport` table itself: a job is a row in status "queued", taken by
whoever claims it first with SELECT … FOR UPDATE SKIP LOCKED (bim.services.ifc_import_claim).
Two runners use it, and may run side by side:

- a thread of the web process, started when the upload's transaction commits
  (`BIM_IMPORT_RUNNER = "thread"`, the default: one machine needs nothing else);
- `manage.py run_ifc_worker`, a process that polls the table (`BIM_IMPORT_RUNNER = "worker"`
  stops the web process from starting threads; run as many workers as wanted, anywhere);
- Celery workers (`BIM_IMPORT_RUNNER = "celery"`): the web process sends the job's id to
  Redis after the upload commits (web/celery.py), a worker runs `run_job` with it, and the
  beat's `ifc_sweep` (`sweep` here) sends queued jobs again.

A runner that dies leaves its job "running" without heartbeats; workers put such jobs back
in the queue (`BIM_IMPORT_STALE_SECONDS`, default 15 minutes), at most three times.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from bim import services
from bim.choices import ImportStatus
from bim.models import IfcImport

log = logging.getLogger(__name__)


def runner() -> str:
    return getattr(settings, "BIM_IMPORT_RUNNER", "thread")


def stale_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "BIM_IMPORT_STALE_SECONDS", 900)))


def import_kick(job_id: int) -> threading.Thread | None:
    """After the upload commits: run the job in a thread of this process, or send it to
    the Celery workers, or leave it to `run_ifc_worker` processes (BIM_IMPORT_RUNNER)."""
    if runner() == "celery":
        from web import celery

        celery.send("bim.ifc_import", job_id)
        return None
    if runner() != "thread":
        return None
    thread = threading.Thread(
        target=run_job, args=(job_id,), name=f"ifc-import-{job_id}", daemon=True
    )
    thread.start()
    return thread


def run_job(job_id: int | None = None) -> IfcImport | None:
    """Claim one queued job (this one, or the oldest) and run it; None if none was free.

    The boundary of a background runner: whatever goes wrong, the job ends failed with the
    reason and the runner lives on."""
    job = None
    try:
        job = services.ifc_import_claim(job_id=job_id)
        if job is None:
            return None
        log.info("IFC import %s: %s into %s", job.pk, job.original_name, job.site_id)
        job = services.ifc_import_run(job)
        log.info("IFC import %s %s: %s", job.pk, job.status, job.message)
        return job
    except Exception as exc:  # noqa: BLE001 - a runner must record the failure, not die
        log.exception("IFC import %s failed unexpectedly", job.pk if job else job_id)
        if job is not None:
            IfcImport.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED,
                progress=100,
                message=f"Internal error: {exc.__class__.__name__}: {exc}",
                finished_at=timezone.now(),
            )
        return job
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def sweep() -> int:
    """For the Celery runner: queue again the jobs whose runner died, and send every queued
    job to the workers (a message lost with a broker restart only delays its job; one sent
    twice runs once, since `run_job` claims with SKIP LOCKED). Returns how many were sent."""
    from web import celery

    services.ifc_imports_requeue_stale(older_than=stale_after())
    queued = list(
        IfcImport.objects.filter(status=ImportStatus.QUEUED)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    for job_id in queued:
        celery.send("bim.ifc_import", job_id)
    return len(queued)


def work(*, once: bool = False, poll_seconds: float = 2.0, max_jobs: int | None = None) -> int:
    """The worker loop: requeue stale jobs, run queued ones, sleep when there are none.
    Returns the number of jobs run (with `once`, after the queue is empty)."""
    done = 0
    while max_jobs is None or done < max_jobs:
        if not connection.in_atomic_block:  # (a test's transaction must stay open)
            close_old_connections()
        services.ifc_imports_requeue_stale(older_than=stale_after())
        job = run_job()
        if job is not None:
            done += 1
            continue
        if once:
            break
        time.sleep(poll_seconds)
    return done
