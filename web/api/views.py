"""JSON endpoints of the web pages under /api/web/: search, polygon figures, floor-plan units,
revitalisation candidates and the cockpit's widgets. All scoped to the signed-in user."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Polygon
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from spatial.models import Company, Floor
from spatial.validators import GeometryValidator
from web import cockpit, selectors

#: A drawn polygon may have this many vertices at most.
MAX_VERTICES = 10_000
AS_OF = OpenApiParameter("as_of", str, description="YYYY-MM-DD; today when omitted")


def as_of_param(request: Request) -> date:
    raw = request.query_params.get("as_of") or (
        request.data.get("as_of") if isinstance(request.data, dict) else None
    )
    if not raw:
        return timezone.localdate()
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise ValidationError({"as_of": [_("Give a date as YYYY-MM-DD.")]}) from exc


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError({name: [_("Give a whole number.")]}) from exc
    if value < 0:
        raise ValidationError({name: [_("Give a number of 0 or more.")]})
    return value


def polygon_from(raw) -> MultiPolygon:
    """A drawn polygon (GeoJSON geometry or Feature, or WKT) as a MultiPolygon in EPSG:4326;
    ValidationError naming `geom` and the reason otherwise."""
    if raw in (None, "", {}):
        raise ValidationError({"geom": [_("This field is required.")]})
    if isinstance(raw, dict) and raw.get("type") == "Feature":
        raw = raw.get("geometry")
    try:
        text = json.dumps(raw) if isinstance(raw, dict) else str(raw)
        geom = GEOSGeometry(text, srid=4326)
    except (GEOSException, ValueError, TypeError) as exc:
        raise ValidationError({"geom": [_("Not a GeoJSON or WKT geometry.")]}) from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValidationError(
            {"geom": [_("Draw a polygon, not a %(type)s.") % {"type": geom.geom_type}]}
        )
    if geom.num_coords > MAX_VERTICES:
        raise ValidationError(
            {"geom": [_("At most %(max)s vertices, please.") % {"max": MAX_VERTICES}]}
        )
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=4326)
    try:
        GeometryValidator("MultiPolygon")(geom)
    except ValidationError as exc:
        raise ValidationError({"geom": exc.messages}) from exc
    return geom


@extend_schema(
    parameters=[OpenApiParameter("q", str, required=True, description="a code or part of a name")],
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["GET"])
def search(request: Request) -> Response:
    """Sites, buildings, units and assets by code (prefix) or name (part), with where they
    are (a point on the feature and its extent) for the map to fly to."""
    query = (request.query_params.get("q") or "").strip()
    if not query:
        raise ValidationError({"q": [_("Type a code or a name to search for.")]})
    if len(query) > 100:
        raise ValidationError({"q": [_("At most 100 characters.")]})
    return Response({"results": selectors.search_features(user=request.user, query=query)})


@extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
@api_view(["POST"])
def polygon_stats(request: Request) -> Response:
    """The figures inside a polygon drawn on the map: POST {"geom": GeoJSON geometry}.

    Units meeting the polygon: count, gross, leasable, leased and vacant area, occupancy by
    area and count, monthly headline rent of leases in force and its average per m²; assets
    positioned inside it and their acquisition cost."""
    data = request.data if isinstance(request.data, dict) else {}
    polygon = polygon_from(data.get("geom"))
    return Response(
        selectors.polygon_figures(user=request.user, polygon=polygon, as_of=as_of_param(request))
    )


@extend_schema(parameters=[AS_OF], responses={200: OpenApiTypes.OBJECT})
@api_view(["GET"])
def floor_units(request: Request, pk: int) -> Response:
    """The units of a floor with availability, tenant, lease end and headline rent: what the
    floor plan colours and shows on hover. 404 for a floor outside the user's companies."""
    if not Floor.objects.restrict(request.user, "view").filter(pk=pk).exists():
        raise NotFound(_("No such floor."))
    as_of = as_of_param(request)
    return Response(
        {
            "as_of": as_of,
            "units": selectors.floor_units(user=request.user, floor_id=pk, as_of=as_of),
        }
    )


@extend_schema(
    parameters=[
        AS_OF,
        OpenApiParameter("days", int, description="vacant longer than this (180)"),
        OpenApiParameter("site", int),
    ],
    responses={200: OpenApiTypes.OBJECT},
)
@api_view(["GET"])
def candidates(request: Request) -> Response:
    """Idle and low-yield assets (revitalisation candidates) as GeoJSON, each with its reason:
    units vacant longer than `days`, assets whose status is idle, buildings let below half."""
    rows = selectors.revitalisation_candidates(
        user=request.user,
        as_of=as_of_param(request),
        vacant_days=int_param(request, "days", selectors.IDLE_VACANT_DAYS),
        site=int_param(request, "site"),
    )
    features = []
    for row in rows:
        geom = row.pop("geom")
        features.append(
            {
                "type": "Feature",
                "id": f"{row['kind']}-{row['id']}",
                "geometry": json.loads(geom.json) if geom is not None else None,
                "properties": {
                    k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()
                },
            }
        )
    return Response({"type": "FeatureCollection", "features": features})


@extend_schema(
    parameters=[AS_OF, OpenApiParameter("company", int)], responses={200: OpenApiTypes.OBJECT}
)
@api_view(["GET"])
def cockpit_widget(request: Request, widget: str) -> Response:
    """One cockpit widget's chart data, for the user's companies or one company (`company`,
    with those below it)."""
    found = cockpit.widget_get(widget)
    if found is None:
        raise NotFound(_("Unknown widget %(id)r.") % {"id": widget})
    company = None
    company_id = int_param(request, "company")
    if company_id:
        company = Company.objects.restrict(request.user, "view").filter(pk=company_id).first()
        if company is None:
            raise ValidationError({"company": [_("No such company among yours.")]})
    data = found.compute(user=request.user, as_of=as_of_param(request), company=company)
    return Response({"id": found.id, "title": str(found.title), **data})
