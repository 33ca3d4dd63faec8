"""Invoicing API under /api/finance/: e-invoice requests and invoices, bank statements and
lines, vouchers and account codes.

Writes are finance writes: the roles that may change bills (finance, group admin) may
change these, in their companies; reads are open to every role in its companies.
"""

from django.http import HttpResponse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters as drf_filters
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from finance.invoicing import services
from finance.invoicing.api import serializers
from finance.invoicing.models import (
    AccountCode,
    BankLine,
    BankLineStatus,
    BankStatement,
    InvoiceRequest,
    Voucher,
)
from finance.models import Bill
from spatial import access
from spatial.api.base import ScopedModelViewSet

_ACTIONS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class FinancePermission(access.ScopedPermission):
    """Signed in; writes where the user's role may change finance rows (bills)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return access.can(user, _ACTIONS.get(request.method, "change"), Bill)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        company_id = access.scope_company_id(obj)
        if company_id is None:
            return access.has_group_grant(request.user, "change", Bill)
        return access.can(request.user, _ACTIONS.get(request.method, "change"), Bill, company_id)


def ensure_finance(user, company_id: int | None, action: str = "change") -> None:
    """403 unless `user` may write finance rows of this company (None: the group defaults)."""
    if company_id is None:
        if not access.has_group_grant(user, action, Bill):
            raise PermissionDenied(_("Only the group's finance staff change the group defaults."))
        return
    access.ensure_can(user, action, Bill, company_id)


class FinanceViewSet(viewsets.GenericViewSet):
    permission_classes = (FinancePermission,)

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user, "view")

    def _data(self, serializer_class, **kw):
        data = serializer_class(data=self.request.data, context=self.get_serializer_context(), **kw)
        data.is_valid(raise_exception=True)
        return data.validated_data

    def _object_for_change(self):
        obj = self.get_object()
        ensure_finance(self.request.user, access.scope_company_id(obj))
        return obj


# -- e-invoices --------------------------------------------------------------------------------


class InvoiceRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """开票申请: made from posted bills, submitted, issued or failed, reversed by red letter."""

    queryset = InvoiceRequest.objects.select_related("original").prefetch_related("items__bill")
    serializer_class = serializers.InvoiceRequestSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter, drf_filters.OrderingFilter)
    filterset_fields = ("company", "tenant", "lease", "status", "kind", "invoice_type")
    search_fields = ("number", "invoice_number", "buyer_name")
    ordering_fields = ("created_at", "invoice_date", "amount")

    def _done(self, request_obj: InvoiceRequest, status: int = 200) -> Response:
        obj = self.get_queryset().get(pk=request_obj.pk)
        return Response(self.get_serializer(obj).data, status=status)

    @extend_schema(request=serializers.InvoiceRequestCreateSerializer)
    def create(self, request):
        data = self._data(serializers.InvoiceRequestCreateSerializer)
        bills = data.pop("bills")
        for company_id in {b.company_id for b in bills}:
            ensure_finance(request.user, company_id, "add")
        created = services.invoice_request_create(
            bills=bills,
            invoice_type=data.pop("invoice_type"),
            remarks=data.pop("remarks"),
            buyer=data,
            user=request.user,
        )
        return self._done(created, status=201)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Hand this draft to the tax platform."""
        obj = self._object_for_change()
        services.invoice_requests_submit(requests=[obj])
        return self._done(obj)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Withdraw a draft or failed request; its bills may be invoiced again."""
        return self._done(services.invoice_request_cancel(self._object_for_change()))

    @extend_schema(request=serializers.ResultSerializer)
    @action(detail=True, methods=["post"])
    def result(self, request, pk=None):
        """Record the platform's result by hand: issued (number, date) or failed (reason)."""
        obj = self._object_for_change()
        data = self._data(serializers.ResultSerializer)
        return self._done(services.invoice_result_apply(obj, **data))

    @extend_schema(request=serializers.RedReverseSerializer)
    @action(detail=True, methods=["post"], url_path="red-reverse")
    def red_reverse(self, request, pk=None):
        """A red-letter request reversing this issued invoice."""
        obj = self._object_for_change()
        data = self._data(serializers.RedReverseSerializer)
        red = services.invoice_red_reverse(
            obj,
            reason=data["reason"],
            confirmation_number=data.get("confirmation_number", ""),
            user=request.user,
        )
        return self._done(red, status=201)


class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """Issued invoices (blue and red), read-only."""

    queryset = (
        InvoiceRequest.objects.exclude(invoice_number="")
        .select_related("original")
        .prefetch_related("items__bill")
        .order_by("-invoice_date", "-id")
    )
    serializer_class = serializers.InvoiceRequestSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter)
    filterset_fields = {
        "company": ["exact"],
        "tenant": ["exact"],
        "kind": ["exact"],
        "status": ["exact"],
        "invoice_date": ["gte", "lt"],
    }
    search_fields = ("invoice_number", "buyer_name", "buyer_tax_id")


# -- bank statements ---------------------------------------------------------------------------


class BankStatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """Imported bank statements. POST a CSV or XLSX export (multipart) to import one."""

    queryset = BankStatement.objects.all()
    serializer_class = serializers.BankStatementSerializer
    parser_classes = (MultiPartParser, FormParser, JSONParser)
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company",)

    @extend_schema(request={"multipart/form-data": serializers.BankStatementUploadSerializer})
    def create(self, request):
        data = self._data(serializers.BankStatementUploadSerializer)
        ensure_finance(request.user, data["company"].pk, "add")
        upload = data["file"]
        statement = services.bank_statement_import(
            company=data["company"],
            content=upload.read(),
            file_name=upload.name,
            user=request.user,
            mapping=data.get("mapping") or {},
            account_number=data.get("account_number", ""),
            bank_name=data.get("bank_name", ""),
            automatch=data["automatch"],
        )
        return Response(self.get_serializer(statement).data, status=201)


class BankLineViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """Credits of the statements: `?status=unmatched` (or suggested) lists the work left."""

    queryset = BankLine.objects.select_related("suggested_bill", "receipt").order_by(
        "booked_on", "id"
    )
    serializer_class = serializers.BankLineSerializer
    filter_backends = (DjangoFilterBackend, drf_filters.SearchFilter, drf_filters.OrderingFilter)
    filterset_fields = ("company", "statement", "status", "booked_on")
    search_fields = ("payer_name", "memo", "serial")
    ordering_fields = ("booked_on", "amount", "confidence")

    @extend_schema(request=serializers.BankLineMatchSerializer)
    @action(detail=True, methods=["post"])
    def match(self, request, pk=None):
        """Match by hand to an open bill (records and allocates a receipt) or a receipt."""
        line = self._object_for_change()
        data = self._data(serializers.BankLineMatchSerializer)
        line = services.bank_line_match(
            line,
            bill=data.get("bill"),
            receipt=data.get("receipt"),
            force=data["force"],
            user=request.user,
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=line.pk)).data)

    @extend_schema(request=serializers.IgnoreSerializer)
    @action(detail=True, methods=["post"])
    def ignore(self, request, pk=None):
        """Set aside a line that is not tenants' money."""
        line = self._object_for_change()
        data = self._data(serializers.IgnoreSerializer)
        line = services.bank_line_ignore(line, reason=data["reason"], user=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=line.pk)).data)

    @extend_schema(request=None)
    @action(detail=False, methods=["post"])
    def rematch(self, request):
        """Score the open lines again (new bills or receipts may have arrived)."""
        open_lines = BankLine.objects.restrict(request.user, "view").filter(
            status__in=[BankLineStatus.UNMATCHED, BankLineStatus.SUGGESTED]
        )
        allowed = [
            line for line in open_lines if access.can(request.user, "change", Bill, line.company_id)
        ]
        return Response(services.bank_lines_match(allowed, user=request.user))


# -- vouchers ----------------------------------------------------------------------------------

PERIOD = OpenApiParameter("period", str, description="YYYY-MM", required=True)
FORMAT = OpenApiParameter("format", str, description="csv or json")


class VoucherViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, FinanceViewSet):
    """记账凭证 of bills and receipts, balanced, one per source document."""

    queryset = Voucher.objects.prefetch_related("entries")
    serializer_class = serializers.VoucherSerializer
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = {"company": ["exact"], "source": ["exact"], "date": ["gte", "lt"]}

    def perform_content_negotiation(self, request, force=False):
        # `?format=csv` names the export's file format, not a DRF renderer.
        return super().perform_content_negotiation(request, force=force or self.action == "export")

    @extend_schema(request=serializers.VoucherGenerateSerializer)
    @action(detail=False, methods=["post"])
    def generate(self, request):
        """Vouchers for the month's bills and receipts that have none; returns the count."""
        data = self._data(serializers.VoucherGenerateSerializer)
        start, end = services.period_bounds(data["period"])
        companies = access.company_ids(request.user, "change", Bill)
        if data.get("company") is not None:
            company = data["company"]
            ensure_finance(request.user, company.pk)
            subtree = company.__class__.objects.filter(path__startswith=company.path)
            wanted = set(subtree.values_list("pk", flat=True))
            companies = wanted if companies is access.ALL else wanted & set(companies)
        made = services.vouchers_generate(
            start=start, end=end, companies=companies, user=request.user
        )
        return Response({"created": len(made)}, status=201 if made else 200)

    @extend_schema(parameters=[PERIOD, FORMAT], responses={200: bytes})
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def export(self, request):
        """The month's vouchers, one row per entry, for the ERP (CSV or JSON)."""
        period = request.query_params.get("period") or ""
        if not period:
            raise ValidationError({"period": [_("Give the period as YYYY-MM.")]})
        start, end = services.period_bounds(period)
        fmt = request.query_params.get("format", "csv")
        vouchers = self.get_queryset().filter(date__gte=start, date__lt=end)
        if company := request.query_params.get("company"):
            if not company.isdigit():
                raise ValidationError({"company": [_("Give a company id.")]})
            vouchers = vouchers.filter(company_id=int(company))
        text, content_type = services.vouchers_export(vouchers.order_by("date", "number"), fmt=fmt)
        response = HttpResponse(text, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="vouchers-{period}.{fmt}"'
        return response


class AccountCodeViewSet(ScopedModelViewSet):
    """The ERP account code per role: group defaults (no company) and company overrides."""

    queryset = AccountCode.objects.select_related("company")
    serializer_class = serializers.AccountCodeSerializer
    permission_classes = (FinancePermission,)
    filter_backends = (DjangoFilterBackend,)
    filterset_fields = ("company", "key")
    pagination_class = None

    def perform_create(self, serializer):
        company = serializer.validated_data.get("company")
        ensure_finance(self.request.user, company.pk if company else None, "add")
        serializer.instance = services.account_code_save(**serializer.validated_data)

    def perform_update(self, serializer):
        instance = serializer.instance
        company = serializer.validated_data.get("company", instance.company)
        ensure_finance(self.request.user, instance.company_id)
        ensure_finance(self.request.user, company.pk if company else None)
        serializer.instance = services.account_code_save(instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        ensure_finance(self.request.user, instance.company_id, "delete")
        instance.delete()


__all__ = [
    "AccountCodeViewSet",
    "BankLineViewSet",
    "BankStatementViewSet",
    "InvoiceRequestViewSet",
    "InvoiceViewSet",
    "VoucherViewSet",
]
