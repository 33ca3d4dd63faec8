"""The MQTT ingest worker: paho-mqtt 2.x, MQTT v5, one member of a shared subscription.

The network thread only appends messages to a list. The writer thread takes the list
every `flush_ms` milliseconds (or sooner once `batch_size` are waiting), hands it to the
engine (one transaction) and then acknowledges the QoS 1 messages (manual acks), so a
message is acknowledged only once it is stored. The client id and a session expiry keep
the broker's session across a restart: QoS 1 messages published meanwhile wait for it.
"""

import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from django.db import DatabaseError, InterfaceError, close_old_connections
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tracking import conf
from tracking.engine import BatchResult, Engine
from tracking.ingest import Raw

log = logging.getLogger("tracking.ingest")


def broker_address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", ""):
        raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r}")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


class Worker:
    def __init__(
        self,
        *,
        url: str,
        group: str = "ingest",
        root: str | None = None,
        client_id: str | None = None,
        qos: int = 1,
        batch_size: int = 5000,
        flush_ms: int = 100,
        session_expiry: int = 3600,
        on_batch=None,
    ):
        self.host, self.port = broker_address(url)
        self.root = root or conf.topic_root()
        self.topic = f"$share/{group}/{self.root}/+/+/+"
        self.client_id = client_id or f"ingest-{uuid.uuid4().hex[:8]}"
        self.qos = qos
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.session_expiry = session_expiry
        self.on_batch = on_batch
        self.engine = Engine(root=self.root)
        self.pending: list[Raw] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.totals = BatchResult()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    # -- network thread --------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # Logged on the broker's SUBACK, not when SUBSCRIBE is queued: from here on no
        # message for the subscription can be missed.
        if any(code.is_failure for code in reason_codes):
            log.error("broker refused the subscription to %s: %s", self.topic, reason_codes)
            return
        log.info("subscribed to %s as %s", self.topic, self.client_id)
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        raw = Raw(message.topic, message.payload, datetime.now(UTC), message.mid, message.qos)
        with self.lock:
            self.pending.append(raw)
            if len(self.pending) >= self.batch_size:
                self.wake.set()

    # -- writer ----------------------------------------------------------------------------

    def _take(self) -> list[Raw]:
        with self.lock:
            batch, self.pending = self.pending, []
            self.wake.clear()
        return batch

    def _flush(self, batch: list[Raw]) -> None:
        if not batch:
            return
        while True:
            try:
                result = self.engine.process(batch, datetime.now(UTC))
                break
            except (DatabaseError, InterfaceError) as exc:
                # The database is unreachable or the batch broke a constraint: retry after a
                # pause if it is the connection, else keep every message as rejected.
                close_old_connections()
                if isinstance(exc, InterfaceError) or "connection" in str(exc).lower():
                    log.warning("database unavailable (%s); retrying the batch", exc)
                    time.sleep(1)
                    continue
                log.exception("batch failed; processing its messages one by one")
                result = self._one_by_one(batch)
                break
            except Exception:  # noqa: BLE001 - a bug in one message must not stop the worker
                close_old_connections()
                log.exception("batch failed; processing its messages one by one")
                result = self._one_by_one(batch)
                break
        for raw in batch:
            if raw.qos:
                self.client.ack(raw.mid, raw.qos)
        self._count(result)
        if self.on_batch is not None:
            self.on_batch(result)

    def _one_by_one(self, batch: list[Raw]) -> BatchResult:
        total = BatchResult()
        for raw in batch:
            try:
                one = self.engine.process([raw], datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - keep the message, with the error, and go on
                close_old_connections()
                log.exception("message on %s could not be processed", raw.topic)
                self.engine.reject_all([raw], datetime.now(UTC), f"{type(exc).__name__}: {exc}")
                one = BatchResult(received=1, rejected=1)
            _add(total, one)
        return total

    def _count(self, result: BatchResult) -> None:
        _add(self.totals, result)

    def _writer(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(self.flush_s)
            self._flush(self._take())
        self._flush(self._take())

    # -- lifecycle -------------------------------------------------------------------------

    def run(self, ready: threading.Event | None = None) -> None:
        """Connect, consume until `stop()`, then flush what is waiting and disconnect."""
        self.engine.refresh(time.time(), force=True)
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = self.session_expiry
        connect.ReceiveMaximum = 65535
        self.client.connect(
            self.host, self.port, keepalive=30, clean_start=False, properties=connect
        )
        self.client.loop_start()
        writer = threading.Thread(target=self._writer, name="tracking-writer", daemon=True)
        writer.start()
        if ready is not None:
            self.connected.wait(10)
            ready.set()
        try:
            while not self.stopping.is_set():
                self.stopping.wait(0.5)
        finally:
            writer.join()
            self.client.disconnect()
            self.client.loop_stop()
            close_old_connections()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


def _add(total: BatchResult, one: BatchResult) -> None:
    total.received += one.received
    total.positions += one.positions
    total.readings += one.readings
    total.events += one.events
    total.duplicates += one.duplicates
    total.rejected += one.rejected
    total.alerts_opened += one.alerts_opened
    total.alerts_repeated += one.alerts_repeated
