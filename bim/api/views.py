"""API of BIM imports: upload an IFC file (a background job), follow it, read floor plans."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from bim import selectors, services
from bim.api.serializers import (
    IfcImportCreateSerializer,
    IfcImportDetailSerializer,
    IfcImportSerializer,
)
from bim.models import IfcImport
from spatial.api.base import ScopedModelViewSet
from spatial.models import Floor


class IfcImportViewSet(ScopedModelViewSet):
    """IFC imports: POST a file to start one (202), GET it to follow status and progress."""

    queryset = IfcImport.objects.select_related("site", "building", "created_by")
    serializer_class = IfcImportSerializer
    parser_classes = (MultiPartParser, FormParser)
    http_method_names = ["get", "post", "head", "options"]
    filterset_fields = ("status", "site", "building")
    ordering_fields = ("created_at", "finished_at", "status")
    search_fields = ("original_name",)
    history = None  # a job keeps its own record: status, timestamps, report

    def get_serializer_class(self):
        if self.action == "create":
            return IfcImportCreateSerializer
        if self.action == "retrieve":
            return IfcImportDetailSerializer
        return IfcImportSerializer

    @extend_schema(
        request={"multipart/form-data": IfcImportCreateSerializer},
        responses={202: IfcImportSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = IfcImportCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        anchor = None
        if data.get("anchor_lon") is not None:
            anchor = (data["anchor_lon"], data["anchor_lat"])
        job = services.ifc_import_submit(
            site=data["site"],
            upload=data["file"],
            user=request.user,
            anchor=anchor,
            rotation_deg=data["rotation"],
            crs=data["crs"],
            placement=data["placement"],
            building_code=data["building_code"],
        )
        body = IfcImportSerializer(job, context={"request": request}).data
        location = reverse("bim-import-detail", args=[job.pk])
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class FloorPlanViewSet(viewsets.GenericViewSet):
    """Floor plans in the building's local metres, for picking units."""

    queryset = Floor.objects.all()
    pagination_class = None
    filter_backends = ()

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def plan(self, request, pk=None):
        """The floor outline and the units' footprints as GeoJSON in building-local metres,
        with each unit's id, code, name, number, use, status and areas, and the transform
        from these metres to WGS 84. The same units are on the map at /api/units/?floor=ID."""
        try:
            plan = selectors.floor_plan(user=request.user, floor_id=int(pk))
        except (Floor.DoesNotExist, ValueError):
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        return Response(plan)
