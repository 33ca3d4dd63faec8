"""Filter sets: company (with or without its subtree), parents, status, codes, bbox."""

import django_filters
from django.core.exceptions import ValidationError
from rest_framework_gis.filters import InBBoxFilter

from spatial.models import Building, Company, Floor, Parcel, Park, Road, Site, Unit


class BBoxFilter(InBBoxFilter):
    """`?bbox=minLon,minLat,maxLon,maxLat` in EPSG:4326; features that intersect it."""

    bbox_param = "bbox"

    def get_filter_bbox(self, request):
        bbox_string = request.query_params.get(self.bbox_param)
        if not bbox_string:
            return None
        try:
            xmin, ymin, xmax, ymax = (float(n) for n in bbox_string.split(","))
        except ValueError as exc:
            raise ValidationError(
                {"bbox": "Give four numbers: minLon,minLat,maxLon,maxLat."}
            ) from exc
        if not (-180 <= xmin < xmax <= 180 and -90 <= ymin < ymax <= 90):
            raise ValidationError(
                {"bbox": "Longitudes -180..180 and latitudes -90..90, minimum before maximum."}
            )
        return super().get_filter_bbox(request)


class CompanyScopeFilterSet(django_filters.FilterSet):
    company = django_filters.NumberFilter(field_name="company_id")
    company_code = django_filters.CharFilter(field_name="company__code")
    company_tree = django_filters.NumberFilter(
        method="filter_company_tree", label="Company and the companies below it (id)"
    )
    code = django_filters.CharFilter(lookup_expr="iexact")
    name = django_filters.CharFilter(lookup_expr="icontains")

    def filter_company_tree(self, queryset, name, value):
        company = Company.objects.filter(pk=value).only("path").first()
        if company is None:
            return queryset.none()
        return queryset.filter(company__path__startswith=company.path)


class SiteFilterSet(CompanyScopeFilterSet):
    class Meta:
        model = Site
        fields = ("kind", "district")


class BuildingFilterSet(CompanyScopeFilterSet):
    site_code = django_filters.CharFilter(field_name="site__code")

    class Meta:
        model = Building
        fields = ("site", "use", "structure")


class FloorFilterSet(CompanyScopeFilterSet):
    site = django_filters.NumberFilter(field_name="building__site_id")

    class Meta:
        model = Floor
        fields = ("building", "level")


class UnitFilterSet(CompanyScopeFilterSet):
    min_area = django_filters.NumberFilter(field_name="gross_area", lookup_expr="gte")
    max_area = django_filters.NumberFilter(field_name="gross_area", lookup_expr="lte")

    class Meta:
        model = Unit
        fields = ("site", "building", "floor", "status", "use", "outside_floor")


class RoadFilterSet(CompanyScopeFilterSet):
    class Meta:
        model = Road
        fields = ("site", "grade")


class ParkFilterSet(CompanyScopeFilterSet):
    class Meta:
        model = Park
        fields = ("site", "kind")


class ParcelFilterSet(CompanyScopeFilterSet):
    class Meta:
        model = Parcel
        fields = ("site", "land_use", "land_right")


class CompanyFilterSet(django_filters.FilterSet):
    class Meta:
        model = Company
        fields = ("kind", "parent", "code")
