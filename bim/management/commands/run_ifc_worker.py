"""`manage.py run_ifc_worker`: run queued IFC imports, as many workers as wanted, anywhere."""

import logging

from django.core.management.base import BaseCommand, CommandParser

from bim import tasks


class Command(BaseCommand):
    help = (
        "Run queued IFC imports. Workers claim jobs with SELECT … FOR UPDATE SKIP LOCKED, so "
        "several can run side by side; jobs whose runner died are queued again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="run what is queued, then exit (for cron)"
        )
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
        parser.add_argument("--max-jobs", type=int, default=None, help="exit after N jobs")

    def handle(self, *args, **options) -> None:
        logging.getLogger("bim").setLevel(logging.INFO)
        done = tasks.work(
            once=options["once"], poll_seconds=options["poll"], max_jobs=options["max_jobs"]
        )
        self.stdout.write(f"Ran {done} IFC import(s).")
