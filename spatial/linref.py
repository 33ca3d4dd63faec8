"""Linear referencing on roads (桩号): a stake number to a point, and a point to a stake.

A road's stakes run from `start_stake_m` at the first vertex of its centre line to
`end_stake_m` at the last, spread evenly over the line's geodesic length (chainage breaks,
断链, are not modelled). PostGIS 3.3 interpolates and locates along planar lines only, so the
line is handled in a transverse Mercator projection centred on the road, where planar
lengths equal geodesic lengths to about one part in a million over a few kilometres; the
distance from a point to the road is measured on the spheroid.
"""

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry, Point
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from spatial.models import Road
from spatial.services import stake_label
from spatial.transfer import crs

STAKE_RE = re.compile(r"^K(\d+)\+(\d+(?:\.\d+)?)$", re.IGNORECASE)
CENTIMETRE = Decimal("0.01")


def parse_stake(text: str | None) -> Decimal:
    """Metres from "K1+234.5" or "1234.5"; a ValidationError naming `stake` otherwise."""
    value = (text or "").strip().replace(" ", "")
    if not value:
        raise ValidationError({"stake": [_("This field is required.")]})
    if match := STAKE_RE.match(value):
        metres = int(match.group(1)) * 1000 + Decimal(match.group(2))
        if Decimal(match.group(2)) >= 1000:
            raise ValidationError(
                {"stake": [_("In K1+234.5 the metres after '+' must be below 1000.")]}
            )
    else:
        try:
            metres = Decimal(value.lower().removesuffix("m"))
        except InvalidOperation:
            metres = None
        if metres is None or not metres.is_finite():
            raise ValidationError(
                {"stake": [_("Give a stake as K1+234.5 or in metres, e.g. 1234.5.")]}
            )
    return metres


def _local_tm(road: Road) -> str:
    """A transverse Mercator centred on the road: planar metres ≈ geodesic metres there."""
    lon = round(road.geom.centroid.x, 6)
    return f"+proj=tmerc +lat_0=0 +lon_0={lon} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"


@dataclass(frozen=True)
class StakePoint:
    stake_m: Decimal
    stake: str
    fraction: float
    point: Point


def road_stake_point(*, road: Road, stake_m: Decimal) -> StakePoint:
    """The point of `road` at stake `stake_m` (metres); outside the road's stakes is an error
    naming `stake`."""
    start, end = Decimal(road.start_stake_m), Decimal(road.end_stake_m)
    if not start <= stake_m <= end:
        raise ValidationError(
            {
                "stake": [
                    _("%(stake)s is outside this road's stakes, %(start)s to %(end)s.")
                    % {
                        "stake": stake_label(stake_m),
                        "start": stake_label(start),
                        "end": stake_label(end),
                    }
                ]
            }
        )
    fraction = float((stake_m - start) / (end - start))
    proj = _local_tm(road)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsBinary(ST_Transform(ST_LineInterpolatePoint(ST_Transform(geom, %s), %s),"
            " %s, 4326)) FROM spatial_road WHERE id = %s",
            [proj, fraction, proj, road.pk],
        )
        (wkb,) = cursor.fetchone()
    point = GEOSGeometry(memoryview(wkb), srid=4326)
    return StakePoint(stake_m=stake_m, stake=stake_label(stake_m), fraction=fraction, point=point)


@dataclass(frozen=True)
class StakeLocation:
    stake_m: Decimal
    stake: str
    fraction: float
    distance_m: float  # from the point to the centre line, on the spheroid
    on_line: Point  # the nearest point of the centre line


def road_locate_point(*, road: Road, point: Point) -> StakeLocation:
    """The stake of the point of `road` nearest to `point` (EPSG:4326), and how far away
    `point` is from the centre line."""
    proj = _local_tm(road)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH r AS (SELECT geom, ST_Transform(geom, %s) AS line,
                              ST_Transform(ST_GeomFromEWKB(%s), %s) AS pt,
                              ST_GeomFromEWKB(%s) AS point
                         FROM spatial_road WHERE id = %s)
            SELECT ST_LineLocatePoint(line, pt),
                   ST_Distance(geom::geography, point::geography, true),
                   ST_AsBinary(ST_Transform(ST_ClosestPoint(line, pt), %s, 4326))
              FROM r
            """,
            [proj, bytes(point.ewkb), proj, bytes(point.ewkb), road.pk, proj],
        )
        fraction, distance, wkb = cursor.fetchone()
    start, end = Decimal(road.start_stake_m), Decimal(road.end_stake_m)
    stake_m = (start + Decimal(repr(fraction)) * (end - start)).quantize(CENTIMETRE, ROUND_HALF_UP)
    return StakeLocation(
        stake_m=stake_m,
        stake=stake_label(stake_m),
        fraction=fraction,
        distance_m=distance,
        on_line=GEOSGeometry(memoryview(wkb), srid=4326),
    )


# -- points in and out, in any longitude/latitude CRS (GCJ-02 from a phone map, …) -------------


def parse_lonlat_crs(text: str | None) -> crs.Crs:
    """The CRS of a point given or returned (EPSG:4326 when none); a geographic one."""
    try:
        found = crs.parse_crs(text or "EPSG:4326")
    except crs.CrsError as exc:
        raise ValidationError({"crs": [str(exc)]}) from exc
    if not found.is_geographic:
        raise ValidationError({"crs": [_("Give a longitude/latitude CRS (EPSG:4326, GCJ02, …).")]})
    return found


def parse_point(lon: str | None, lat: str | None, source: crs.Crs) -> Point:
    """A point from lon/lat query values in `source`, as EPSG:4326; errors name the value."""
    values = {}
    for name, text, limit in (("lon", lon, 180), ("lat", lat, 90)):
        try:
            values[name] = float((text or "").strip())
        except ValueError:
            raise ValidationError({name: [_("Give a number of degrees.")]}) from None
        if not -limit <= values[name] <= limit:
            raise ValidationError(
                {name: [_("Give a value from -%(limit)s to %(limit)s.") % {"limit": limit}]}
            )
    (geom,) = crs.to_wgs84(np.array([shapely.Point(values["lon"], values["lat"])]), source)
    return Point(geom.x, geom.y, srid=4326)


def point_geojson(point: Point, target: crs.Crs) -> dict:
    """A GeoJSON Point of an EPSG:4326 point, in `target`."""
    (geom,) = crs.from_wgs84(np.array([shapely.Point(point.x, point.y)]), target)
    return {"type": "Point", "coordinates": [geom.x, geom.y]}
