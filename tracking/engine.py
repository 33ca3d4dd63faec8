"""The ingest engine: one batch of messages in one transaction.

Why per-device state stays correct whichever worker gets a message:

1. Every batch locks the `DeviceState` rows of the devices it touches with
   `SELECT … FOR UPDATE`, in device-id order (so two workers never deadlock). Two workers
   holding messages of one device therefore take turns; the second sees what the first
   wrote.
2. State only moves forward: a fix advances the state (position, debounce counters,
   inside-set) only if its time is later than the state's. A fix that arrives late, or
   at another worker after a newer one, goes into the history but cannot move the device
   back or fire a transition twice. The UPDATE repeats the guard (`u.ts >= s.ts`).
3. History rows have the primary key (device, ts) and are written with
   `ON CONFLICT DO NOTHING`: a message delivered twice (QoS 1 redelivery after a worker
   died before acknowledging) is stored once and, being no newer than the state, changes
   nothing.
4. Messages are acknowledged to the broker only after the transaction commits, so a
   worker that dies loses nothing: the broker redelivers, and (3) makes that harmless.
"""

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.db import connection, transaction
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.json import Jsonb, JsonbLoader

from tracking import conf, webhooks
from tracking.choices import FENCE_RULES, TELEMETRY_RULES, RejectReason
from tracking.ingest import Directory, Fix, Parsed, Parser, Raw, Reject, haversine_m
from tracking.rules import RuleBook, Trigger, fence_step, telemetry_step

log = logging.getLogger("tracking.ingest")


@dataclass
class BatchResult:
    received: int = 0
    positions: int = 0
    readings: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    alerts_opened: list[int] = field(default_factory=list)
    alerts_repeated: int = 0


@dataclass(slots=True)
class _State:
    ts: datetime | None
    lon: float | None
    lat: float | None
    inside: list[int]
    rules: dict
    telemetry: dict
    telemetry_ts: datetime | None
    moved_at: datetime | None
    run_at: datetime | None
    speed: float | None = None
    heading: float | None = None
    changed: bool = False


