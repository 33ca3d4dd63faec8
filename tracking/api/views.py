"""Tracking API under /api/tracking/: devices, live positions for the map, geofences
(with GeoJSON import), rules, alerts (acknowledge, close), rejected messages (group
administrators), work orders and health scores."""

import json

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters as drf_filters
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from spatial import access
from spatial.api.base import ScopedModelViewSet
from spatial.api.filters import BBoxFilter
from spatial.choices import Role
from tracking import services
from tracking.api import serializers
from tracking.choices import GeofenceKind
from tracking.models import (
    Alert,
    Device,
    DeviceState,
    Geofence,
    HealthScore,
    RejectedMessage,
    Rule,
    WorkOrder,
)
from web.api.pagination import FeaturePagination


class DeviceViewSet(ScopedModelViewSet):
    """Devices. A device signs in to the broker with its code and access token, and may
    publish only its own topics; the token is shown when the device is created and when a
    new one is made (`token`), never in lists or reads."""

    queryset = Device.objects.select_related("company", "asset")
    serializer_class = serializers.DeviceSerializer
    filterset_fields = ("company", "kind", "status", "asset")
    search_fields = ("code", "name")
    ordering_fields = ("code", "created_at")

    def perform_create(self, serializer):
        super().perform_create(serializer)
        serializer.context["show_token"] = True

    def perform_destroy(self, instance):  # (the right to delete it was checked by get_object)
        services.device_delete(instance)

    @extend_schema(request=None, responses=serializers.DeviceTokenSerializer)
    @action(detail=True, methods=["post"])
    def token(self, request, pk=None):
        """Make a new access token for the device: the old one stops working at once (a
        device signed in with it is disconnected). The answer is the only place the new
        token is shown."""
        device = self.get_object()
        access.ensure_can(request.user, "change", Device, device.company_id)
        device = services.device_token_rotate(device)
        return Response(serializers.DeviceTokenSerializer(device).data)


