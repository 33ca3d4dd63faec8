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
5. Each worker keeps the states it last wrote or read in memory, with the row's `xmin`
   (the id of the transaction that wrote that row version). The lock statement returns
   only `device_id, xmin`; a state is taken from memory only if its row has not been
   written since (same xmin), by any worker or anything else, else it is read again.
   Any failed batch empties the memory. So another worker's write is always seen, and
   the steady case (the same worker keeps getting a device) reads no jsonb at all.

Cost per message is kept low (see docs/tracking.md, benchmark): orjson parsing, times
as floats, history and state written with one statement each whose arrays are sent as
PostgreSQL array text (built with `str.join`, parsed in C by the server) instead of
per-element Python adaptation, and the per-rule state written only when it changed.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import psycopg
from django.db import connection, transaction
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.json import Jsonb, JsonbLoader

from tracking import conf, webhooks
from tracking.choices import FENCE_RULES, TELEMETRY_RULES, RejectReason, RuleKind
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
    """A device's state; times are epoch seconds (None: never)."""

    t: float | None
    lon: float | None
    lat: float | None
    inside: list[int]
    rules: dict
    telemetry: dict
    telemetry_t: float | None
    moved_t: float | None
    run_t: float | None
    speed: float | None = None
    heading: float | None = None
    changed: bool = False  # position, times or inside-set to write
    dirty: bool = False  # rules or telemetry (jsonb) to write as well


def _cursor() -> psycopg.Cursor:
    """A cursor on Django's connection (so inside its transaction) that binds parameters
    on the server and loads jsonb and timestamps natively (for the few jsonb arrays)."""
    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    cursor.adapters.register_loader("jsonb", JsonbLoader)
    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
    return cursor


def _ints(values) -> str:
    """PostgreSQL array text of integers."""
    return "{" + ",".join(map(str, values)) + "}"


def _floats(values) -> str:
    """PostgreSQL array text of floats; None is NULL. `repr` round-trips a float exactly."""
    return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"


def _int_arrays(values) -> str:
    """PostgreSQL array text of integer arrays (as text elements, cast per row)."""
    return "{" + ",".join('"{' + ",".join(map(str, v)) + '}"' for v in values) + "}"


def _json_texts(values) -> str:
    """PostgreSQL array text of JSON documents (quoted elements); None is NULL."""
    out = []
    for value in values:
        if value is None:
            out.append("NULL")
        else:
            text = orjson.dumps(value).decode()
            out.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(out) + "}"


