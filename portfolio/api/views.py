"""API endpoints of the asset register."""

from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import filters as drf_filters
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from portfolio.api import filters, serializers
from portfolio.models import Asset, AssetTag, Category, CodingRule, Document
from spatial.api.base import ScopedModelViewSet
from spatial.api.filters import BBoxFilter
from web.api.pagination import FeaturePagination


class CategoryViewSet(ScopedModelViewSet):
    queryset = Category.objects.select_related("parent")
    serializer_class = serializers.CategorySerializer
    filterset_class = filters.CategoryFilterSet
    search_fields = ("code", "name")
    ordering_fields = ("code", "name")
    pagination_class = None  # a few hundred rows at most; clients want the whole tree


class CodingRuleViewSet(ScopedModelViewSet):
    queryset = CodingRule.objects.all()
    serializer_class = serializers.CodingRuleSerializer
    filterset_class = filters.CodingRuleFilterSet


class AssetViewSet(ScopedModelViewSet):
    queryset = Asset.objects.select_related("company", "category").prefetch_related("tags")
    serializer_class = serializers.AssetSerializer
    filterset_class = filters.AssetFilterSet
    pagination_class = FeaturePagination
    bbox_filter_field = "geom"
    filter_backends = (
        BBoxFilter,
        DjangoFilterBackend,
        drf_filters.OrderingFilter,
        drf_filters.SearchFilter,
    )
    search_fields = ("code", "name", "serial_number", "tags__value")
    ordering_fields = ("code", "name", "acquisition_cost", "acquisition_date", "status")


class AssetTagViewSet(ScopedModelViewSet):
    queryset = AssetTag.objects.select_related("asset")
    serializer_class = serializers.AssetTagSerializer
    filterset_class = filters.AssetTagFilterSet
    http_method_names = ["get", "post", "delete", "head", "options"]

    def _company_of(self, data, instance=None):
        asset = data.get("asset") or (instance.asset if instance else None)
        return asset.company_id if asset else None


class DocumentViewSet(ScopedModelViewSet):
    queryset = Document.objects.select_related("content_type")
    serializer_class = serializers.DocumentSerializer
    filterset_class = filters.DocumentFilterSet
    parser_classes = (MultiPartParser, FormParser, JSONParser)
    search_fields = ("title", "number")
    ordering_fields = ("created_at", "expiry_date", "issue_date")

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], filter_backends=[])
    def download(self, request, pk=None):
        """The stored file; only for users who may see the document."""
        document = self.get_object()
        return FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.original_name,
            content_type=document.mime_type,
        )

    def _company_of(self, data, instance=None):
        target = data.get("target")
        if target is not None:
            return target.company_id
        return instance.company_id if instance else None
