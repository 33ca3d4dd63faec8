"""Admin for leasing: read-mostly views of tenants and leases; writes belong to the API."""

from django.contrib import admin

from leasing.models import Lease, LeaseEvent, LeaseVersion, Tenant, UnitListing


class ScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return super().get_queryset(request).restrict(request.user, "view")


@admin.register(Tenant)
class TenantAdmin(ScopedAdmin):
    list_display = ("name", "kind", "company", "industry", "size", "credit_rating")
    list_filter = ("kind", "size", "credit_rating")
    search_fields = ("name", "uscc")


class VersionInline(admin.TabularInline):
    model = LeaseVersion
    extra = 0
    fields = ("number", "effective_from", "end_date", "payment_cycle", "reason")
    readonly_fields = fields
    can_delete = False


class EventInline(admin.TabularInline):
    model = LeaseEvent
    extra = 0
    fields = ("kind", "on", "actor", "at", "reason")
    readonly_fields = fields
    can_delete = False


@admin.register(Lease)
class LeaseAdmin(ScopedAdmin):
    list_display = ("number", "tenant", "company", "status", "start_date", "end_date")
    list_filter = ("status", "use")
    search_fields = ("number", "tenant__name")
    raw_id_fields = ("tenant", "renewal_of", "company")
    inlines = (VersionInline, EventInline)

    def has_add_permission(self, request):
        return False  # leases are drafted through the API (leasing.services)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UnitListing)
class UnitListingAdmin(ScopedAdmin):
    list_display = ("unit", "asking_rent", "vacant_since", "vacancy_reason")
    list_filter = ("vacancy_reason",)
    raw_id_fields = ("unit",)
