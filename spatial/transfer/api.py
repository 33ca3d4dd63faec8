"""API endpoints: `POST /api/import/{layer}/` and `GET /api/export/{layer}/`.

Both are scoped like every other endpoint: an export reads `restrict(user, "view")` and
takes the layer list's filters (its FilterSet and `bbox`); an import writes only rows the
user may add (new codes) or change (stored codes), in companies the user can see.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from spatial import access
from spatial.api import filters
from spatial.transfer.layers import FORMATS, LAYERS, REGISTERED, Layer, RegisteredLayer, layer_names

if TYPE_CHECKING:
    from spatial.transfer.sources import TransferError

# The importer and exporter (pandas, geopandas, GDAL: most of a second) are imported by the
# views that use them, not here: the URLconf loads this module in every process.

#: The filter set of each layer's API list, reused by its export.
FILTERSETS = {
    "sites": filters.SiteFilterSet,
    "buildings": filters.BuildingFilterSet,
    "floors": filters.FloorFilterSet,
    "units": filters.UnitFilterSet,
    "roads": filters.RoadFilterSet,
    "parks": filters.ParkFilterSet,
    "parcels": filters.ParcelFilterSet,
}
#: Uploads above this size are refused (settings.IMPORT_MAX_BYTES overrides).
IMPORT_MAX_BYTES = 512 * 1024 * 1024


def export_queryset(*, layer: str, user, params: Mapping) -> QuerySet:
    """The rows of `layer` that `user` may see (all rows for user None), filtered by
    `params` as the layer's API list filters them: its FilterSet, then `bbox`."""
    spec = _layer(layer)
    queryset = spec.model.objects.all()
    if user is not None:
        queryset = queryset.restrict(user, "view")
    filterset = filterset_for(layer)(data=params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError({k: list(v) for k, v in filterset.errors.items()})
    queryset = filterset.qs
    view = SimpleNamespace(bbox_filter_field="geom", bbox_filter_include_overlapping=True)
    return filters.BBoxFilter().filter_queryset(
        SimpleNamespace(query_params=params), queryset, view
    )


def filterset_for(layer: str):
    """The FilterSet of the layer's API list (a registered layer brings its own)."""
    if layer in REGISTERED:
        return REGISTERED[layer].filterset
    return FILTERSETS[layer]


def _layer(name: str) -> Layer | RegisteredLayer:
    spec = LAYERS.get(name) or REGISTERED.get(name)
    if spec is None:
        raise NotFound(f"Unknown layer {name!r}; one of {', '.join(layer_names())}.")
    return spec


def _error(exc: TransferError) -> Response:
    if exc.status == status.HTTP_403_FORBIDDEN:
        return Response({"detail": exc.message}, status=exc.status)
    return Response({exc.field: [exc.message]}, status=exc.status)


def _truthy(value) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class LayerImportView(APIView):
    """Import a layer from an uploaded file; the report lists every row's errors.

    Nothing is written unless every row is right (a 400 with the report otherwise); a dry
    run writes nothing and answers 200 with the same report and the counts it would write.
    """

    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        request=inline_serializer(
            "LayerImportRequest",
            {
                "file": serializers.FileField(),
                "crs": serializers.CharField(required=False),
                "company": serializers.CharField(required=False),
                "dry_run": serializers.BooleanField(required=False),
                "source_layer": serializers.CharField(required=False),
                "set": serializers.ListField(child=serializers.CharField(), required=False),
            },
        ),
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request, layer: str):
        from spatial.transfer.importer import layer_import
        from spatial.transfer.sources import TransferError

        spec = _layer(layer)
        user = request.user
        if not (access.can(user, "add", spec.model) or access.can(user, "change", spec.model)):
            raise PermissionDenied(f"You may not import {spec.model._meta.verbose_name_plural}.")
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["Upload the file to import (file)."]}, status=400)
        limit = getattr(settings, "IMPORT_MAX_BYTES", IMPORT_MAX_BYTES)
        if upload.size > limit:
            return Response({"file": [f"The file is larger than {limit} bytes."]}, status=400)
        defaults = {}
        for item in request.data.getlist("set"):
            key, sep, value = item.partition("=")
            if not sep:
                return Response({"set": [f"Give field=value, not {item!r}."]}, status=400)
            defaults[key.strip()] = value.strip()
        dry_run = _truthy(request.data.get("dry_run", ""))
        folder = Path(tempfile.mkdtemp(prefix="geoasset-upload-"))
        try:
            name = re.sub(r"[^\w.\-]", "_", Path(upload.name or "upload").name) or "upload"
            path = folder / name
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            report = layer_import(
                layer=layer,
                path=path,
                crs=request.data.get("crs") or None,
                company=request.data.get("company") or None,
                user=user,
                dry_run=dry_run,
                defaults=defaults,
                source_layer=request.data.get("source_layer") or None,
                file_name=upload.name,
            )
        except TransferError as exc:
            return _error(exc)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        code = status.HTTP_200_OK if report.ok or dry_run else status.HTTP_400_BAD_REQUEST
        return Response(report.as_dict(), status=code)


class LayerExportView(APIView):
    """Export a layer as a file: the rows the layer's list would give, in any format and CRS.

    `format` is gpkg, shp (zipped), geojson, kml, xlsx, csv or dxf; `crs` an EPSG code, a
    CGCS2000 Gauss-Krüger zone name, GCJ02 or BD09. Every filter of the layer's list applies.
    """

    def perform_content_negotiation(self, request, force=False):
        # `?format=gpkg` names the file format here, not a DRF renderer; errors are JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS)),
            OpenApiParameter("crs", str, description="e.g. EPSG:4490, CGCS2000-GK3-CM117, GCJ02"),
            OpenApiParameter("bbox", str, description="minLon,minLat,maxLon,maxLat"),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, layer: str):
        from spatial.transfer.exporter import layer_export, parse_format
        from spatial.transfer.sources import TransferError

        _layer(layer)
        folder = Path(tempfile.mkdtemp(prefix="geoasset-export-"))
        try:
            fmt = parse_format(request.query_params.get("format") or "gpkg")
            queryset = export_queryset(layer=layer, user=request.user, params=request.query_params)
            result = layer_export(
                layer=layer,
                queryset=queryset,
                fmt=fmt,
                crs=request.query_params.get("crs"),
                folder=folder,
            )
            handle = result.path.open("rb")
        except TransferError as exc:
            return _error(exc)
        finally:
            # The open handle keeps the file readable until the response is sent.
            shutil.rmtree(folder, ignore_errors=True)
        response = FileResponse(
            handle, as_attachment=True, filename=result.filename, content_type=result.content_type
        )
        response["X-Feature-Count"] = str(result.count)
        response["X-CRS"] = result.crs
        return response
