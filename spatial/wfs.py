"""WFS 2.0 at /wfs/ (django-gisserver): every spatial layer as a feature type.

GIS analysts connect QGIS or ArcGIS here. Each request gets its own feature types, built
on `Model.objects.restrict(user, "view")`, so a user sees over WFS exactly the rows the API
shows them. Clients sign in with HTTP Basic (what QGIS stores) or a web session; anonymous
reads are off unless `WFS_ANONYMOUS` is set, and then reach only `WFS_ANONYMOUS_COMPANIES`.

Geometry stays in EPSG:4326 in the database and is reprojected on output only: to CGCS2000
(EPSG:4490), Web Mercator, or a CGCS2000 3-degree Gauss-Krüger zone. Axis order follows
django-gisserver: GML uses the CRS authority's order for URN names (latitude first for
urn:ogc:def:crs:EPSG::4326 and ::4490, northing first for the Gauss-Krüger zones, longitude
first for OGC CRS84), the legacy `EPSG:4326` spelling gives longitude first, and GeoJSON is
always x/y (longitude, easting). docs/wfs.md has the details, BBOX included.
"""

import base64
import binascii
import copy
import dataclasses
import functools
import itertools
import re
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import models
from django.urls import path
from django.utils.cache import patch_cache_control, patch_vary_headers
from gisserver.crs import CRS, CRS84, WEB_MERCATOR, WGS84
from gisserver.exceptions import OptionNotSupported, WFSException
from gisserver.features import FeatureField, FeatureType, ServiceDescription
from gisserver.operations import wfs20
from gisserver.output import DBGML32Renderer, DBGML32ValueRenderer
from gisserver.parsers.fes20 import DistanceOperator
from gisserver.views import WFSView

from spatial import layers
from spatial.models import Building, Floor, Parcel, Park, Road, Site, Unit

XML_NAMESPACE = "urn:geoasset:wfs"
XML_PREFIX = "geoasset"
REALM = "GeoAsset WFS"
DEFAULT_CONTACT = "GIS 管理员 (GIS administrator)"

# -- coordinate reference systems --------------------------------------------------------------

CGCS2000 = CRS.from_srid(4490)

#: CGCS2000 / 3-degree Gauss-Kruger CM 75E … CM 135E (no zone prefix in the easting):
#: EPSG:4534 + n is the zone whose central meridian is 75 + 3n degrees east.
GK_FIRST_SRID, GK_FIRST_MERIDIAN = 4534, 75
GK_ZONE_SRIDS = tuple(range(GK_FIRST_SRID, 4555))
GK_ZONES = tuple(CRS.from_srid(srid) for srid in GK_ZONE_SRIDS)

#: What GetFeature may reproject to, besides the default WGS 84 (latitude first in GML).
#: OGC CRS84 is WGS 84 with longitude first: for GML and BBOX parameters in x/y order.
OTHER_CRS = [CGCS2000, WEB_MERCATOR, CRS84, *GK_ZONES]


def gk_zone_srid(longitude: float) -> int:
    """The EPSG code of the CGCS2000 3-degree Gauss-Krüger zone that covers `longitude`."""
    index = round((longitude - GK_FIRST_MERIDIAN) / 3)
    return GK_FIRST_SRID + min(max(index, 0), len(GK_ZONE_SRIDS) - 1)


# -- the layers --------------------------------------------------------------------------------

#: (element name, model attribute or None when the element is the model field itself)
Attribute = tuple[str, str | None]

COMMON: tuple[Attribute, ...] = (
    ("code", None),
    ("name", None),
    ("company_code", "company.code"),
    ("company_name", "company.name"),
)


class AnnotationField(FeatureField):
    """A property computed by the database for each row (a queryset annotation registered
    by another app, such as a unit's availability), typed by `output_field`."""

    def __init__(self, name: str, output_field: models.Field, **kwargs):
        super().__init__(name, **kwargs)
        self._output_field = output_field

    def bind(self, model, parent=None, feature_type=None):
        if self.model is not None:
            raise RuntimeError(f"Feature field '{self.name}' cannot be reused")
        self.model, self.parent, self.feature_type = model, parent, feature_type
        field = copy.copy(self._output_field)
        field.set_attributes_from_name(self.name)
        field.null = True
        self.model_field = field


