"""Rules evaluated on a clock rather than per message: offline and idle devices
(`tracking_tick`, every minute or so) and the date-based rules over the register, leases
and maintenance plans (`tracking_rules_daily`). Both are idempotent: an open alert for the
same rule and subject is counted, not duplicated."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from leasing.models import Lease
from portfolio.models import Asset, Document
from spatial.models import Company
from tracking.choices import DATE_RULES, DEVICE_TICK_RULES, RuleKind
from tracking.models import Device, DeviceState, MaintenancePlan, Rule
from tracking.services import alert_raise


def _subtree(company: Company) -> Q:
    return Q(company__path__startswith=company.path)


def _devices(rule: Rule):
    devices = Device.objects.filter(_subtree(rule.company), status="active")
    ids, assets, cats = (
        list(rule.devices.values_list("pk", flat=True)),
        list(rule.assets.values_list("pk", flat=True)),
        list(rule.categories.values_list("pk", flat=True)),
    )
    if ids or assets or cats:
        devices = devices.filter(Q(pk__in=ids) | Q(asset__in=assets) | Q(asset__category__in=cats))
    return devices


def _assets(rule: Rule):
    assets = Asset.objects.filter(_subtree(rule.company)).exclude(status="disposed")
    ids, cats = (
        list(rule.assets.values_list("pk", flat=True)),
        list(rule.categories.values_list("pk", flat=True)),
    )
    if ids or cats:
        assets = assets.filter(Q(pk__in=ids) | Q(category__in=cats))
    return assets


def _raise(
    rule: Rule,
    *,
    subject: str,
    message: str,
    now: datetime,
    company_id: int,
    device: Device | None = None,
    asset_id: int | None = None,
) -> bool:
    point = getattr(getattr(device, "state", None), "geom", None) if device else None
    _, created = alert_raise(
        rule_id=rule.pk,
        company_id=company_id,
        level=rule.level,
        subject=subject,
        message=message,
        triggered_at=now,
        now=now,
        device_id=device.pk if device else None,
        asset_id=asset_id if asset_id is not None else (device.asset_id if device else None),
        lon=point.x if point else None,
        lat=point.y if point else None,
        opens_work_order=rule.opens_work_order,
    )
    return created


@transaction.atomic
def rules_tick(*, now: datetime) -> dict[str, int]:
    """Offline (no message for N minutes) and idle (no movement and no run signal for N
    days) devices; marks devices silent for longer than the shortest offline rule as
    offline. Returns the alerts opened per rule kind."""
    opened = {kind: 0 for kind in DEVICE_TICK_RULES}
    for rule in Rule.objects.filter(is_active=True, kind__in=DEVICE_TICK_RULES):
        devices = _devices(rule).select_related("state")
        if rule.kind == RuleKind.OFFLINE:
            since = now - timedelta(minutes=rule.minutes)
            matching = devices.filter(Q(state__last_seen__lt=since) | Q(state__isnull=True))
            DeviceState.objects.filter(device__in=matching, online=True).update(online=False)
            text, n = _("{device} sent nothing for over {n} min"), rule.minutes
        else:
            since = now - timedelta(days=rule.days)
            matching = devices.filter(
                Q(state__moved_at__lt=since) | Q(state__moved_at__isnull=True),
                Q(state__run_at__lt=since) | Q(state__run_at__isnull=True),
                state__isnull=False,
            )
            text, n = _("{device} has not moved or run for {n} days"), rule.days
        for device in matching:
            opened[rule.kind] += _raise(
                rule,
                subject=f"device:{device.pk}",
                now=now,
                company_id=device.company_id,
                device=device,
                message=text.format(device=device.code, n=n),
            )
    return opened


def net_book_value(asset: Asset, *, as_of: date) -> Decimal | None:
    """Straight-line net book value: cost less (cost × (1 − residual) × months used /
    useful life months), never below the residual value. None if not depreciated."""
    life = asset.useful_life_months or asset.category.useful_life_months
    start = asset.in_service_date or asset.acquisition_date
    if not life or start is None:
        return None
    residual_rate = asset.residual_rate
    if residual_rate is None:
        residual_rate = asset.category.residual_rate
    months = max(0, (as_of.year - start.year) * 12 + as_of.month - start.month)
    cost = asset.acquisition_cost
    depreciable = cost * (1 - residual_rate)
    used = min(Decimal(months) / Decimal(life), Decimal(1))
    return (cost - depreciable * used).quantize(Decimal("0.01"))


@transaction.atomic
def rules_daily(*, today: date, now: datetime) -> dict[str, int]:
    """Certificates and leases expiring within N days, maintenance due within N days, and
    net book value below a share of cost. Returns the alerts opened per rule kind."""
    opened = {kind: 0 for kind in DATE_RULES}
    for rule in Rule.objects.filter(is_active=True, kind__in=DATE_RULES).select_related("company"):
        horizon = today + timedelta(days=rule.days or 0)
        if rule.kind == RuleKind.CERTIFICATE_EXPIRY:
            asset_type = ContentType.objects.get_for_model(Asset)
            docs = Document.objects.filter(
                _subtree(rule.company), expiry_date__isnull=False, expiry_date__lte=horizon
            )
            for doc in docs:
                asset_id = doc.object_id if doc.content_type_id == asset_type.pk else None
                opened[rule.kind] += _raise(
                    rule,
                    subject=f"document:{doc.pk}",
                    now=now,
                    company_id=doc.company_id,
                    asset_id=asset_id,
                    message=_("{title} expires on {date}").format(
                        title=doc.title, date=doc.expiry_date.isoformat()
                    ),
                )
        elif rule.kind == RuleKind.LEASE_EXPIRY:
            leases = Lease.objects.filter(
                _subtree(rule.company),
                status="active",
                end_date__gte=today,
                end_date__lte=horizon,
            )
            for lease in leases:
                opened[rule.kind] += _raise(
                    rule,
                    subject=f"lease:{lease.pk}",
                    now=now,
                    company_id=lease.company_id,
                    message=_("Lease {number} ends on {date}").format(
                        number=lease.number, date=lease.end_date.isoformat()
                    ),
                )
        elif rule.kind == RuleKind.MAINTENANCE_DUE:
            plans = MaintenancePlan.objects.filter(
                asset__in=_assets(rule), next_due__lte=horizon
            ).select_related("asset")
            for plan in plans:
                opened[rule.kind] += _raise(
                    rule,
                    subject=f"maintenance:{plan.pk}",
                    now=now,
                    company_id=plan.asset.company_id,
                    asset_id=plan.asset_id,
                    message=_("{title} for {asset} is due on {date}").format(
                        title=plan.title, asset=plan.asset.code, date=plan.next_due.isoformat()
                    ),
                )
        elif rule.kind == RuleKind.NBV_BELOW:
            for asset in _assets(rule).filter(acquisition_cost__gt=0).select_related("category"):
                nbv = net_book_value(asset, as_of=today)
                if nbv is not None and nbv < asset.acquisition_cost * rule.share:
                    opened[rule.kind] += _raise(
                        rule,
                        subject=f"asset:{asset.pk}",
                        now=now,
                        company_id=asset.company_id,
                        asset_id=asset.pk,
                        message=_("{asset}: net book value {nbv} is below {share}% of cost").format(
                            asset=asset.code, nbv=nbv, share=round(rule.share * 100)
                        ),
                    )
    return opened
