"""Tracking writes: devices, geofences, rules, alerts, work orders, partitions.

Each runs in one transaction, validates first (`full_clean` or explicit checks naming
the field) and raises `ValidationError` keyed by field.
"""

import re
import secrets
from datetime import date, datetime
from typing import Any

from django.contrib.gis.geos import GEOSGeometry, LineString, MultiPolygon, Point, Polygon
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from tracking import broker
from tracking.choices import (
    DATE_RULES,
    DEVICE_TICK_RULES,
    FENCE_RULES,
    TELEMETRY_RULES,
    AlertStatus,
    GeofenceKind,
    RuleKind,
    WorkOrderStatus,
)
from tracking.models import Alert, Device, Geofence, Rule, WorkOrder

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


# -- devices -------------------------------------------------------------------------------


@transaction.atomic
def device_create(**fields: Any) -> Device:
    """A device, with an access token of its own unless one is given: its password at the
    broker, where it may then publish under its own topics (tracking.broker)."""
    if not fields.get("token"):
        fields["token"] = new_token()
    device = Device(**fields)
    device.full_clean()
    device.save()
    broker.after_commit(broker.account_commands(device))
    return device


@transaction.atomic
def device_update(device: Device, **fields: Any) -> Device:
    """Change a device; its broker account follows a new token, status or code (and is made
    anew then, which disconnects it)."""
    before = (device.code, device.token, device.status)
    for name, value in fields.items():
        setattr(device, name, value)
    device.full_clean()
    device.save()
    if (device.code, device.token, device.status) != before:
        broker.after_commit(broker.account_commands(device, previous_code=before[0]))
    return device


@transaction.atomic
def device_token_rotate(device: Device) -> Device:
    """A new access token: the old one no longer signs in (the device is disconnected)."""
    return device_update(device, token=new_token())


def device_delete(device: Device) -> None:
    """Delete a device and its broker account."""
    code = device.code
    with transaction.atomic():
        device.delete()
        broker.after_commit(broker.removal_commands([code]))


def new_token() -> str:
    return secrets.token_urlsafe(24)


# -- geofences -----------------------------------------------------------------------------


def _validate_windows(windows: Any) -> None:
    message = _('Give a list of {"days": [1-7], "start": "HH:MM", "end": "HH:MM"}.')
    if not isinstance(windows, list):
        raise ValidationError({"time_windows": [message]})
    for window in windows:
        if not isinstance(window, dict) or set(window) - {"days", "start", "end"}:
            raise ValidationError({"time_windows": [message]})
        days = window.get("days", [1, 2, 3, 4, 5, 6, 7])
        if not isinstance(days, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days
        ):
            raise ValidationError({"time_windows": [_("Days are 1 (Monday) to 7 (Sunday).")]})
        for key in ("start", "end"):
            if key in window and not (isinstance(window[key], str) and HHMM.match(window[key])):
                raise ValidationError({"time_windows": [_("Times are HH:MM, 00:00 to 24:00.")]})


