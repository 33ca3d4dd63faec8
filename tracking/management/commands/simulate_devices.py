"""`manage.py simulate_devices`: publish realistic device traffic to the MQTT broker."""

import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from spatial.models import Company
from tracking import conf
from tracking.mqtt import BrokerURL
from tracking.simulate import devices_ensure, payload


class Command(BaseCommand):
    help = "Publish simulated vehicles, equipment and sensors (creates the devices if missing)."

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="company code")
        parser.add_argument("--devices", type=int, default=100)
        parser.add_argument("--rate", type=float, default=100, help="messages per second")
        parser.add_argument("--duration", type=float, default=60, help="seconds")
        parser.add_argument(
            "--url", default=settings.MQTT_GATEWAY_URL, help="a gateway's account: mqtt://…"
        )
        parser.add_argument("--qos", type=int, choices=(0, 1), default=0)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        try:
            company = Company.objects.get(code=options["company"])
        except Company.DoesNotExist as exc:
            raise CommandError(f"No company with code {options['company']!r}") from exc
        if options["devices"] < 1 or options["rate"] <= 0:
            raise CommandError("--devices and --rate must be positive")
        sims = devices_ensure(company, options["devices"], options["seed"])
        rng = random.Random(options["seed"])  # noqa: S311 - simulated traffic, not secrets
        broker = BrokerURL.parse(options["url"])
        client = broker.client()
        client.connect(broker.host, broker.port)
        client.loop_start()
        root, interval = conf.topic_root(), 1 / options["rate"]
        # Each device reports every len(sims) / rate seconds: its step is that long.
        dt = len(sims) / options["rate"]
        start, sent = time.time(), 0
        try:
            while time.time() - start < options["duration"]:
                sim = sims[sent % len(sims)]
                kind, body = sim.step(rng, time.time(), dt)
                topic = f"{root}/{company.code}/{sim.code}/{kind}"
                client.publish(topic, payload(body), qos=options["qos"])
                sent += 1
                delay = start + sent * interval - time.time()
                if delay > 0:
                    time.sleep(delay)
        except KeyboardInterrupt:
            pass
        finally:
            client.loop_stop()
            client.disconnect()
        self.stdout.write(f"published {sent} messages for {len(sims)} devices")
