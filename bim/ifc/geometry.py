"""Space footprints: IfcOpenShell triangulates each space in world coordinates (metres); the
footprint is the union of its triangles projected to the XY plane.

Only the downward-facing triangles are united: every vertical line through a closed solid
enters it through one, so their projection is the solid's, at half the work. Their projected
area must equal that of the upward-facing ones for a consistently oriented shell; when it does
not (a badly oriented brep), every non-vertical triangle is used instead.
"""

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.shape
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

#: IfcOpenShell's fastest kernel for the plain extrusions and face sets spaces are made of;
#: it falls back to OpenCascade by itself where CGAL's simple path does not apply.
GEOMETRY_LIBRARY = "hybrid-cgal-simple-opencascade"

# Triangles whose projection is smaller than this (m²) are walls seen edge-on.
_FLAT = 1e-10
# Vertices closer than this (m) along a straight edge are merged after the union.
_SIMPLIFY_M = 1e-4


def geometry_settings() -> ifcopenshell.geom.settings:
    """The settings of every space iteration; the benchmark uses the same."""
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("apply-default-materials", False)
    settings.set("context-identifiers", ["Body"])
    return settings


def iterator_threads(count: int) -> int:
    """One thread is quickest for the few hundred spaces of a building; more only beyond."""
    return 1 if count < 500 else max(1, min(8, os.cpu_count() or 1))


@dataclass
class Shape:
    global_id: str
    vertices: np.ndarray  # (n, 3) metres, world coordinates
    faces: np.ndarray  # (m, 3) vertex indices


def iterate_shapes(
    ifc_file: ifcopenshell.file,
    products: list,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Shape]:
    """Triangulated shapes of `products` (those that have a body); yields as they come."""
    if not products:
        return
    iterator = ifcopenshell.geom.iterator(
        geometry_settings(),
        ifc_file,
        iterator_threads(len(products)),
        include=products,
        geometry_library=GEOMETRY_LIBRARY,
    )
    if not iterator.initialize():
        return
    done = 0
    while True:
        shape = iterator.get()
        geometry = shape.geometry
        yield Shape(
            global_id=shape.guid,
            vertices=ifcopenshell.util.shape.get_vertices(geometry),
            faces=ifcopenshell.util.shape.get_faces(geometry),
        )
        done += 1
        if on_progress is not None:
            on_progress(done)
        if not iterator.next():
            break


def footprints(shapes: list[Shape]) -> list[BaseGeometry]:
    """The 2D footprint (local metres) of each triangulated shape; may be empty. The
    arithmetic runs on the triangles of all shapes at once (numpy's overhead per call, not
    per triangle, is what a building's few dozen triangles a room cost); GEOS still unites
    each shape's triangles on their own."""
    n = len(shapes)
    if n == 0:
        return []
    counts = np.array([len(s.faces) for s in shapes])
    starts = np.cumsum([0] + [len(s.vertices) for s in shapes[:-1]])
    vertices = np.concatenate([s.vertices for s in shapes]).reshape(-1, 3)
    faces = np.concatenate(
        [np.reshape(s.faces, (-1, 3)) + start for s, start in zip(shapes, starts, strict=True)]
    ).astype(np.intp)
    owner = np.repeat(np.arange(n), counts)  # the shape of each triangle
    xy = vertices[:, :2][faces]  # (m, 3, 2)
    doubled = (xy[:, 1, 0] - xy[:, 0, 0]) * (xy[:, 2, 1] - xy[:, 0, 1]) - (
        xy[:, 2, 0] - xy[:, 0, 0]
    ) * (xy[:, 1, 1] - xy[:, 0, 1])
    down = doubled < -_FLAT
    up = doubled > _FLAT
    down_area = np.bincount(owner, weights=np.where(down, -doubled, 0.0), minlength=n)
    up_area = np.bincount(owner, weights=np.where(up, doubled, 0.0), minlength=n)
    down_count = np.bincount(owner[down], minlength=n)
    only_down = (down_count > 0) & (
        np.abs(down_area - up_area) <= 1e-3 * np.maximum(down_area, up_area)
    )
    chosen = np.where(only_down[owner], down, down | up)
    chosen_count = np.bincount(owner[chosen], minlength=n)
    # One flat bottom: the z range of the downward triangles' corners.
    z = vertices[:, 2][faces[down]]
    z_low = np.full(n, np.inf)
    z_high = np.full(n, -np.inf)
    np.minimum.at(z_low, owner[down], z.min(axis=1))
    np.maximum.at(z_high, owner[down], z.max(axis=1))
    flat = (chosen_count == down_count) & (down_count > 0) & (z_high - z_low < 1e-6)
    picked = xy[chosen]
    triangles = shapely.polygons(np.concatenate([picked, picked[:, :1]], axis=1))
    ends = np.cumsum(chosen_count)
    out: list[BaseGeometry] = []
    for i in range(n):
        if chosen_count[i] == 0:
            out.append(Polygon())
            continue
        own = triangles[ends[i] - chosen_count[i] : ends[i]]
        out.append(_united(own, flat=bool(flat[i]), area=float(down_area[i]) / 2))
    return out


