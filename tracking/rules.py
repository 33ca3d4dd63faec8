"""The streaming rules, held in memory by each ingest worker: geofences in an STRtree,
rules indexed by what they target, and the per-rule state machine (debounce, dwell,
threshold breach, rate of change) that `tracking.engine` runs for each device.

The state a rule keeps for a device lives in `DeviceState.rules[str(rule_id)]` as plain
JSON (times as epoch seconds), read and written under the device's row lock.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import shapely
from django.db import connection
from django.utils.translation import gettext as _

from tracking.choices import FENCE_RULES, STREAMING_RULES, TELEMETRY_RULES, RuleKind
from tracking.ingest import DeviceInfo

LOCAL = ZoneInfo("Asia/Shanghai")


@dataclass(slots=True)
class Fence:
    id: int
    name: str
    company_path: str
    windows: list[dict]
    asset_ids: frozenset[int]
    category_ids: frozenset[int]

    def active_at(self, ts: datetime) -> bool:
        """Is the fence watched at `ts`? Windows are local (Asia/Shanghai) weekdays and hours."""
        if not self.windows:
            return True
        local = ts.astimezone(LOCAL)
        day, hhmm = local.isoweekday(), local.strftime("%H:%M")
        for window in self.windows:
            days = window.get("days") or [1, 2, 3, 4, 5, 6, 7]
            start, end = window.get("start", "00:00"), window.get("end", "24:00")
            if day in days and (
                start <= hhmm < end if start <= end else hhmm >= start or hhmm < end
            ):
                return True
        return False


@dataclass(slots=True)
class RuleInfo:
    id: int
    company_id: int
    company_path: str
    kind: str
    level: str
    name: str
    fence_id: int | None
    metric: str
    threshold: float | None
    minutes: float | None
    debounce_points: int
    debounce_seconds: float
    opens_work_order: bool
    webhook_url: str
    device_ids: frozenset[int]
    asset_ids: frozenset[int]
    category_ids: frozenset[int]


@dataclass(slots=True)
class Trigger:
    """A rule fired for a device: the engine turns it into an alert (deduplicated)."""

    rule: RuleInfo
    device: DeviceInfo
    ts: datetime
    message: str
    lon: float | None = None
    lat: float | None = None


@dataclass
class RuleBook:
    """Active streaming rules and geofences, indexed for the ingest path."""

    fences: dict[int, Fence] = field(default_factory=dict)
    fence_ids: list[int] = field(default_factory=list)
    tree: shapely.STRtree | None = None
    rules: list[RuleInfo] = field(default_factory=list)
    version: tuple = ()
    _by_device: dict[int, list[RuleInfo]] = field(default_factory=dict)
    _idx: dict[str, dict] = field(default_factory=dict)
    _wide: list[RuleInfo] = field(default_factory=list)

    @staticmethod
    def current_version() -> tuple:
        """Changes when a rule or geofence is added, changed or removed."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT max(updated_at) FROM tracking_rule),"
                " (SELECT count(*) FROM tracking_rule),"
                " (SELECT max(updated_at) FROM tracking_geofence),"
                " (SELECT count(*) FROM tracking_geofence)"
            )
            return tuple(cursor.fetchone())

    @classmethod
    def load(cls) -> "RuleBook":
        book = cls()
        book.version = cls.current_version()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT g.id, g.name, c.path, g.time_windows, ST_AsBinary(g.geom),
                  ARRAY(SELECT asset_id FROM tracking_geofence_assets WHERE geofence_id = g.id),
                  ARRAY(SELECT category_id FROM tracking_geofence_categories
                        WHERE geofence_id = g.id)
                FROM tracking_geofence g JOIN spatial_company c ON c.id = g.company_id
                WHERE g.is_active ORDER BY g.id
                """
            )
            geoms = []
            for fid, name, path, windows, wkb, assets, cats in cursor.fetchall():
                if isinstance(windows, str):  # Django hands jsonb back as text
                    windows = orjson.loads(windows)
                book.fences[fid] = Fence(
                    fid, name, path, windows or [], frozenset(assets), frozenset(cats)
                )
                book.fence_ids.append(fid)
                geoms.append(shapely.from_wkb(bytes(wkb)))
            if geoms:
                shapely.prepare(geoms)
                book.tree = shapely.STRtree(geoms)
            cursor.execute(
                """
                SELECT r.id, r.company_id, c.path, r.kind, r.level, r.name, r.geofence_id,
                  r.metric, r.threshold, r.minutes, r.debounce_points, r.debounce_seconds,
                  r.opens_work_order, r.webhook_url,
                  ARRAY(SELECT device_id FROM tracking_rule_devices WHERE rule_id = r.id),
                  ARRAY(SELECT asset_id FROM tracking_rule_assets WHERE rule_id = r.id),
                  ARRAY(SELECT category_id FROM tracking_rule_categories WHERE rule_id = r.id)
                FROM tracking_rule r JOIN spatial_company c ON c.id = r.company_id
                WHERE r.is_active AND r.kind = ANY(%s) ORDER BY r.id
                """,
                [sorted(STREAMING_RULES)],
            )
            for row in cursor.fetchall():
                rule = RuleInfo(
                    id=row[0],
                    company_id=row[1],
                    company_path=row[2],
                    kind=row[3],
                    level=row[4],
                    name=row[5],
                    fence_id=row[6],
                    metric=row[7],
                    threshold=row[8],
                    minutes=row[9],
                    debounce_points=max(1, row[10]),
                    debounce_seconds=float(row[11]),
                    opens_work_order=row[12],
                    webhook_url=row[13],
                    device_ids=frozenset(row[14]),
                    asset_ids=frozenset(row[15]),
                    category_ids=frozenset(row[16]),
                )
                if rule.kind in FENCE_RULES and rule.fence_id not in book.fences:
                    continue  # its fence is inactive
                book.rules.append(rule)
        book._index()
        return book

    def _index(self) -> None:
        idx: dict[str, dict] = {
            "device": defaultdict(list),
            "asset": defaultdict(list),
            "category": defaultdict(list),
        }
        for rule in self.rules:
            devices, assets, cats = rule.device_ids, rule.asset_ids, rule.category_ids
            if not (devices or assets or cats) and rule.fence_id is not None:
                fence = self.fences[rule.fence_id]
                assets, cats = fence.asset_ids, fence.category_ids
            if not (devices or assets or cats):
                self._wide.append(rule)
                continue
            for key, ids in (("device", devices), ("asset", assets), ("category", cats)):
                for i in ids:
                    idx[key][i].append(rule)
        self._idx = idx

    def rules_for(self, device: DeviceInfo) -> list[RuleInfo]:
        """The streaming rules that watch `device` (only rules of its company or above)."""
        found = self._by_device.get(device.id)
        if found is None:
            candidates = list(self._idx["device"].get(device.id, ()))
            if device.asset_id is not None:
                candidates += self._idx["asset"].get(device.asset_id, ())
            if device.category_id is not None:
                candidates += self._idx["category"].get(device.category_id, ())
            candidates += self._wide
            seen: set[int] = set()
            found = []
            for rule in candidates:
                if rule.id not in seen and device.company_path.startswith(rule.company_path):
                    seen.add(rule.id)
                    found.append(rule)
            self._by_device[device.id] = found
        return found

    def containing(self, lons: list[float], lats: list[float]) -> list[set[int]]:
        """For each point, the ids of the active geofences containing it (one bulk query)."""
        out: list[set[int]] = [set() for _ in lons]
        if self.tree is None or not lons:
            return out
        points = shapely.points(lons, lats)
        hits = self.tree.query(points, predicate="intersects")
        for point_index, fence_index in zip(hits[0].tolist(), hits[1].tolist(), strict=True):
            out[point_index].add(self.fence_ids[fence_index])
        return out


def fence_step(
    rule: RuleInfo,
    fence: Fence,
    state: dict,
    inside: bool,
    t: float,
    device: DeviceInfo,
    lon: float,
    lat: float,
) -> Trigger | None:
    """Advance one fence rule for one fix at epoch seconds `t`; a Trigger when an alert
    is due.

    The confirmed side changes only after `debounce_points` consecutive fixes on the
    other side spanning `debounce_seconds`; the first fix ever seen sets the side without
    an alert (nothing was crossed). The common case (still on the confirmed side, nothing
    pending) touches nothing: the engine then need not write the rule state back.
    """
    side = "in" if inside else "out"
    confirmed = state.get("side")
    trigger = None
    if confirmed is None:
        state.update(side=side, since=t)
    elif side == confirmed:
        if "pending" in state:
            state.pop("pending", None)
            state.pop("n", None)
            state.pop("first", None)
    else:
        if state.get("pending") != side:
            state.update(pending=side, n=1, first=t)
        else:
            state["n"] += 1
        if state["n"] >= rule.debounce_points and t - state["first"] >= rule.debounce_seconds:
            state.update(side=side, since=state["first"])
            for key in ("pending", "n", "first", "dwelt"):
                state.pop(key, None)
            ts = datetime.fromtimestamp(t, UTC)
            active = fence.active_at(ts)
            if rule.kind == RuleKind.EXIT and side == "out" and active:
                trigger = Trigger(
                    rule,
                    device,
                    ts,
                    _("{device} left {fence}").format(device=device.code, fence=fence.name),
                    lon,
                    lat,
                )
            elif rule.kind == RuleKind.ENTER and side == "in" and active:
                trigger = Trigger(
                    rule,
                    device,
                    ts,
                    _("{device} entered {fence}").format(device=device.code, fence=fence.name),
                    lon,
                    lat,
                )
    if (
        rule.kind == RuleKind.DWELL
        and state.get("side") == "in"
        and not state.get("dwelt")
        and rule.minutes is not None
        and t - state["since"] >= rule.minutes * 60
        and fence.active_at(datetime.fromtimestamp(t, UTC))
    ):
        state["dwelt"] = True
        minutes = round((t - state["since"]) / 60)
        trigger = Trigger(
            rule,
            device,
            datetime.fromtimestamp(t, UTC),
            _("{device} stayed in {fence} for {minutes} min").format(
                device=device.code, fence=fence.name, minutes=minutes
            ),
            lon,
            lat,
        )
    return trigger


def telemetry_step(
    rule: RuleInfo, state: dict, values: dict, ts: datetime, device: DeviceInfo
) -> Trigger | None:
    """Advance one telemetry rule for one reading; a Trigger when an alert is due."""
    value = values.get(rule.metric)
    if (
        rule.kind not in TELEMETRY_RULES
        or isinstance(value, bool)
        or not isinstance(value, int | float)
    ):
        return None
    t = ts.timestamp()
    if rule.kind == RuleKind.RATE:
        previous = state.get("prev")
        state["prev"] = [t, value]
        if previous is None or t <= previous[0] or rule.threshold is None:
            return None
        per_minute = abs(value - previous[1]) / ((t - previous[0]) / 60)
        if per_minute > rule.threshold:
            return Trigger(
                rule,
                device,
                ts,
                _("{device}: {metric} changes {rate:.2f} per minute (limit {limit})").format(
                    device=device.code, metric=rule.metric, rate=per_minute, limit=rule.threshold
                ),
            )
        return None
    if rule.threshold is None:
        return None
    breach = value > rule.threshold if rule.kind == RuleKind.ABOVE else value < rule.threshold
    if not breach:
        state.pop("breach", None)
        state.pop("fired", None)
        return None
    start = state.setdefault("breach", t)
    if not state.get("fired") and t - start >= (rule.minutes or 0) * 60:
        state["fired"] = True
        word = _("above") if rule.kind == RuleKind.ABOVE else _("below")
        return Trigger(
            rule,
            device,
            ts,
            _("{device}: {metric} {value} {word} {limit} for {minutes} min").format(
                device=device.code,
                metric=rule.metric,
                value=value,
                word=word,
                limit=rule.threshold,
                minutes=round((t - start) / 60),
            ),
        )
    return None
