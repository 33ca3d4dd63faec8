"""Serializers of the invoicing API; writes go through finance.invoicing.services."""

import json

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from finance.collection.models import Receipt
from finance.invoicing.models import (
    AccountCode,
    BankLine,
    BankStatement,
    InvoiceRequest,
    InvoiceRequestItem,
    InvoiceType,
    Voucher,
    VoucherEntry,
)
from finance.models import Bill
from spatial.api.base import ScopedRelatedField, ScopedSerializerMixin
from spatial.models import Company

MONEY = {"max_digits": 16, "decimal_places": 2}


class InvoiceItemSerializer(serializers.ModelSerializer):
    bill_number = serializers.CharField(source="bill.number", read_only=True)

    class Meta:
        model = InvoiceRequestItem
        fields = ("id", "bill", "bill_number", "bill_line", "holds", "name", "tax_code",
                  "specification", "measure_unit", "quantity", "unit_price", "amount", "net",
                  "tax", "vat_rate", "property_address", "property_certificate", "lease_start",
                  "lease_end")  # fmt: skip
        read_only_fields = fields


class InvoiceRequestSerializer(serializers.ModelSerializer):
    items = InvoiceItemSerializer(many=True, read_only=True)
    original_number = serializers.CharField(
        source="original.invoice_number", default=None, read_only=True
    )

    class Meta:
        model = InvoiceRequest
        fields = ("id", "company", "tenant", "lease", "number", "kind", "invoice_type", "status",
                  "seller_name", "seller_tax_id", "buyer_name", "buyer_tax_id", "buyer_address",
                  "buyer_phone", "buyer_bank", "buyer_account", "buyer_email", "amount", "net",
                  "tax", "remarks", "original", "original_number", "red_reason",
                  "red_confirmation_number", "invoice_number", "invoice_date", "failure_reason",
                  "outbox_file", "submitted_at", "issued_at", "created_at", "items")  # fmt: skip
        read_only_fields = fields


class InvoiceRequestCreateSerializer(serializers.Serializer):
    bills = serializers.ListField(
        child=ScopedRelatedField(queryset=Bill.objects.all()), allow_empty=False
    )
    invoice_type = serializers.ChoiceField(InvoiceType.choices)
    remarks = serializers.CharField(max_length=230, required=False, allow_blank=True, default="")
    buyer_address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    buyer_phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    buyer_bank = serializers.CharField(max_length=100, required=False, allow_blank=True)
    buyer_account = serializers.CharField(max_length=40, required=False, allow_blank=True)
    buyer_email = serializers.EmailField(required=False, allow_blank=True)


class RedReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)
    confirmation_number = serializers.CharField(max_length=40, required=False, allow_blank=True)


class ResultSerializer(serializers.Serializer):
    issued = serializers.BooleanField()
    invoice_number = serializers.CharField(max_length=20, required=False, allow_blank=True)
    invoice_date = serializers.DateField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class BankStatementSerializer(serializers.ModelSerializer):
    class Meta:
        model = BankStatement
        fields = ("id", "company", "account_number", "bank_name", "file_name", "sha256",
                  "lines_read", "lines_added", "lines_duplicate", "imported_at")  # fmt: skip
        read_only_fields = fields


class BankStatementUploadSerializer(serializers.Serializer):
    company = ScopedRelatedField(queryset=Company.objects.all())
    file = serializers.FileField()
    account_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    bank_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=_('JSON of field → column header, e.g. {"credit": "入账金额"}.'),
    )
    automatch = serializers.BooleanField(required=False, default=True)

    def validate_mapping(self, value: str) -> dict:
        if not value:
            return {}
        try:
            mapping = json.loads(value)
        except ValueError as exc:
            raise serializers.ValidationError(_("Not valid JSON.")) from exc
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise serializers.ValidationError(_("Give an object of field → column header."))
        return mapping


class BankLineSerializer(serializers.ModelSerializer):
    suggested_bill_number = serializers.CharField(
        source="suggested_bill.number", default=None, read_only=True
    )
    receipt_number = serializers.CharField(source="receipt.number", default=None, read_only=True)

    class Meta:
        model = BankLine
        fields = ("id", "statement", "company", "booked_on", "amount", "payer_name",
                  "payer_account", "memo", "serial", "status", "confidence", "reasons",
                  "suggested_bill", "suggested_bill_number", "suggested_receipt", "receipt",
                  "receipt_number", "auto_matched", "matched_at")  # fmt: skip
        read_only_fields = fields


class BankLineMatchSerializer(serializers.Serializer):
    bill = ScopedRelatedField(queryset=Bill.objects.all(), required=False, allow_null=True)
    receipt = ScopedRelatedField(queryset=Receipt.objects.all(), required=False, allow_null=True)
    force = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if (attrs.get("bill") is None) == (attrs.get("receipt") is None):
            raise serializers.ValidationError(
                {"bill": [_("Match the line to one bill or one receipt.")]}
            )
        return attrs


class IgnoreSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class VoucherEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = VoucherEntry
        fields = ("line", "account_key", "account_code", "account_name", "summary", "debit",
                  "credit", "tenant", "lease")  # fmt: skip


class VoucherSerializer(serializers.ModelSerializer):
    entries = VoucherEntrySerializer(many=True, read_only=True)

    class Meta:
        model = Voucher
        fields = ("id", "company", "number", "date", "source", "bill", "receipt", "summary",
                  "total", "created_at", "entries")  # fmt: skip
        read_only_fields = fields


class VoucherGenerateSerializer(serializers.Serializer):
    period = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")
    company = ScopedRelatedField(queryset=Company.objects.all(), required=False, allow_null=True)


class AccountCodeSerializer(ScopedSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = AccountCode
        fields = ("id", "company", "key", "code", "name")
        validators = []
