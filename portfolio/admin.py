from django.contrib import admin
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from portfolio import services
from portfolio.models import Asset, AssetTag, Category, CodingRule, Document
from spatial.admin import ScopedAdminMixin, changed_fields


@admin.register(Category)
class CategoryAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "parent", "useful_life_months", "residual_rate", "is_active")
    search_fields = ("code", "name")
    list_filter = ("level", "is_active")


@admin.register(CodingRule)
class CodingRuleAdmin(ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("name", "pattern", "company", "category", "priority", "is_active")


class AssetTagInline(admin.TabularInline):
    model = AssetTag
    extra = 0


@admin.register(Asset)
class AssetAdmin(ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "category", "company", "status", "acquisition_cost")
    list_filter = ("status", "company")
    search_fields = ("code", "name", "serial_number", "tags__value")
    list_select_related = ("category", "company")
    raw_id_fields = ("site", "building", "floor", "unit", "road", "park", "parcel")
    readonly_fields = ("created_at", "updated_at")
    inlines = [AssetTagInline]

    def save_model(self, request, obj, form, change):
        if change:
            services.asset_update(obj, **changed_fields(form))
        else:
            created = services.asset_create(today=timezone.localdate(), **form.cleaned_data)
            obj.pk = created.pk


@admin.register(Document)
class DocumentAdmin(ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("title", "kind", "number", "issue_date", "expiry_date", "company")
    list_filter = ("kind",)
    readonly_fields = ("company", "original_name", "mime_type", "size", "sha256", "uploaded_by")