class _AnnotationsOnly:
    """django-gisserver narrows the queryset with `.only(<every property>)`; annotations are
    not model fields, and Django refuses them there. They are selected anyway."""

    def only(self, *fields):
        annotations = self.query.annotations
        return super().only(*(f for f in fields if f.split("__")[0] not in annotations))


@functools.cache
def _annotations_only_class(queryset_class: type) -> type:
    return type(f"WFS{queryset_class.__name__}", (_AnnotationsOnly, queryset_class), {})


def _annotated(queryset: models.QuerySet, annotations: dict) -> models.QuerySet:
    queryset = queryset.annotate(**annotations)
    queryset.__class__ = _annotations_only_class(type(queryset))
    return queryset


@dataclass(frozen=True)
class Layer:
    """One feature type: its model, its English type name and its Chinese title."""

    name: str
    model: type[models.Model]
    title: str
    abstract: str
    keywords: tuple[str, ...]
    attributes: tuple[Attribute, ...]
    #: Only rows with a geometry (assets: many have no position of their own).
    located_only: bool = False

    def queryset(self, request) -> models.QuerySet:
        queryset = scoped_queryset(self.model, request)
        if self.located_only:
            queryset = queryset.filter(geom__isnull=False)
        extra = layers.wfs_attributes(self.name)
        if extra:
            queryset = _annotated(queryset, {a.name: a.expression() for a in extra})
        return queryset

    def feature_type(self, request) -> FeatureType:
        # Fields bind to one feature type, so each request builds its own.
        fields = [
            FeatureField(name, model_attribute=attribute)
            for name, attribute in (*COMMON, *self.attributes)
        ]
        fields += [
            AnnotationField(a.name, a.output_field, abstract=a.abstract or None)
            for a in layers.wfs_attributes(self.name)
        ]
        fields += [FeatureField(name) for name in ("updated_at", "geom")]
        return FeatureType(
            self.queryset(request),
            name=self.name,
            title=self.title,
            abstract=self.abstract,
            keywords=list(self.keywords),
            fields=fields,
            # No <gml:name>: GDAL and QGIS read it as a "name" column clashing with ours.
            show_name_field=False,
            geometry_field_name="geom",
            crs=WGS84,
            other_crs=OTHER_CRS,
        )


#: The feature types; other apps append theirs (spatial.layers.wfs_layer_register).
LAYERS: list[Layer] = [
    Layer(
        name="sites",
        model=Site,
        title="园区/项目",
        abstract="园区或项目范围（面）。Sites: park or project boundaries (multipolygon).",
        keywords=("园区", "项目", "site"),
        attributes=(
            ("kind", None),
            ("address", None),
            ("district", None),
            ("official_area", None),
            ("area_m2", None),
        ),
    ),
    Layer(
        name="buildings",
        model=Building,
        title="楼宇",
        abstract="楼宇基底（面）。Buildings: footprints (polygon).",
        keywords=("楼宇", "building"),
        attributes=(
            ("site_code", "site.code"),
            ("use", None),
            ("floors_above", None),
            ("floors_below", None),
            ("height_m", None),
            ("year_built", None),
            ("structure", None),
            ("gross_area", None),
            ("address", None),
            ("area_m2", None),
        ),
    ),
    Layer(
        name="floors",
        model=Floor,
        title="楼层",
        abstract="楼层轮廓（面）；1 为首层，-1 为地下一层。"
        "Floors: storey outlines (polygon); level 1 is the ground floor, -1 the first basement.",
        keywords=("楼层", "floor"),
        attributes=(
            # Not the site too: a two-step path ("building.site.code") makes django-gisserver
            # prefetch the building twice and fail.
            ("building_code", "building.code"),
            ("level", None),
            ("elevation_m", None),
            ("height_m", None),
            ("area_m2", None),
        ),
    ),
    Layer(
        name="units",
        model=Unit,
        title="房源",
        abstract="房源/空间（面），含建筑面积、套内面积、用途与状态。"
        "Units: leasable or usable spaces on a floor (polygon) with areas, use and status.",
        keywords=("房源", "空间", "unit"),
        attributes=(
            ("site_code", "site.code"),
            ("building_code", "building.code"),
            ("floor_code", "floor.code"),
            ("level", "floor.level"),
            ("number", None),
            ("use", None),
            ("status", None),
            ("gross_area", None),
            ("usable_area", None),
            ("area_m2", None),
            ("outside_floor", None),
        ),
    ),
    Layer(
        name="roads",
        model=Road,
        title="道路",
        abstract="道路中心线（线），桩号以米计（K0+000 = 0）。"
        "Roads: centre lines (linestring); stakes in metres from K0+000.",
        keywords=("道路", "road"),
        attributes=(
            ("site_code", "site.code"),
            ("grade", None),
            ("width_m", None),
            ("lanes", None),
            ("start_stake_m", None),
            ("end_stake_m", None),
            ("length_m", None),
        ),
    ),
    Layer(
        name="parks",
        model=Park,
        title="公园/绿地",
        abstract="公园与绿地（面）。Parks: public parks and green spaces (multipolygon).",
        keywords=("公园", "绿地", "park"),
        attributes=(
            ("site_code", "site.code"),
            ("kind", None),
            ("green_area", None),
            ("opened_year", None),
            ("area_m2", None),
        ),
    ),
    Layer(
        name="parcels",
        model=Parcel,
        title="土地/宗地",
        abstract="宗地（面），含土地用途（GB/T 21010）、权利类型与权证号。"
        "Parcels: land parcels (multipolygon) with land use (GB/T 21010), right and title.",
        keywords=("土地", "宗地", "parcel"),
        attributes=(
            ("site_code", "site.code"),
            ("land_use", None),
            ("land_right", None),
            ("title_number", None),
            ("official_area", None),
            ("right_end_date", None),
            ("area_m2", None),
        ),
    ),
]


