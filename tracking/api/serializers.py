"""Tracking API serializers: devices, geofences (GeoJSON), rules, alerts (GeoJSON),
rejected messages, work orders, health scores. Writes go through tracking.services."""

from django.utils import timezone
from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from spatial.api.base import ScopedSerializerMixin
from tracking import services
from tracking.models import (
    Alert,
    Device,
    Geofence,
    HealthScore,
    RejectedMessage,
    Rule,
    WorkOrder,
)


class DeviceSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    location = GeometryField(required=False, allow_null=True)
    company_code = serializers.CharField(source="company.code", read_only=True)
    asset_code = serializers.CharField(source="asset.code", read_only=True, default=None)

    class Meta:
        model = Device
        fields = (
            "id",
            "code",
            "name",
            "kind",
            "status",
            "company",
            "company_code",
            "asset",
            "asset_code",
            "location",
            "max_speed_kmh",
            "normal_ranges",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")

    def create(self, validated_data):
        return services.device_create(**validated_data)

    def update(self, instance, validated_data):
        return services.device_update(instance, **validated_data)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("show_token"):  # the answer to its creation only
            data.update(DeviceTokenSerializer(instance).data)
        return data


class DeviceTokenSerializer(serializers.Serializer):
    """How a device signs in to the broker: its code as the username, its token as the
    password (see docs/tracking.md)."""

    username = serializers.CharField(source="code", read_only=True)
    token = serializers.CharField(read_only=True)


class GeofenceSerializer(ScopedSerializerMixin, GeoFeatureModelSerializer):
    """A geofence as a GeoJSON Feature. For a circle give `center` and `radius_m`; for a
    corridor `road` or `line` and `width_m`; the geometry is then computed."""

    geom = GeometryField(required=False, allow_null=True)
    center = GeometryField(required=False, allow_null=True)
    line = GeometryField(required=False, allow_null=True)

    class Meta:
        model = Geofence
        geo_field = "geom"
        fields = (
            "id",
            "company",
            "name",
            "kind",
            "center",
            "radius_m",
            "line",
            "road",
            "width_m",
            "time_windows",
            "assets",
            "categories",
            "is_active",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")

    def create(self, validated_data):
        return services.geofence_save(**_drop_empty_geom(validated_data))

    def update(self, instance, validated_data):
        return services.geofence_save(instance, **_drop_empty_geom(validated_data))


def _drop_empty_geom(data: dict) -> dict:
    """A circle or corridor is sent with `"geometry": null`: its area is computed."""
    if data.get("geom") is None:
        data.pop("geom", None)
    return data


class RuleSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = (
            "id",
            "company",
            "name",
            "kind",
            "level",
            "geofence",
            "metric",
            "threshold",
            "minutes",
            "days",
            "share",
            "devices",
            "assets",
            "categories",
            "debounce_points",
            "debounce_seconds",
            "opens_work_order",
            "webhook_url",
            "is_active",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")

    def create(self, validated_data):
        return services.rule_save(**validated_data)

    def update(self, instance, validated_data):
        return services.rule_save(instance, **validated_data)


class AlertSerializer(GeoFeatureModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    kind = serializers.CharField(source="rule.kind", read_only=True)
    device_code = serializers.CharField(source="device.code", read_only=True, default=None)
    asset_code = serializers.CharField(source="asset.code", read_only=True, default=None)
    work_order = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Alert
        geo_field = "geom"
        fields = (
            "id",
            "company",
            "rule",
            "rule_name",
            "kind",
            "device",
            "device_code",
            "asset",
            "asset_code",
            "subject",
            "level",
            "status",
            "message",
            "triggered_at",
            "opened_at",
            "last_seen",
            "count",
            "acknowledged_by",
            "acknowledged_at",
            "closed_by",
            "closed_at",
            "note",
            "work_order",
        )
        read_only_fields = fields


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class RejectedMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectedMessage
        fields = (
            "id",
            "topic",
            "payload",
            "reason",
            "detail",
            "device_code",
            "company",
            "received_at",
        )
        read_only_fields = fields


class WorkOrderSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = WorkOrder
        fields = (
            "id",
            "company",
            "title",
            "description",
            "asset",
            "alert",
            "status",
            "assignee",
            "due_date",
            "created_at",
            "closed_at",
        )
        read_only_fields = ("alert", "created_at", "closed_at")

    def create(self, validated_data):
        return services.work_order_save(now=timezone.now(), **validated_data)

    def update(self, instance, validated_data):
        return services.work_order_save(instance, now=timezone.now(), **validated_data)


class HealthScoreSerializer(serializers.ModelSerializer):
    asset_code = serializers.CharField(source="asset.code", read_only=True)

    class Meta:
        model = HealthScore
        fields = ("id", "asset", "asset_code", "score", "components", "as_of", "computed_at")
        read_only_fields = fields
