"""Admin for BIM imports: the jobs and what the models remember, read-only, scoped."""

from django.contrib import admin

from bim.models import BimModel, BimSpace, IfcImport
from spatial.admin import ScopedAdminMixin


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Imports are made through the API, the page or `import_ifc`, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IfcImport)
class IfcImportAdmin(ReadOnlyAdmin):
    list_display = ("original_name", "site", "building", "status", "progress", "created_at")
    list_filter = ("status",)
    search_fields = ("original_name", "site__code", "building__code")
    list_select_related = ("site", "building")


@admin.register(BimModel)
class BimModelAdmin(ReadOnlyAdmin):
    list_display = ("building", "schema", "georef_method", "file_name", "updated_at")
    list_select_related = ("building",)


@admin.register(BimSpace)
class BimSpaceAdmin(ReadOnlyAdmin):
    list_display = ("global_id", "long_name", "unit", "geometry_area", "net_area", "gross_area")
    search_fields = ("global_id", "name", "long_name", "unit__code")
    list_select_related = ("unit",)
