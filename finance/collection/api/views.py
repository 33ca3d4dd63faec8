"""Collection API: receipts and their allocation, late-fee policies, dunning, cases, reports.

Collection belongs to finance: a role that may write finance's bills (the finance role,
group administrators) may write receipts and collection settings here too; every other
role reads within its companies.
"""

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters as drf_filters
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from finance.collection import selectors, services
from finance.collection.api import serializers
from finance.collection.models import (
    Allocation,
    CollectionCase,
    DunningNotice,
    DunningPolicy,
    LateFeeAccrual,
    LateFeePolicy,
    Receipt,
)
from spatial import access
from spatial.api.base import ScopedModelViewSet


def ensure_can(user, action: str, model, company_id) -> None:
    """403 with collection's own message unless `user` may `action` these rows there
    (the finance role's grant on the `collection` app, spatial.access.ROLE_WRITES)."""
    if not access.can(user, action, model, company_id):
        raise access.PermissionDenied(_("You may not change collection records of this company."))


def _today() -> date:
    return timezone.localdate()


def _date_param(request, name: str, default: date | None = None) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default or _today()
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError({name: [_("Give a date as YYYY-MM-DD.")]}) from exc


def _plain(value: Any) -> Any:
    """Decimals leave the API as strings, like every serializer's."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- receipts ----------------------------------------------------------------------------------


class ReceiptViewSet(ScopedModelViewSet):
    """Receipts (实收). POST records one and allocates it; actions allocate, reverse and
    apply a tenant's credit."""

    queryset = selectors.receipts_unallocated(
        Receipt.objects.select_related("tenant", "reversed_by")
    )
    serializer_class = serializers.ReceiptSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter, drf_filters.OrderingFilter)
    filterset_fields = ("company", "tenant", "lease", "kind", "method", "received_on")
    search_fields = ("number", "reference", "payer_name", "tenant__name")
    ordering_fields = ("received_on", "amount", "number")
    http_method_names = ["get", "post", "head", "options"]

    def _respond(self, receipt: Receipt, status: int = 200) -> Response:
        receipt = self.get_queryset().get(pk=receipt.pk)
        return Response(serializers.ReceiptSerializer(receipt).data, status=status)

    @extend_schema(request=serializers.ReceiptCreateSerializer,
                   responses=serializers.ReceiptSerializer)  # fmt: skip
    def create(self, request, *args, **kwargs):
        data = serializers.ReceiptCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        kwargs = data.to_service_kwargs()
        lease, tenant = kwargs.get("lease"), kwargs["tenant"]
        company = kwargs.get("company") or (lease.company if lease else tenant.company)
        ensure_can(request.user, "add", Receipt, company.pk)
        receipt = services.receipt_record(user=request.user, today=_today(), **kwargs)
        return self._respond(receipt, status=201)

    def _change(self) -> Receipt:
        receipt = self.get_object()
        ensure_can(self.request.user, "change", Receipt, receipt.company_id)
        return receipt

    @extend_schema(request=serializers.AllocateSerializer,
                   responses=serializers.AllocationSerializer(many=True))  # fmt: skip
    @action(detail=True, methods=["post"])
    def allocate(self, request, pk=None):
        """Allocate what is left: to the bills listed, or the oldest due first."""
        receipt = self._change()
        data = serializers.AllocateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        listed = data.validated_data.get("allocations")
        made = services.receipt_allocate(
            receipt,
            None if listed is None else [(a["bill"], a["amount"]) for a in listed],
            on=data.validated_data.get("on"),
        )
        return Response(serializers.AllocationSerializer(made, many=True).data)

    @extend_schema(request=serializers.ReverseSerializer, responses=serializers.ReceiptSerializer)
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        """红冲: a negative receipt cancelling this one and its allocations."""
        receipt = self._change()
        data = serializers.ReverseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reversal = services.receipt_reverse(
            receipt, reason=data.validated_data["reason"],
            on=data.validated_data.get("on") or _today(), user=request.user,
        )  # fmt: skip
        return self._respond(reversal, status=201)

    @extend_schema(request=serializers.CreditApplySerializer,
                   responses=serializers.AllocationSerializer(many=True))  # fmt: skip
    @action(detail=False, methods=["post"], url_path="apply-credit")
    def apply_credit(self, request):
        """Use a tenant's unallocated payments on its open bills, oldest first."""
        data = serializers.CreditApplySerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        tenant = data.validated_data["tenant"]
        ensure_can(request.user, "change", Receipt, tenant.company_id)
        made = services.credit_apply(
            tenant=tenant, on=data.validated_data.get("on") or _today(), company=tenant.company
        )
        return Response(serializers.AllocationSerializer(made, many=True).data)


