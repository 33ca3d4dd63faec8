"""`manage.py invoices_sync [--no-submit] [--no-import]`: the tax platform round trip.

Submits every draft invoice request (blue and red) to the configured tax platform in one
batch, then imports the results it has (issued numbers and dates, failures). Run it from
cron every few minutes, or by hand after dropping result files into the inbox.
"""

from django.core.management.base import BaseCommand

from finance.invoicing import conf, services


class Command(BaseCommand):
    help = "Submit draft invoice requests to the tax platform and import its results."

    def add_arguments(self, parser):
        parser.add_argument("--no-submit", action="store_true", help="only import results")
        parser.add_argument("--no-import", action="store_true", help="only submit drafts")

    def handle(self, *args, no_submit: bool, no_import: bool, **options):
        platform = conf.tax_platform()
        if not no_submit:
            submitted = services.invoice_requests_submit(platform=platform)
            self.stdout.write(f"{len(submitted)} requests submitted.")
        if not no_import:
            result = services.invoice_results_import(platform=platform)
            self.stdout.write(
                f"{result['files']} result files read: {result['issued']} issued, "
                f"{result['failed']} failed."
            )
            for source, messages in result["errors"].items():
                self.stderr.write(f"{source}: {'; '.join(messages)}")
