"""The asset health index: 0-100, from telemetry, alerts, maintenance and age.

    score = 100 − telemetry − alerts − maintenance − age, at least 0, one decimal

    telemetry   = 40 × (share of the last 7 days' readings of the asset's devices with a
                  metric outside the device's normal range)
    alerts      = min(30, Σ open or acknowledged alerts: critical 15, warning 5, info 1
                          + Σ alerts closed in the last 30 days at half those weights)
    maintenance = min(15, 5 × maintenance plans overdue on the day)
    age         = 15 × min(1, months in service / useful life months)   (0 if unknown)

The parts are stored beside the score (`components`), one row per asset and day, so a
trend can be drawn.
"""

import json
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import Q

from portfolio.models import Asset
from tracking.models import Alert, Device, HealthScore, MaintenancePlan

LEVEL_WEIGHT = {"critical": 15.0, "warning": 5.0, "info": 1.0}
TELEMETRY_MAX, ALERTS_MAX, MAINTENANCE_MAX, AGE_MAX = 40.0, 30.0, 15.0, 15.0


def _out_of_range_share(asset: Asset, *, now: datetime) -> tuple[float, int]:
    readings = out = 0
    for device in Device.objects.filter(asset=asset).exclude(normal_ranges={}):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT data FROM tracking_telemetry WHERE device_id = %s AND ts > %s AND ts <= %s",
                [device.pk, now - timedelta(days=7), now],
            )
            for (data,) in cursor.fetchall():
                values = json.loads(data) if isinstance(data, str) else data
                checked = False
                bad = False
                for metric, (low, high) in device.normal_ranges.items():
                    value = values.get(metric)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        checked = True
                        bad = bad or not (low <= value <= high)
                if checked:
                    readings += 1
                    out += bad
    return (out / readings if readings else 0.0), readings


def health_components(asset: Asset, *, as_of: date, now: datetime) -> dict:
    share, readings = _out_of_range_share(asset, now=now)
    telemetry = TELEMETRY_MAX * share
    alerts = 0.0
    recent = now - timedelta(days=30)
    for level, status in Alert.objects.filter(
        Q(status__in=["open", "acknowledged"]) | Q(status="closed", closed_at__gte=recent),
        asset=asset,
    ).values_list("level", "status"):
        weight = LEVEL_WEIGHT.get(level, 0.0)
        alerts += weight if status != "closed" else weight / 2
    alerts = min(ALERTS_MAX, alerts)
    overdue = MaintenancePlan.objects.filter(asset=asset, next_due__lt=as_of).count()
    maintenance = min(MAINTENANCE_MAX, 5.0 * overdue)
    life = asset.useful_life_months or asset.category.useful_life_months
    start = asset.in_service_date or asset.acquisition_date
    months = 0
    age = 0.0
    if life and start:
        months = max(0, (as_of.year - start.year) * 12 + as_of.month - start.month)
        age = AGE_MAX * min(1.0, months / life)
    score = max(0.0, 100.0 - telemetry - alerts - maintenance - age)
    return {
        "score": float(Decimal(str(score)).quantize(Decimal("0.1"), ROUND_HALF_UP)),
        "telemetry": round(telemetry, 2),
        "telemetry_share_out_of_range": round(share, 4),
        "telemetry_readings": readings,
        "alerts": round(alerts, 2),
        "maintenance": maintenance,
        "maintenance_overdue": overdue,
        "age": round(age, 2),
        "age_months": months,
        "useful_life_months": life,
    }


@transaction.atomic
def health_compute(*, as_of: date, now: datetime, assets=None) -> int:
    """Score `assets` (default: every asset with a device, a plan or an alert) for `as_of`;
    a second run on the same day replaces that day's row. Returns how many were scored."""
    if assets is None:
        assets = Asset.objects.filter(
            Q(devices__isnull=False)
            | Q(tracking_maintenance__isnull=False)
            | Q(tracking_alerts__isnull=False)
        ).distinct()
    count = 0
    for asset in assets.select_related("category"):
        parts = health_components(asset, as_of=as_of, now=now)
        HealthScore.objects.update_or_create(
            asset=asset,
            as_of=as_of,
            defaults={
                "score": Decimal(str(parts["score"])),
                "components": parts,
                "computed_at": now,
            },
        )
        count += 1
    return count
