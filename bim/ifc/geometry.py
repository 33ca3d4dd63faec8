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


def footprint(vertices: np.ndarray, faces: np.ndarray) -> BaseGeometry:
    """The 2D footprint (local metres) of a triangulated solid; may be empty."""
    if len(faces) == 0:
        return Polygon()
    xy = vertices[:, :2][faces]  # (m, 3, 2)
    doubled = (xy[:, 1, 0] - xy[:, 0, 0]) * (xy[:, 2, 1] - xy[:, 0, 1]) - (
        xy[:, 2, 0] - xy[:, 0, 0]
    ) * (xy[:, 1, 1] - xy[:, 0, 1])
    down = doubled < -_FLAT
    up = doubled > _FLAT
    down_area, up_area = -doubled[down].sum(), doubled[up].sum()
    if down.any() and abs(down_area - up_area) <= 1e-3 * max(down_area, up_area):
        chosen = xy[down]
    else:
        chosen = xy[down | up]
    if len(chosen) == 0:
        return Polygon()
    triangles = shapely.polygons(np.concatenate([chosen, chosen[:, :1]], axis=1))
    union = None
    if len(chosen) == down.sum() and np.ptp(vertices[faces[down]][:, :, 2]) < 1e-6:
        # One flat bottom: its triangles tile it, and a coverage union is several times
        # quicker than an overlay union. A triangulation with T-junctions is not a valid
        # coverage; GEOS says so, or the area tells, and the overlay union is used.
        try:
            union = shapely.coverage_union_all(triangles)
        except shapely.errors.GEOSException:
            union = None
        if union is not None and not math.isclose(union.area, down_area / 2, rel_tol=1e-6):
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
    union = shapely.union_all(shapes)
    if isinstance(closed, Polygon) and not closed.is_empty:
        result = Polygon(closed.exterior)
    else:
        result = union.convex_hull
    if not result.buffer(1e-6).covers(union):  # mitred corners may cut a hair off a room
        merged = clean_polygonal(shapely.union(result, union))
        result = Polygon(merged.exterior) if isinstance(merged, Polygon) else merged.convex_hull
    return result if isinstance(result, Polygon) and not result.is_empty else None
