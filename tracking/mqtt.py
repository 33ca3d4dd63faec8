"""The ingest worker's MQTT client (paho-mqtt 2.x with buffered reads), and MQTT 5 packet
encoders for load generators and tests.

The worker receives with paho-mqtt (`PahoSubscriber`), through `BufferedClient`, a
subclass that reads the socket in 64 KiB chunks and skips paho's per-message objects for
plain PUBLISH packets: with paho's own read path the worker spent about as much CPU on
MQTT as on validating and storing at 10,000 messages per second. Devices, tests and
`simulate_devices` publish with paho; the benchmark's raw publisher writes the packets
encoded here straight to a socket.
"""

import logging
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("tracking.ingest")


@dataclass(frozen=True)
class BrokerURL:
    """`mqtt://[user:password@]host[:port]`, or `mqtts://…` for TLS: where a broker is and
    the account to sign in with (percent-escaped in the URL). Over TLS the broker's
    certificate is checked against the CA file named by `?ca=/path` in the URL, else
    `MQTT_CA_FILE` in the environment, else the system's CAs."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> "BrokerURL":
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "tcp", "mqtts", ""):
            raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r}")
        tls = parsed.scheme == "mqtts"
        ca = parse_qs(parsed.query).get("ca", [None])[0] or os.environ.get("MQTT_CA_FILE")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (8883 if tls else 1883),
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            tls=tls,
            ca_file=(ca or None) if tls else None,
        )

    def client(self, **kwargs) -> paho.Client:
        """A paho-mqtt MQTT 5 client (not connected), set up by `prepare`."""
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, **kwargs)
        self.prepare(client)
        return client

    def prepare(self, client: paho.Client) -> None:
        """Sign in with the URL's account; over TLS, check the broker's certificate."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file)


# -- packet encoders (load generators, tests) -------------------------------------------------