def _united(triangles: np.ndarray, *, flat: bool, area: float) -> BaseGeometry:
    """The union of one shape's chosen triangles, cleaned."""
    union = None
    if flat:
        # One flat bottom: its triangles tile it, and a coverage union is several times
        # quicker than an overlay union. A triangulation with T-junctions is not a valid
        # coverage; GEOS says so, or the area tells, and the overlay union is used.
        try:
            union = shapely.coverage_union_all(triangles)
        except shapely.errors.GEOSException:
            union = None
        if union is not None and not math.isclose(union.area, area, rel_tol=1e-6):
            union = None
        if isinstance(union, Polygon):  # the outline of a planar face: valid, no slivers
            return union
    if union is None:
        union = shapely.union_all(triangles)
    return clean_polygonal(union)


def clean_polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Valid, polygonal, without collinear vertices or slivers."""
    if geometry.is_empty:
        return geometry
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry).buffer(0)
    geometry = shapely.simplify(geometry, _SIMPLIFY_M, preserve_topology=True)
    parts = [p for p in getattr(geometry, "geoms", [geometry]) if isinstance(p, Polygon)]
    parts = [p for p in parts if p.area > 1e-6]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def single_polygon(geometry: BaseGeometry, *, close_gap_m: float = 0.05) -> tuple[Polygon, float]:
    """One polygon for a column that holds one: parts closer than `close_gap_m` are joined,
    then the largest part is kept. Returns it and the area (m²) left out."""
    if isinstance(geometry, Polygon) or geometry.is_empty:
        return geometry, 0.0
    closed = clean_polygonal(
        geometry.buffer(close_gap_m, join_style="mitre").buffer(-close_gap_m, join_style="mitre")
    )
    if isinstance(closed, Polygon):
        return closed, 0.0
    parts = sorted(getattr(closed, "geoms", [closed]), key=lambda p: p.area, reverse=True)
    return parts[0], sum(p.area for p in parts[1:])


def outline(footprints: Iterable[BaseGeometry], *, close_gap_m: float = 0.6) -> Polygon | None:
    """A floor's outline from its rooms' footprints: their union with the wall gaps between
    them closed (a morphological closing, so it still covers every room), without holes;
    the convex hull when the rooms do not form one piece.

    The closing dilates each room on its own (cheap: a few vertices each), unites them, and
    erodes once: four times quicker than dilating the union of the rooms."""
    shapes = [g for g in footprints if g is not None and not g.is_empty]
    if not shapes:
        return None
    dilated = shapely.union_all(
        shapely.buffer(np.array(shapes, dtype=object), close_gap_m, join_style="mitre")
    )
    if isinstance(dilated, Polygon):
        closed = clean_polygonal(Polygon(dilated.exterior).buffer(-close_gap_m, join_style="mitre"))
    else:
        closed = None
    # The union of the rooms themselves is only needed when the closing fails or misses a
    # part of a room; covering each room is covering their union, and much cheaper to ask.
    if isinstance(closed, Polygon) and not closed.is_empty:
        result = Polygon(closed.exterior)
    else:
        result = shapely.union_all(shapes).convex_hull
    margin = result.buffer(1e-6)
    shapely.prepare(margin)
    if not shapely.covers(margin, shapes).all():  # mitred corners may cut a hair off a room
        merged = clean_polygonal(shapely.union(result, shapely.union_all(shapes)))
        result = Polygon(merged.exterior) if isinstance(merged, Polygon) else merged.convex_hull
    return result if isinstance(result, Polygon) and not result.is_empty else None


def building_outline(floor_outlines: Iterable[Polygon | None]) -> Polygon | None:
    """A building's outline from its floors' (`outline`): their union without holes when it
    is one piece, as for floors stacked over each other. Each floor's gaps are closed
    already, so closing their union again changes nothing worth the cost (a tenth of a
    square millimetre on the samples, at eight times the time); floors apart from each other
    get `outline`'s closing or hull."""
    shapes = [o for o in floor_outlines if o is not None and not o.is_empty]
    if not shapes:
        return None
    union = shapely.union_all(shapes)
    if isinstance(union, Polygon) and not union.is_empty:
        return Polygon(union.exterior)
    return outline(shapes)