class Engine:
    """Holds the device directory, rule book and state memory of one worker and processes
    batches."""

    def __init__(self, root: str | None = None, refresh_seconds: float = 2.0):
        self.directory = Directory()
        self.parser = Parser(self.directory, root)
        self.book: RuleBook | None = None
        self.refresh_seconds = refresh_seconds
        self._checked_at = 0.0
        self._states: dict[int, tuple[str, _State]] = {}  # device id -> (xmin, state)

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
        written: dict[int, tuple[str, _State]] = {}
        try:
            with transaction.atomic():
                triggers = self._store(parsed, now, result, written)
                self._alerts(triggers, now, result)
                self._rejects(parsed.rejects, now)
        except BaseException:
            self._states.clear()  # the states in memory may hold what was rolled back
            raise
        self._states.update(written)
        result.rejected = len(parsed.rejects)
        return result

    def reject_all(self, messages: list[Raw], now: datetime, detail: str) -> None:
        """Keep messages that could not be processed at all, with the reason."""
        rejects = [Reject(m, RejectReason.INTERNAL, detail[:300]) for m in messages]
        with transaction.atomic():
            self._rejects(rejects, now)

    # -- storing ---------------------------------------------------------------------------

    def _store(
        self, parsed: Parsed, now: datetime, result: BatchResult, written: dict
    ) -> list[Trigger]:
        fixes_by_device: dict[int, list[Fix]] = defaultdict(list)
        for fix in parsed.fixes:
            fixes_by_device[fix.device.id].append(fix)
        device_ids = sorted(fixes_by_device.keys() | {r.device.id for r in parsed.readings})
        states = self._lock_states(device_ids, written)

        slack = conf.speed_slack()
        accepted: list[Fix] = []
        advancing: list[Fix] = []
        rejects = parsed.rejects
        for device_id, fixes in fixes_by_device.items():
            if len(fixes) > 1:
                fixes.sort(key=_fix_time)
            state = states[device_id]
            last_t, last_lon, last_lat = state.t, state.lon, state.lat
            limit = fixes[0].device.max_speed_kmh * slack / 3.6
            for fix in fixes:
                if last_t is not None:
                    if fix.t <= last_t:
                        accepted.append(fix)  # late or repeated: history only
                        continue
                    metres = haversine_m(last_lon, last_lat, fix.lon, fix.lat)
                    # A GNSS fix wanders by tens of metres: allow that much at any speed.
                    if metres > 100 and metres > limit * (fix.t - last_t):
                        rejects.append(
                            Reject(
                                fix.raw,
                                RejectReason.IMPOSSIBLE_SPEED,
                                f"{metres:.0f} m in {fix.t - last_t:.0f} s",
                                fix.device.code,
                                fix.device.company_id,
                            )
                        )
                        continue
                accepted.append(fix)
                advancing.append(fix)
                last_t, last_lon, last_lat = fix.t, fix.lon, fix.lat

        result.positions, dup_pos = self._insert_positions(accepted)
        result.readings, dup_tel = self._insert_readings(parsed.readings, now)
        result.events = self._insert_events(parsed, now)
        result.duplicates = dup_pos + dup_tel

        triggers = self._evaluate(advancing, parsed, states)
        self._write_states(states, now, written)
        return triggers

    def _lock_states(self, device_ids: list[int], written: dict) -> dict[int, _State]:
        """Lock the devices' state rows (device-id order) and return their states, from
        memory where the row is unchanged since (same xmin), else read."""
        if not device_ids:
            return {}
        ids = _ints(device_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT device_id, xmin::text FROM tracking_devicestate"
                " WHERE device_id = ANY(%s::bigint[]) ORDER BY device_id FOR UPDATE",
                [ids],
            )
            versions = dict(cursor.fetchall())
            missing = [i for i in device_ids if i not in versions]
            if missing:
                cursor.execute(
                    "INSERT INTO tracking_devicestate (device_id, inside, rules, telemetry,"
                    " online) SELECT id, '{}'::bigint[], '{}'::jsonb, '{}'::jsonb, false"
                    " FROM unnest(%s::bigint[]) AS id ORDER BY id ON CONFLICT DO NOTHING",
                    [_ints(missing)],
                )
            states: dict[int, _State] = {}
            memory = self._states
            to_read = []
            for device_id in device_ids:
                known = memory.get(device_id)
                xmin = versions.get(device_id)
                if known is not None and xmin is not None and known[0] == xmin:
                    states[device_id] = known[1]
                else:
                    to_read.append(device_id)
            if to_read:
                cursor.execute(
                    "SELECT device_id, xmin::text, extract(epoch FROM ts)::float8,"
                    " ST_X(geom), ST_Y(geom), inside::text, rules::text, telemetry::text,"
                    " extract(epoch FROM telemetry_ts)::float8,"
                    " extract(epoch FROM moved_at)::float8, extract(epoch FROM run_at)::float8,"
                    " speed, heading FROM tracking_devicestate"
                    " WHERE device_id = ANY(%s::bigint[]) ORDER BY device_id FOR UPDATE",
                    [_ints(to_read)],
                )
                for row in cursor.fetchall():
                    state = _State(
                        row[2],
                        row[3],
                        row[4],
                        [int(i) for i in row[5].strip("{}").split(",") if i] if row[5] else [],
                        orjson.loads(row[6]) if row[6] else {},
                        orjson.loads(row[7]) if row[7] else {},
                        row[8],
                        row[9],
                        row[10],
                        row[11],
                        row[12],
                    )
                    states[row[0]] = state
                    written[row[0]] = (row[1], state)
        for state in states.values():
            state.changed = state.dirty = False
        return states

    def _insert_positions(self, fixes: list[Fix]) -> tuple[int, int]:
        if not fixes:
            return 0, 0
        received = {}
        for f in fixes:
            at = f.raw.received_at
            if id(at) not in received:
                received[id(at)] = at.timestamp()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO tracking_position
                    (device_id, ts, geom, speed, heading, accuracy, received_at)
                SELECT d, to_timestamp(t), ST_SetSRID(ST_MakePoint(x, y), 4326), s, h, a,
                       to_timestamp(r)
                FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::float8[],
                            %s::float8[], %s::float8[], %s::float8[], %s::float8[])
                     AS u(d, t, x, y, s, h, a, r)
                ON CONFLICT DO NOTHING
                """,
                [
                    _ints([f.device.id for f in fixes]),
                    _floats([f.t for f in fixes]),
                    _floats([f.lon for f in fixes]),
                    _floats([f.lat for f in fixes]),
                    _floats([f.speed for f in fixes]),
                    _floats([f.heading for f in fixes]),
                    _floats([f.accuracy for f in fixes]),
                    _floats([received[id(f.raw.received_at)] for f in fixes]),
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
        fences = book.fences
        triggers: list[Trigger] = []
        moved = conf.moved_metres()
        inside_sets = book.containing([f.lon for f in advancing], [f.lat for f in advancing])
        for fix, inside in zip(advancing, inside_sets, strict=True):
            device = fix.device
            state = states[device.id]
            t, lon, lat = fix.t, fix.lon, fix.lat
            rules = state.rules
            anchor = rules.get("_anchor")
            if anchor is None or haversine_m(anchor[0], anchor[1], lon, lat) > moved:
                rules["_anchor"] = [lon, lat]
                state.moved_t = t
                state.dirty = True
            if fix.run:
                state.run_t = t
            for rule in book.rules_for(device):
                if rule.kind not in FENCE_RULES:
                    continue
                key = str(rule.id)
                rule_state = rules.get(key)
                if rule_state is None:
                    rule_state = rules[key] = {}
                is_inside = rule.fence_id in inside
                steady = (
                    rule_state.get("side") == ("in" if is_inside else "out")
                    and "pending" not in rule_state
                )
                trigger = fence_step(
                    rule, fences[rule.fence_id], rule_state, is_inside, t, device, lon, lat
                )
                if trigger is not None:
                    triggers.append(trigger)
                if not steady or trigger is not None or rule.kind == RuleKind.DWELL:
                    state.dirty = True
            state.t, state.lon, state.lat = t, lon, lat
            state.speed, state.heading = fix.speed, fix.heading
            if inside:
                path = device.company_path
                state.inside = sorted(
                    i
                    for i in inside
                    if path.startswith(fences[i].company_path)
                    or fences[i].company_path.startswith(path)
                )
            else:
                state.inside = []
            state.changed = True

        readings = sorted(parsed.readings, key=lambda r: (r.device.id, r.ts))
        for reading in readings:
            state = states[reading.device.id]
            t = reading.ts.timestamp()
            if state.telemetry_t is not None and t <= state.telemetry_t:
                continue  # late or repeated reading: history only
            state.telemetry = {**state.telemetry, **reading.values}
            state.telemetry_t = t
            if reading.values.get("run"):
                state.run_t = t
            state.changed = state.dirty = True
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

    def _write_states(self, states: dict[int, _State], now: datetime, written: dict) -> None:
        """Write the changed states in one UPDATE (each row rewritten once, on its page:
        see the migration that drops the spatial index). The jsonb columns are sent only
        for rows whose rule state or telemetry changed, NULL (kept) for the rest. The
        guard repeats that a state never moves back in time."""
        rows = [(i, s) for i, s in states.items() if s.changed]
        if not rows:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE tracking_devicestate s SET
                    ts = COALESCE(to_timestamp(u.t), s.ts),
                    geom = CASE WHEN u.x IS NULL THEN s.geom
                                ELSE ST_SetSRID(ST_MakePoint(u.x, u.y), 4326) END,
                    speed = u.speed, heading = u.heading, inside = u.inside::bigint[],
                    telemetry_ts = to_timestamp(u.tt), moved_at = to_timestamp(u.mt),
                    run_at = to_timestamp(u.rt), last_seen = %s, online = true,
                    rules = COALESCE(u.rules::jsonb, s.rules),
                    telemetry = COALESCE(u.telemetry::jsonb, s.telemetry)
                FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::float8[],
                            %s::float8[], %s::float8[], %s::text[], %s::float8[],
                            %s::float8[], %s::float8[], %s::text[], %s::text[])
                     AS u(device_id, t, x, y, speed, heading, inside, tt, mt, rt, rules,
                          telemetry)
                WHERE s.device_id = u.device_id
                  AND (s.ts IS NULL OR u.t IS NULL OR to_timestamp(u.t) >= s.ts)
                RETURNING s.device_id, s.xmin::text
                """,
                [
                    now,
                    _ints([i for i, _ in rows]),
                    _floats([s.t for _, s in rows]),
                    _floats([s.lon for _, s in rows]),
                    _floats([s.lat for _, s in rows]),
                    _floats([s.speed for _, s in rows]),
                    _floats([s.heading for _, s in rows]),
                    _int_arrays([s.inside for _, s in rows]),
                    _floats([s.telemetry_t for _, s in rows]),
                    _floats([s.moved_t for _, s in rows]),
                    _floats([s.run_t for _, s in rows]),
                    _json_texts([s.rules if s.dirty else None for _, s in rows]),
                    _json_texts([s.telemetry if s.dirty else None for _, s in rows]),
                ],
            )
            updated = dict(cursor.fetchall())
        for device_id, state in rows:
            xmin = updated.get(device_id)
            if xmin is None:
                written.pop(device_id, None)
                self._states.pop(device_id, None)
            else:
                written[device_id] = (xmin, state)

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


def _fix_time(fix: Fix) -> float:
    return fix.t
