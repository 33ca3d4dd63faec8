"""API endpoints of the spatial graph; every one scoped by ScopedModelViewSet."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import filters as drf_filters
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from spatial import linref
from spatial.api import filters, serializers
from spatial.api.base import ScopedModelViewSet
from spatial.models import Building, Company, Floor, Parcel, Park, Road, Site, Unit
from web.api.pagination import FeaturePagination

FEATURE_ORDERING = ("code", "name", "created_at", "updated_at")


class CompanyViewSet(ScopedModelViewSet):
    queryset = Company.objects.select_related("parent")
    serializer_class = serializers.CompanySerializer
    filterset_class = filters.CompanyFilterSet
    search_fields = ("code", "name", "short_name")
    ordering_fields = ("path", "code", "name")


class FeatureViewSet(ScopedModelViewSet):
    pagination_class = FeaturePagination
    bbox_filter_field = "geom"
    bbox_filter_include_overlapping = True
    search_fields = ("code", "name")
    ordering_fields = FEATURE_ORDERING

    filter_backends = (
        filters.BBoxFilter,
        DjangoFilterBackend,
        drf_filters.OrderingFilter,
        drf_filters.SearchFilter,
    )


class SiteViewSet(FeatureViewSet):
    queryset = Site.objects.select_related("company")
    serializer_class = serializers.SiteSerializer
    filterset_class = filters.SiteFilterSet
    ordering_fields = (*FEATURE_ORDERING, "area_m2")


class BuildingViewSet(FeatureViewSet):
    queryset = Building.objects.select_related("company", "site")
    serializer_class = serializers.BuildingSerializer
    filterset_class = filters.BuildingFilterSet
    ordering_fields = (*FEATURE_ORDERING, "gross_area", "year_built", "floors_above")


class FloorViewSet(FeatureViewSet):
    queryset = Floor.objects.select_related("company", "building")
    serializer_class = serializers.FloorSerializer
    filterset_class = filters.FloorFilterSet
    ordering_fields = (*FEATURE_ORDERING, "level")


class UnitViewSet(FeatureViewSet):
    queryset = Unit.objects.select_related("company", "floor", "building", "site")
    serializer_class = serializers.UnitSerializer
    filterset_class = filters.UnitFilterSet
    search_fields = ("code", "name", "number")
    ordering_fields = (*FEATURE_ORDERING, "gross_area", "usable_area", "status")


class RoadViewSet(FeatureViewSet):
    queryset = Road.objects.select_related("company")
    serializer_class = serializers.RoadSerializer
    filterset_class = filters.RoadFilterSet
    ordering_fields = (*FEATURE_ORDERING, "length_m")

    @extend_schema(
        parameters=[
            OpenApiParameter("stake", str, required=True, description="K1+234.5 or 1234.5 (m)"),
            OpenApiParameter("crs", str, description="output CRS: EPSG:4326 (default), GCJ02…"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        filters=False,
    )
    @action(
        detail=True, methods=["get"], url_path="stake-to-point", pagination_class=None,
        filter_backends=[],
    )  # fmt: skip
    def stake_to_point(self, request, pk=None):
        """The point at a stake number (桩号), as a GeoJSON Feature with a Point geometry."""
        road = self.get_object()
        params = request.query_params
        target = linref.parse_lonlat_crs(params.get("crs"))
        stake_m = linref.parse_stake(params.get("stake"))
        found = linref.road_stake_point(road=road, stake_m=stake_m)
        return Response(
            {
                "type": "Feature",
                "geometry": linref.point_geojson(found.point, target),
                "properties": {
                    "road": road.pk,
                    "road_code": road.code,
                    "stake": found.stake,
                    "stake_m": str(found.stake_m),
                    "fraction": found.fraction,
                    "crs": target.label,
                },
            }
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("lon", float, required=True),
            OpenApiParameter("lat", float, required=True),
            OpenApiParameter("crs", str, description="CRS of lon/lat: EPSG:4326 (default), GCJ02…"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        filters=False,
    )
    @action(
        detail=True, methods=["get"], url_path="point-to-stake", pagination_class=None,
        filter_backends=[],
    )  # fmt: skip
    def point_to_stake(self, request, pk=None):
        """The stake of the road's point nearest to lon/lat, and the distance to the road."""
        road = self.get_object()
        params = request.query_params
        source = linref.parse_lonlat_crs(params.get("crs"))
        point = linref.parse_point(params.get("lon"), params.get("lat"), source)
        found = linref.road_locate_point(road=road, point=point)
        return Response(
            {
                "road": road.pk,
                "road_code": road.code,
                "stake": found.stake,
                "stake_m": str(found.stake_m),
                "fraction": found.fraction,
                "distance_m": round(found.distance_m, 3),
                "point_on_road": linref.point_geojson(found.on_line, source),
                "crs": source.label,
            }
        )


class ParkViewSet(FeatureViewSet):
    queryset = Park.objects.select_related("company")
    serializer_class = serializers.ParkSerializer
    filterset_class = filters.ParkFilterSet
    ordering_fields = (*FEATURE_ORDERING, "area_m2")


class ParcelViewSet(FeatureViewSet):
    queryset = Parcel.objects.select_related("company")
    serializer_class = serializers.ParcelSerializer
    filterset_class = filters.ParcelFilterSet
    ordering_fields = (*FEATURE_ORDERING, "area_m2", "official_area")


class MeViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The signed-in user, with the companies and roles they act in."""

    queryset = Company.objects.none()
    pagination_class = None

    @extend_schema(responses=serializers.MembershipSerializer(many=True))
    def list(self, request):
        memberships = request.user.memberships.select_related("company")
        return Response(
            {
                "username": request.user.get_username(),
                "is_superuser": request.user.is_superuser,
                "memberships": serializers.MembershipSerializer(memberships, many=True).data,
            }
        )
