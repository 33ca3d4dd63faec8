"""Mapbox vector tiles of the spatial graph for the web map, scoped to the requesting user.

    /tiles/                            the layers: zooms, fields, filters, tile URL templates
    /tiles/layers.json                 the same
    /tiles/<layer>.json                TileJSON 3.0.0 for one layer (a MapLibre source `url`)
    /tiles/<layer>/<z>/<x>/<y>.pbf     one tile (application/vnd.mapbox-vector-tile)

A tile is one SQL statement, `ST_AsMVT` over the layer's rows in the tile that the user may
see. Its parts are compiled by the ORM, every value a bound parameter: the attribute
columns, joins and envelope test once per layer (`_tile_select`), and the user's scope on
each request: the WHERE of `Model.objects.restrict(user, "view")` with the map's filters
(`tile_scope`). The envelope is transformed to EPSG:4326 once
(`geom && ST_Transform(ST_TileEnvelope(z, x, y), 4326)`), so the GiST index picks the rows
and only those are transformed to EPSG:3857 and quantised by `ST_AsMVTGeom` to the tile's
4096 x 4096 grid. Below a layer's declared minimum zoom (`MIN_ZOOM`) the tile is empty and
no query runs. docs/tiles.md describes the layers, filters and caching for map authors.
"""

import copy
import functools
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.apps import apps
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import (
    EmptyResultSet,
    FullResultSet,
    ImproperlyConfigured,
    ValidationError,
)
from django.db import connections, models
from django.db.models import F, Func, Subquery, Value
from django.db.models.functions import Cast
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import get_script_prefix, path, re_path, reverse
from django.utils.cache import parse_etags, patch_vary_headers
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from spatial import layers
from spatial.models import Company

CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
EXTENT = 4096  # tile grid: coordinates are integers 0..4095 across a tile
BUFFER = 64  # grid units kept beyond each edge, so strokes and labels join across tiles
MAX_ZOOM = 22
#: Below this zoom polygons and lines are simplified to one grid unit before ST_AsMVTGeom;
#: from here on they are already about a metre per unit or finer.
SIMPLIFY_BELOW = 14
WEB_MERCATOR_SPAN = 2 * math.pi * 6378137  # EPSG:3857 world width in metres
#: Tiles are per user, so only the browser may keep them; the ETag makes revalidation cheap.
CACHE_SECONDS = 300
VARY = ("Cookie", "Authorization")
#: A tile's address below /tiles/, for the URLconf and TileFastPathMiddleware alike.
TILE_ROUTE = r"(?P<layer>[^/]+)/(?P<z>[^/]+)/(?P<x>[^/]+)/(?P<y>[^/]+)\.pbf$"


# -- the layers --------------------------------------------------------------------------------

#: The zoom each layer starts at. Below it the layer's tiles are empty and no query runs: a
#: unit, a floor or an asset is a pixel or less there, and a tile would hold thousands.
MIN_ZOOM = {
    "sites": 8,
    "parks": 10,
    "roads": 10,
    "parcels": 12,
    "buildings": 13,
    "floors": 15,
    "units": 15,
    # Layers of other apps: portfolio's assets (portfolio/layers.py); others add their zoom
    # here when they register (spatial.layers.tile_layer_register).
    "assets": 15,
}
#: Minor roads join the roads layer at later zooms than the arterials.
ROAD_GRADE_MIN_ZOOM = {
    "expressway": 10,
    "arterial": 10,
    "secondary": 12,
    "branch": 13,
    "internal": 14,
}


@dataclass(frozen=True)
class Attr:
    """One attribute of a layer's features: its name in the tile, where it comes from, and
    its TileJSON type. Decimals are sent as doubles, since MVT has no decimal type."""

    name: str
    source: str
    kind: str = "String"  # "String", "Number" or "Boolean"
    decimal: bool = False

    def expression(self):
        if self.decimal:
            return Cast(self.source, output_field=models.FloatField())
        return F(self.source)


def _text(name: str, source: str | None = None) -> Attr:
    return Attr(name, source or name)


def _number(name: str, source: str | None = None) -> Attr:
    return Attr(name, source or name, "Number")


def _decimal(name: str) -> Attr:
    return Attr(name, name, "Number", decimal=True)


COMMON = (
    _number("id", "pk"),
    _text("code"),
    _text("name"),
    _number("company_id"),
    _text("company_code", "company__code"),
)


