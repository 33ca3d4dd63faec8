"""Georeferencing: where a model's local metres lie on the earth.

A `Frame` maps building-local metres (x, y, the model's world coordinates after the unit
scale) to WGS 84 and back. Local → plane is a similarity: rotate by `rotation_deg`
(anticlockwise, the angle of the local x axis from plane east), multiply by `scale`, shift by
(`e0`, `n0`). The plane is either a projected CRS (`crs`, e.g. "EPSG:4547"; its coordinates are
plane metres divided by `crs_unit_m`) or, without one, the azimuthal equidistant plane of the
WGS 84 ellipsoid centred on (`lon0`, `lat0`) — a local tangent plane in which distances and
bearings from the centre are exact.

Three ways to build one, in the order an import tries them (see `bim.services`):

- `frame_from_map_conversion`: IfcMapConversion (IFC4, IFC4X3) or the IFC2X3 property sets
  ePSet_MapConversion / ePSet_ProjectedCRS on the project.
- `frame_from_site_reference`: IfcSite RefLatitude / RefLongitude at the site's placement origin,
  turned by the context's TrueNorth.
- `frame_from_anchor`: a point and a rotation given by the user.
"""

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
from django.utils.translation import gettext as _
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import CRSError

GEOD = Geod(ellps="WGS84")

#: Which method placed a model.
MAP_CONVERSION = "map_conversion"
SITE_REFERENCE = "site_reference"
ANCHOR = "anchor"
PREVIOUS = "previous"  # a re-import without georeferencing reuses the stored frame
LOCAL = "local"  # no model: a plane centred on the building, for floor plans of drawn buildings


class GeorefError(ValueError):
    """No usable placement; the message says what to give instead."""


