"""Background jobs on Celery, with Redis (REDIS_URL) as the broker.

    celery -A web.celery worker --beat -l info      # what `make run` starts (var/jobs/)

Two kinds of work go through it:

- The periodic jobs a deployment would otherwise put in cron (`SCHEDULE`): the daily lease,
  late-fee, dunning and tracking rules, the tracking tick every minute, the e-invoice
  exchange every five minutes, the month's billing on the first, and a sweep of the IFC
  import queue. Each runs the management command of the same name (`command`), so cron, a
  person at a terminal and the beat scheduler run the same code; a command that may not be
  run this way is refused (`COMMANDS`), so a message on the broker cannot run `flush`.
- IFC uploads with `BIM_IMPORT_RUNNER=celery` (`ifc_import`): the web process sends the
  job's id after the upload commits, a worker anywhere runs it. The queue of record stays
  the `bim_ifcimport` table (bim/tasks.py): the task claims the job with SKIP LOCKED, so a
  message delivered twice runs the job once, and `ifc_sweep` sends the queued jobs again and
  requeues the stale ones, so a message lost with a broker restart only delays a job.

Tasks are acknowledged after they finish (`acks_late`), one at a time per worker process;
results are not kept (the jobs record their own outcome). Celery's Django fix-up closes
stale database connections around every task. The web process imports this module only
when it sends a task (`send`), so starting Django does not load Celery.
"""

import os
from io import StringIO

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")

app = Celery("geoasset")
app.config_from_object("django.conf:settings", namespace="CELERY")

#: The management commands the `command` task runs: the periodic jobs and nothing else.
COMMANDS = frozenset(
    {
        "leases_daily",
        "late_fees_daily",
        "dunning_daily",
        "tracking_tick",
        "tracking_rules_daily",
        "invoices_sync",
        "mqtt_sync",
    }
)

#: name → (task, arguments, when); times are Asia/Shanghai (CELERY_TIMEZONE).
SCHEDULE = {
    "leases-daily": ("geoasset.command", ["leases_daily"], crontab(hour=0, minute=30)),
    "late-fees-daily": ("geoasset.command", ["late_fees_daily"], crontab(hour=1, minute=0)),
    "dunning-daily": ("geoasset.command", ["dunning_daily"], crontab(hour=1, minute=30)),
    "tracking-rules-daily": (
        "geoasset.command",
        ["tracking_rules_daily"],
        crontab(hour=2, minute=0),
    ),
    "tracking-tick": ("geoasset.command", ["tracking_tick"], crontab()),
    "invoices-sync": ("geoasset.command", ["invoices_sync"], crontab(minute="*/5")),
    "billing-monthly": ("geoasset.billing_month", [], crontab(day_of_month=1, hour=3, minute=0)),
    "ifc-sweep": ("bim.ifc_sweep", [], crontab(minute="*/5")),
    "mqtt-sync": ("geoasset.command", ["mqtt_sync"], crontab(minute="*/10")),
}
app.conf.beat_schedule = {
    name: {"task": task, "args": args, "schedule": when}
    for name, (task, args, when) in SCHEDULE.items()
}


def _call(name: str, *args: str) -> str:
    """Run a management command here; the end of what it printed."""
    from django.core.management import call_command

    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()[-2000:]


@app.task(name="geoasset.command")
def command(name: str, *args: str) -> str:
    """Run one of the periodic management commands; the end of what it printed."""
    if name not in COMMANDS:
        raise ValueError(f"{name!r} is not a command background jobs may run")
    return _call(name, *args)


@app.task(name="geoasset.billing_month")
def billing_month() -> str:
    """Post this month's bills (`run_billing --period YYYY-MM`; a rerun posts nothing)."""
    from django.utils import timezone

    return _call("run_billing", "--period", timezone.localdate().strftime("%Y-%m"))


@app.task(name="bim.ifc_import")
def ifc_import(job_id: int) -> str | None:
    """Run one IFC import job (bim.tasks.run_job: claimed, run, its outcome recorded)."""
    from bim import tasks

    job = tasks.run_job(job_id)
    return job.status if job is not None else None


@app.task(name="bim.ifc_sweep")
def ifc_sweep() -> int:
    """Queue again the jobs whose runner died, and send every queued job to the workers."""
    from bim import tasks

    return tasks.sweep()


def send(task: str, *args) -> None:
    """Send a task by name to the workers (from the web process, which registers none), on
    the queue the settings name at the time (CELERY_QUEUE)."""
    from django.conf import settings

    app.send_task(task, args=list(args), queue=settings.CELERY_TASK_DEFAULT_QUEUE)
