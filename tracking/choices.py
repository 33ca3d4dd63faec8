"""Choices for tracking: device kinds, geofence kinds, rule kinds, alert levels and states."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeviceKind(models.TextChoices):
    GNSS = "gnss", _("GNSS tracker")
    BLE_BEACON = "ble", _("BLE beacon")
    RFID_TAG = "rfid_tag", _("RFID/NFC tag")
    RFID_READER = "rfid_reader", _("Fixed RFID/NFC reader")
    SENSOR = "sensor", _("Sensor")


class DeviceStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    INACTIVE = "inactive", _("Inactive")


class GeofenceKind(models.TextChoices):
    POLYGON = "polygon", _("Polygon")
    CIRCLE = "circle", _("Circle")
    CORRIDOR = "corridor", _("Corridor along a line")


class RuleKind(models.TextChoices):
    EXIT = "exit", _("Must stay inside (exit alert)")
    ENTER = "enter", _("Must not enter (enter alert)")
    DWELL = "dwell", _("Dwell longer than N minutes")
    OFFLINE = "offline", _("Offline longer than N minutes")
    IDLE = "idle", _("No movement or run signal for N days")
    ABOVE = "above", _("Telemetry above a threshold for N minutes")
    BELOW = "below", _("Telemetry below a threshold for N minutes")
    RATE = "rate", _("Telemetry changes faster than a rate per minute")
    CERTIFICATE_EXPIRY = "certificate_expiry", _("Certificate expiring within N days")
    LEASE_EXPIRY = "lease_expiry", _("Lease expiring within N days")
    MAINTENANCE_DUE = "maintenance_due", _("Maintenance due within N days")
    NBV_BELOW = "nbv_below", _("Net book value below a share of cost")


#: Rules evaluated by the ingest worker on every message, per device.
STREAMING_RULES = frozenset({"exit", "enter", "dwell", "above", "below", "rate"})
FENCE_RULES = frozenset({"exit", "enter", "dwell"})
TELEMETRY_RULES = frozenset({"above", "below", "rate"})
#: Rules evaluated by `tracking_tick` (minutes) and `tracking_rules_daily` (dates).
DEVICE_TICK_RULES = frozenset({"offline", "idle"})
DATE_RULES = frozenset({"certificate_expiry", "lease_expiry", "maintenance_due", "nbv_below"})


class Level(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    CLOSED = "closed", _("Closed")


class WorkOrderStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class RejectReason(models.TextChoices):
    BAD_TOPIC = "bad_topic", _("Topic is not sam/{company}/{device}/{kind}")
    UNKNOWN_DEVICE = "unknown_device", _("Unknown or inactive device")
    WRONG_COMPANY = "wrong_company", _("Device belongs to another company")
    MALFORMED_JSON = "malformed_json", _("Payload is not a JSON object")
    MISSING_FIELD = "missing_field", _("A required field is missing")
    BAD_VALUE = "bad_value", _("A field has a value of the wrong type")
    BAD_TIMESTAMP = "bad_timestamp", _("Timestamp cannot be read")
    FUTURE_TIMESTAMP = "future_timestamp", _("Timestamp is too far in the future")
    STALE_TIMESTAMP = "stale_timestamp", _("Timestamp is older than the history kept")
    OUT_OF_RANGE = "out_of_range", _("Coordinates out of range")
    IMPOSSIBLE_SPEED = "impossible_speed", _("Speed impossible for this device")
    UNKNOWN_TAG = "unknown_tag", _("A reader reported an unknown tag")
    WRONG_KIND = "wrong_kind", _("Message kind not accepted from this device")
    INTERNAL = "internal", _("Could not be processed (see the worker log)")