@dataclass(frozen=True)
class Layer:
    """A map layer: the model behind it, the zooms it is drawn at, its attributes and the
    filters it accepts (query parameter → the field it matches)."""

    name: str
    model_label: str
    description: str
    attrs: tuple[Attr, ...]
    filters: Mapping[str, str]
    simplify: bool = True  # polygons and lines; points are never simplified
    #: (field, {value: min zoom}): features drawn from a later zoom than the layer's own.
    feature_min_zoom: tuple[str, Mapping[str, int]] | None = None
    max_zoom: int = MAX_ZOOM

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)

    @property
    def min_zoom(self) -> int:
        return MIN_ZOOM[self.name]

    def status_choices(self) -> tuple[str, ...]:
        if "status" not in self.filters:
            return ()
        choices = self.model._meta.get_field(self.filters["status"]).choices
        return tuple(value for value, label in choices)


#: The layers of the map: what each shows and the filters it takes.
LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "sites",
            "spatial.Site",
            "园区/项目: site boundaries",
            (
                *COMMON,
                _text("kind"),
                _text("district"),
                _decimal("official_area"),
                _number("area_m2"),
            ),
            {"company": "company", "site": "pk"},
        ),
        Layer(
            "buildings",
            "spatial.Building",
            "楼宇: building footprints",
            (
                *COMMON,
                _number("site_id"),
                _text("use"),
                _number("floors_above"),
                _number("floors_below"),
                _decimal("height_m"),
                _number("year_built"),
                _decimal("gross_area"),
                _number("area_m2"),
            ),
            {"company": "company", "site": "site_id", "building": "pk"},
        ),
        Layer(
            "floors",
            "spatial.Floor",
            "楼层: floor outlines, one per level (filter by building and level on the map)",
            (
                *COMMON,
                _number("site_id", "building__site_id"),
                _number("building_id"),
                _number("level"),
                _decimal("elevation_m"),
                _number("area_m2"),
            ),
            {
                "company": "company",
                "site": "building__site_id",
                "building": "building_id",
                "floor": "pk",
            },
        ),
        Layer(
            "units",
            "spatial.Unit",
            "房源/空间: units with use, status and areas, tagged with their floor and level",
            (
                *COMMON,
                _text("number"),
                _number("site_id"),
                _number("building_id"),
                _number("floor_id"),
                _number("level", "floor__level"),
                _text("use"),
                _text("status"),
                _decimal("gross_area"),
                _decimal("usable_area"),
                _number("area_m2"),
                Attr("outside_floor", "outside_floor", "Boolean"),
            ),
            {
                "company": "company",
                "site": "site_id",
                "building": "building_id",
                "floor": "floor_id",
                "status": "status",
            },
        ),
        Layer(
            "roads",
            "spatial.Road",
            "道路: road centre lines; minor grades appear at later zooms",
            (
                *COMMON,
                _number("site_id"),
                _text("grade"),
                _decimal("width_m"),
                _number("lanes"),
                _decimal("start_stake_m"),
                _decimal("end_stake_m"),
                _number("length_m"),
            ),
            {"company": "company", "site": "site_id"},
            feature_min_zoom=("grade", ROAD_GRADE_MIN_ZOOM),
        ),
        Layer(
            "parks",
            "spatial.Park",
            "公园/绿地: parks and green spaces",
            (
                *COMMON,
                _number("site_id"),
                _text("kind"),
                _decimal("green_area"),
                _number("opened_year"),
                _number("area_m2"),
            ),
            {"company": "company", "site": "site_id"},
        ),
        Layer(
            "parcels",
            "spatial.Parcel",
            "土地/宗地: land parcels with land use (GB/T 21010) and right",
            (
                *COMMON,
                _number("site_id"),
                _text("land_use"),
                _text("land_right"),
                _decimal("official_area"),
                _number("area_m2"),
            ),
            {"company": "company", "site": "site_id"},
        ),
    )
}

#: Every filter a layer may accept, and what it means.
FILTERS = {
    "company": _("a company id: its features and those of the companies below it"),
    "site": _("a site id"),
    "building": _("a building id"),
    "floor": _("a floor id"),
    "status": _("one status or several, comma-separated (units, assets)"),
}
_MAX_ID = 2**63 - 1


def layer_get(name: str) -> Layer:
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(
            _("Unknown layer {name!r}; the layers are: {layers}.").format(
                name=name, layers=", ".join(LAYERS)
            )
        ) from None


# -- input -------------------------------------------------------------------------------------


