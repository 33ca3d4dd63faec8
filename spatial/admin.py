"""Admin for the spatial graph, scoped like the API; geometry edited as WKT or GeoJSON."""

from django import forms
from django.contrib import admin
from django.contrib.gis.db import models as gis_models
from simple_history.admin import SimpleHistoryAdmin

from spatial import access, services
from spatial.models import Building, Company, Floor, Membership, Parcel, Park, Road, Site, Unit


def changed_fields(form) -> dict:
    """The cleaned values of the fields an admin form changed: what an update service takes."""
    return {f: form.cleaned_data[f] for f in form.changed_data if f in form.cleaned_data}


class ScopedAdminMixin:
    """The admin sees and changes what the API would let the same user see and change."""

    # The map widget of GeoDjango loads OpenLayers from a CDN, which an intranet cannot reach.
    formfield_overrides = {
        gis_models.GeometryField: {"widget": forms.Textarea(attrs={"rows": 4, "cols": 80})},
    }

    def get_queryset(self, request):
        return super().get_queryset(request).restrict(request.user, "view")

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if obj is None:
            return allowed
        return allowed and access.can(
            request.user, "change", type(obj), access.scope_company_id(obj)
        )

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        if obj is None:
            return allowed
        return allowed and access.can(
            request.user, "delete", type(obj), access.scope_company_id(obj)
        )


class FeatureAdmin(ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "company")
    list_filter = ("company",)
    search_fields = ("code", "name")
    list_select_related = ("company",)
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        if change:
            services.feature_update(obj, **changed_fields(form))
        else:
            obj.pk = services.feature_create(type(obj), **form.cleaned_data).pk


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Company)
class CompanyAdmin(ScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "kind", "parent", "uscc")
    list_filter = ("kind",)
    search_fields = ("code", "name", "uscc")
    readonly_fields = ("path", "created_at", "updated_at")
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        if change:
            services.company_update(obj, **changed_fields(form))
        else:
            created = services.company_create(**form.cleaned_data)
            obj.pk, obj.path = created.pk, created.path


@admin.register(Site)
class SiteAdmin(FeatureAdmin):
    list_display = ("code", "name", "company", "kind", "district", "area_m2", "official_area")
    list_filter = ("kind", "district", "company")


@admin.register(Building)
class BuildingAdmin(FeatureAdmin):
    list_display = ("code", "name", "site", "use", "floors_above", "gross_area", "area_m2")
    list_filter = ("use", "structure", "company")
    list_select_related = ("company", "site")
    raw_id_fields = ("site",)


@admin.register(Floor)
class FloorAdmin(FeatureAdmin):
    list_display = ("code", "name", "building", "level", "elevation_m")
    list_select_related = ("company", "building")
    raw_id_fields = ("building",)


@admin.register(Unit)
class UnitAdmin(FeatureAdmin):
    list_display = (
        "code",
        "name",
        "building",
        "floor",
        "use",
        "status",
        "gross_area",
        "area_m2",
        "outside_floor",
    )
    list_filter = ("status", "use", "outside_floor", "company")
    list_select_related = ("company", "building", "floor")
    raw_id_fields = ("floor",)
    readonly_fields = ("building", "site", "outside_floor", "created_at", "updated_at")


@admin.register(Road)
class RoadAdmin(FeatureAdmin):
    list_display = ("code", "name", "grade", "length_m", "start_stake_m", "end_stake_m")
    list_filter = ("grade", "company")


@admin.register(Park)
class ParkAdmin(FeatureAdmin):
    list_display = ("code", "name", "kind", "area_m2", "green_area")
    list_filter = ("kind", "company")


@admin.register(Parcel)
class ParcelAdmin(FeatureAdmin):
    list_display = ("code", "name", "land_use", "land_right", "title_number", "area_m2")
    list_filter = ("land_use", "land_right", "company")
