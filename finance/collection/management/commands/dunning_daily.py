"""Daily dunning job: `manage.py dunning_daily [--date YYYY-MM-DD]`.

Sends each tenant in arrears the notice of the highest dunning level it has reached (once
per level and arrears episode), opens collection cases for escalations and legal reviews,
and re-rates every tenant's credit from its payment history. Rerunning it on the same date
sends nothing twice.
"""

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from finance.collection import services


class Command(BaseCommand):
    help = "Send dunning notices, open collection cases, refresh tenants' credit ratings."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=date.fromisoformat, default=None)

    def handle(self, *args, date: date | None, **options):
        as_of = date or timezone.localdate()
        notices = services.dunning_run(as_of=as_of)
        cases = sum(1 for n in notices if hasattr(n, "case"))
        rerated = services.tenants_credit_refresh(as_of=as_of)
        self.stdout.write(
            f"{as_of}: {len(notices)} dunning notices, {cases} collection cases opened, "
            f"{rerated} credit ratings changed."
        )