def tile_coordinates(z: str, x: str, y: str) -> tuple[int, int, int]:
    """The tile address as integers; ValidationError naming z, x or y when out of range."""
    try:
        zoom = int(z)
    except ValueError:
        raise ValidationError({"z": [_("Give a whole number.")]}) from None
    if not 0 <= zoom <= MAX_ZOOM:
        raise ValidationError({"z": [_("Zoom runs from 0 to %(max)d.") % {"max": MAX_ZOOM}]})
    size = 2**zoom
    numbers = {}
    for name, text in (("x", x), ("y", y)):
        try:
            numbers[name] = int(text)
        except ValueError:
            raise ValidationError({name: [_("Give a whole number.")]}) from None
        if not 0 <= numbers[name] < size:
            message = _("At zoom %(z)d it runs from 0 to %(max)d.") % {"z": zoom, "max": size - 1}
            raise ValidationError({name: [message]})
    return zoom, numbers["x"], numbers["y"]


def tile_filters(layer: Layer, params: Mapping[str, str]) -> dict[str, int | tuple[str, ...]]:
    """The map's filters from the query string, checked: ids are positive whole numbers,
    statuses are the model's own. Other query parameters (cache busters) are ignored."""
    filters: dict[str, int | tuple[str, ...]] = {}
    errors: dict[str, list] = {}
    for name in FILTERS:
        raw = (params.get(name) or "").strip()
        if not raw:  # absent or empty (a map's "all" choice): no filter
            continue
        if name not in layer.filters:
            errors[name] = [
                _("The %(layer)s layer is not filtered by %(name)s; it takes: %(names)s.")
                % {"layer": layer.name, "name": name, "names": ", ".join(layer.filters)}
            ]
        elif name == "status":
            statuses = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
            allowed = layer.status_choices()
            unknown = [s for s in statuses if s not in allowed]
            if not statuses:
                continue
            if unknown:
                errors[name] = [
                    _("Unknown status %(value)r; one of: %(choices)s.")
                    % {"value": ",".join(unknown), "choices": ", ".join(allowed)}
                ]
            else:
                filters[name] = statuses
        else:
            if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= _MAX_ID:
                errors[name] = [_("Give an id: a whole number above 0.")]
            else:
                filters[name] = int(raw)
    if errors:
        raise ValidationError(errors)
    return filters


# -- SQL ---------------------------------------------------------------------------------------


def _compile_all(compiler, expressions) -> tuple[list[str], list[list]]:
    compiled = [compiler.compile(expression) for expression in expressions]
    return [sql for sql, _ in compiled], [list(params) for _, params in compiled]


class TileEnvelope(Func):
    """ST_TileEnvelope(z, x, y, margin => m): the tile's square in EPSG:3857, widened by
    `margin` (a fraction of the tile) on every side."""

    output_field = models.Field()

    def __init__(self, z: int, x: int, y: int, margin: float = 0.0):
        super().__init__(Value(z), Value(x), Value(y), Value(float(margin)))

    def as_sql(self, compiler, connection, **extra):
        (z, x, y, margin), params = _compile_all(compiler, self.get_source_expressions())
        return f"ST_TileEnvelope({z}, {x}, {y}, margin => {margin})", sum(params, [])


class BBoxOverlaps(Func):
    """`geom && ST_Transform(envelope, 4326)`: the bounding-box test the GiST index answers.
    The envelope is transformed once, never the rows."""

    output_field = models.BooleanField()

    def as_sql(self, compiler, connection, **extra):
        (geom, envelope), params = _compile_all(compiler, self.get_source_expressions())
        return f"{geom} && ST_Transform({envelope}, 4326)", sum(params, [])


class AsMVTGeom(Func):
    """The row's geometry in EPSG:3857, simplified when a tolerance is given, then clipped
    and quantised to the tile grid by ST_AsMVTGeom; NULL when nothing of it is left."""

    output_field = models.Field()  # not a GeometryField: no EWKB cast in the select list

    def __init__(self, geom, envelope, tolerance: float | None):
        expressions = [geom, envelope, Value(EXTENT), Value(BUFFER)]
        if tolerance is not None:
            expressions.append(Value(float(tolerance)))
        super().__init__(*expressions)

    def as_sql(self, compiler, connection, **extra):
        sqls, params = _compile_all(compiler, self.get_source_expressions())
        geom, envelope, extent, buffer = sqls[:4]
        projected, projected_params = f"ST_Transform({geom}, 3857)", params[0]
        if len(sqls) == 5:
            projected = f"ST_Simplify({projected}, {sqls[4]}, true)"
            projected_params = projected_params + params[4]
        return (
            f"ST_AsMVTGeom({projected}, {envelope}, {extent}, {buffer}, true)",
            projected_params + params[1] + params[2] + params[3],
        )


