"""Demo tracking data: a few devices bound to assets, geofences and rules.

`demo_tracking(company_code=...)` is called by web/demo.py after the portfolio is loaded;
it is idempotent (does nothing when the demo devices exist)."""

from decimal import Decimal

from django.db import connection, transaction

from portfolio.models import Asset
from spatial.models import Company, Road
from tracking import services
from tracking.choices import GeofenceKind, Level, RuleKind
from tracking.models import Device, Geofence
from tracking.simulate import devices_ensure


@transaction.atomic
def demo_tracking(*, company_code: str | None = None, devices: int = 40) -> int:
    """Simulated devices, a yard and a corridor geofence, and rules; how many devices."""
    company = (
        Company.objects.get(code=company_code)
        if company_code
        else Company.objects.filter(parent__isnull=True).order_by("pk").first()
    )
    if company is None or Device.objects.filter(code__startswith="SIM-").exists():
        return 0
    sims = devices_ensure(company, devices)
    assets = list(Asset.objects.filter(company__path__startswith=company.path)[: len(sims)])
    for device, asset in zip(
        Device.objects.filter(code__startswith="SIM-").order_by("code"), assets, strict=False
    ):
        device.asset = asset
        device.save(update_fields=["asset"])
    road = Road.objects.filter(company__path__startswith=company.path).order_by("pk").first()
    if road is not None:
        corridor = services.geofence_save(
            company=company, name="巡检路线走廊", kind=GeofenceKind.CORRIDOR, road=road, width_m=60
        )
        services.rule_save(
            company=company,
            name="车辆偏离路线",
            kind=RuleKind.EXIT,
            geofence=corridor,
            level=Level.WARNING,
            debounce_points=3,
            devices=list(Device.objects.filter(code__startswith="SIM-V")),
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(ST_Centroid(ST_Extent(geom))), ST_Y(ST_Centroid("
            "ST_Extent(geom))) FROM spatial_building"
        )
        x, y = cursor.fetchone()
    if x is not None:
        from django.contrib.gis.geos import Point

        services.geofence_save(
            company=company,
            name="禁入区（施工）",
            kind=GeofenceKind.CIRCLE,
            center=Point(x, y, srid=4326),
            radius_m=150,
            time_windows=[{"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}],
        )
        services.rule_save(
            company=company,
            name="工作时间禁入施工区",
            kind=RuleKind.ENTER,
            geofence=Geofence.objects.get(name="禁入区（施工）"),
            level=Level.CRITICAL,
        )
    services.rule_save(
        company=company,
        name="温度过高",
        kind=RuleKind.ABOVE,
        metric="temp",
        threshold=50,
        minutes=2,
        level=Level.CRITICAL,
        opens_work_order=True,
    )
    services.rule_save(
        company=company, name="设备离线", kind=RuleKind.OFFLINE, minutes=30, level=Level.INFO
    )
    services.rule_save(
        company=company,
        name="证照到期提醒",
        kind=RuleKind.CERTIFICATE_EXPIRY,
        days=30,
        level=Level.WARNING,
    )
    services.rule_save(
        company=company, name="租约到期提醒", kind=RuleKind.LEASE_EXPIRY, days=60, level=Level.INFO
    )
    services.rule_save(
        company=company,
        name="净值低于原值10%",
        kind=RuleKind.NBV_BELOW,
        share=Decimal("0.10"),
        level=Level.INFO,
    )
    return len(sims)