def varint(n: int) -> bytes:
    """MQTT variable byte integer."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def connect_packet(
    client_id: str,
    keepalive: int,
    clean_start: bool,
    session_expiry: int,
    receive_maximum: int,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    props = (
        b"\x11" + struct.pack("!I", session_expiry) + b"\x21" + struct.pack("!H", receive_maximum)
    )
    flags = 0x02 if clean_start else 0x00
    login = b""
    if username is not None:
        flags |= 0x80
        login += _text(username)
        if password is not None:
            flags |= 0x40
            login += _text(password)
    header = _text("MQTT") + bytes((5, flags))
    header += struct.pack("!H", keepalive) + varint(len(props)) + props
    return _packet(0x10, header + _text(client_id) + login)


def publish_packet(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0) -> bytes:
    """One PUBLISH (MQTT 5, no properties): for load generators that pre-encode traffic."""
    body = _text(topic) + (struct.pack("!H", packet_id) if qos else b"") + b"\x00" + payload
    return _packet(0x30 | (qos << 1), body)


# -- the worker's client: paho-mqtt 2.x with buffered reads ------------------------------------

# paho-mqtt's private methods that `BufferedClient` overrides or relies on; pinned with
# paho-mqtt==2.1.0 in pyproject.toml and checked by tests/test_tracking_fastpath.py.
PAHO_INTERNALS = (
    "_sock_recv",
    "_packet_read",
    "_handle_publish",
    "_in_packet",
    "_protocol",
    "_manual_ack",
)


class BufferedClient(paho.Client):
    """`paho.mqtt.client.Client` reading the socket in 64 KiB chunks instead of per packet.

    paho's `_packet_read` takes one packet per call with three `_sock_recv` calls (command
    byte, remaining length, body), and its `loop_read` reads one packet per `select()`
    round: at 10,000 messages per second that is ~30,000 `recv()` and 10,000 `select()`
    system calls a second. Here:

    - `_sock_recv(n)` serves `n` bytes from a buffer, filled by one `recv(READ_SIZE)` on
      the real socket when it is empty;
    - `loop_read` allows one such `recv()` per call and keeps handing packets to paho while
      the buffer holds bytes: `select()` cannot see bytes already in our buffer, so none
      may be left there when `loop_read` returns. A packet cut by the end of the chunk is
      kept by paho in its partial-packet state: the second refill attempt in the same call
      raises `BlockingIOError` (paho's "no data yet"), and the next `select()` round
      continues it. So each round costs one `select()` and one `recv()` for up to 64 KiB
      of packets, the buffer is always empty between rounds, and writes (PUBACKs, PINGREQ)
      still get their turn every round.

    - `_handle_publish`: if `on_publish_fields(topic, payload, qos, packet_id)` is set, a
      QoS 0 or 1 PUBLISH without properties (what devices send) is handed to it directly.
      paho builds an `MQTTMessage` (with a `threading.Condition`) and a `Properties`
      object (which walks all 27 MQTT 5 property names) per message: 40-50 µs of CPU per
      message on the benchmark box, against 7-9 µs for the whole read with this. A PUBLISH
      with properties, at QoS 2, or not parseable here goes to paho's `_handle_publish`
      and `on_message` as usual.

    Everything else (framing, CONNECT, SUBSCRIBE, manual acks, keepalive, TLS, reconnects)
    is paho's own. `on_read()`, if set, is called after each round, so the caller can hand
    on what it collected in one step instead of per message.
    """

    READ_SIZE = 64 * 1024

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rbuf = b""  # bytes received but not yet handed to paho ...
        self._rpos = 0  # ... from this offset
        self._may_refill = True
        self.on_read = None
        self.on_publish_fields = None

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos >= len(buf):
            if not self._may_refill:
                raise BlockingIOError  # paho: keep the partial packet, wait for select()
            self._may_refill = False
            buf = super()._sock_recv(self.READ_SIZE)  # raises as paho expects
            if len(buf) <= bufsize:  # all of it asked for (or b"": connection closed)
                self._rbuf, self._rpos = b"", 0
                return buf
            pos = 0
            self._rbuf = buf
        self._rpos = pos + bufsize
        return buf[pos : pos + bufsize]

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        self._may_refill = True
        try:
            rc = super().loop_read(max_packets)
            # complete packets left in the buffer: select() will not signal them
            while rc == paho.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
                if self._sock is None:  # the broker sent DISCONNECT
                    break
                rc = super().loop_read(max_packets)
        finally:
            self._may_refill = True
        if self.on_read is not None:
            self.on_read()
        return rc

    def _handle_publish(self) -> paho.MQTTErrorCode:
        command, body = self._in_packet["command"], self._in_packet["packet"]
        qos = (command >> 1) & 3
        deliver = self.on_publish_fields
        if deliver is None or qos == 2 or self._protocol != paho.MQTTv5:
            return super()._handle_publish()
        if qos and not self._manual_ack:  # paho would PUBACK at once: leave it to paho
            return super()._handle_publish()
        try:
            # topic (2-byte length + UTF-8), packet id if QoS 1, properties length
            end = 2 + ((body[0] << 8) | body[1])
            topic = body[2:end].decode()
            packet_id = 0
            if qos:
                packet_id = (body[end] << 8) | body[end + 1]
                end += 2
            if body[end] != 0:  # properties: let paho parse them
                return super()._handle_publish()
        except (IndexError, UnicodeDecodeError):
            return super()._handle_publish()
        deliver(topic, bytes(body[end + 1 :]), qos, packet_id)
        return paho.MQTT_ERR_SUCCESS  # manual_ack: the PUBACK is sent by ack()

    def reconnect(self) -> paho.MQTTErrorCode:
        # bytes of the previous connection must not be read as the new one's
        self._rbuf, self._rpos = b"", 0
        return super().reconnect()


class PahoSubscriber:
    """The worker's MQTT side on paho-mqtt 2.x (`BufferedClient`): MQTT v5, clean start
    off with a session expiry, one (shared) subscription, manual QoS 1 acks.

    `on_messages(list of (topic, payload, qos, packet_id), received_at, generation)` is
    called on paho's network thread once per read round; `generation` counts connections
    so acks of a previous connection are not sent on the next one (the broker redelivers
    those itself)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        topic: str,
        qos: int,
        session_expiry: int,
        on_messages: Callable,
        keepalive: int = 30,
        receive_maximum: int = 65535,
        prepare: Callable[[paho.Client], None] | None = None,
    ):
        self.host, self.port = host, port
        self.client_id, self.topic, self.qos = client_id, topic, qos
        self.session_expiry, self.keepalive = session_expiry, keepalive
        self.receive_maximum = receive_maximum
        self.on_messages = on_messages
        self.generation = 0
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self._incoming: list[tuple] = []
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,  # PUBACK only from `ack()`, after the batch is stored
        )
        if prepare is not None:  # the account, TLS (BrokerURL.prepare)
            prepare(client)
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish_fields = self._on_publish_fields
        client.on_read = self._on_read
        self.client = client

    # -- public ------------------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(
            self.host, self.port, keepalive=self.keepalive, clean_start=False, properties=props
        )
        self.client.loop_start()  # connects (and reconnects) on paho's thread

    def ack(self, packet_ids: list[int], generation: int) -> None:
        """Acknowledge QoS 1 messages received on connection `generation` (if still up)."""
        if generation != self.generation:
            return
        ack = self.client.ack
        for packet_id in packet_ids:
            ack(packet_id, 1)

    def stop(self) -> None:
        """Disconnect normally; the broker keeps the session for `session_expiry`."""
        self.stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho's network thread ---------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.generation += 1
        self._incoming = []
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # Logged on the broker's SUBACK: from here on no message for the subscription
        # can be missed (tests and the benchmark wait for this line).
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
        try:
            topic = message.topic
        except UnicodeDecodeError:  # kept, and rejected as bad_topic by the engine
            topic = message._topic.decode("utf-8", "replace")
        self._incoming.append((topic, message.payload, message.qos, message.mid))

    def _on_publish_fields(self, topic: str, payload: bytes, qos: int, packet_id: int) -> None:
        self._incoming.append((topic, payload, qos, packet_id))

    def _on_read(self) -> None:
        if self._incoming:
            batch, self._incoming = self._incoming, []
            self.on_messages(batch, datetime.now(UTC), self.generation)