def _tolerance(layer: Layer, z: int) -> float | None:
    """One grid unit in metres, for polygons and lines below SIMPLIFY_BELOW."""
    if layer.simplify and z < SIMPLIFY_BELOW:
        return WEB_MERCATOR_SPAN / 2**z / EXTENT
    return None


def _tile_params(z: int, x: int, y: int, tolerance: float | None) -> list:
    """The parameters of `_tile_select`'s statement, in the order of its placeholders."""
    simplify = [float(tolerance)] if tolerance is not None else []
    return [*simplify, z, x, y, 0.0, EXTENT, BUFFER, z, x, y, BUFFER / EXTENT]


def tile_rows(layer: Layer, *, z: int, x: int, y: int) -> models.QuerySet:
    """Every row of the layer near the tile, unscoped, one column per attribute: the part of
    a tile's statement that depends on the tile alone."""
    columns = {"c_fid": F("pk")}
    columns.update({f"c_{a.name}": a.expression() for a in layer.attrs})
    columns["c_geom"] = AsMVTGeom(F("geom"), TileEnvelope(z, x, y), _tolerance(layer, z))
    envelope = TileEnvelope(z, x, y, BUFFER / EXTENT)
    return (
        layer.model._base_manager.filter(BBoxOverlaps(F("geom"), envelope))
        .order_by()
        .values(**columns)
    )


@functools.cache
def _tile_select(layer_name: str, simplified: bool) -> str:
    """`SELECT <attributes> FROM <table and joins> WHERE <envelope test>` for a layer,
    compiled by the ORM once per process; `_tile_params` gives its parameters. Building and
    compiling the attribute columns costs more than a small tile's whole query in the
    database, so it is done once, and checked once against a sample tile."""
    layer = LAYERS[layer_name]
    z, x, y = (SIMPLIFY_BELOW - 1 if simplified else SIMPLIFY_BELOW), 5, 6
    sql, params = tile_rows(layer, z=z, x=x, y=y).query.sql_with_params()
    if list(params) != _tile_params(z, x, y, _tolerance(layer, z)) or "ORDER BY" in sql:
        raise ImproperlyConfigured(f"unexpected shape of the {layer.name} tile statement")
    return sql


#: How long a user's compiled scope is reused by one process (TILES_SCOPE_SECONDS overrides).
#: A change of memberships or companies clears it at once in the process that made it (the
#: signals below); other processes notice it within this time, well inside the five minutes
#: a browser keeps a tile anyway (CACHE_SECONDS).
SCOPE_SECONDS = 30
#: At most this many scopes are kept per process; then the cache starts afresh.
SCOPE_CACHE_SIZE = 10_000
_scopes: dict[tuple, tuple[float, tuple[str, tuple] | None]] = {}  # key → (stored at, scope)


def tile_scope_cache_clear(**kwargs) -> None:
    """Forget every cached scope (a membership or company changed)."""
    _scopes.clear()


for _model in ("spatial.Membership", "spatial.Company"):
    post_save.connect(tile_scope_cache_clear, sender=_model, dispatch_uid=f"tiles-{_model}-save")
    post_delete.connect(
        tile_scope_cache_clear, sender=_model, dispatch_uid=f"tiles-{_model}-delete"
    )


def cached_tile_scope(
    layer: Layer, *, user, z: int, filters: Mapping | None = None
) -> tuple[str, tuple] | None:
    """`tile_scope`, kept per process for SCOPE_SECONDS: a map asks for dozens of tiles a
    second with the same user, layer and filters, and the scope's two lookups (memberships,
    their company subtree) and its compilation cost several times a small tile's query."""
    if not getattr(user, "is_authenticated", False):
        return tile_scope(layer, user=user, z=z, filters=filters)
    feature_zoom = None
    if layer.feature_min_zoom is not None:
        # The zoom matters only through the feature zooms it passes.
        feature_zoom = min(z, max(layer.feature_min_zoom[1].values()))
    key = (
        user.pk, user.is_active, user.is_superuser, layer.name, feature_zoom,
        tuple(sorted((filters or {}).items())),
    )  # fmt: skip
    now = time.monotonic()
    found = _scopes.get(key)
    seconds = getattr(settings, "TILES_SCOPE_SECONDS", SCOPE_SECONDS)
    if found is not None and now - found[0] < seconds:
        return found[1]
    # On a copy: the user may be the one cached for a session (TileFastPathMiddleware), and
    # restrict() keeps per-request lookups (memberships) on the object it is given.
    scope = tile_scope(layer, user=copy.copy(user), z=z, filters=filters)
    if len(_scopes) >= SCOPE_CACHE_SIZE:
        _scopes.clear()
    _scopes[key] = (now, scope)
    return scope


