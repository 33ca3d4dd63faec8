"""`manage.py mqtt_sync`: make the broker's device accounts match the devices (see
tracking/broker.py). Idempotent; on the job schedule every ten minutes."""

from django.core.management.base import BaseCommand, CommandError

from tracking import broker
from tracking.models import Device


class Command(BaseCommand):
    help = "Make the broker's device accounts (code and token) match the platform's devices."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="make every account anew (disconnects every device), not only those that differ",
        )

    def handle(self, *args, **options):
        if not broker.enabled():
            self.stdout.write("MQTT_ADMIN_URL is not set: the broker's accounts are left alone.")
            return
        devices = Device.objects.only("code", "name", "status", "token")
        try:
            counts = broker.sync(devices, rebuild=options["rebuild"])
        except broker.BrokerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            "device accounts={accounts} made={made} removed={removed}".format(**counts)
        )
