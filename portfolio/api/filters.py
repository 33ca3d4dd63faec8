import django_filters

from portfolio.models import Asset, AssetTag, Category, CodingRule, Document
from spatial.api.filters import CompanyScopeFilterSet


class CategoryFilterSet(django_filters.FilterSet):
    code_prefix = django_filters.CharFilter(field_name="code", lookup_expr="startswith")

    class Meta:
        model = Category
        fields = ("parent", "level", "is_active")


class CodingRuleFilterSet(django_filters.FilterSet):
    class Meta:
        model = CodingRule
        fields = ("company", "category", "is_active")


class AssetFilterSet(CompanyScopeFilterSet):
    category_code = django_filters.CharFilter(field_name="category__code", lookup_expr="startswith")
    tag = django_filters.CharFilter(field_name="tags__value", label="Any tag value")

    class Meta:
        model = Asset
        fields = (
            "category",
            "status",
            "site",
            "building",
            "floor",
            "unit",
            "road",
            "park",
            "parcel",
            "bim_global_id",
        )


class AssetTagFilterSet(django_filters.FilterSet):
    class Meta:
        model = AssetTag
        fields = ("asset", "kind", "value")


class DocumentFilterSet(django_filters.FilterSet):
    target_type = django_filters.CharFilter(field_name="content_type__model")
    target_id = django_filters.NumberFilter(field_name="object_id")
    expires_before = django_filters.DateFilter(field_name="expiry_date", lookup_expr="lt")

    class Meta:
        model = Document
        fields = ("kind", "company")
