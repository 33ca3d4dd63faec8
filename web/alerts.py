"""Tracking on the web pages: the geofence and live-position layers of the map, its live
alerts panel (new alerts as they happen, acknowledged from the map) and the alerts list
(`/alerts/`: filters, acknowledge and close with a note, XLSX export).

Web sits above tracking, so these are registered from `WebConfig.ready()` through the map's
registries (web/maplayers.py) and the lists of web/pages.py. Writes go through the tracking
API (`/api/tracking/alerts/{id}/acknowledge/`, `…/close/`), which runs tracking's services and
checks the user's role; the pages only hide the buttons a user could not use.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from spatial import access
from tracking.choices import AlertStatus, Level
from tracking.models import Alert
from web import maplayers
from web.export import Column
from web.pages import LISTS, ListFilter, ListPage, _list_response

#: How often the map asks for new alerts and moved devices.
LIVE_SECONDS = 5
#: Open alerts the map's panel lists at most (newest first).
PANEL_ALERTS = 50


def _local(moment):
    """An aware time as local wall-clock time (for the page and the XLSX, which has no zone)."""
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


def may_change(user) -> dict:
    """Where the user may acknowledge and close alerts: everywhere (`all`) or in `ids`."""
    ids = access.company_ids(user, "change", Alert)
    return {"all": ids is access.ALL, "ids": sorted(ids) if ids is not access.ALL else []}


# -- the alerts list ---------------------------------------------------------------------------


def _alert_rows(user, q: str, status: str, *, level: str = "", **_filters: str) -> QuerySet:
    rows = Alert.objects.restrict(user, "view").select_related(
        "rule", "device", "asset", "company", "acknowledged_by", "closed_by"
    )
    if q:
        rows = rows.filter(
            Q(subject__icontains=q)
            | Q(message__icontains=q)
            | Q(rule__name__icontains=q)
            | Q(device__code__icontains=q)
            | Q(asset__code__icontains=q)
        )
    if status:
        rows = rows.filter(status=status)
    if level:
        rows = rows.filter(level=level)
    return rows.order_by("-opened_at", "-pk")


def _user_name(user) -> str:
    return user.get_username() if user is not None else ""


ALERTS = ListPage(
    _("Alerts"),
    "alerts",
    (
        Column(_("Opened at"), lambda a: _local(a.opened_at)),
        Column(_("Level"), lambda a: a.get_level_display()),
        Column(_("Status"), lambda a: a.get_status_display()),
        Column(_("Rule"), lambda a: a.rule.name),
        Column(_("Subject"), lambda a: a.subject),
        Column(_("Message"), lambda a: a.message),
        Column(_("Device"), lambda a: a.device.code if a.device_id else ""),
        Column(
            _("Asset"),
            lambda a: a.asset.code if a.asset_id else "",
            lambda a: reverse("web-asset", args=[a.asset_id]) if a.asset_id else "",
        ),
        Column(_("Company"), lambda a: str(a.company)),
        Column(_("Count"), lambda a: a.count),
        Column(_("Last seen"), lambda a: _local(a.last_seen)),
        Column(_("Acknowledged by"), lambda a: _user_name(a.acknowledged_by)),
        Column(_("Closed at"), lambda a: _local(a.closed_at)),
        Column(_("Note"), lambda a: a.note),
    ),
    _alert_rows,
    tuple(AlertStatus.choices),
    filters=(ListFilter("level", _("Level"), tuple(Level.choices)),),
    template="web/alerts.html",
    context=lambda request: {"may_change": may_change(request.user)},
)


@login_required
def alerts_page(request: HttpRequest) -> HttpResponse:
    """The alerts list: `?status=`, `?level=`, `?q=`; `?format=xlsx` exports it."""
    return _list_response(request, "alerts", ALERTS)


# -- the map: geofences, live positions, the alerts panel --------------------------------------


def _panel_config(user) -> dict:
    return {
        "alertsUrl": "/api/tracking/alerts/?status=open&ordering=-opened_at"
        f"&page_size={PANEL_ALERTS}",
        "actionUrl": "/api/tracking/alerts/{id}/{action}/",
        "listUrl": reverse("web-alerts"),
        "refreshSeconds": LIVE_SECONDS,
        "mayChange": may_change(user),
        "levels": {value: str(label) for value, label in Level.choices},
        "text": {
            "title": str(_("Open alerts")),
            "acknowledge": str(_("Acknowledge")),
            "acknowledged": str(_("Acknowledged")),
            "forbidden": str(_("You may not acknowledge alerts of this company.")),
            "failed": str(_("The alert could not be acknowledged.")),
            "none": str(_("No open alerts.")),
            "newAlert": str(_("New alert")),
            "device": str(_("Device")),
            "speed": str(_("Speed (km/h)")),
            "lastSeen": str(_("Last seen")),
            "online": str(_("Online")),
            "offline": str(_("Offline")),
            "geofence": str(_("Geofence")),
        },
    }


LAYERS = (
    maplayers.MapLayer(
        "geofences",
        _("Geofences"),
        "geojson",
        "/api/tracking/geofences/?is_active=true&page_size=1000",
        style="geofences",
    ),
    maplayers.MapLayer(
        "positions",
        _("Live positions"),
        "geojson",
        "/api/tracking/positions/",
        style="positions",
        refresh_seconds=LIVE_SECONDS,
    ),
)


def register() -> None:
    """Called once from WebConfig.ready()."""
    for layer in LAYERS:
        # Below the thematic candidates layer, above our tiles.
        maplayers.layer_register(layer, before="candidates")
    maplayers.extra_register(
        maplayers.MapExtra(
            "alerts", template="web/map_alerts.html", script="web/livemap.js", config=_panel_config
        )
    )
    LISTS.setdefault("alerts", ALERTS)