def _json(value) -> dict:
    """Django's psycopg setup hands jsonb back as text; plain dicts here."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value or {}


def _cursor() -> psycopg.Cursor:
    """A cursor on Django's connection (so inside its transaction) that binds parameters
    on the server and loads jsonb and timestamps natively: the bulk statements below send
    arrays of thousands of values, which Django's client-side binding would format as text
    in Python."""
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    cursor.adapters.register_loader("jsonb", JsonbLoader)
    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
    return cursor


class Engine:
    """Holds the device directory and rule book of one worker and processes batches."""

    def __init__(self, root: str | None = None, refresh_seconds: float = 2.0):
        self.directory = Directory()
        self.parser = Parser(self.directory, root)
        self.book: RuleBook | None = None
        self.refresh_seconds = refresh_seconds
        self._checked_at = 0.0

    def refresh(self, now: float, force: bool = False) -> None:
        """Reload the devices and the rules when they changed (checked every few seconds)."""
        if self.book is None or force:
            self.directory.load(now)
            self.book = RuleBook.load()
            self._checked_at = now
            return
        if now - self._checked_at >= self.refresh_seconds:
            self._checked_at = now
            if RuleBook.current_version() != self.book.version:
                self.book = RuleBook.load()
                self.directory.load(now)

    def process(self, messages: list[Raw], now: datetime) -> BatchResult:
        """Validate, store and evaluate `messages`; one transaction; never raises for bad
        input (bad messages become RejectedMessage rows)."""
        self.refresh(now.timestamp())
        parsed = self.parser.parse(messages, now)
        result = BatchResult(received=len(messages))
        with transaction.atomic():
            triggers = self._store(parsed, now, result)
            self._alerts(triggers, now, result)
            self._rejects(parsed.rejects, now)
        result.rejected = len(parsed.rejects)
        return result

    def reject_all(self, messages: list[Raw], now: datetime, detail: str) -> None:
        """Keep messages that could not be processed at all, with the reason."""
        rejects = [Reject(m, RejectReason.INTERNAL, detail[:300]) for m in messages]
        with transaction.atomic():
            self._rejects(rejects, now)

    # -- storing ---------------------------------------------------------------------------

    def _store(self, parsed: Parsed, now: datetime, result: BatchResult) -> list[Trigger]:
        device_ids = sorted(
            {f.device.id for f in parsed.fixes} | {r.device.id for r in parsed.readings}
        )
        states = self._lock_states(device_ids)
        fixes_by_device: dict[int, list[Fix]] = defaultdict(list)
        for fix in parsed.fixes:
            fixes_by_device[fix.device.id].append(fix)

        slack = conf.speed_slack()
        accepted: list[Fix] = []
        advancing: list[Fix] = []
        for device_id, fixes in fixes_by_device.items():
            fixes.sort(key=lambda f: f.ts)
            state = states[device_id]
            last_ts, last_lon, last_lat = state.ts, state.lon, state.lat
            for fix in fixes:
                if last_ts is not None and fix.ts <= last_ts:
                    accepted.append(fix)  # late or repeated: history only
                    continue
                if last_ts is not None and last_lon is not None:
                    seconds = (fix.ts - last_ts).total_seconds()
                    metres = haversine_m(last_lon, last_lat, fix.lon, fix.lat)
                    limit = fix.device.max_speed_kmh * slack / 3.6
                    # A GNSS fix wanders by tens of metres: allow that much at any speed.
                    if metres > 100 and metres > limit * seconds:
                        parsed.rejects.append(
                            Reject(
                                fix.raw,
                                RejectReason.IMPOSSIBLE_SPEED,
                                f"{metres:.0f} m in {seconds:.0f} s",
                                fix.device.code,
                                fix.device.company_id,
                            )
                        )
                        continue
                accepted.append(fix)
                advancing.append(fix)
                last_ts, last_lon, last_lat = fix.ts, fix.lon, fix.lat

        result.positions, dup_pos = self._insert_positions(accepted, now)
        result.readings, dup_tel = self._insert_readings(parsed.readings, now)
        result.events = self._insert_events(parsed, now)
        result.duplicates = dup_pos + dup_tel

        triggers = self._evaluate(advancing, parsed, states)
        self._write_states(states, now)
        return triggers

    def _lock_states(self, device_ids: list[int]) -> dict[int, _State]:
        if not device_ids:
            return {}
        with _cursor() as cursor:
            cursor.execute(
                "INSERT INTO tracking_devicestate (device_id, inside, rules, telemetry, online)"
                " SELECT id, '{}'::bigint[], '{}'::jsonb, '{}'::jsonb, false"
                " FROM unnest(%b::bigint[]) AS id"
                " ORDER BY id ON CONFLICT DO NOTHING",
                [device_ids],
            )
            cursor.execute(
                "SELECT device_id, ts, ST_X(geom), ST_Y(geom), inside, rules, telemetry,"
                " telemetry_ts, moved_at, run_at, speed, heading FROM tracking_devicestate"
                " WHERE device_id = ANY(%b) ORDER BY device_id FOR UPDATE",
                [device_ids],
            )
            return {
                row[0]: _State(
                    row[1],
                    row[2],
                    row[3],
                    list(row[4] or []),
                    _json(row[5]),
                    _json(row[6]),
                    row[7],
                    row[8],
                    row[9],
                    row[10],
                    row[11],
                )
                for row in cursor.fetchall()
            }

    def _insert_positions(self, fixes: list[Fix], now: datetime) -> tuple[int, int]:
        if not fixes:
            return 0, 0
        with _cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tracking_position
                    (device_id, ts, geom, speed, heading, accuracy, received_at)
                SELECT d, t, ST_SetSRID(ST_MakePoint(x, y), 4326), s, h, a, r
                FROM unnest(%b::bigint[], %b::timestamptz[], %b::float8[], %b::float8[],
                            %b::float8[], %b::float8[], %b::float8[], %b::timestamptz[])
                     AS u(d, t, x, y, s, h, a, r)
                ON CONFLICT DO NOTHING
                """,
                [
                    [f.device.id for f in fixes],
                    [f.ts for f in fixes],
                    [f.lon for f in fixes],
                    [f.lat for f in fixes],
                    [f.speed for f in fixes],
                    [f.heading for f in fixes],
                    [f.accuracy for f in fixes],
                    [f.raw.received_at for f in fixes],
                ],
            )
            stored = cursor.rowcount
        return stored, len(fixes) - stored

    def _insert_readings(self, readings, now: datetime) -> tuple[int, int]:
        if not readings:
            return 0, 0
        with _cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tracking_telemetry (device_id, ts, data, received_at)
                SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::jsonb[],
                                     %b::timestamptz[])
                ON CONFLICT DO NOTHING
                """,
                [
                    [r.device.id for r in readings],
                    [r.ts for r in readings],
                    [Jsonb(r.values) for r in readings],
                    [r.raw.received_at for r in readings],
                ],
            )
            stored = cursor.rowcount
        return stored, len(readings) - stored

    def _insert_events(self, parsed: Parsed, now: datetime) -> int:
        if not parsed.events:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tracking_deviceevent (device_id, ts, type, data, received_at)
                SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::jsonb[],
                                     %s::timestamptz[])
                ON CONFLICT DO NOTHING
                """,
                [
                    [e.device.id for e in parsed.events],
                    [e.ts for e in parsed.events],
                    [e.type for e in parsed.events],
                    [Jsonb(e.data) for e in parsed.events],
                    [e.raw.received_at for e in parsed.events],
                ],
            )
            return cursor.rowcount

    # -- rules -----------------------------------------------------------------------------

    def _evaluate(self, advancing: list[Fix], parsed: Parsed, states) -> list[Trigger]:
        book = self.book
        triggers: list[Trigger] = []
        moved = conf.moved_metres()
        inside_sets = book.containing([f.lon for f in advancing], [f.lat for f in advancing])
        for fix, inside in zip(advancing, inside_sets, strict=True):
            state = states[fix.device.id]
            anchor = state.rules.get("_anchor")
            if anchor is None or haversine_m(anchor[0], anchor[1], fix.lon, fix.lat) > moved:
                state.rules["_anchor"] = [fix.lon, fix.lat]
                state.moved_at = fix.ts
            if fix.run:
                state.run_at = fix.ts
            for rule in book.rules_for(fix.device):
                if rule.kind not in FENCE_RULES:
                    continue
                rule_state = state.rules.setdefault(str(rule.id), {})
                trigger = fence_step(
                    rule,
                    book.fences[rule.fence_id],
                    rule_state,
                    rule.fence_id in inside,
                    fix.ts,
                    fix.device,
                    fix.lon,
                    fix.lat,
                )
                if trigger is not None:
                    triggers.append(trigger)
            state.ts, state.lon, state.lat = fix.ts, fix.lon, fix.lat
            state.speed, state.heading = fix.speed, fix.heading
            path = fix.device.company_path
            state.inside = sorted(
                i
                for i in inside
                if path.startswith(book.fences[i].company_path)
                or book.fences[i].company_path.startswith(path)
            )
            state.changed = True

        readings = sorted(parsed.readings, key=lambda r: (r.device.id, r.ts))
        for reading in readings:
            state = states[reading.device.id]
            if state.telemetry_ts is not None and reading.ts <= state.telemetry_ts:
                continue  # late or repeated reading: history only
            state.telemetry = {**state.telemetry, **reading.values}
            state.telemetry_ts = reading.ts
            if reading.values.get("run"):
                state.run_at = reading.ts
            state.changed = True
            for rule in book.rules_for(reading.device):
                if rule.kind not in TELEMETRY_RULES:
                    continue
                rule_state = state.rules.setdefault(str(rule.id), {})
                trigger = telemetry_step(
                    rule, rule_state, reading.values, reading.ts, reading.device
                )
                if trigger is not None:
                    if state.lon is not None:
                        trigger.lon, trigger.lat = state.lon, state.lat
                    triggers.append(trigger)
        return triggers

    def _write_states(self, states: dict[int, _State], now: datetime) -> None:
        rows = [(i, s) for i, s in states.items() if s.changed]
        if not rows:
            return
        with _cursor() as cursor:
            cursor.execute(
                """
                UPDATE tracking_devicestate s SET
                    ts = COALESCE(u.ts, s.ts),
                    geom = CASE WHEN u.x IS NULL THEN s.geom
                                ELSE ST_SetSRID(ST_MakePoint(u.x, u.y), 4326) END,
                    speed = u.speed, heading = u.heading, inside = u.inside::bigint[],
                    rules = u.rules, telemetry = u.telemetry, telemetry_ts = u.tts,
                    moved_at = u.moved_at, run_at = u.run_at, last_seen = %b, online = true
                FROM (SELECT * FROM unnest(%b::bigint[], %b::timestamptz[], %b::float8[],
                        %b::float8[], %b::float8[], %b::float8[], %b::text[], %b::jsonb[],
                        %b::jsonb[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[])
                      AS v(device_id, ts, x, y, speed, heading, inside, rules, telemetry,
                           tts, moved_at, run_at)) u
                WHERE s.device_id = u.device_id AND (s.ts IS NULL OR u.ts IS NULL OR u.ts >= s.ts)
                """,
                [
                    now,
                    [i for i, _ in rows],
                    [s.ts for _, s in rows],
                    [s.lon for _, s in rows],
                    [s.lat for _, s in rows],
                    [s.speed for _, s in rows],
                    [s.heading for _, s in rows],
                    ["{" + ",".join(map(str, s.inside)) + "}" for _, s in rows],
                    [Jsonb(s.rules) for _, s in rows],
                    [Jsonb(s.telemetry) for _, s in rows],
                    [s.telemetry_ts for _, s in rows],
                    [s.moved_at for _, s in rows],
                    [s.run_at for _, s in rows],
                ],
            )

    # -- alerts and rejects ----------------------------------------------------------------

    def _alerts(self, triggers: list[Trigger], now: datetime, result: BatchResult) -> None:
        from tracking.services import alert_raise

        for trigger in triggers:
            alert_id, created = alert_raise(
                rule_id=trigger.rule.id,
                company_id=trigger.device.company_id,
                level=trigger.rule.level,
                subject=f"device:{trigger.device.id}",
                message=trigger.message,
                triggered_at=trigger.ts,
                now=now,
                device_id=trigger.device.id,
                asset_id=trigger.device.asset_id,
                lon=trigger.lon,
                lat=trigger.lat,
                opens_work_order=trigger.rule.opens_work_order,
            )
            if created:
                result.alerts_opened.append(alert_id)
                if trigger.rule.webhook_url:
                    webhooks.send_on_commit(trigger.rule.webhook_url, alert_id)
            else:
                result.alerts_repeated += 1

    def _rejects(self, rejects: list[Reject], now: datetime) -> None:
        if not rejects:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tracking_rejectedmessage
                    (topic, payload, reason, detail, device_code, company_id, received_at)
                SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],
                                     %s::text[], %s::bigint[], %s::timestamptz[])
                """,
                [
                    [r.raw.topic[:300] for r in rejects],
                    [r.raw.payload.decode("utf-8", "replace").replace("\x00", "") for r in rejects],
                    [str(r.reason) for r in rejects],
                    [r.detail[:300] for r in rejects],
                    [r.device_code[:64] for r in rejects],
                    [r.company_id for r in rejects],
                    [r.raw.received_at for r in rejects],
                ],
            )
