"""The MQTT ingest worker: MQTT v5, one member of a shared subscription.

The network thread (paho-mqtt 2.x, `tracking.mqtt.PahoSubscriber`: a paho `Client`
subclass that reads the socket in 64 KiB chunks instead of three `recv()` calls per
packet) only appends messages to a list. The writer thread takes the list
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

from django.db import DatabaseError, InterfaceError, close_old_connections

from tracking import conf
from tracking.engine import BatchResult, Engine
from tracking.ingest import Raw
from tracking.mqtt import BrokerURL, PahoSubscriber

log = logging.getLogger("tracking.ingest")


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
        broker = BrokerURL.parse(url)
        self.host, self.port = broker.host, broker.port
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
        self.max_pending = batch_size * 4
        self.drained = threading.Event()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.totals = BatchResult()
        self.subscriber = PahoSubscriber(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            topic=self.topic,
            qos=qos,
            session_expiry=session_expiry,
            on_messages=self._on_messages,
            prepare=broker.prepare,
        )
        self.connected = self.subscriber.connected

    # -- network thread --------------------------------------------------------------------

    def _on_messages(self, messages: list[tuple], received_at: datetime, generation: int) -> None:
        raws = [
            Raw(topic, payload, received_at, packet_id, qos, generation)
            for topic, payload, qos, packet_id in messages
        ]
        with self.lock:
            self.pending += raws
            if len(self.pending) >= self.batch_size:
                self.wake.set()
            waiting = len(self.pending)
        # Back-pressure: past a few batches behind, stop reading the socket until the
        # writer catches up, so the broker holds (QoS 1) or drops (QoS 0) the excess
        # instead of this process buffering without bound.
        while waiting >= self.max_pending and not self.stopping.is_set():
            self.drained.wait(0.5)
            with self.lock:
                waiting = len(self.pending)

    # -- writer ----------------------------------------------------------------------------

    def _take(self) -> list[Raw]:
        with self.lock:
            batch, self.pending = self.pending, []
            self.wake.clear()
        self.drained.set()
        self.drained.clear()
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
        self._ack(batch)
        self._count(result)
        if self.on_batch is not None:
            self.on_batch(result)

    def _ack(self, batch: list[Raw]) -> None:
        """PUBACK the QoS 1 messages of `batch` (stored or kept as rejected by now)."""
        by_generation: dict[int, list[int]] = {}
        for raw in batch:
            if raw.qos:
                by_generation.setdefault(raw.gen, []).append(raw.mid)
        for generation, packet_ids in by_generation.items():
            self.subscriber.ack(packet_ids, generation)

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
        self.subscriber.start()
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
            self.subscriber.stop()
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
