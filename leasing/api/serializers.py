"""Serializers of the leasing API; writes go through leasing.services."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from leasing import choices, services
from leasing.models import (
    FreePeriod,
    Lease,
    LeaseCharge,
    LeaseEvent,
    LeaseSettlement,
    LeaseUnit,
    LeaseVersion,
    RentStep,
    Tenant,
    TurnoverReport,
    UnitListing,
)
from spatial import access
from spatial.api.base import ScopedRelatedField, ScopedSerializerMixin
from spatial.choices import Role
from spatial.models import Unit

#: Roles that see tenants' phone and ID numbers in full.
PERSONAL_DATA_ROLES = frozenset({Role.GROUP_ADMIN, Role.LEASING_AGENT, Role.FINANCE})


def sees_personal_data(user, company) -> bool:
    """Does `user` hold, at `company` or above it, a role that needs tenants' phone and ID?"""
    return access.holds_role(user, company, PERSONAL_DATA_ROLES)


def mask_phone(value: str) -> str:
    """13812341234 → 138****1234."""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_id(value: str) -> str:
    """340104199001011234 → 340104********1234."""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


class TenantSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = (
            "id", "company", "kind", "name", "uscc", "id_number", "contact_name", "phone",
            "email", "industry", "size", "credit_rating", "remarks", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = ("credit_rating", "created_at", "updated_at")
        validators = []

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not sees_personal_data(getattr(request, "user", None), instance.company):
            data["phone"] = mask_phone(data["phone"] or "") if data["phone"] else ""
            data["id_number"] = mask_id(data["id_number"] or "") if data["id_number"] else ""
        return data

    def create(self, validated_data):
        return services.tenant_create(**validated_data)

    def update(self, instance, validated_data):
        return services.tenant_update(instance, **validated_data)


# -- terms -------------------------------------------------------------------------------------


class LineInputSerializer(serializers.Serializer):
    unit = ScopedRelatedField(queryset=Unit.objects.all())
    area = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = RentStep
        fields = ("start_date", "price", "basis")


class FreePeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = FreePeriod
        fields = ("start_date", "end_date", "covers_charges")


class ChargeSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeaseCharge
        fields = ("item", "name", "price", "basis", "quantity", "vat_rate")
        extra_kwargs = {"vat_rate": {"required": False}}


class LineSerializer(serializers.ModelSerializer):
    unit_code = serializers.CharField(source="unit.code", read_only=True)
    period_start = serializers.DateField(source="period.lower", read_only=True)
    period_end = serializers.DateField(source="period.upper", read_only=True)

    class Meta:
        model = LeaseUnit
        fields = ("unit", "unit_code", "area", "rent_per_sqm_month", "period_start",
                  "period_end", "blocking")  # fmt: skip


VERSION_FIELDS = services.VERSION_FIELDS


class VersionSerializer(serializers.ModelSerializer):
    steps = StepSerializer(many=True, read_only=True)
    free_periods = FreePeriodSerializer(many=True, read_only=True)
    charges = ChargeSerializer(many=True, read_only=True)
    lines = LineSerializer(many=True, read_only=True)

    class Meta:
        model = LeaseVersion
        fields = ("number", "effective_from", "start_date", "end_date", *VERSION_FIELDS,
                  "reason", "created_at", "steps", "free_periods", "charges", "lines")  # fmt: skip


class TermsInputMixin(serializers.Serializer):
    units = LineInputSerializer(many=True, required=False, write_only=True)
    steps = StepSerializer(many=True, required=False, write_only=True)
    free_periods = FreePeriodSerializer(many=True, required=False, write_only=True)
    charges = ChargeSerializer(many=True, required=False, write_only=True)
    payment_cycle = serializers.ChoiceField(choices.PaymentCycle.choices, required=False)
    bill_lead_days = serializers.IntegerField(min_value=0, required=False)
    due_offset_days = serializers.IntegerField(required=False)
    monthly_basis = serializers.ChoiceField(choices.MonthlyBasis.choices, required=False)
    prices_include_tax = serializers.BooleanField(required=False)
    rent_vat_rate = serializers.DecimalField(max_digits=7, decimal_places=4, required=False)
    escalation_rate = serializers.DecimalField(max_digits=7, decimal_places=4, required=False)
    escalation_every_months = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    turnover_rate = serializers.DecimalField(
        max_digits=7, decimal_places=4, required=False, allow_null=True
    )
    early_termination_penalty_months = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False
    )
    breach_penalty_months = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    deposit_forfeited_on_breach = serializers.BooleanField(required=False)


