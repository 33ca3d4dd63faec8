"""Tracking: devices, their last known state, position and telemetry history, geofences,
rules, alerts, work orders, maintenance plans and the asset health index.

Position and telemetry history live in tables partitioned by month on `ts` (created by
the migration's SQL, `managed = False` here); their primary key (device, ts) stores a
message sent twice only once. `DeviceState` holds one row per device, advanced only by
newer timestamps, so any ingest worker can process any message.
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portfolio.models import Asset, Category
from spatial.models import Company, Road
from spatial.querysets import RestrictedQuerySet
from spatial.validators import validate_code
from tracking import choices


class Device(models.Model):
    """A tracker, beacon, tag, fixed reader or sensor, usually bound to an asset.

    A fixed reader has a `location`: a tag it reads is placed there.
    `normal_ranges` maps a telemetry metric to its [low, high] normal range, which the
    health index compares readings against.
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="devices", verbose_name=_("company")
    )
    code = models.CharField(_("code"), max_length=64, unique=True, validators=[validate_code])
    name = models.CharField(_("name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=choices.DeviceKind.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=choices.DeviceStatus.choices,
        default=choices.DeviceStatus.ACTIVE,
    )
    asset = models.ForeignKey(
        Asset,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name=_("asset"),
    )
    location = models.PointField(_("fixed location"), srid=4326, null=True, blank=True)
    max_speed_kmh = models.PositiveSmallIntegerField(
        _("maximum plausible speed (km/h)"),
        default=160,
        validators=[MinValueValidator(1), MaxValueValidator(1200)],
    )
    normal_ranges = models.JSONField(_("normal telemetry ranges"), default=dict, blank=True)
    token = models.CharField(_("access token"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if self.kind == choices.DeviceKind.RFID_READER and self.location is None:
            raise ValidationError(
                {"location": [_("A fixed reader needs the location where it reads tags.")]}
            )
        if not isinstance(self.normal_ranges, dict) or not all(
            isinstance(v, list | tuple)
            and len(v) == 2
            and all(isinstance(x, int | float) for x in v)
            and v[0] <= v[1]
            for v in self.normal_ranges.values()
        ):
            raise ValidationError(
                {"normal_ranges": [_('Give {"metric": [low, high]} with low <= high.')]}
            )


class DeviceState(models.Model):
    """The last known position and state of a device: one row, always at hand for the map.

    Written only by the ingest worker under a row lock and only by messages newer than
    `ts`; `rules` holds the per-rule state (confirmed side of a fence, debounce counter,
    dwell and breach start times) so a restarted or different worker carries on.
    """

    device = models.OneToOneField(
        Device, models.CASCADE, primary_key=True, related_name="state", verbose_name=_("device")
    )
    ts = models.DateTimeField(_("last position time"), null=True, blank=True)
    # No spatial index: every fix rewrites this row, and an indexed column that changes
    # rules out PostgreSQL's HOT updates (3-4x the cost per row at 10,000 fixes/s). The
    # map's bbox filter scans one row per device, which is milliseconds.
    geom = models.PointField(
        _("last position"), srid=4326, null=True, blank=True, spatial_index=False
    )
    speed = models.FloatField(_("speed (km/h)"), null=True, blank=True)
    heading = models.FloatField(_("heading (degrees)"), null=True, blank=True)
    telemetry = models.JSONField(_("last telemetry"), default=dict, blank=True)
    telemetry_ts = models.DateTimeField(_("last telemetry time"), null=True, blank=True)
    inside = ArrayField(models.BigIntegerField(), default=list, blank=True)
    rules = models.JSONField(_("rule state"), default=dict, blank=True)
    moved_at = models.DateTimeField(_("last moved"), null=True, blank=True)
    run_at = models.DateTimeField(_("last run signal"), null=True, blank=True)
    last_seen = models.DateTimeField(_("last message received"), null=True, blank=True)
    online = models.BooleanField(_("online"), default=False)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "device__company"

    class Meta:
        verbose_name = _("device state")
        verbose_name_plural = _("device states")

    def __str__(self) -> str:
        return f"{self.device_id} @ {self.ts}"


class Position(models.Model):
    """One position fix; a partitioned table (by month on ts), one row per device and ts."""

    pk = models.CompositePrimaryKey("device_id", "ts")
    device = models.ForeignKey(Device, models.DO_NOTHING, db_constraint=False)
    ts = models.DateTimeField()
    geom = models.PointField(srid=4326)
    speed = models.FloatField(null=True)
    heading = models.FloatField(null=True)
    accuracy = models.FloatField(null=True)
    received_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "tracking_position"
        verbose_name = _("position")
        verbose_name_plural = _("positions")

    def __str__(self) -> str:
        return f"{self.device_id} {self.ts}"


class Telemetry(models.Model):
    """One telemetry reading (metric → value); partitioned like positions."""

    pk = models.CompositePrimaryKey("device_id", "ts")
    device = models.ForeignKey(Device, models.DO_NOTHING, db_constraint=False)
    ts = models.DateTimeField()
    data = models.JSONField()
    received_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "tracking_telemetry"
        verbose_name = _("telemetry reading")
        verbose_name_plural = _("telemetry readings")

    def __str__(self) -> str:
        return f"{self.device_id} {self.ts}"


class DeviceEvent(models.Model):
    """An event a device reported (fault, button, tag read), stored once per device, ts, type."""

    device = models.ForeignKey(Device, models.CASCADE, related_name="events")
    ts = models.DateTimeField(_("time"))
    type = models.CharField(_("type"), max_length=40)
    data = models.JSONField(_("data"), default=dict)
    received_at = models.DateTimeField(_("received at"))

    objects = RestrictedQuerySet.as_manager()
    scope_field = "device__company"

    class Meta:
        verbose_name = _("device event")
        verbose_name_plural = _("device events")
        ordering = ["-ts"]
        constraints = [
            models.UniqueConstraint(fields=["device", "ts", "type"], name="device_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.type} {self.ts}"


class RejectedMessage(models.Model):
    """A message the ingest worker refused, kept with its reason for the administrator."""

    topic = models.CharField(_("topic"), max_length=300)
    payload = models.TextField(_("payload"))
    reason = models.CharField(_("reason"), max_length=20, choices=choices.RejectReason.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    device_code = models.CharField(_("device code"), max_length=64, blank=True)
    company = models.ForeignKey(
        Company, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("company")
    )
    received_at = models.DateTimeField(_("received at"))

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("rejected message")
        verbose_name_plural = _("rejected messages")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["-received_at"], name="rejected_received")]

    def __str__(self) -> str:
        return f"{self.reason}: {self.topic}"


class Geofence(models.Model):
    """An area assets must stay in or keep out of: a polygon, a circle or a corridor.

    Circles and corridors are stored as the polygon they cover (a geodesic buffer), with
    their source (centre and radius, or a line or road and a width) kept beside it.
    `time_windows` limits when the fence is watched: a list of
    {"days": [1..7 (Monday = 1)], "start": "HH:MM", "end": "HH:MM"} in Asia/Shanghai time;
    empty means always.
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="geofences", verbose_name=_("company")
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=choices.GeofenceKind.choices)
    geom = models.MultiPolygonField(_("area"), srid=4326)
    center = models.PointField(_("centre"), srid=4326, null=True, blank=True)
    radius_m = models.FloatField(_("radius (m)"), null=True, blank=True)
    line = models.LineStringField(_("corridor line"), srid=4326, null=True, blank=True)
    road = models.ForeignKey(
        Road, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("road")
    )
    width_m = models.FloatField(_("corridor width (m)"), null=True, blank=True)
    time_windows = models.JSONField(_("time windows"), default=list, blank=True)
    assets = models.ManyToManyField(
        Asset, blank=True, related_name="geofences", verbose_name=_("assets")
    )
    categories = models.ManyToManyField(
        Category, blank=True, related_name="geofences", verbose_name=_("asset categories")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("geofence")
        verbose_name_plural = _("geofences")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rule(models.Model):
    """An alert rule. Which fields matter depends on `kind` (see docs/tracking.md).

    Targets: the devices, assets and categories named; when none is named, those the
    geofence is assigned to; when neither, every device of the company and below.
    A fence transition counts after `debounce_points` consecutive fixes on the new side
    spanning at least `debounce_seconds`, so a device on the boundary does not flood.
    """

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="tracking_rules", verbose_name=_("company")
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=choices.RuleKind.choices)
    level = models.CharField(
        _("level"), max_length=10, choices=choices.Level.choices, default=choices.Level.WARNING
    )
    geofence = models.ForeignKey(
        Geofence,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="rules",
        verbose_name=_("geofence"),
    )
    metric = models.CharField(_("telemetry metric"), max_length=40, blank=True)
    threshold = models.FloatField(_("threshold"), null=True, blank=True)
    minutes = models.PositiveIntegerField(_("minutes"), null=True, blank=True)
    days = models.PositiveIntegerField(_("days"), null=True, blank=True)
    share = models.DecimalField(
        _("share of cost"), max_digits=5, decimal_places=4, null=True, blank=True
    )
    devices = models.ManyToManyField(
        Device, blank=True, related_name="rules", verbose_name=_("devices")
    )
    assets = models.ManyToManyField(
        Asset, blank=True, related_name="tracking_rules", verbose_name=_("assets")
    )
    categories = models.ManyToManyField(
        Category, blank=True, related_name="tracking_rules", verbose_name=_("asset categories")
    )
    debounce_points = models.PositiveSmallIntegerField(
        _("debounce: consecutive fixes"), default=2, validators=[MinValueValidator(1)]
    )
    debounce_seconds = models.PositiveIntegerField(_("debounce: seconds"), default=0)
    opens_work_order = models.BooleanField(_("opens a work order"), default=False)
    webhook_url = models.URLField(_("webhook URL"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkOrder(models.Model):
    """A minimal work order, opened by hand or by a rule's alert, until maintenance lands."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="tracking_work_orders", verbose_name=_("company")
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    asset = models.ForeignKey(
        Asset,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="tracking_work_orders",
        verbose_name=_("asset"),
    )
    alert = models.OneToOneField(
        "Alert",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="work_order",
        verbose_name=_("alert"),
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=choices.WorkOrderStatus.choices,
        default=choices.WorkOrderStatus.OPEN,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assignee"),
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class Alert(models.Model):
    """An alert a rule raised. While open (or acknowledged), a repeat of the same rule for
    the same subject only counts up (`count`, `last_seen`): one row per `dedupe_key`."""

    company = models.ForeignKey(
        Company, models.PROTECT, related_name="tracking_alerts", verbose_name=_("company")
    )
    rule = models.ForeignKey(Rule, models.CASCADE, related_name="alerts", verbose_name=_("rule"))
    device = models.ForeignKey(
        Device,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("device"),
    )
    asset = models.ForeignKey(
        Asset,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="tracking_alerts",
        verbose_name=_("asset"),
    )
    subject = models.CharField(_("subject"), max_length=80)
    dedupe_key = models.CharField(_("deduplication key"), max_length=120)
    level = models.CharField(_("level"), max_length=10, choices=choices.Level.choices)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=choices.AlertStatus.choices,
        default=choices.AlertStatus.OPEN,
    )
    message = models.CharField(_("message"), max_length=300)
    geom = models.PointField(_("where"), srid=4326, null=True, blank=True)
    triggered_at = models.DateTimeField(_("triggered at (message time)"))
    opened_at = models.DateTimeField(_("opened at"))
    last_seen = models.DateTimeField(_("last seen"))
    count = models.PositiveIntegerField(_("count"), default=1)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "company"

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=~Q(status="closed"),
                name="alert_one_open_per_key",
            )
        ]
        indexes = [models.Index(fields=["status", "level"], name="alert_status_level")]

    def __str__(self) -> str:
        return self.message


class MaintenancePlan(models.Model):
    """A recurring maintenance task of an asset, until the maintenance capability lands."""

    asset = models.ForeignKey(
        Asset, models.CASCADE, related_name="tracking_maintenance", verbose_name=_("asset")
    )
    title = models.CharField(_("title"), max_length=200)
    interval_days = models.PositiveIntegerField(_("interval (days)"))
    next_due = models.DateField(_("next due"))
    last_done = models.DateField(_("last done"), null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    scope_field = "asset__company"

    class Meta:
        verbose_name = _("maintenance plan")
        verbose_name_plural = _("maintenance plans")
        ordering = ["next_due"]

    def __str__(self) -> str:
        return self.title


class HealthScore(models.Model):
    """One computed health index of an asset (0-100) with its parts; kept as history."""

    asset = models.ForeignKey(
        Asset, models.CASCADE, related_name="health_scores", verbose_name=_("asset")
    )
    score = models.DecimalField(_("score"), max_digits=5, decimal_places=1)
    components = models.JSONField(_("components"), default=dict)
    as_of = models.DateField(_("as of"))
    computed_at = models.DateTimeField(_("computed at"))

    objects = RestrictedQuerySet.as_manager()
    scope_field = "asset__company"

    class Meta:
        verbose_name = _("health score")
        verbose_name_plural = _("health scores")
        ordering = ["-computed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=100), name="health_score_range"
            ),
            models.UniqueConstraint(fields=["asset", "as_of"], name="health_score_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}: {self.score}"