def scoped_queryset(model: type[models.Model], request) -> models.QuerySet:
    """The rows of `model` the request may read over WFS.

    A signed-in user gets `restrict(user, "view")`, the same scope as the API. Anonymous
    reads are a WFS-only publishing switch: with `WFS_ANONYMOUS` on they reach the rows of
    the companies listed in `WFS_ANONYMOUS_COMPANIES` (those companies only, not the ones
    below them), with it off nothing.
    """
    user = request.user
    if user.is_authenticated:
        return model.objects.restrict(user, "view")
    codes = settings.WFS_ANONYMOUS_COMPANIES if settings.WFS_ANONYMOUS else []
    if not codes:
        return model.objects.none()
    return model.objects.filter(**{f"{model.scope_field}__code__in": codes})


# -- GML output --------------------------------------------------------------------------------

#: A geometry start tag without a gml:id; rings are not GML objects and take none.
_GEOMETRY_WITHOUT_ID = re.compile(
    r"<gml:(?:Point|LineString|Polygon|Curve|Surface)(?=[\s>/])(?![^>]*gml:id=)"
)


class MemberIdsMixin:
    """Gives every geometry inside a multi-geometry its own gml:id.

    GML 3.2 requires a gml:id on each geometry, also on the polygons of a MultiSurface.
    django-gisserver 2.5 sets one on the outer geometry only, so sites, parks and parcels
    would not validate; members get "<outer id>.<n>", unique because outer ids have three
    parts ("Site.12.3").
    """

    def render_gml_value(self, projection, gml_id, value, extra_xmlns=""):
        gml = super().render_gml_value(projection, gml_id, value, extra_xmlns=extra_xmlns)
        numbers = itertools.count(1)
        return _GEOMETRY_WITHOUT_ID.sub(
            lambda match: f'{match.group(0)} gml:id="{gml_id}.{next(numbers)}"', gml
        )


class GML32Renderer(MemberIdsMixin, DBGML32Renderer):
    pass


class GML32ValueRenderer(MemberIdsMixin, DBGML32ValueRenderer):
    pass


_RENDERERS = {DBGML32Renderer: GML32Renderer, DBGML32ValueRenderer: GML32ValueRenderer}


class _ValidGMLMixin:
    def get_output_formats(self):
        formats = super().get_output_formats()
        for output_format in formats:
            renderer = _RENDERERS.get(output_format.renderer_class)
            if renderer is not None:
                output_format.renderer_class = renderer
        return formats


class GetFeature(_ValidGMLMixin, wfs20.GetFeature):
    pass


class GetPropertyValue(_ValidGMLMixin, wfs20.GetPropertyValue):
    pass


# -- filters -----------------------------------------------------------------------------------