def _plain_terms(data: dict) -> dict:
    for key in ("units", "steps", "free_periods", "charges"):
        if key in data:
            data[key] = [dict(item) for item in data[key]]
    return data


class LeaseSerializer(ScopedSerializerMixin, TermsInputMixin, serializers.ModelSerializer):
    tenant_name = serializers.CharField(source="tenant.name", read_only=True)
    current_version = serializers.SerializerMethodField()

    class Meta:
        model = Lease
        fields = (
            "id", "company", "number", "tenant", "tenant_name", "use", "status", "signed_on",
            "start_date", "end_date", "deposit_amount", "deposit_received",
            "deposit_received_on", "renewal_of", "submitted_by", "submitted_at", "approved_by",
            "approved_at", "move_out_date", "termination_kind", "closed_through", "remarks",
            "created_at", "updated_at", "current_version",
            "units", "steps", "free_periods", "charges", *VERSION_FIELDS,
        )  # fmt: skip
        read_only_fields = (
            "status", "deposit_received", "deposit_received_on", "renewal_of", "submitted_by",
            "submitted_at", "approved_by", "approved_at", "move_out_date", "termination_kind",
            "closed_through", "created_at", "updated_at",
        )  # fmt: skip
        extra_kwargs = {"company": {"required": False}}
        validators = []

    def get_current_version(self, obj) -> dict:
        versions = list(obj.versions.all())
        return VersionSerializer(versions[-1]).data if versions else None

    def create(self, validated_data):
        request = self.context["request"]
        return services.lease_create(
            user=request.user, today=timezone.localdate(), **_plain_terms(validated_data)
        )

    def update(self, instance, validated_data):
        request = self.context["request"]
        return services.lease_update(
            instance, user=request.user, today=timezone.localdate(), **_plain_terms(validated_data)
        )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class AmendSerializer(TermsInputMixin):
    effective_from = serializers.DateField()
    end_date = serializers.DateField(required=False)
    reason = serializers.CharField(max_length=255)


class RenewSerializer(TermsInputMixin):
    number = serializers.CharField(max_length=64)
    end_date = serializers.DateField()
    deposit_amount = serializers.DecimalField(max_digits=16, decimal_places=2, required=False)


class TerminateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices.TerminationKind.choices)
    move_out_date = serializers.DateField()
    paid = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Paid towards rent and charges; omitted: what collection has recorded."),
    )
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    vacancy_reason = serializers.ChoiceField(
        choices.VacancyReason.choices, required=False, allow_blank=True, default=""
    )


class DepositSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    received_on = serializers.DateField()


class SettlementSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeaseSettlement
        fields = ("kind", "move_out_date", "charges_due", "paid", "outstanding", "penalty",
                  "deposit_offset", "balance", "lines", "reason", "created_at")  # fmt: skip


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)

    class Meta:
        model = LeaseEvent
        fields = ("kind", "on", "at", "actor", "reason", "data")


class TurnoverReportSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = TurnoverReport
        fields = ("id", "lease", "period_start", "period_end", "amount", "reported_on",
                  "created_at")  # fmt: skip
        read_only_fields = ("reported_on", "created_at")
        validators = []

    def create(self, validated_data):
        request = self.context["request"]
        return services.turnover_report_create(
            user=request.user, today=timezone.localdate(), **validated_data
        )


class UnitListingSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = UnitListing
        fields = ("id", "unit", "asking_rent", "vacant_since", "vacancy_reason", "note",
                  "updated_at")  # fmt: skip
        read_only_fields = ("updated_at",)
        validators = []

    def create(self, validated_data):
        return services.unit_listing_update(**validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("unit", None)
        return services.unit_listing_update(unit=instance.unit, **validated_data)


class ChargeLineSerializer(serializers.Serializer):
    item = serializers.CharField()
    name = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    net = serializers.DecimalField(max_digits=16, decimal_places=2)
    tax = serializers.DecimalField(max_digits=16, decimal_places=2)
    vat_rate = serializers.DecimalField(max_digits=7, decimal_places=4)
    version = serializers.IntegerField()
    trace = serializers.ListField(child=serializers.DictField())


HELP_AS_OF = _("Business date (YYYY-MM-DD); today when omitted.")
