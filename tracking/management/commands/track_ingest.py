"""`manage.py track_ingest`: consume device messages from MQTT into the database.

Start several (each its own --client-id) to share the load on one MQTT v5 shared
subscription. SIGTERM or Ctrl-C stops after storing what was received.
"""

import logging
import signal
import socket

from django.conf import settings
from django.core.management.base import BaseCommand

from tracking import conf
from tracking.worker import Worker


class Command(BaseCommand):
    help = "Ingest device positions, telemetry and events from the MQTT broker."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.MQTT_URL, help="mqtt://host:port")
        parser.add_argument("--group", default="ingest", help="shared subscription group")
        parser.add_argument("--root", default=None, help="first topic level (default sam)")
        parser.add_argument(
            "--client-id",
            default=None,
            help="stable id: the broker keeps its session across restarts",
        )
        parser.add_argument(
            "--session-expiry",
            type=int,
            default=3600,
            help="seconds the broker keeps this worker's session (and its share of QoS 1 "
            "messages) after a disconnect; 0 for none",
        )
        parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--flush-ms", type=int, default=100)
        parser.add_argument(
            "--stats-seconds",
            type=float,
            default=0,
            help="print counts every N seconds (0: only at exit)",
        )

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        client_id = options["client_id"] or f"ingest-{socket.gethostname()}-{id(self) % 10000}"
        worker = Worker(
            url=options["url"],
            group=options["group"],
            root=options["root"] or conf.topic_root(),
            client_id=client_id,
            qos=options["qos"],
            batch_size=options["batch_size"],
            flush_ms=options["flush_ms"],
            session_expiry=options["session_expiry"],
        )
        signal.signal(signal.SIGTERM, lambda *_: worker.stop())
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
        if options["stats_seconds"]:
            self._report_every(worker, options["stats_seconds"])
        worker.run()
        t = worker.totals
        self.stdout.write(
            f"received={t.received} positions={t.positions} readings={t.readings} "
            f"events={t.events} duplicates={t.duplicates} rejected={t.rejected} "
            f"alerts={len(t.alerts_opened)} repeats={t.alerts_repeated}"
        )

    def _report_every(self, worker: Worker, seconds: float) -> None:
        import threading

        def loop():
            while not worker.stopping.wait(seconds):
                t = worker.totals
                self.stdout.write(
                    f"received={t.received} positions={t.positions} "
                    f"rejected={t.rejected} alerts={len(t.alerts_opened)}"
                )
                self.stdout.flush()

        threading.Thread(target=loop, daemon=True).start()