def tile_scope(
    layer: Layer, *, user, z: int, filters: Mapping | None = None
) -> tuple[str, tuple] | None:
    """The rows `user` may see, narrowed by the map's filters and the zoom's rules, as a
    condition on the layer's table: the WHERE of `Model.objects.restrict(user, "view")` and
    the filters, compiled by the ORM on each request. ("", ()) when nothing is excluded;
    None when nothing is left."""
    queryset = layer.model.objects.restrict(user, "view")
    for name, value in (filters or {}).items():
        source = layer.filters[name]
        if name == "company":
            # The company and those below it, resolved inside the same statement.
            path = Company.objects.filter(pk=value).values("path")[:1]
            below = Company.objects.filter(path__startswith=Subquery(path)).values("pk")
            queryset = queryset.filter(company__in=below)
        elif name == "status":
            queryset = queryset.filter(**{f"{source}__in": value})
        elif "__" in source:
            # Through a relation (a floor's site) as a subquery, so the table needs no join.
            relation, rest = source.split("__", 1)
            related = layer.model._meta.get_field(relation).related_model
            ids = related._base_manager.filter(**{rest: value}).values("pk")
            queryset = queryset.filter(**{f"{relation}__in": ids})
        else:
            queryset = queryset.filter(**{source: value})
    if layer.feature_min_zoom is not None:
        field_name, zooms = layer.feature_min_zoom
        if z < max(zooms.values()):
            shown = [value for value, zoom in zooms.items() if zoom <= z]
            queryset = queryset.filter(**{f"{field_name}__in": shown})
    query = queryset.query
    try:
        if sum(1 for count in query.alias_refcount.values() if count) > 1:
            # A scope through a join: as an id list, so that no table alias can clash.
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            return f"{_column(queryset.db, layer, 'pk')} IN ({sql})", tuple(params)
        sql, params = query.get_compiler(queryset.db).compile(query.where)
    except EmptyResultSet:
        return None
    except FullResultSet:
        return "", ()
    return sql, tuple(params)


def _column(using: str, layer: Layer, name: str) -> str:
    quote = connections[using].ops.quote_name
    meta = layer.model._meta
    column = meta.pk.column if name == "pk" else meta.get_field(name).column
    return f"{quote(meta.db_table)}.{quote(column)}"


def tile_sql(
    layer: Layer, *, user, z: int, x: int, y: int, filters: Mapping | None = None
) -> tuple[str, tuple] | None:
    """The one statement that returns the tile as bytea, with its parameters; None when the
    tile is empty without asking (below the layer's zoom, or nothing the user may see)."""
    if z < layer.min_zoom:
        return None
    scope = cached_tile_scope(layer, user=user, z=z, filters=filters)
    if scope is None:
        return None
    condition, condition_params = scope
    tolerance = _tolerance(layer, z)
    join_params = [p for e in layers.tile_extensions(layer.name) for p in e.params()]
    return _tile_statement(layer.name, tolerance is not None, condition), (
        layer.name,
        *_tile_params(z, x, y, tolerance),
        *condition_params,
        *join_params,
    )


@functools.lru_cache(maxsize=SCOPE_CACHE_SIZE)
def _tile_statement(layer_name: str, simplified: bool, condition: str) -> str:
    """The tile statement's text for a layer and a compiled scope: the same for every tile
    and every user with that scope, so it is put together once per process."""
    layer = LAYERS[layer_name]
    select = _tile_select(layer.name, simplified)
    if condition:
        select = f"{select} AND ({condition})"
    using = layer.model.objects.db
    quote = connections[using].ops.quote_name
    extensions = layers.tile_extensions(layer.name)
    extra = [a for extension in extensions for a in extension.attrs]
    names = ", ".join(
        quote(n) for n in ("fid", *(a.name for a in layer.attrs), "geom", *(a.name for a in extra))
    )
    if extensions:
        # Attributes of other apps (a unit's lease): the layer's rows in the tile as `b`,
        # then their joins, which run only for those rows.
        columns = ", ".join(a.sql for a in extra)
        joins = " ".join(e.joins for e in extensions if e.joins)
        select = f"SELECT b.*, {columns} FROM ({select}) AS b {joins} ORDER BY b.c_fid"  # noqa: S608
    else:
        select = f"{select} ORDER BY {_column(using, layer, 'pk')}"
    # Only ORM-compiled SQL, registered SQL and quoted constant names go into the text;
    # values are bound. Ordered by id, so that the same rows give the same bytes and the
    # same ETag. ST_AsMVT skips rows whose geometry is NULL (nothing left in the tile); a
    # WHERE on it here would be pushed into the scan and clip every geometry twice.
    return f"SELECT ST_AsMVT(t, %s, {EXTENT}, 'geom', 'fid') FROM ({select}) AS t ({names})"  # noqa: S608


