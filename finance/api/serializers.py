"""Serializers of the finance API; writes go through finance.services and finance.meters."""

from django.utils import timezone
from rest_framework import serializers

from finance import meters
from finance.models import (
    Abatement,
    Bill,
    BillingRun,
    BillLine,
    ChargeItemConfig,
    Meter,
    MeterReading,
    Tariff,
)
from finance.services import abatement_request
from spatial.api.base import ScopedSerializerMixin


class BillLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillLine
        fields = ("id", "item", "description", "unit", "period_start", "period_end", "amount",
                  "net", "tax", "vat_rate", "tax_code", "trace")  # fmt: skip


class BillSerializer(serializers.ModelSerializer):
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    lease_number = serializers.CharField(source="lease.number", read_only=True)

    class Meta:
        model = Bill
        fields = ("id", "number", "kind", "company", "lease", "lease_number", "tenant",
                  "tenant_name", "period_start", "period_end", "due_date", "amount", "net",
                  "tax", "corrects", "reason", "posted_at", "posted_by", "run")  # fmt: skip
        read_only_fields = fields


class BillDetailSerializer(BillSerializer):
    lines = BillLineSerializer(many=True, read_only=True)
    corrections = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta(BillSerializer.Meta):
        fields = (*BillSerializer.Meta.fields, "lines", "corrections")
        read_only_fields = fields


class AdjustSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    reason = serializers.CharField(max_length=2000)
    item = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")


class PlanLineSerializer(serializers.Serializer):
    item = serializers.CharField()
    description = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    net = serializers.DecimalField(max_digits=16, decimal_places=2)
    tax = serializers.DecimalField(max_digits=16, decimal_places=2)
    vat_rate = serializers.DecimalField(max_digits=7, decimal_places=4)
    tax_code = serializers.CharField()
    trace = serializers.JSONField()


class BillingRunSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    period = serializers.RegexField(r"^\d{4}-\d{2}$", write_only=True)
    month = serializers.DateField(source="period", read_only=True, format="%Y-%m")

    class Meta:
        model = BillingRun
        fields = ("id", "period", "month", "company", "status", "started_at", "finished_at",
                  "started_by", "leases", "bills_posted", "lines_posted", "amount_posted",
                  "skipped", "summary", "error")  # fmt: skip
        read_only_fields = ("status", "started_at", "finished_at", "started_by", "leases",
                            "bills_posted", "lines_posted", "amount_posted", "skipped",
                            "summary", "error")  # fmt: skip


class AbatementSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Abatement
        fields = ("id", "company", "lease", "period_start", "period_end", "item", "kind",
                  "value", "reason", "status", "requested_by", "requested_at", "decided_by",
                  "decided_at", "decision_note", "bill")  # fmt: skip
        read_only_fields = ("company", "status", "requested_by", "requested_at", "decided_by",
                            "decided_at", "decision_note", "bill")  # fmt: skip
        validators = []

    def create(self, validated_data):
        return abatement_request(user=self.context["request"].user, **validated_data)


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class MeterSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Meter
        fields = ("id", "company", "unit", "kind", "serial", "multiplier", "max_reading",
                  "installed_on", "replaced_on", "active")  # fmt: skip
        read_only_fields = ("company", "replaced_on")
        validators = []

    def validate(self, attrs):
        unit = attrs.get("unit") or getattr(self.instance, "unit", None)
        serial = attrs.get("serial") or getattr(self.instance, "serial", None)
        clash = Meter.objects.filter(company_id=unit.company_id, serial=serial)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"serial": ["A meter with this serial exists."]})
        return attrs

    def create(self, validated_data):
        return Meter.objects.create(company_id=validated_data["unit"].company_id, **validated_data)


class MeterReadingSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    confirm = serializers.BooleanField(write_only=True, required=False, default=False)

    class Meta:
        model = MeterReading
        fields = ("id", "meter", "read_on", "value", "source", "consumption", "rollover",
                  "replaced", "old_final", "new_initial", "flagged", "confirmed_by", "bill",
                  "created_by", "created_at", "confirm")  # fmt: skip
        read_only_fields = ("source", "consumption", "flagged", "confirmed_by", "bill",
                            "created_by", "created_at")  # fmt: skip
        validators = []

    def create(self, validated_data):
        return meters.meter_reading_create(user=self.context["request"].user, **validated_data)


class TariffSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Tariff
        fields = ("id", "company", "kind", "price", "vat_rate", "effective_from")


class ChargeItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChargeItemConfig
        fields = ("code", "name", "vat_rate", "tax_code", "tax_name", "prices_include_tax",
                  "updated_at")  # fmt: skip


def today():
    return timezone.localdate()
