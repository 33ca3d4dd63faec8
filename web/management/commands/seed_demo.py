"""Load the demo portfolio: `manage.py seed_demo --scale demo|10k|100k [--if-empty|--reset]`."""

from django.core.management.base import BaseCommand, CommandError

from web import demo


class Command(BaseCommand):
    help = (
        "Load a deterministic demo portfolio of the fictional group 庐州城投 in Hefei: sites, "
        "buildings, floors, units, roads, parks, parcels and assets."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            choices=list(demo.SCALES),
            default="demo",
            help="demo: about 3,000 units; 10k and 100k: at least that many units.",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the database already holds companies or sites.",
        )
        mode.add_argument(
            "--reset",
            action="store_true",
            help="First empty all spatial and portfolio tables (asset categories stay; rows "
            "of other apps that refer to them go too; run demo_users again afterwards).",
        )

    def handle(self, *args, scale: str, if_empty: bool, reset: bool, **options):
        if not reset and demo.demo_data_exists():
            if if_empty:
                self.stdout.write(
                    "Demo data not loaded: the database already holds companies or sites."
                )
                return
            raise CommandError(
                "The database already holds companies or sites; use --reset to replace them "
                "or --if-empty to skip."
            )
        result = demo.demo_seed(scale=scale, reset=reset)
        self.stdout.write(self.style.SUCCESS(result.summary()))
