"""Finance API: bills and their lines, billing runs, abatements, adjustments, meters,
readings, tariffs and charge items; every read scoped to the user's companies."""

from datetime import date

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters as drf_filters
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from finance import billing, meters, services
from finance.api import serializers
from finance.models import (
    Abatement,
    Bill,
    BillingRun,
    ChargeItemConfig,
    Meter,
    MeterReading,
    Tariff,
)
from leasing.models import Lease
from spatial import access
from spatial.api.base import ScopedModelViewSet
from spatial.models import Company


def _date(request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError({name: [_("Give a date as YYYY-MM-DD.")]}) from exc


class BillViewSet(ScopedModelViewSet):
    """应收账单: posted bills, never changed; corrections through `adjust`.

    Filters: lease, tenant, company, kind, corrects, `period` (YYYY-MM: bills whose period
    starts in that month), `due_before`."""

    queryset = Bill.objects.select_related("tenant", "lease")
    serializer_class = serializers.BillSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter, drf_filters.OrderingFilter)
    filterset_fields = ("lease", "tenant", "company", "kind", "corrects", "run")
    search_fields = ("number", "tenant__name", "lease__number")
    ordering_fields = ("period_start", "due_date", "amount", "number")
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.BillDetailSerializer
        return super().get_serializer_class()

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("lines", "corrections")
        params = self.request.query_params
        if period := params.get("period"):
            start, end = billing.month_bounds(billing.parse_month(period))
            queryset = queryset.filter(period_start__gte=start, period_start__lt=end)
        if due := _date(self.request, "due_before"):
            queryset = queryset.filter(due_date__lt=due)
        return queryset

    def create(self, request, *args, **kwargs):
        raise ValidationError({"kind": [_("Bills are posted by billing runs or adjustments.")]})

    @extend_schema(request=serializers.AdjustSerializer, responses=serializers.BillDetailSerializer)
    @action(detail=True, methods=["post"])
    def adjust(self, request, pk=None):
        """Post a debit (amount > 0) or credit (amount < 0) bill correcting this one."""
        bill = self.get_object()
        access.ensure_can(request.user, "add", Bill, bill.company_id)
        data = serializers.AdjustSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        adjustment = services.bill_adjust(
            bill, user=request.user, today=timezone.localdate(), **data.validated_data
        )
        return Response(serializers.BillDetailSerializer(adjustment).data, status=201)

    @extend_schema(
        parameters=[OpenApiParameter("lease", int, required=True),
                    OpenApiParameter("start", str), OpenApiParameter("until", str)],
        responses=serializers.PlanLineSerializer(many=True),
    )  # fmt: skip
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def plan(self, request):
        """应收计划: a lease's receivable schedule, period by period, posted or not, with
        each line's amount, VAT split and calculation trace."""
        raw = request.query_params.get("lease")
        if not raw or not raw.isdigit():
            raise ValidationError({"lease": [_("Give the lease id.")]})
        lease = get_object_or_404(Lease.objects.restrict(request.user, "view"), pk=int(raw))
        rows = billing.receivable_schedule(
            lease, start=_date(request, "start"), until=_date(request, "until")
        )
        return Response([
            {"period_start": r["plan"].period.start, "period_end": r["plan"].period.end,
             "issue_date": r["plan"].period.issue_date, "due_date": r["plan"].period.due_date,
             "version": r["plan"].period.version, "amount": str(r["plan"].amount),
             "net": str(r["plan"].net), "tax": str(r["plan"].tax),
             "posted_bill": r["posted_bill"],
             "lines": serializers.PlanLineSerializer(r["plan"].lines, many=True).data}
            for r in rows
        ])  # fmt: skip


class BillingRunViewSet(ScopedModelViewSet):
    """Billing runs: list them, or POST {"period": "YYYY-MM", "company": id} to run one
    (finance or a group administrator at that company; all companies: superusers)."""

    queryset = BillingRun.objects.select_related("company")
    serializer_class = serializers.BillingRunSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company", "status", "period")
    http_method_names = ["get", "post", "head", "options"]

    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        company: Company | None = data.validated_data.get("company")
        access.ensure_can(request.user, "add", BillingRun, company.pk if company else None)
        run = billing.billing_run(
            month=billing.parse_month(data.validated_data["period"]), company=company,
            user=request.user,
        )  # fmt: skip
        return Response(self.get_serializer(run).data, status=201)


class AbatementViewSet(ScopedModelViewSet):
    """减免: request (POST), then another user with finance rights approves or rejects."""

    queryset = Abatement.objects.select_related("lease")
    serializer_class = serializers.AbatementSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("lease", "status", "company")
    http_method_names = ["get", "post", "head", "options"]

    def _company_of(self, data, instance=None):
        lease = data.get("lease") or (instance.lease if instance else None)
        return lease.company_id if lease else None

    def _decide(self, service, **kwargs) -> Response:
        abatement = self.get_object()
        access.ensure_can(self.request.user, "change", Abatement, abatement.company_id)
        data = serializers.DecisionSerializer(data=self.request.data)
        data.is_valid(raise_exception=True)
        result = service(abatement, user=self.request.user, note=data.validated_data["note"],
                         **kwargs)  # fmt: skip
        return Response(self.get_serializer(result).data)

    @extend_schema(request=serializers.DecisionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(services.abatement_approve, today=timezone.localdate())

    @extend_schema(request=serializers.DecisionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(services.abatement_reject)


class MeterViewSet(ScopedModelViewSet):
    queryset = Meter.objects.select_related("unit")
    serializer_class = serializers.MeterSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("unit", "kind", "active", "company")
    http_method_names = ["get", "post", "patch", "head", "options"]

    def _company_of(self, data, instance=None):
        unit = data.get("unit") or (instance.unit if instance else None)
        return unit.company_id if unit else None


class MeterReadingViewSet(ScopedModelViewSet):
    """Readings: POST runs the checks (below the last, rollover, replacement, jump)."""

    queryset = MeterReading.objects.select_related("meter")
    serializer_class = serializers.MeterReadingSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("meter", "source", "flagged", "bill")
    http_method_names = ["get", "post", "head", "options"]

    def _company_of(self, data, instance=None):
        meter = data.get("meter") or (instance.meter if instance else None)
        return meter.company_id if meter else None

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm a flagged jump, so that billing takes it."""
        reading = self.get_object()
        access.ensure_can(request.user, "change", MeterReading, reading.meter.company_id)
        reading = meters.meter_reading_confirm(reading, user=request.user)
        return Response(self.get_serializer(reading).data)


class TariffViewSet(ScopedModelViewSet):
    queryset = Tariff.objects.all()
    serializer_class = serializers.TariffSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company", "kind")
    http_method_names = ["get", "post", "head", "options"]


class ChargeItemViewSet(viewsets.ReadOnlyModelViewSet):
    """Charge items with their default VAT rates and tax codes (changed in the admin)."""

    queryset = ChargeItemConfig.objects.all()
    serializer_class = serializers.ChargeItemSerializer
    lookup_field = "code"
    pagination_class = None
    filter_backends = ()

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")
