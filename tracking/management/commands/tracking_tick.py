"""`manage.py tracking_tick`: offline and idle rules, and history partitions ahead of time.
Run it every minute or few (cron); it is idempotent."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from tracking.periodic import rules_tick
from tracking.services import partitions_ensure


class Command(BaseCommand):
    help = "Evaluate offline and idle rules; create the next months' history partitions."

    def handle(self, *args, **options):
        now = timezone.now()
        created = partitions_ensure(start=timezone.localdate(), months=3)
        opened = rules_tick(now=now)
        self.stdout.write(f"partitions created={created} alerts opened={opened}")
