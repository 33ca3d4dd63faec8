"""`manage.py tracking_rules_daily`: date-based rules and the asset health index.
Run once a day (cron); a second run the same day opens nothing new and replaces the day's
health scores."""

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from tracking.health import health_compute
from tracking.periodic import rules_daily


class Command(BaseCommand):
    help = "Certificate, lease, maintenance and net-book-value rules; asset health scores."

    def add_arguments(self, parser):
        parser.add_argument("--today", type=date.fromisoformat, default=None)

    def handle(self, *args, **options):
        today = options["today"] or timezone.localdate()
        now = timezone.now()
        opened = rules_daily(today=today, now=now)
        scored = health_compute(as_of=today, now=now)
        self.stdout.write(f"alerts opened={opened} health scores={scored}")