def _has_distance_operator(node) -> bool:
    """Does the parsed request hold a <fes:DWithin> or <fes:Beyond> anywhere?"""
    if isinstance(node, DistanceOperator):
        return True
    if isinstance(node, list | tuple):
        return any(_has_distance_operator(item) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return any(_has_distance_operator(getattr(node, f.name)) for f in dataclasses.fields(node))
    return False


# -- the view ----------------------------------------------------------------------------------


class GeoAssetWFSView(WFSView):
    """The WFS 2.0 endpoint; feature types are built per request for the requesting user."""

    xml_namespace = XML_NAMESPACE
    xml_namespace_aliases = {XML_PREFIX: XML_NAMESPACE}
    accept_operations = {
        "WFS": {
            **WFSView.accept_operations["WFS"],
            "GetFeature": GetFeature,
            "GetPropertyValue": GetPropertyValue,
        }
    }

    _feature_types: list[FeatureType] | None = None

    def get_feature_types(self) -> list[FeatureType]:
        # Called several times per request (capabilities, type lookups): build them once.
        if self._feature_types is None:
            self._feature_types = [layer.feature_type(self.request) for layer in LAYERS]
        return self._feature_types

    def call_operation(self, wfs_operation_cls):
        # Geometry is stored in degrees (EPSG:4326): GeoDjango refuses DWithin in metres (a 500)
        # and django-gisserver reads Beyond's metres as degrees (silently wrong). Say so instead.
        if _has_distance_operator(self.ows_request):
            raise OptionNotSupported(
                "DWithin and Beyond are not supported: the layers are stored in longitude and"
                " latitude, where a distance in metres is not defined. Use Intersects or Within"
                " with a buffer polygon instead.",
                locator="filter",
            )
        return super().call_operation(wfs_operation_cls)

    def get_service_description(self, service: str | None = None) -> ServiceDescription:
        return ServiceDescription(
            title="空间资产平台 WFS (GeoAsset WFS)",
            abstract=(
                "空间资产平台的全部空间图层：园区、楼宇、楼层、房源、道路、公园、宗地与资产，"
                "按用户所属公司授权。"
                " All spatial layers of the GeoAsset platform: sites, buildings, floors, units,"
                " roads, parks, parcels and assets, scoped to the companies of the signed-in"
                " user."
            ),
            keywords=["空间资产", "资产管理", "GeoAsset", "WFS", "CGCS2000"],
            provider_name=settings.WFS_PROVIDER_NAME,
            provider_site=settings.WFS_PROVIDER_SITE or None,
            # OWS 1.1 requires a <ows:ServiceContact>, which django-gisserver writes only
            # with a contact person.
            contact_person=settings.WFS_CONTACT_PERSON or DEFAULT_CONTACT,
        )


# -- authentication ----------------------------------------------------------------------------


class AuthenticationRequired(WFSException):
    """401 as an OWS exception report; the WWW-Authenticate header makes clients ask."""

    status_code = 401
    reason = "Unauthorized"
    code = "NoApplicableCode"
    text_template = "Authentication required: sign in with HTTP Basic credentials."


def _challenge(text: str | None = None):
    response = AuthenticationRequired(text).as_response()
    response["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic …` header; None if it is not one."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "", ""
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    username, _, password = text.partition(":")
    return username, password


def basic_auth(view_func):
    """HTTP Basic or the session; anonymous only when `WFS_ANONYMOUS` is on, else a 401.

    Credentials that are sent must be right: a wrong password is a 401 even when anonymous
    reads are allowed, so a typo in QGIS is not silently served the public subset.
    """

    @wraps(view_func)  # keeps the view's csrf_exempt: WFS POST bodies carry no CSRF token
    def wrapper(request, *args, **kwargs):
        credentials = _basic_credentials(request.META.get("HTTP_AUTHORIZATION", ""))
        if credentials is not None:
            username, password = credentials
            user = authenticate(request, username=username, password=password)
            if user is None:
                return _challenge("Invalid username or password.")
            request.user = user
        elif not request.user.is_authenticated and not settings.WFS_ANONYMOUS:
            return _challenge()
        response = view_func(request, *args, **kwargs)
        # What a response holds depends on who asked.
        patch_cache_control(response, private=True)
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response

    return wrapper


wfs_view = basic_auth(GeoAssetWFSView.as_view())

urlpatterns = [path("", wfs_view, name="wfs")]