def _buffer(geom: GEOSGeometry, metres: float, style: str = "") -> MultiPolygon:
    """A geodesic buffer (PostGIS geography), as the MultiPolygon a geofence stores."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsEWKB(ST_Multi(ST_Buffer(ST_GeomFromEWKB(%s)::geography, %s, %s)"
            "::geometry))",
            [bytes(geom.ewkb), metres, style],
        )
        return GEOSGeometry(memoryview(bytes(cursor.fetchone()[0])))


def _shape(kind: str, fields: dict) -> None:
    """Fill `geom` from the kind's source: the polygon itself, centre and radius, or a line
    or road and a width."""
    if kind == GeofenceKind.POLYGON:
        geom = fields.get("geom")
        if geom is None:
            raise ValidationError({"geom": [_("A polygon geofence needs its polygon.")]})
        if isinstance(geom, Polygon):
            geom = MultiPolygon(geom, srid=geom.srid or 4326)
        if not isinstance(geom, MultiPolygon):
            raise ValidationError({"geom": [_("Give a Polygon or MultiPolygon.")]})
        if geom.srid not in (None, 4326):
            geom.transform(4326)
        geom.srid = 4326
        if geom.empty or not geom.valid:
            raise ValidationError({"geom": [_("Invalid polygon: %s") % geom.valid_reason]})
        fields["geom"] = geom
        for name in ("center", "radius_m", "line", "road", "width_m"):
            fields[name] = None
    elif kind == GeofenceKind.CIRCLE:
        center, radius = fields.get("center"), fields.get("radius_m")
        if not isinstance(center, Point):
            raise ValidationError({"center": [_("A circle needs its centre point.")]})
        if radius is None or not 0 < float(radius) <= 100_000:
            raise ValidationError({"radius_m": [_("Give a radius from 0 to 100 km.")]})
        if not (-180 <= center.x <= 180 and -90 <= center.y <= 90):
            raise ValidationError({"center": [_("Coordinates out of range.")]})
        center.srid = 4326
        fields["geom"] = _buffer(center, float(radius), "quad_segs=16")
        fields.update(line=None, road=None, width_m=None)
    elif kind == GeofenceKind.CORRIDOR:
        road, line, width = fields.get("road"), fields.get("line"), fields.get("width_m")
        if road is not None:
            line = road.geom.clone()
        if not isinstance(line, LineString) or line.empty:
            raise ValidationError({"line": [_("A corridor needs a road or a line.")]})
        if width is None or not 0 < float(width) <= 10_000:
            raise ValidationError({"width_m": [_("Give a width from 0 to 10 km.")]})
        line.srid = 4326
        fields["line"] = line
        fields["geom"] = _buffer(line, float(width) / 2, "endcap=round join=round")
        fields.update(center=None, radius_m=None)
    else:
        raise ValidationError({"kind": [_("Unknown geofence kind.")]})


@transaction.atomic
def geofence_save(geofence: Geofence | None = None, **fields: Any) -> Geofence:
    """Create (no `geofence`) or change a geofence; circles and corridors are buffered."""
    assets = fields.pop("assets", None)
    categories = fields.pop("categories", None)
    geofence = geofence or Geofence()
    current = {
        n: getattr(geofence, n)
        for n in ("kind", "geom", "center", "radius_m", "line", "road", "width_m")
    }
    merged = {**current, **fields}
    if "time_windows" in fields:
        _validate_windows(fields["time_windows"])
    _shape(merged.get("kind"), merged)
    for name, value in merged.items():
        setattr(geofence, name, value)
    for name, value in fields.items():
        if name not in merged:
            setattr(geofence, name, value)
    geofence.full_clean()
    geofence.save()
    if assets is not None:
        geofence.assets.set(assets)
    if categories is not None:
        geofence.categories.set(categories)
    return geofence


# -- rules ---------------------------------------------------------------------------------


def _rule_check(rule: Rule) -> None:
    kind = rule.kind
    errors: dict[str, list[str]] = {}
    if kind in FENCE_RULES and rule.geofence_id is None:
        errors["geofence"] = [_("This kind of rule needs a geofence.")]
    if kind in FENCE_RULES and rule.geofence_id and rule.geofence.company_id != rule.company_id:
        if not rule.company.path.startswith(rule.geofence.company.path):
            errors["geofence"] = [_("The geofence belongs to another company.")]
    if kind in TELEMETRY_RULES:
        if not rule.metric:
            errors["metric"] = [_("Name the telemetry metric.")]
        if rule.threshold is None:
            errors["threshold"] = [_("Give the threshold.")]
        if kind == RuleKind.RATE and rule.threshold is not None and rule.threshold <= 0:
            errors["threshold"] = [_("A rate limit is above zero (per minute).")]
    if kind in (RuleKind.DWELL, RuleKind.OFFLINE) and not rule.minutes:
        errors["minutes"] = [_("Give the number of minutes.")]
    if kind in (RuleKind.IDLE, *(DATE_RULES - {RuleKind.NBV_BELOW})) and rule.days is None:
        errors["days"] = [_("Give the number of days.")]
    if kind == RuleKind.NBV_BELOW and (rule.share is None or not 0 < rule.share < 1):
        errors["share"] = [_("Give a share of cost between 0 and 1.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def rule_save(rule: Rule | None = None, **fields: Any) -> Rule:
    """Create (no `rule`) or change an alert rule, checking the fields its kind needs."""
    relations = {n: fields.pop(n) for n in ("devices", "assets", "categories") if n in fields}
    rule = rule or Rule()
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.full_clean()
    _rule_check(rule)
    rule.save()
    for name, values in relations.items():
        getattr(rule, name).set(values)
    return rule


# -- alerts --------------------------------------------------------------------------------


def alert_raise(
    *,
    rule_id: int,
    company_id: int,
    level: str,
    subject: str,
    message: str,
    triggered_at: datetime,
    now: datetime,
    device_id: int | None = None,
    asset_id: int | None = None,
    lon: float | None = None,
    lat: float | None = None,
    opens_work_order: bool = False,
) -> tuple[int, bool]:
    """Open an alert, or count a repeat of the open one with the same rule and subject.

    One statement (INSERT … ON CONFLICT on the partial unique index of open alerts), so
    two workers raising the same alert at once still make one. Returns (id, created).
    A new alert of a rule that opens work orders gets one.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tracking_alert (company_id, rule_id, device_id, asset_id, subject,
                dedupe_key, level, status, message, geom, triggered_at, opened_at, last_seen,
                count, note)
            VALUES (%s, %s, %s, %s, %s, %s, %s, 'open', %s,
                    CASE WHEN %s::float8 IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(%s, %s), 4326) END,
                    %s, %s, %s, 1, '')
            ON CONFLICT (dedupe_key) WHERE NOT (status = 'closed')
            DO UPDATE SET count = tracking_alert.count + 1, last_seen = EXCLUDED.last_seen
            RETURNING id, (xmax = 0)
            """,
            [
                company_id,
                rule_id,
                device_id,
                asset_id,
                subject[:80],
                f"{rule_id}:{subject}"[:120],
                level,
                message[:300],
                lon,
                lon,
                lat,
                triggered_at,
                now,
                now,
            ],
        )
        alert_id, created = cursor.fetchone()
    if created and opens_work_order:
        WorkOrder.objects.create(
            company_id=company_id, title=message[:200], asset_id=asset_id, alert_id=alert_id
        )
    return alert_id, created


@transaction.atomic
def alert_acknowledge(alert: Alert, *, user, now: datetime, note: str = "") -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise ValidationError({"status": [_("Only an open alert can be acknowledged.")]})
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = user, now
    if note:
        alert.note = note
    alert.save()
    return alert


@transaction.atomic
def alert_close(alert: Alert, *, user, now: datetime, note: str) -> Alert:
    """Close with a note saying what was done; a later repeat opens a new alert."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == AlertStatus.CLOSED:
        raise ValidationError({"status": [_("The alert is already closed.")]})
    if not (note or "").strip():
        raise ValidationError({"note": [_("Say what was done before closing the alert.")]})
    alert.status = AlertStatus.CLOSED
    alert.closed_by, alert.closed_at, alert.note = user, now, note.strip()
    alert.save()
    return alert


