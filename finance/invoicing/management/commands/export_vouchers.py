"""`manage.py export_vouchers --period YYYY-MM [--format csv|json] [--company CODE]
[--generate] [--output FILE]`: the month's vouchers for the ERP.

With `--generate`, vouchers are first made for the month's bills and receipts that have
none (idempotent). Without `--output` the export goes to standard output.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from finance.invoicing import services
from finance.invoicing.models import Voucher
from spatial.models import Company


class Command(BaseCommand):
    help = "Export the vouchers of one month as CSV or JSON (optionally generating them first)."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--format", choices=("csv", "json"), default="csv")
        parser.add_argument("--company", help="company code (with the companies below it)")
        parser.add_argument("--generate", action="store_true")
        parser.add_argument("--output", type=Path)

    def handle(self, *args, period: str, format: str, company: str | None, generate: bool,
               output: Path | None, **options):  # fmt: skip
        try:
            start, end = services.period_bounds(period)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        companies = None
        if company:
            root = Company.objects.filter(code=company).first()
            if root is None:
                raise CommandError(f"No company with code {company}.")
            companies = list(
                Company.objects.filter(path__startswith=root.path).values_list("pk", flat=True)
            )
        if generate:
            made = services.vouchers_generate(start=start, end=end, companies=companies)
            self.stderr.write(f"{len(made)} vouchers generated.")
        vouchers = Voucher.objects.filter(date__gte=start, date__lt=end)
        if companies is not None:
            vouchers = vouchers.filter(company__in=companies)
        text, _content_type = services.vouchers_export(vouchers.order_by("date", "number"),
                                                       fmt=format)  # fmt: skip
        if output:
            output.write_text(text, encoding="utf-8")
            self.stderr.write(f"{vouchers.count()} vouchers written to {output}.")
        else:
            self.stdout.write(text, ending="")
