"""`manage.py run_billing --period YYYY-MM [--company CODE]`: post the month's bills.

Posts the regular bills of every period starting in the month, the turnover bills of the
reports in, and the meter bills of the month before (finance.billing). Idempotent: a
rerun posts nothing twice and says why it skipped. Run it monthly from cron, or again
after a failure.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from finance.billing import billing_run, parse_month
from spatial.models import Company


class Command(BaseCommand):
    help = "Post the bills of a month (regular, turnover, meter); a rerun adds nothing."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="the month, YYYY-MM")
        parser.add_argument("--company", help="a company code: bill its subtree only")
        parser.add_argument("--chunk", type=int, default=5000, help="leases per COPY batch")

    def handle(self, *args, period: str, company: str | None, chunk: int, **options):
        try:
            month = parse_month(period)
        except ValidationError as exc:
            raise CommandError(exc.message_dict["period"][0]) from exc
        scope = None
        if company:
            scope = Company.objects.filter(code=company).first()
            if scope is None:
                raise CommandError(f"No company with code {company!r}.")
        run = billing_run(month=month, company=scope, chunk=chunk)
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"Billing run {run.pk} for {month:%Y-%m}"
            + (f" ({scope.code})" if scope else "")
            + f": {run.leases} leases, {run.bills_posted} bills and {run.lines_posted} lines"
            f" posted, {run.amount_posted} yuan; {run.skipped} skipped in {seconds:.1f} s."
        )
        for kind, n in sorted(run.summary.get("posted_by_kind", {}).items()):
            self.stdout.write(f"  posted {kind}: {n}")
        for reason, n in sorted(run.summary.get("skipped_by_reason", {}).items()):
            self.stdout.write(f"  skipped ({reason}): {n}")
