"""Helpers for the tracking tests: a real ingest worker process and an MQTT publisher."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tracking.mqtt import BrokerURL

ROOT = Path(__file__).resolve().parent.parent


def unique_root() -> str:
    """A topic root of its own per test, so parallel runs and a simulator do not mix."""
    return f"t{uuid.uuid4().hex[:10]}"


def test_database_url() -> str:
    """DATABASE_URL naming the test database this test runs against."""
    db = settings.DATABASES["default"]
    user, password = db["USER"], db["PASSWORD"]
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgis://{auth}{db['HOST']}:{db['PORT']}/{db['NAME']}"


class WorkerProcess:
    """`manage.py track_ingest` in a child process against the test database."""

    def __init__(self, root: str, client_id: str, group: str = "ingest", flush_ms: int = 50):
        env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable,
            str(ROOT / "manage.py"),
            "track_ingest",
            "--root",
            root,
            "--group",
            group,
            "--client-id",
            client_id,
            "--flush-ms",
            str(flush_ms),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            self.stop()
            raise RuntimeError("worker did not subscribe:\n" + "".join(self.lines))

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if "subscribed to" in line:
                self.ready.set()

    def stop(self) -> str:
        """SIGTERM (the worker stores what it has, then exits); its output."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        time.sleep(0.1)
        return "".join(self.lines)


class Publisher:
    def __init__(self, root: str, company: str):
        self.root, self.company = root, company
        broker = BrokerURL.parse(settings.MQTT_GATEWAY_URL)
        self.client = broker.client()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, device: str, kind: str, payload, qos: int = 1) -> None:
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        info = self.client.publish(f"{self.root}/{self.company}/{device}/{kind}", body, qos=qos)
        info.wait_for_publish(10)

    def raw(self, topic: str, body: str | bytes, qos: int = 1) -> None:
        self.client.publish(topic, body, qos=qos).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(query: str, params: list, expected, timeout: float = 20.0):
    """Poll `query` (one value) until it equals `expected`; the last value seen."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            value = cursor.fetchone()[0]
        if value == expected:
            return value
        time.sleep(0.1)
    return value


@pytest.fixture(autouse=True)
def clean_history(django_db_blocker):
    """Empty the partitioned history tables: they are not Django-managed, so the test
    database's flush between transactional tests does not reach them."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_position, tracking_telemetry")
    yield
