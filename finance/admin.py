"""Admin for finance: bills are read-only (posted once); configuration is edited here."""

from django.contrib import admin

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


class ScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return super().get_queryset(request).restrict(request.user, "view")


class ReadOnlyAdmin(ScopedAdmin):
    """Rows written only by the services: shown, never changed here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BillLineInline(admin.TabularInline):
    model = BillLine
    extra = 0
    fields = ("item", "description", "period_start", "period_end", "amount", "net", "tax",
              "vat_rate", "tax_code", "trace")  # fmt: skip
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Bill)
class BillAdmin(ReadOnlyAdmin):
    list_display = ("number", "kind", "lease", "tenant", "period_start", "due_date", "amount")
    list_filter = ("kind",)
    search_fields = ("number", "lease__number", "tenant__name")
    date_hierarchy = "period_start"
    inlines = (BillLineInline,)


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = ("period", "company", "status", "leases", "bills_posted", "amount_posted",
                    "skipped", "started_at", "finished_at")  # fmt: skip
    list_filter = ("status",)


@admin.register(Abatement)
class AbatementAdmin(ReadOnlyAdmin):
    list_display = ("lease", "period_start", "period_end", "item", "kind", "value", "status",
                    "requested_by", "decided_by", "bill")  # fmt: skip
    list_filter = ("status", "kind")
    raw_id_fields = ("lease", "bill")


@admin.register(ChargeItemConfig)
class ChargeItemConfigAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "vat_rate", "tax_code", "tax_name", "prices_include_tax")
    readonly_fields = ("code",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser  # shared by every company


@admin.register(Meter)
class MeterAdmin(ScopedAdmin):
    list_display = ("serial", "kind", "unit", "company", "multiplier", "max_reading", "active")
    list_filter = ("kind", "active")
    search_fields = ("serial",)
    raw_id_fields = ("unit", "company")


@admin.register(MeterReading)
class MeterReadingAdmin(ReadOnlyAdmin):
    list_display = ("meter", "read_on", "value", "consumption", "source", "flagged", "bill")
    list_filter = ("source", "flagged")


@admin.register(Tariff)
class TariffAdmin(ScopedAdmin):
    list_display = ("company", "kind", "price", "vat_rate", "effective_from")
    list_filter = ("kind",)
