"""Daily lease job: `manage.py leases_daily [--as-of YYYY-MM-DD]`.

Activates approved leases whose start date has come, expires active leases whose last day
has passed, brings unit statuses in step, and moves the stored rent per m² of
current lease lines to the rent in force (steps, escalation). Run it once a day from cron.
"""

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from leasing import services


class Command(BaseCommand):
    help = "Activate approved leases that have started and expire leases that have ended."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=date.fromisoformat, default=None)

    def handle(self, *args, as_of: date | None, **options):
        today = as_of or timezone.localdate()
        activated = services.leases_activate_due(today=today)
        expired = services.leases_expire_due(today=today)
        rents = services.leases_rents_refresh(today=today)
        self.stdout.write(
            f"{today}: {activated} leases activated, {expired} expired, "
            f"{rents} lease lines' rent per m² brought to today's steps and escalation."
        )