# -- work orders ---------------------------------------------------------------------------


@transaction.atomic
def work_order_save(order: WorkOrder | None = None, *, now: datetime, **fields: Any) -> WorkOrder:
    order = order or WorkOrder()
    for name, value in fields.items():
        setattr(order, name, value)
    if order.asset_id and order.asset.company_id != order.company_id:
        if not order.asset.company.path.startswith(order.company.path):
            raise ValidationError({"asset": [_("The asset belongs to another company.")]})
    closed = order.status in (WorkOrderStatus.DONE, WorkOrderStatus.CANCELLED)
    order.closed_at = (order.closed_at or now) if closed else None
    order.full_clean()
    order.save()
    return order


# -- history partitions --------------------------------------------------------------------


def partitions_ensure(*, start: date, months: int = 3) -> int:
    """Create the monthly history partitions from `start`'s month on; how many were new."""
    if months < 1:
        raise ValidationError({"months": [_("Give at least one month.")]})
    with connection.cursor() as cursor:
        cursor.execute("SELECT tracking_partitions_ensure(%s, %s)", [start, months])
        return cursor.fetchone()[0]


__all__ = [
    "DEVICE_TICK_RULES",
    "alert_acknowledge",
    "alert_close",
    "alert_raise",
    "device_create",
    "device_delete",
    "device_token_rotate",
    "device_update",
    "geofence_save",
    "partitions_ensure",
    "rule_save",
    "work_order_save",
]
