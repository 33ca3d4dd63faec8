"""Message parsing and validation for the ingest worker: no database writes here.

Topics are `{root}/{company}/{device}/{kind}` with kind `position`, `telemetry` or `event`
(root `sam` unless configured). Every check that needs no device history is made here;
the speed check, which needs the device's previous fix, is made by `tracking.engine`
under the device's row lock. See docs/tracking.md for the payload schema.
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.db import connection

from tracking import conf
from tracking.choices import DeviceKind, DeviceStatus, RejectReason

KINDS = ("position", "telemetry", "event")
EPOCH_MS_ABOVE = 1e11  # a number above this is epoch milliseconds (year 5138 in seconds)
MIN_EPOCH, MAX_EPOCH = -62135596800.0, 253402300799.0  # years 1 to 9999, as datetime


@dataclass(slots=True)
class Raw:
    """A message as received: what is kept if it is rejected."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0
    gen: int = 0  # the MQTT connection it came on: acks go back on that one only


@dataclass(slots=True)
class DeviceInfo:
    id: int
    code: str
    company_id: int
    company_code: str
    company_path: str
    kind: str
    max_speed_kmh: float
    location: tuple[float, float] | None
    asset_id: int | None
    category_id: int | None


@dataclass(slots=True)
class Fix:
    """A position fix. `t` is epoch seconds on the microsecond grid (what PostgreSQL
    stores), so a repeated message compares equal to the stored state time."""

    device: DeviceInfo
    t: float
    lon: float
    lat: float
    speed: float | None
    heading: float | None
    accuracy: float | None
    raw: Raw
    run: bool | None = None

    @property
    def ts(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@dataclass(slots=True)
class Reading:
    device: DeviceInfo
    ts: datetime
    values: dict[str, Any]
    raw: Raw


@dataclass(slots=True)
class Event:
    device: DeviceInfo
    ts: datetime
    type: str
    data: dict[str, Any]
    raw: Raw


@dataclass(slots=True)
class Reject:
    raw: Raw
    reason: str
    detail: str = ""
    device_code: str = ""
    company_id: int | None = None


@dataclass
class Parsed:
    fixes: list[Fix] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


class Directory:
    """Devices by code, cached in the worker; reloaded when an unknown code shows up
    (at most every `miss_reload_seconds`), so a device added while it runs is found."""

    def __init__(self, miss_reload_seconds: float = 5.0):
        self.by_code: dict[str, DeviceInfo] = {}
        self.by_id: dict[int, DeviceInfo] = {}
        self.loaded_at = 0.0
        self.miss_reload_seconds = miss_reload_seconds

    def load(self, now: float) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT d.id, d.code, d.company_id, c.code, c.path, d.kind, d.max_speed_kmh,
                       ST_X(d.location), ST_Y(d.location), d.asset_id, a.category_id
                FROM tracking_device d
                JOIN spatial_company c ON c.id = d.company_id
                LEFT JOIN portfolio_asset a ON a.id = d.asset_id
                WHERE d.status = %s
                """,
                [DeviceStatus.ACTIVE],
            )
            rows = cursor.fetchall()
        by_code = {}
        for row in rows:
            info = DeviceInfo(
                id=row[0],
                code=row[1],
                company_id=row[2],
                company_code=row[3],
                company_path=row[4],
                kind=row[5],
                max_speed_kmh=float(row[6]),
                location=(row[7], row[8]) if row[7] is not None else None,
                asset_id=row[9],
                category_id=row[10],
            )
            by_code[info.code] = info
        self.by_code = by_code
        self.by_id = {d.id: d for d in by_code.values()}
        self.loaded_at = now

    def get(self, code: str, now: float) -> DeviceInfo | None:
        info = self.by_code.get(code)
        if info is None and now - self.loaded_at >= self.miss_reload_seconds:
            self.load(now)
            info = self.by_code.get(code)
        return info


def parse_epoch(value: Any) -> float:
    """Epoch seconds, rounded to the microsecond as PostgreSQL stores them, from epoch
    seconds, epoch milliseconds or ISO 8601 with offset. Floats rather than datetimes on
    the hot path: comparing and storing them is several times cheaper."""
    kind = type(value)
    if kind is float or kind is int:
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        seconds = value / 1000 if value > EPOCH_MS_ABOVE else value
        if not MIN_EPOCH <= seconds <= MAX_EPOCH:
            raise ValueError("out of the supported time range")
        return round(seconds * 1e6) / 1e6
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("an ISO time needs its UTC offset, e.g. +08:00")
        return round(parsed.timestamp() * 1e6) / 1e6
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    raise ValueError("give epoch seconds, epoch milliseconds or an ISO 8601 string")


def parse_ts(value: Any) -> datetime:
    """An aware UTC datetime from epoch seconds, epoch milliseconds or ISO 8601 with offset."""
    return datetime.fromtimestamp(parse_epoch(value), UTC)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _number(data: dict, name: str, required: bool) -> float | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _Missing(name)
        return None
    kind = type(value)
    if kind is float:
        if value - value != 0.0:  # inf or nan (orjson gives neither, but be safe)
            raise _BadValue(f"{name} must be a number")
        return value
    if kind is int:
        return float(value)
    raise _BadValue(f"{name} must be a number")


class _Missing(Exception):
    pass


class _BadValue(Exception):
    pass


class Parser:
    """Turns raw messages into fixes, readings, events and rejections."""

    def __init__(self, directory: Directory, root: str | None = None):
        self.directory = directory
        self.root = root or conf.topic_root()
        self.max_future_s = float(conf.max_future_seconds())
        self.max_age_s = timedelta(days=conf.max_age_days()).total_seconds()
        self.slack = conf.speed_slack()

    def parse(self, messages: list[Raw], now: datetime) -> Parsed:
        out = Parsed()
        clock = now.timestamp()
        one = self._one
        for raw in messages:
            one(raw, clock, out)
        return out

    def _one(self, raw: Raw, clock: float, out: Parsed) -> None:
        parts = raw.topic.split("/")
        if len(parts) != 4 or parts[0] != self.root or parts[3] not in KINDS:
            out.rejects.append(Reject(raw, RejectReason.BAD_TOPIC, raw.topic[:300]))
            return
        _, company_code, code, kind = parts
        device = self.directory.by_code.get(code) or self.directory.get(code, clock)
        if device is None:
            out.rejects.append(Reject(raw, RejectReason.UNKNOWN_DEVICE, code, device_code=code))
            return
        if device.company_code != company_code:
            out.rejects.append(_reject(raw, device, RejectReason.WRONG_COMPANY, company_code))
            return
        try:
            data = orjson.loads(raw.payload)
        except orjson.JSONDecodeError as exc:
            out.rejects.append(_reject(raw, device, RejectReason.MALFORMED_JSON, str(exc)))
            return
        if type(data) is not dict:
            out.rejects.append(
                _reject(raw, device, RejectReason.MALFORMED_JSON, "not a JSON object")
            )
            return
        if "ts" not in data:
            out.rejects.append(_reject(raw, device, RejectReason.MISSING_FIELD, "ts"))
            return
        try:
            t = parse_epoch(data["ts"])
        except (ValueError, OverflowError, OSError) as exc:
            out.rejects.append(_reject(raw, device, RejectReason.BAD_TIMESTAMP, str(exc)))
            return
        if t - clock > self.max_future_s:
            out.rejects.append(_reject(raw, device, RejectReason.FUTURE_TIMESTAMP, iso(t)))
            return
        if clock - t > self.max_age_s:
            out.rejects.append(_reject(raw, device, RejectReason.STALE_TIMESTAMP, iso(t)))
            return
        reject = _Rejector(raw, device)
        try:
            if kind == "position":
                self._position(device, t, data, raw, out, reject)
            elif kind == "telemetry":
                self._telemetry(device, _dt(t), data, raw, out, reject)
            else:
                self._event(device, _dt(t), data, raw, out, reject, clock)
        except _Missing as exc:
            out.rejects.append(reject(RejectReason.MISSING_FIELD, str(exc)))
        except _BadValue as exc:
            out.rejects.append(reject(RejectReason.BAD_VALUE, str(exc)))

    def _position(self, device, t, data, raw, out, reject) -> None:
        if device.kind in (DeviceKind.RFID_READER, DeviceKind.SENSOR, DeviceKind.RFID_TAG):
            out.rejects.append(reject(RejectReason.WRONG_KIND, f"{device.kind} sends no position"))
            return
        lat = _number(data, "lat", True)
        lon = _number(data, "lon", True)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
            out.rejects.append(reject(RejectReason.OUT_OF_RANGE, f"lon={lon} lat={lat}"))
            return
        speed = _number(data, "speed", False)
        if speed is not None and (speed < 0 or speed > device.max_speed_kmh * self.slack):
            out.rejects.append(reject(RejectReason.IMPOSSIBLE_SPEED, f"reported {speed} km/h"))
            return
        heading = _number(data, "heading", False)
        accuracy = _number(data, "accuracy", False)
        run = data.get("run")
        out.fixes.append(
            Fix(
                device,
                t,
                lon,
                lat,
                speed,
                heading,
                accuracy,
                raw,
                bool(run) if run is not None else None,
            )
        )

    def _telemetry(self, device, ts, data, raw, out, reject) -> None:
        values = data.get("values")
        if values is None:
            raise _Missing("values")
        if not isinstance(values, dict) or not values:
            raise _BadValue("values must be a non-empty object of metric: number")
        for name, value in values.items():
            ok = value is None or isinstance(value, bool | str)
            ok = ok or (isinstance(value, int | float) and math.isfinite(value))
            if not ok or len(name) > 40:
                raise _BadValue(f"values.{name[:40]} must be a number, boolean or text")
        out.readings.append(Reading(device, ts, values, raw))

    def _event(self, device, ts, data, raw, out, reject, clock) -> None:
        kind = data.get("type")
        if kind is None:
            raise _Missing("type")
        if not isinstance(kind, str) or not 0 < len(kind) <= 40:
            raise _BadValue("type must be text of at most 40 characters")
        if kind == "read":
            # A fixed reader read a tag: the tag (and its asset) is where the reader is.
            if device.kind != DeviceKind.RFID_READER or device.location is None:
                out.rejects.append(reject(RejectReason.WRONG_KIND, "only fixed readers read tags"))
                return
            tag_code = data.get("tag")
            if not isinstance(tag_code, str) or not tag_code:
                raise _Missing("tag")
            tag = self.directory.get(tag_code, clock)
            if tag is None or tag.company_path[: len(device.company_path)] != device.company_path:
                out.rejects.append(reject(RejectReason.UNKNOWN_TAG, tag_code[:64]))
                return
            lon, lat = device.location
            out.fixes.append(Fix(tag, ts.timestamp(), lon, lat, None, None, None, raw))
        extra = {k: v for k, v in data.items() if k not in ("ts", "type")}
        out.events.append(Event(device, ts, kind, extra, raw))


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _reject(raw: Raw, device: DeviceInfo, reason: str, detail: str = "") -> Reject:
    return Reject(raw, reason, detail[:300], device.code, device.company_id)


class _Rejector:
    def __init__(self, raw: Raw, device: DeviceInfo):
        self.raw, self.device = raw, device

    def __call__(self, reason: str, detail: str = "") -> Reject:
        return Reject(self.raw, reason, detail[:300], self.device.code, self.device.company_id)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres on a sphere of the WGS 84 mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))