def layer_fields(layer: Layer) -> dict[str, str]:
    """Every attribute of the layer's features and its TileJSON type, registered ones too."""
    fields = {a.name: a.kind for a in layer.attrs}
    for extension in layers.tile_extensions(layer.name):
        fields.update({a.name: a.kind for a in extension.attrs})
    return fields


def tile_render(
    layer: Layer, *, user, z: int, x: int, y: int, filters: Mapping | None = None
) -> bytes:
    """The tile's bytes; b"" for an empty tile."""
    statement = tile_sql(layer, user=user, z=z, x=x, y=y, filters=filters)
    if statement is None:
        return b""
    with _tile_cursor(connections[layer.model.objects.db]) as cursor:
        cursor.execute(*statement)
        row = cursor.fetchone()
    return bytes(row[0]) if row and row[0] else b""


#: How often a tile statement runs on a connection before it is prepared, when the
#: connection itself prepares nothing (Django's default, for the sake of poolers).
PREPARE_THRESHOLD = 1


@contextmanager
def _tile_cursor(connection):
    """A cursor for the tile statement that lets PostgreSQL keep it prepared.

    Tiles of one layer, scope and set of filters share one statement text (the tile
    address is a parameter), so once prepared on a connection, parsing and planning are
    skipped: up to half the time of a small tile. Django's own cursors bind parameters on
    the client and cannot prepare, and Django turns psycopg's preparing off; this cursor
    binds on the server and turns it on for this statement only, wrapped like Django's own
    (error translation). While Django logs queries (DEBUG, tests counting queries) the
    statement goes through Django's cursor instead, since a prepared statement's text is
    not logged. TILES_PREPARED_STATEMENTS = False turns preparing off, as a
    transaction-pooling PgBouncer before 1.21 needs.
    """
    if (
        not getattr(settings, "TILES_PREPARED_STATEMENTS", True)
        or connection.queries_logged
        or connection.vendor != "postgresql"
        or connection.Database is not psycopg
    ):
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    threshold = raw.prepare_threshold
    if threshold is None:
        raw.prepare_threshold = PREPARE_THRESHOLD
    try:
        with connection.wrap_database_errors:
            cursor = psycopg.Cursor(raw)
        with connection.make_cursor(cursor) as wrapped:
            yield wrapped
    finally:
        raw.prepare_threshold = threshold


def tile_etag(tile: bytes) -> str:
    return f'"{hashlib.blake2b(tile, digest_size=16).hexdigest()}"'


# -- views -------------------------------------------------------------------------------------


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Errors are JSON whatever a map library puts in Accept (often a protobuf type)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _KnownUsers:
    """Users as an authentication gave them, by a key (a session key, a credentials hash),
    each kept for TILES_SCOPE_SECONDS in this process."""

    def __init__(self):
        self.entries: dict = {}  # key → (stored at, the user as loaded then)

    def get(self, key):
        found = self.entries.get(key) if key else None
        seconds = getattr(settings, "TILES_SCOPE_SECONDS", SCOPE_SECONDS)
        if found is not None and time.monotonic() - found[0] < seconds:
            return found[1]
        return None

    def put(self, key, user) -> None:
        if len(self.entries) >= SCOPE_CACHE_SIZE:
            self.entries.clear()
        # A copy made before any per-request cache (memberships) lands on the user.
        self.entries[key] = (time.monotonic(), copy.copy(user))

    def clear(self) -> None:
        self.entries.clear()


_session_users = _KnownUsers()
_basic_users = _KnownUsers()


def tile_session_cache_clear(**kwargs) -> None:
    """Forget the sessions' and credentials' users (a user changed, or someone signed out)."""
    _session_users.clear()
    _basic_users.clear()


post_save.connect(
    tile_session_cache_clear, sender=settings.AUTH_USER_MODEL, dispatch_uid="tiles-user-save"
)
user_logged_out.connect(tile_session_cache_clear, dispatch_uid="tiles-logout")


def _session_key(request) -> str | None:
    return request.COOKIES.get(settings.SESSION_COOKIE_NAME)