@dataclass(frozen=True)
class Frame:
    method: str
    e0: float = 0.0
    n0: float = 0.0
    rotation_deg: float = 0.0
    scale: float = 1.0
    crs: str = ""
    crs_unit_m: float = 1.0
    lon0: float | None = None
    lat0: float | None = None
    notes: dict = field(default_factory=dict, compare=False)

    # -- local ↔ plane ---------------------------------------------------------------------

    def _plane(self, x, y):
        theta = math.radians(self.rotation_deg)
        c, s = math.cos(theta) * self.scale, math.sin(theta) * self.scale
        return self.e0 + c * x - s * y, self.n0 + s * x + c * y

    def _unplane(self, e, n):
        theta = math.radians(self.rotation_deg)
        c, s = math.cos(theta) / self.scale, math.sin(theta) / self.scale
        de, dn = e - self.e0, n - self.n0
        return c * de + s * dn, -s * de + c * dn

    # -- local ↔ WGS 84 --------------------------------------------------------------------

    def to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Local metres → (lon, lat) in degrees; arrays in, arrays out."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        e, n = self._plane(x, y)
        if self.crs:
            return _to_wgs84(self.crs)(e / self.crs_unit_m, n / self.crs_unit_m)
        distance = np.hypot(e, n)
        azimuth = np.degrees(np.arctan2(e, n))
        lon0 = np.full_like(distance, self.lon0)
        lat0 = np.full_like(distance, self.lat0)
        lon, lat, _ = GEOD.fwd(lon0, lat0, azimuth, distance)
        return np.asarray(lon), np.asarray(lat)

    def to_local(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """(lon, lat) in degrees → local metres; the inverse of `to_lonlat`."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        if self.crs:
            e, n = _from_wgs84(self.crs)(lon, lat)
            e, n = np.asarray(e) * self.crs_unit_m, np.asarray(n) * self.crs_unit_m
        else:
            lon0 = np.full_like(lon, self.lon0)
            lat0 = np.full_like(lat, self.lat0)
            azimuth, _, distance = GEOD.inv(lon0, lat0, lon, lat)
            azimuth = np.radians(azimuth)
            e, n = distance * np.sin(azimuth), distance * np.cos(azimuth)
        return self._unplane(e, n)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Frame":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@lru_cache(maxsize=32)
def _to_wgs84(crs: str):
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform


@lru_cache(maxsize=32)
def _from_wgs84(crs: str):
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform


# -- angles ----------------------------------------------------------------------------------


def compound_angle_to_degrees(value) -> float | None:
    """IfcCompoundPlaneAngleMeasure (degrees, minutes, seconds[, millionths]) → decimal degrees.

    All parts carry the same sign (-71, -3, -35, -194702 is 71°3'35.194702" W)."""
    if value is None:
        return None
    parts = list(value) + [0] * (4 - len(value))
    degrees, minutes, seconds, millionths = (abs(float(p)) for p in parts[:4])
    sign = -1.0 if any(float(p) < 0 for p in parts) else 1.0
    return sign * (degrees + minutes / 60 + (seconds + millionths / 1e6) / 3600)


def is_placeholder(lon: float | None, lat: float | None) -> bool:
    """Missing, or the (0, 0) authoring tools write when nobody set a location."""
    if lon is None or lat is None:
        return True
    return abs(lon) < 1e-7 and abs(lat) < 1e-7


def true_north_rotation(true_north: tuple[float, float] | None) -> float:
    """The local x axis's angle from east (anticlockwise, degrees) given TrueNorth, the
    direction of true north in local coordinates; 0 when north is +y."""
    if not true_north:
        return 0.0
    tx, ty = float(true_north[0]), float(true_north[1])
    if tx == 0 and ty == 0:
        return 0.0
    # A local vector v is (v·TN⊥, v·TN) in east/north, TN⊥ = (ty, -tx): cos θ = ty, sin θ = tx.
    return math.degrees(math.atan2(tx, ty))


# -- the three ways --------------------------------------------------------------------------


@dataclass(frozen=True)
class MapConversion:
    """What IfcMapConversion (or ePSet_MapConversion) says, in the file's own units."""

    eastings: float
    northings: float
    orthogonal_height: float
    x_axis_abscissa: float | None
    x_axis_ordinate: float | None
    scale: float | None
    crs_name: str
    map_unit_m: float | None  # IfcProjectedCRS.MapUnit in metres; None when not given


def _crs_unit_m(crs: CRS) -> float:
    axes = crs.axis_info
    if not axes:
        return 1.0
    return float(axes[0].unit_conversion_factor or 1.0)


def frame_from_map_conversion(
    conversion: MapConversion, *, project_unit_m: float, crs_override: str = ""
) -> tuple[Frame, list[str]]:
    """A frame in the target projected CRS. Raises GeorefError when the CRS is unknown.

    The scale is checked against the units: IfcMapConversion.Scale turns project length units
    into map units, so with a project in millimetres and a map in metres it must be about 0.001
    (times the grid's scale factor, if the surveyor put it there). A missing Scale with a
    MapUnit that differs from the project's is the commonest exporter error; the unit ratio is
    used and reported. Without a MapUnit, the Scale says what the map unit is (IfcOpenShell
    writes 0.001 for a millimetre project on a metre map); without either, the map coordinates
    are in the project's unit, as IFC and IfcOpenShell read them.
    """
    warnings: list[str] = []
    name = (crs_override or conversion.crs_name or "").strip()
    if not name:
        raise GeorefError(
            _("The IfcMapConversion's projected CRS has no name; give it (e.g. --crs EPSG:4547).")
        )
    try:
        crs = CRS.from_user_input(name)
    except CRSError as exc:
        raise GeorefError(
            _("Unknown coordinate reference system %(crs)s: %(error)s")
            % {"crs": repr(name), "error": exc}
        ) from exc
    if not crs.is_projected:
        raise GeorefError(
            _("%(crs)s is not a projected coordinate reference system.") % {"crs": name}
        )
    crs_unit_m = _crs_unit_m(crs)
    map_unit_m = conversion.map_unit_m or _map_unit_from_scale(conversion.scale, project_unit_m)
    expected = project_unit_m / map_unit_m
    scale = conversion.scale
    if scale is None or scale == 0:
        if not math.isclose(expected, 1.0, rel_tol=1e-9):
            warnings.append(
                _(
                    "IfcMapConversion has no Scale but the project unit is %(project)s m and "
                    "the map unit %(map)s m; used the unit ratio %(used)s."
                )
                % {
                    "project": f"{project_unit_m:g}",
                    "map": f"{map_unit_m:g}",
                    "used": f"{expected:g}",
                }
            )
        scale = expected
    elif not 0.95 <= scale / expected <= 1.05:
        if 0.95 <= scale <= 1.05:
            # A grid scale factor written without the unit ratio: keep both.
            warnings.append(
                _(
                    "IfcMapConversion.Scale %(scale)s ignores the units (project %(project)s m, "
                    "map %(map)s m); used %(used)s."
                )
                % {
                    "scale": f"{scale:g}",
                    "project": f"{project_unit_m:g}",
                    "map": f"{map_unit_m:g}",
                    "used": f"{scale * expected:g}",
                }
            )
            scale = scale * expected
        else:
            warnings.append(
                _(
                    "IfcMapConversion.Scale %(scale)s does not match the units (expected about "
                    "%(expected)s); used %(expected)s."
                )
                % {"scale": f"{scale:g}", "expected": f"{expected:g}"}
            )
            scale = expected
    a = conversion.x_axis_abscissa
    o = conversion.x_axis_ordinate
    if not a and not o:
        a, o = 1.0, 0.0
    rotation = math.degrees(math.atan2(o or 0.0, a or 0.0))
    frame = Frame(
        method=MAP_CONVERSION,
        e0=conversion.eastings * map_unit_m,
        n0=conversion.northings * map_unit_m,
        rotation_deg=rotation,
        # local metres → map units → plane metres
        scale=scale / project_unit_m * map_unit_m,
        crs=crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}",
        crs_unit_m=crs_unit_m,
        notes={"crs_name": crs.name, "from_user": bool(crs_override)},
    )
    return frame, warnings


#: Length units a map is drawn in (metres per unit).
_MAP_UNITS_M = (1.0, 0.001, 0.01, 0.3048, 1200 / 3937)


def _map_unit_from_scale(scale: float | None, project_unit_m: float) -> float:
    """The map unit a Scale implies (project unit / Scale), when it is a known one within 5 %
    (a grid scale factor may be folded in); else the project's own unit."""
    if not scale:
        return project_unit_m
    implied = project_unit_m / scale
    for unit in _MAP_UNITS_M:
        if 0.95 <= implied / unit <= 1.05:
            return unit
    return project_unit_m


def frame_from_site_reference(
    *,
    lon: float,
    lat: float,
    true_north: tuple[float, float] | None,
    origin_xy: tuple[float, float] = (0.0, 0.0),
) -> Frame:
    """The site's reference point sits at `origin_xy` (local metres); north from TrueNorth."""
    rotation = true_north_rotation(true_north)
    theta = math.radians(rotation)
    ox, oy = origin_xy
    return Frame(
        method=SITE_REFERENCE,
        e0=-(math.cos(theta) * ox - math.sin(theta) * oy),
        n0=-(math.sin(theta) * ox + math.cos(theta) * oy),
        rotation_deg=rotation,
        lon0=lon,
        lat0=lat,
    )


def frame_from_anchor(*, lon: float, lat: float, rotation_deg: float = 0.0) -> Frame:
    """The model's origin at (lon, lat); `rotation_deg` is the bearing of the model's +y axis,
    clockwise from true north (a compass angle: 90 when the model's "up" points east)."""
    return Frame(method=ANCHOR, rotation_deg=-rotation_deg, lon0=lon, lat0=lat)


def frame_local(*, lon: float, lat: float) -> Frame:
    """North-up metres around a point: the floor-plan frame of a building without a model."""
    return Frame(method=LOCAL, lon0=lon, lat0=lat)


def crs_area_contains(crs: str, lon: float, lat: float, margin_deg: float = 1.0) -> bool | None:
    """Is the point inside the CRS's area of use (None when the CRS does not say)?"""
    try:
        area = CRS.from_user_input(crs).area_of_use
    except CRSError:
        return None
    if area is None:
        return None
    return (
        area.west - margin_deg <= lon <= area.east + margin_deg
        and area.south - margin_deg <= lat <= area.north + margin_deg
    )
