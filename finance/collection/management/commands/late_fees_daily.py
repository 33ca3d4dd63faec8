"""Daily late-fee job: `manage.py late_fees_daily [--date YYYY-MM-DD] [--post | --no-post]`.

Settles credit bills against what their tenants owe, then recomputes the late fee accrued
on every overdue bill through the date, and on the first of a month (or with --post) posts
what accrued since the last posting as late-fee bills, one per lease. Rerunning it on the
same date adds nothing.
"""

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from finance.collection import services


class Command(BaseCommand):
    help = "Accrue late fees on overdue bills; post them monthly (or with --post)."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=date.fromisoformat, default=None)
        post = parser.add_mutually_exclusive_group()
        post.add_argument("--post", dest="post", action="store_true", default=None)
        post.add_argument("--no-post", dest="post", action="store_false")

    def handle(self, *args, date: date | None, post: bool | None, **options):
        as_of = date or timezone.localdate()
        settled = services.credit_bills_settle(on=as_of)
        stats = services.late_fees_run(as_of=as_of, post=post)
        self.stdout.write(
            f"{as_of}: {settled} credit bills set against bills; late fees recomputed on "
            f"{stats['bills']} bills ({stats['accruing']} still accruing); "
            f"{stats.get('posted_bills', 0)} late-fee bills posted."
        )
