"""Coordinate reference systems at the edges: what a file is in, and what an export is in.

Geometry is stored in EPSG:4326. Files arrive (and leave) in:

- anything PROJ knows, by EPSG code (``EPSG:4548``, ``4548``, ``urn:ogc:def:crs:EPSG::4548``);
- names: ``WGS84`` (EPSG:4326), ``CGCS2000`` (EPSG:4490), and CGCS2000 Gauss-Krüger zones as
  ``CGCS2000-GK3-CM117`` (3° zone by central meridian, EPSG:4534–4554), ``CGCS2000-GK3-39``
  (3° zone by number, easting prefixed with the zone number, EPSG:4513–4533),
  ``CGCS2000-GK6-CM117`` (EPSG:4502–4512) and ``CGCS2000-GK6-20`` (EPSG:4491–4501);
- ``GCJ02`` (国测局坐标 / "Mars coordinates", used by AMap, Tencent and Apple maps in China)
  and ``BD09`` (Baidu), which are not in PROJ: converted here with the published
  eviltransform / coordtransform algorithm (see docs/crs.md for the method and accuracy).

Transformations work on numpy arrays of shapely geometries, all coordinates at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

WGS84 = 4326
CGCS2000 = 4490

# -- GCJ-02 and BD-09 ---------------------------------------------------------------------------

#: Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm uses it.
KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
X_PI = np.pi * 3000.0 / 180.0
#: The rectangle coordtransform treats as China; points outside pass through unchanged.
CHINA_BOX = (73.66, 3.86, 135.05, 53.55)
#: The inverse is iterated until the forward image is this close to the target (degrees,
#: about 0.1 mm), or for at most INVERSE_MAX_ITERATIONS rounds.
INVERSE_TOLERANCE_DEG = 1e-9
INVERSE_MAX_ITERATIONS = 30


def out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where a point lies outside the rectangle the GCJ-02 algorithm shifts."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    xmin, ymin, xmax, ymax = CHINA_BOX
    return ~((lon > xmin) & (lon < xmax) & (lat > ymin) & (lat < ymax))


def _offset_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi = np.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi = np.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02 by the published forward formula; outside China unchanged."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlat = _offset_lat(lon - 105.0, lat - 35.0)
    dlon = _offset_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    start: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(u, v) = (x, y) by fixed-point iteration from `start`: the shift is
    small and smooth, so each round shrinks the error by orders of magnitude."""
    u, v = start
    for _ in range(INVERSE_MAX_ITERATIONS):
        fx, fy = forward(u, v)
        dx, dy = fx - x, fy - y
        u, v = u - dx, v - dy
        if max(np.max(np.abs(dx), initial=0.0), np.max(np.abs(dy), initial=0.0)) < (
            INVERSE_TOLERANCE_DEG
        ):
            break
    return u, v


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84: the forward formula inverted iteratively (to about 1e-9°)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    u, v = _invert(wgs84_to_gcj02, lon, lat, (lon, lat))
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, u), np.where(outside, lat, v)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (Baidu's published formula)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(lon, dtype=float) - 0.0065, np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02: the published closed-form inverse (good to about 1e-6°), refined
    iteratively against the forward formula."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(gcj02_to_bd09, lon, lat, _bd09_to_gcj02_approx(lon, lat))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# -- naming a CRS ---------------------------------------------------------------------------


class CrsError(ValueError):
    """A CRS that cannot be understood; the message says which forms are accepted."""


@dataclass(frozen=True)
class Crs:
    """A coordinate reference system as the import and export see it.

    `kind` is "epsg" (anything PROJ knows; `epsg` holds the code when there is one, `wkt`
    otherwise), "gcj02" or "bd09".
    """

    kind: str
    label: str
    epsg: int | None = None
    wkt: str | None = None

    @property
    def is_wgs84(self) -> bool:
        # CGCS2000 agrees with WGS 84 to centimetres; PROJ treats the change as a no-op.
        return self.kind == "epsg" and self.epsg in (WGS84, CGCS2000)

    @property
    def is_geographic(self) -> bool:
        if self.kind in ("gcj02", "bd09"):
            return True
        return self.pyproj().is_geographic

    def pyproj(self) -> CRS | None:
        """The pyproj CRS, or None for GCJ-02 and BD-09 (unknown to PROJ)."""
        if self.kind != "epsg":
            return None
        return _pyproj_crs(self.epsg, self.wkt)

    def __str__(self) -> str:
        return self.label


@lru_cache(maxsize=64)
def _pyproj_crs(epsg: int | None, wkt: str | None) -> CRS:
    return CRS.from_epsg(epsg) if epsg is not None else CRS.from_wkt(wkt)


def gk3_epsg(central_meridian: int, *, zone_prefix: bool = False) -> int:
    """EPSG code of the CGCS2000 3° Gauss-Krüger zone with this central meridian."""
    if central_meridian % 3 or not 75 <= central_meridian <= 135:
        raise CrsError(f"No CGCS2000 3° zone has the central meridian {central_meridian}.")
    if zone_prefix:
        return 4513 + central_meridian // 3 - 25
    return 4534 + (central_meridian - 75) // 3


def gk6_epsg(central_meridian: int, *, zone_prefix: bool = False) -> int:
    """EPSG code of the CGCS2000 6° Gauss-Krüger zone with this central meridian."""
    if (central_meridian - 75) % 6 or not 75 <= central_meridian <= 135:
        raise CrsError(f"No CGCS2000 6° zone has the central meridian {central_meridian}.")
    if zone_prefix:
        return 4491 + (central_meridian + 3) // 6 - 13
    return 4502 + (central_meridian - 75) // 6


def gk3_zone_for(lon: float) -> int:
    """Central meridian of the 3° zone a longitude falls in (zone n spans 3n ± 1.5°)."""
    return int(round(lon / 3.0)) * 3


_NAMES = {
    "WGS84": WGS84,
    "WGS-84": WGS84,
    "WGS 84": WGS84,
    "CGCS2000": CGCS2000,
    "CGCS-2000": CGCS2000,
    "CRS84": WGS84,
    "OGC:CRS84": WGS84,
    "URN:OGC:DEF:CRS:OGC:1.3:CRS84": WGS84,
}
_SPECIAL = {
    "GCJ02": "gcj02",
    "GCJ-02": "gcj02",
    "GCJ": "gcj02",
    "BD09": "bd09",
    "BD-09": "bd09",
    "BD09LL": "bd09",
}
_GK = re.compile(r"^CGCS2000[-_ ]?GK([36])[-_ ]?(CM)?[-_ ]?(\d{2,3})E?$")
_EPSG = re.compile(
    r"^(?:EPSG:{1,2}|URN:OGC:DEF:CRS:EPSG:[\d.]*:|HTTPS?://WWW\.OPENGIS\.NET/DEF/CRS/EPSG/0/)?"
    r"(\d{4,6})$"
)
ACCEPTED = (
    "EPSG:<code> (e.g. EPSG:4548), WGS84, CGCS2000, CGCS2000-GK3-CM117, CGCS2000-GK3-39, "
    "CGCS2000-GK6-CM117, CGCS2000-GK6-20, GCJ02, BD09"
)


def _from_epsg(code: int, label: str | None = None) -> Crs:
    try:
        _pyproj_crs(code, None)
    except CRSError as exc:
        raise CrsError(f"EPSG:{code} is not a known CRS.") from exc
    return Crs(kind="epsg", label=label or f"EPSG:{code}", epsg=code)


def parse_crs(text: str) -> Crs:
    """A CRS from what a person types; raises CrsError naming the accepted forms."""
    raw = (text or "").strip()
    key = raw.upper()
    if not key:
        raise CrsError(f"Give a CRS: {ACCEPTED}.")
    if key in _SPECIAL:
        kind = _SPECIAL[key]
        return Crs(kind=kind, label={"gcj02": "GCJ02", "bd09": "BD09"}[kind])
    if key in _NAMES:
        return _from_epsg(_NAMES[key])
    if match := _GK.match(key):
        width, by_meridian, number = match.group(1), bool(match.group(2)), int(match.group(3))
        if by_meridian:
            meridian = number
            code = (gk3_epsg if width == "3" else gk6_epsg)(meridian)
        else:  # a zone number: 3° zone n has meridian 3n, 6° zone n has 6n - 3
            meridian = number * 3 if width == "3" else number * 6 - 3
            code = (gk3_epsg if width == "3" else gk6_epsg)(meridian, zone_prefix=True)
        return _from_epsg(code)
    if match := _EPSG.match(key):
        return _from_epsg(int(match.group(1)))
    raise CrsError(f"Unknown CRS {raw!r}; use one of {ACCEPTED}.")


def crs_from_pyproj(crs: CRS | None) -> Crs | None:
    """The CRS a file declares, as a Crs (by EPSG code when PROJ can name one)."""
    if crs is None:
        return None
    code = crs.to_epsg(min_confidence=70)
    if code is not None:
        return _from_epsg(code)
    return Crs(kind="epsg", label=crs.name or "custom CRS", wkt=crs.to_wkt())


# -- transforming geometries --------------------------------------------------------------------


@lru_cache(maxsize=64)
def _transformer(src: Crs, dst: Crs) -> Transformer:
    return Transformer.from_crs(src.pyproj(), dst.pyproj(), always_xy=True)


_WGS84 = Crs(kind="epsg", label="EPSG:4326", epsg=WGS84)


def _coords_fn(fn) -> Callable[[np.ndarray], np.ndarray]:
    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = fn(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return apply


def _proj_fn(src: Crs, dst: Crs) -> Callable[[np.ndarray], np.ndarray]:
    transformer = _transformer(src, dst)

    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return apply


def to_wgs84(geoms: np.ndarray, crs: Crs) -> np.ndarray:
    """Geometries in `crs` → EPSG:4326 (2D). None entries stay None."""
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    if crs.kind == "gcj02":
        return shapely.transform(geoms, _coords_fn(gcj02_to_wgs84))
    if crs.kind == "bd09":
        return shapely.transform(geoms, _coords_fn(bd09_to_wgs84))
    if crs.is_wgs84:
        return geoms
    return shapely.transform(geoms, _proj_fn(crs, _WGS84))


def from_wgs84(geoms: np.ndarray, crs: Crs) -> np.ndarray:
    """Geometries in EPSG:4326 → `crs`."""
    geoms = np.asarray(geoms, dtype=object)
    if crs.kind == "gcj02":
        return shapely.transform(geoms, _coords_fn(wgs84_to_gcj02))
    if crs.kind == "bd09":
        return shapely.transform(geoms, _coords_fn(wgs84_to_bd09))
    if crs.is_wgs84:
        return geoms
    return shapely.transform(geoms, _proj_fn(_WGS84, crs))