class GeofenceViewSet(ScopedModelViewSet):
    queryset = Geofence.objects.prefetch_related("assets", "categories")
    serializer_class = serializers.GeofenceSerializer
    pagination_class = FeaturePagination
    bbox_filter_field = "geom"
    bbox_filter_include_overlapping = True
    filter_backends = (BBoxFilter, DjangoFilterBackend, drf_filters.SearchFilter)
    filterset_fields = ("company", "kind", "is_active")
    search_fields = ("name",)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "company": {"type": "integer"},
                },
            }
        },
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_file(self, request):
        """Import a GeoJSON FeatureCollection of polygons (name in properties.name);
        all features or none."""
        from django.contrib.gis.geos import GEOSException, GEOSGeometry

        from spatial.models import Company

        try:
            company = Company.objects.restrict(request.user).get(pk=request.data.get("company"))
        except (Company.DoesNotExist, ValueError, TypeError) as exc:
            raise ValidationError({"company": [_("Choose one of your companies.")]}) from exc
        access.ensure_can(request.user, "add", Geofence, company.pk)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": [_("Upload a GeoJSON file.")]})
        try:
            data = json.loads(upload.read())
            features = data["features"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError({"file": [_("Not a GeoJSON FeatureCollection.")]}) from exc
        created = []
        with transaction.atomic():
            for n, feature in enumerate(features, start=1):
                props = (feature or {}).get("properties") or {}
                try:
                    geom = GEOSGeometry(json.dumps(feature["geometry"]), srid=4326)
                except (GEOSException, ValueError, KeyError, TypeError) as exc:
                    msg = _("Feature %(n)d: unreadable geometry.") % {"n": n}
                    raise ValidationError({"file": [msg]}) from exc
                try:
                    fence = services.geofence_save(
                        company=company,
                        kind=GeofenceKind.POLYGON,
                        geom=geom,
                        name=str(props.get("name") or _("Geofence %(n)d") % {"n": n})[:200],
                        time_windows=props.get("time_windows") or [],
                    )
                except ValidationError as exc:
                    detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                    msg = _("Feature %(n)d: %(detail)s") % {"n": n, "detail": detail}
                    raise ValidationError({"file": [msg]}) from exc
                created.append(fence.pk)
        return Response({"created": len(created), "ids": created}, status=201)


class RuleViewSet(ScopedModelViewSet):
    queryset = Rule.objects.prefetch_related("devices", "assets", "categories")
    serializer_class = serializers.RuleSerializer
    filterset_fields = ("company", "kind", "level", "geofence", "is_active")
    search_fields = ("name",)


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts for the map and the list: filter by `status`, `level`, `rule`, `device`,
    `asset`, `bbox`. Acknowledge or close (with a note) through the actions."""

    queryset = Alert.objects.select_related("rule", "device", "asset", "work_order")
    serializer_class = serializers.AlertSerializer
    pagination_class = FeaturePagination
    bbox_filter_field = "geom"
    filter_backends = (BBoxFilter, DjangoFilterBackend, drf_filters.OrderingFilter)
    filterset_fields = ("company", "status", "level", "rule", "device", "asset")
    ordering_fields = ("opened_at", "last_seen", "level")

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")

    def _transition(self, request, service) -> Response:
        """Acknowledge or close: the note checked, the alert's company's right to change
        alerts asked, the service applied."""
        data = serializers.NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = self.get_object()
        access.ensure_can(request.user, "change", Alert, alert.company_id)
        alert = service(
            alert, user=request.user, now=timezone.now(), note=data.validated_data.get("note", "")
        )
        return Response(self.get_serializer(alert).data)

    @extend_schema(request=serializers.NoteSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._transition(request, services.alert_acknowledge)

    @extend_schema(request=serializers.NoteSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        return self._transition(request, services.alert_close)


class RejectedMessageViewSet(viewsets.ReadOnlyModelViewSet):
    """Messages the ingest worker refused, with the reason: for group administrators."""

    queryset = RejectedMessage.objects.all()
    serializer_class = serializers.RejectedMessageSerializer
    filterset_fields = ("reason", "device_code", "company")

    def get_queryset(self):
        user = self.request.user
        if not user.is_superuser and not any(
            role == Role.GROUP_ADMIN for _, role in access._memberships(user)
        ):
            raise PermissionDenied(_("Only administrators see rejected messages."))
        if user.is_superuser:
            return super().get_queryset()
        # Rows without a company (unknown devices) go to administrators at the group.
        shared = RejectedMessage.objects.filter(company__isnull=True)
        if not access.has_group_grant(user, "change", Device):
            shared = shared.none()
        return super().get_queryset().restrict(user, "view") | shared


class WorkOrderViewSet(ScopedModelViewSet):
    queryset = WorkOrder.objects.all()
    serializer_class = serializers.WorkOrderSerializer
    filterset_fields = ("company", "status", "asset", "assignee")
    ordering_fields = ("created_at", "due_date")
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class HealthScoreViewSet(viewsets.ReadOnlyModelViewSet):
    """Health index history per asset (`?asset=ID`), newest first."""

    queryset = HealthScore.objects.select_related("asset")
    serializer_class = serializers.HealthScoreSerializer
    filterset_fields = ("asset", "as_of")

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")


POSITIONS_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(
    json_build_object(
        'type', 'Feature', 'id', d.id,
        'geometry', ST_AsGeoJSON(s.geom, 7)::json,
        'properties', json_build_object(
            'code', d.code, 'name', d.name, 'kind', d.kind, 'company', d.company_id,
            'asset', d.asset_id, 'ts', s.ts, 'speed', s.speed, 'heading', s.heading,
            'online', s.online, 'last_seen', s.last_seen, 'inside', s.inside,
            'telemetry', s.telemetry)
    ) ORDER BY d.id), '[]'::json))::text
FROM tracking_devicestate s JOIN tracking_device d ON d.id = s.device_id
WHERE s.geom IS NOT NULL {where}
"""


@extend_schema(
    parameters=[
        OpenApiParameter("bbox", str, description="minLon,minLat,maxLon,maxLat"),
        OpenApiParameter("company", int),
        OpenApiParameter("online", bool),
    ],
    responses={200: {"type": "object"}},
)
class PositionViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """Last known position of every device you may see, as one GeoJSON FeatureCollection
    (built by PostgreSQL in one statement, for the live map)."""

    queryset = DeviceState.objects.none()
    pagination_class = None
    filter_backends = ()

    def list(self, request, *args, **kwargs):
        where, params = [], []
        ids = access.company_ids(request.user, "view", Device)
        if ids is not access.ALL:
            where.append("d.company_id = ANY(%s)")
            params.append(list(ids))
        bbox = BBoxFilter().get_filter_bbox(request)
        if bbox is not None:
            where.append("s.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
            params.extend(bbox.extent)
        if request.query_params.get("company"):
            try:
                params.append(int(request.query_params["company"]))
            except ValueError as exc:
                raise ValidationError({"company": [_("Give a company id.")]}) from exc
            where.append("d.company_id = %s")
        if request.query_params.get("online") in ("true", "false"):
            where.append("s.online = %s")
            params.append(request.query_params["online"] == "true")
        sql = POSITIONS_SQL.format(where="".join(f" AND {w}" for w in where))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            body = cursor.fetchone()[0]
        return HttpResponse(body, content_type="application/geo+json")