def _credentials_key(request) -> bytes | None:
    """A hash of a Basic Authorization header, never the password itself."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() != "basic ":
        return None
    return hashlib.blake2b(header.encode(), digest_size=32, person=b"geoasset-tiles").digest()


class _Remembered:
    """An authentication whose users are kept in `users` by `key(request)` (a subclass
    sets both)."""

    users: _KnownUsers
    key: Callable[[HttpRequest], object]

    def authenticate(self, request):
        key = self.key(request._request)
        user = self.users.get(key)
        if user is not None:
            return copy.copy(user), None
        result = super().authenticate(request)
        if result is not None and key:
            self.users.put(key, result[0])
        return result


class TileSessionAuthentication(_Remembered, SessionAuthentication):
    """The web session, with its user kept per process for TILES_SCOPE_SECONDS.

    A map fetches dozens of tiles a second; loading the session and then the user costs two
    queries per tile, more than a small tile's own. So a session seen here recently maps to
    a copy of the user as loaded then. Signing out or saving a user (password, active flag,
    roles) clears it in this process at once; other processes notice within the cache's
    time, inside the five minutes a browser keeps its tiles anyway. Tiles are read-only
    (GET), so skipping the CSRF check on a cached hit changes nothing.
    """

    users = _session_users
    key = staticmethod(_session_key)


class TileBasicAuthentication(_Remembered, BasicAuthentication):
    """HTTP Basic, with the user its credentials gave kept per process like the session's.

    QGIS sends the credentials with every tile, and checking a password is meant to be slow
    (PBKDF2, about a tenth of a second), far more than the tile. So a header that
    authenticated here within TILES_SCOPE_SECONDS maps to a copy of the user as loaded then;
    the key is a hash of the header, never the password. A changed password, a deactivated
    user or any other save of a user clears it in this process at once (the same signal as
    the sessions'); other processes notice within the cache's time."""

    users = _basic_users
    key = staticmethod(_credentials_key)


def _known_user(request):
    """The user a tile request's session cookie or Basic credentials gave within the
    caches' time, in the order TilesAPIView authenticates (session first); else None. Not a
    copy: the fast path only reads it, and `cached_tile_scope` works on a copy."""
    return _session_users.get(_session_key(request)) or _basic_users.get(_credentials_key(request))


class TilesAPIView(APIView):
    """Session or HTTP Basic authentication and the JSON error shape of the REST API;
    reads are scoped by `restrict()`, so signing in is the only permission asked."""

    authentication_classes = [TileSessionAuthentication, TileBasicAuthentication]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    schema = None  # not part of the REST API's OpenAPI schema; docs/tiles.md describes it


_CACHE_CONTROL = f"private, max-age={CACHE_SECONDS}"


def _private(response: HttpResponse, etag: str | None = None) -> HttpResponse:
    if etag:
        response["ETag"] = etag
    response["Cache-Control"] = _CACHE_CONTROL
    patch_vary_headers(response, VARY)
    return response


def tile_response(request, spec: Layer, *, user, z: int, x: int, y: int, filters) -> HttpResponse:
    """The tile as a response: its bytes with an ETag, or 304 when the browser has them."""
    tile = tile_render(spec, user=user, z=z, x=x, y=y, filters=filters)
    etag = tile_etag(tile)
    matches = parse_etags(request.headers.get("If-None-Match", ""))
    if "*" in matches or etag in {m.removeprefix("W/") for m in matches}:
        return _private(HttpResponseNotModified(), etag)
    response = HttpResponse(tile, content_type=CONTENT_TYPE)
    # Set here because the fast path answers before CommonMiddleware, which would set it.
    response["Content-Length"] = str(len(tile))
    return _private(response, etag)


class TileView(TilesAPIView):
    """One tile of one layer, as the signed-in user may see it."""

    def get(self, request, layer: str, z: str, x: str, y: str):
        spec = layer_get(layer)
        zoom, column, row = tile_coordinates(z, x, y)
        filters = tile_filters(spec, request.query_params)
        return tile_response(
            request, spec, user=request.user, z=zoom, x=column, y=row, filters=filters
        )


class TileFastPathMiddleware:
    """Tiles for a user this process already knows, without the rest of the stack.

    A map asks for dozens of tiles a second, and a small tile's query takes well under a
    millisecond, about what the full stack costs around it (the session, locale, CSRF,
    authentication and message middleware, URL resolution and DRF's dispatch). When the
    request is a GET of a tile address and its session cookie or Basic credentials map to
    a user signed in through `TileView` within TILES_SCOPE_SECONDS (the caches of
    `TileSessionAuthentication` and `TileBasicAuthentication`), the tile is answered here
    with the same bytes, ETag and headers. Everything else (the first tile of a session,
    anonymous requests, unknown layers, bad addresses or filters, HEAD) goes on through
    the stack to `TileView`, which answers and explains errors as before. It sits right
    after SecurityMiddleware, whose headers the response still gets. Tiles are read-only
    and carry no text, so the skipped middleware has nothing to add to them.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.pattern = None

    def __call__(self, request):
        if request.method == "GET" and request.path_info.endswith(".pbf"):
            response = self.tile(request)
            if response is not None:
                return response
        return self.get_response(request)

    def tile(self, request) -> HttpResponse | None:
        if self.pattern is None:
            # Where web/urls.py mounts the tiles, without the script prefix (path_info).
            index = reverse("tiles:index").removeprefix(get_script_prefix().rstrip("/"))
            self.pattern = re.compile(rf"^{re.escape(index)}{TILE_ROUTE}")
        match = self.pattern.match(request.path_info)
        if match is None:
            return None
        user = _known_user(request)
        spec = LAYERS.get(match["layer"])
        if user is None or spec is None:
            return None
        try:
            zoom, column, row = tile_coordinates(match["z"], match["x"], match["y"])
            filters = tile_filters(spec, request.GET)
        except ValidationError:
            return None
        return tile_response(request, spec, user=user, z=zoom, x=column, y=row, filters=filters)


def layer_index_entry(request, layer: Layer, query: str = "") -> dict:
    """A layer as TileJSON's `vector_layers` describe one, plus its tile URL and filters."""
    base = request.build_absolute_uri(reverse("tiles:index"))
    return {
        "id": layer.name,
        "description": layer.description,
        "minzoom": layer.min_zoom,
        "maxzoom": layer.max_zoom,
        "fields": layer_fields(layer),
        "filters": list(layer.filters),
        "statuses": list(layer.status_choices()),
        "tiles": [f"{base}{layer.name}/{{z}}/{{x}}/{{y}}.pbf" + (f"?{query}" if query else "")],
        "tilejson": f"{base}{layer.name}.json",
    }


class TileIndexView(TilesAPIView):
    """The map's layers: zooms, fields, filters and tile URL templates."""

    def get(self, request):
        return _private(
            Response(
                {
                    "format": "pbf",
                    "content_type": CONTENT_TYPE,
                    "extent": EXTENT,
                    "buffer": BUFFER,
                    "minzoom": 0,
                    "maxzoom": MAX_ZOOM,
                    "filters": {name: str(text) for name, text in FILTERS.items()},
                    "layers": [layer_index_entry(request, layer) for layer in LAYERS.values()],
                }
            )
        )


class TileJSONView(TilesAPIView):
    """TileJSON 3.0.0 for one layer; the query string (filters) is carried into the tile URL."""

    def get(self, request, layer: str):
        spec = layer_get(layer)
        filters = tile_filters(spec, request.query_params)
        query = "&".join(
            f"{name}={','.join(value) if isinstance(value, tuple) else value}"
            for name, value in filters.items()
        )
        entry = layer_index_entry(request, spec, query)
        vector_layer = {k: entry[k] for k in ("id", "description", "minzoom", "maxzoom", "fields")}
        return _private(
            Response(
                {
                    "tilejson": "3.0.0",
                    "name": spec.name,
                    "description": spec.description,
                    "scheme": "xyz",
                    "tiles": entry["tiles"],
                    "minzoom": spec.min_zoom,
                    "maxzoom": spec.max_zoom,
                    "bounds": [-180, -85.0511287798066, 180, 85.0511287798066],
                    "vector_layers": [vector_layer],
                    "filters": entry["filters"],
                }
            )
        )


class TileNotFoundView(TilesAPIView):
    """Any other address under /tiles/: a JSON 404 saying what the addresses look like."""

    def get(self, request, rest: str = ""):
        raise NotFound(_("Tiles are at /tiles/{layer}/{z}/{x}/{y}.pbf; the index is /tiles/."))


app_name = "tiles"
urlpatterns = [
    path("", TileIndexView.as_view(), name="index"),
    path("layers.json", TileIndexView.as_view(), name="layers"),
    re_path(r"^(?P<layer>[^/]+)\.json$", TileJSONView.as_view(), name="tilejson"),
    re_path(rf"^{TILE_ROUTE}", TileView.as_view(), name="tile"),
    re_path(r"^(?P<rest>.*)$", TileNotFoundView.as_view(), name="not-found"),
]
