"""Serializers of the collection API; writes go through finance.collection.services."""

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from finance.collection import services
from finance.collection.models import (
    Allocation,
    CollectionCase,
    DunningAction,
    DunningChannel,
    DunningLevel,
    DunningNotice,
    DunningPolicy,
    LateFeeAccrual,
    LateFeePolicy,
    PaymentMethod,
    Receipt,
    ReceiptKind,
)
from finance.models import Bill
from leasing.models import Lease, Tenant
from spatial.api.base import ScopedRelatedField, ScopedSerializerMixin
from spatial.models import Company

MONEY = {"max_digits": 16, "decimal_places": 2}


def _assignee_field() -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False, allow_null=True
    )


class AllocationSerializer(serializers.ModelSerializer):
    bill_number = serializers.CharField(source="bill.number", read_only=True)
    receipt_number = serializers.CharField(source="receipt.number", read_only=True)

    class Meta:
        model = Allocation
        fields = ("id", "receipt", "receipt_number", "bill", "bill_number", "amount",
                  "allocated_on", "created_at")  # fmt: skip
        read_only_fields = fields


class ReceiptSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    allocated = serializers.DecimalField(read_only=True, **MONEY)
    unallocated = serializers.DecimalField(read_only=True, **MONEY)
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    reversed_by = serializers.SerializerMethodField()

    class Meta:
        model = Receipt
        fields = (
            "id", "number", "company", "tenant", "tenant_name", "lease", "kind", "method",
            "received_on", "amount", "allocated", "unallocated", "payer_name", "reference",
            "reverses", "reversed_by", "remarks", "created_at", "created_by",
        )  # fmt: skip
        read_only_fields = fields

    def get_reversed_by(self, obj) -> int | None:
        reversal = getattr(obj, "reversed_by", None)
        return reversal.pk if reversal else None


class AllocationInputSerializer(serializers.Serializer):
    bill = ScopedRelatedField(queryset=Bill.objects.all())
    amount = serializers.DecimalField(**MONEY)


class ReceiptCreateSerializer(serializers.Serializer):
    """A new receipt. `allocations` omitted or null: oldest due first; [] keeps it all as
    credit; a list sets it against the bills named."""

    tenant = ScopedRelatedField(queryset=Tenant.objects.all())
    company = ScopedRelatedField(queryset=Company.objects.all(), required=False)
    lease = ScopedRelatedField(queryset=Lease.objects.all(), required=False, allow_null=True)
    kind = serializers.ChoiceField(
        choices=[ReceiptKind.PAYMENT, ReceiptKind.DEPOSIT], default=ReceiptKind.PAYMENT
    )
    method = serializers.ChoiceField(
        choices=[c for c in PaymentMethod.values if c != PaymentMethod.OFFSET]
    )
    received_on = serializers.DateField()
    amount = serializers.DecimalField(**MONEY)
    payer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    remarks = serializers.CharField(required=False, allow_blank=True)
    allocations = AllocationInputSerializer(many=True, required=False, allow_null=True)
    force = serializers.BooleanField(
        default=False, help_text=_("Record it even if it looks like a duplicate.")
    )

    def to_service_kwargs(self) -> dict:
        data = dict(self.validated_data)
        allocations = data.pop("allocations", None)
        if allocations is None:
            data["allocate"] = "auto"
        else:
            data["allocate"] = [(a["bill"], a["amount"]) for a in allocations] or None
        return data


class AllocateSerializer(serializers.Serializer):
    allocations = AllocationInputSerializer(many=True, required=False, allow_null=True)
    on = serializers.DateField(required=False)


class ReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    on = serializers.DateField(required=False)


class CreditApplySerializer(serializers.Serializer):
    tenant = ScopedRelatedField(queryset=Tenant.objects.all())
    on = serializers.DateField(required=False)


class LateFeePolicySerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = LateFeePolicy
        fields = ("id", "company", "lease", "daily_rate", "grace_days", "cap_rate", "vat_rate",
                  "due_days", "active", "created_at")  # fmt: skip
        read_only_fields = ("created_at",)
        validators = []

    def validate(self, attrs):
        company = attrs.get("company", getattr(self.instance, "company", None))
        lease = attrs.get("lease", getattr(self.instance, "lease", None))
        if lease is not None and company is not None and lease.company_id != company.pk:
            raise serializers.ValidationError({"lease": [_("The lease is of another company.")]})
        others = LateFeePolicy.objects.exclude(pk=getattr(self.instance, "pk", None))
        if lease is None and others.filter(company=company, lease__isnull=True).exists():
            raise serializers.ValidationError(
                {"company": [_("This company already has a default late-fee policy.")]}
            )
        if lease is not None and others.filter(lease=lease).exists():
            raise serializers.ValidationError({"lease": [_("This lease already has a policy.")]})
        rate = attrs.get("daily_rate")
        if rate is not None and not (0 <= rate < 0.01):
            raise serializers.ValidationError(
                {"daily_rate": [_("A daily rate is between 0 and 0.01 (1 % a day).")]}
            )
        cap = attrs.get("cap_rate")
        if cap is not None and cap < 0:
            raise serializers.ValidationError({"cap_rate": [_("The cap cannot be negative.")]})
        vat = attrs.get("vat_rate")
        if vat is not None and not (0 <= vat < 1):
            raise serializers.ValidationError({"vat_rate": [_("A VAT rate is between 0 and 1.")]})
        return attrs


class LateFeeAccrualSerializer(serializers.ModelSerializer):
    bill_number = serializers.CharField(source="bill.number", read_only=True)

    class Meta:
        model = LateFeeAccrual
        fields = ("id", "bill", "bill_number", "policy", "through", "days", "accrued", "posted",
                  "settled", "last_fee_bill")  # fmt: skip
        read_only_fields = fields


class DunningLevelSerializer(serializers.ModelSerializer):
    action = serializers.ChoiceField(choices=DunningAction.choices)
    channel = serializers.ChoiceField(choices=DunningChannel.choices, default=DunningChannel.SMS)
    assignee = _assignee_field()

    class Meta:
        model = DunningLevel
        fields = ("level", "min_days", "min_amount", "action", "channel", "assignee", "template")


class DunningPolicySerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    levels = DunningLevelSerializer(many=True)

    class Meta:
        model = DunningPolicy
        fields = ("id", "company", "name", "active", "levels", "created_at")
        read_only_fields = ("created_at",)
        validators = []

    def create(self, validated_data):
        return services.dunning_policy_save(**validated_data)

    def update(self, instance, validated_data):
        data = {
            "company": instance.company,
            "name": validated_data.get("name", instance.name),
            "active": validated_data.get("active", instance.active),
            "levels": validated_data.get(
                "levels",
                [
                    {f: getattr(lv, f) for f in DunningLevelSerializer.Meta.fields}
                    for lv in instance.levels.all()
                ],
            ),
        }
        return services.dunning_policy_save(policy=instance, **data)


class DunningNoticeSerializer(serializers.ModelSerializer):
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)

    class Meta:
        model = DunningNotice
        fields = ("id", "company", "tenant", "tenant_name", "lease", "level_number", "action",
                  "channel", "amount", "days_overdue", "bills", "sent_on", "text")  # fmt: skip
        read_only_fields = fields


class CollectionCaseSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    assignee = _assignee_field()

    class Meta:
        model = CollectionCase
        fields = ("id", "company", "tenant", "tenant_name", "kind", "status", "assignee",
                  "notice", "amount", "opened_on", "closed_on", "note")  # fmt: skip
        read_only_fields = ("id", "company", "tenant", "tenant_name", "kind", "notice",
                            "amount", "opened_on", "closed_on")  # fmt: skip