class AllocationViewSet(viewsets.ReadOnlyModelViewSet):
    """核销: which receipt paid which bill, and how much (read only; see receipts)."""

    queryset = Allocation.objects.select_related("bill", "receipt").order_by("pk")
    serializer_class = serializers.AllocationSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("receipt", "bill", "allocated_on")

    def get_queryset(self):
        visible = Receipt.objects.restrict(self.request.user, "view")
        return super().get_queryset().filter(receipt__in=visible.values("pk"))


# -- late fees ---------------------------------------------------------------------------------


class LateFeePolicyViewSet(ScopedModelViewSet):
    queryset = LateFeePolicy.objects.select_related("company", "lease")
    serializer_class = serializers.LateFeePolicySerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company", "lease", "active")


class LateFeeAccrualViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = LateFeeAccrual.objects.select_related("bill").order_by("bill_id")
    serializer_class = serializers.LateFeeAccrualSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("bill", "settled", "policy")

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")


# -- dunning -----------------------------------------------------------------------------------


class DunningPolicyViewSet(ScopedModelViewSet):
    queryset = DunningPolicy.objects.prefetch_related("levels")
    serializer_class = serializers.DunningPolicySerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company", "active")
    http_method_names = ["get", "post", "put", "patch", "head", "options"]


class DunningNoticeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = DunningNotice.objects.select_related("tenant").prefetch_related("bills")
    serializer_class = serializers.DunningNoticeSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.OrderingFilter)
    filterset_fields = ("company", "tenant", "lease", "level_number", "action", "sent_on")
    ordering_fields = ("sent_on", "amount", "days_overdue")

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")


class CollectionCaseViewSet(ScopedModelViewSet):
    """催收工单 opened by escalations and legal reviews; change status, assignee, note."""

    queryset = CollectionCase.objects.select_related("tenant")
    serializer_class = serializers.CollectionCaseSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company", "tenant", "kind", "status", "assignee")
    http_method_names = ["get", "put", "patch", "head", "options"]

    def perform_update(self, serializer):
        ensure_can(self.request.user, "change", CollectionCase, serializer.instance.company_id)
        serializer.instance = services.collection_case_update(
            serializer.instance, today=_today(), **serializer.validated_data
        )


# -- reports -----------------------------------------------------------------------------------

AS_OF = OpenApiParameter("as_of", str, description="YYYY-MM-DD; today when omitted")


class AgingView(APIView):
    """账龄: outstanding by days past due (0-30, 31-90, 91-180, 181-365, >365)."""

    @extend_schema(parameters=[AS_OF, OpenApiParameter("group", str,
                   description="tenant, lease, site or company")])  # fmt: skip
    def get(self, request):
        report = selectors.aging(
            user=request.user,
            as_of=_date_param(request, "as_of"),
            group=request.query_params.get("group", "tenant"),
        )
        return Response(_plain(report))


class CollectionRateView(APIView):
    """收缴率 of the bills due in a month, counting what was allocated by `as_of`."""

    @extend_schema(parameters=[AS_OF, OpenApiParameter("period", str, description="YYYY-MM")])
    def get(self, request):
        raw = request.query_params.get("period", "")
        try:
            year, month = (int(p) for p in raw.split("-"))
            start = date(year, month, 1)
        except ValueError as exc:
            raise ValidationError({"period": [_("Give a month as YYYY-MM.")]}) from exc
        end = date(year + month // 12, month % 12 + 1, 1)
        report = selectors.collection_rate(
            user=request.user, period_start=start, period_end=end,
            as_of=_date_param(request, "as_of"),
        )  # fmt: skip
        return Response(_plain(report))


class BalancesView(APIView):
    """Per tenant: owed, overdue, credit and deposits held."""

    @extend_schema(parameters=[AS_OF, OpenApiParameter("tenant", int)])
    def get(self, request):
        tenant = request.query_params.get("tenant")
        if tenant is not None and not tenant.isdigit():
            raise ValidationError({"tenant": [_("Give a tenant id.")]})
        rows = selectors.tenant_balances(
            user=request.user, as_of=_date_param(request, "as_of"),
            tenant_id=int(tenant) if tenant else None,
        )  # fmt: skip
        return Response(_plain(rows))
