"""Admin for invoicing: read-only views; writes go through the API and its services, which
keep invoices unique, bank lines matched once and vouchers balanced."""

from django.contrib import admin

from finance.admin import ReadOnlyAdmin
from finance.invoicing.models import (
    AccountCode,
    BankLine,
    BankStatement,
    InvoiceRequest,
    InvoiceRequestItem,
    Voucher,
    VoucherEntry,
)


class ItemInline(admin.TabularInline):
    model = InvoiceRequestItem
    extra = 0
    fields = ("bill", "name", "tax_code", "amount", "tax", "vat_rate", "property_address",
              "lease_start", "lease_end", "holds")  # fmt: skip
    readonly_fields = fields
    can_delete = False


@admin.register(InvoiceRequest)
class InvoiceRequestAdmin(ReadOnlyAdmin):
    list_display = ("number", "kind", "invoice_type", "status", "buyer_name", "amount",
                    "invoice_number", "invoice_date")  # fmt: skip
    list_filter = ("status", "kind", "invoice_type")
    search_fields = ("number", "invoice_number", "buyer_name")
    inlines = (ItemInline,)


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "company", "lines_read", "lines_added", "imported_at")


@admin.register(BankLine)
class BankLineAdmin(ReadOnlyAdmin):
    list_display = ("booked_on", "amount", "payer_name", "memo", "status", "confidence")
    list_filter = ("status",)
    search_fields = ("payer_name", "memo", "serial")


class EntryInline(admin.TabularInline):
    model = VoucherEntry
    extra = 0
    fields = ("line", "account_code", "account_name", "debit", "credit", "tenant", "lease")
    readonly_fields = fields
    can_delete = False


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = ("number", "date", "company", "source", "summary", "total")
    list_filter = ("source",)
    inlines = (EntryInline,)


@admin.register(AccountCode)
class AccountCodeAdmin(ReadOnlyAdmin):
    list_display = ("key", "code", "name", "company")
    list_filter = ("key",)
