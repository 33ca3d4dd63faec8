"""Reads of the BIM app, scoped by user: import jobs, and floor plans in building-local metres."""

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db.models import QuerySet

from bim.ifc import georef
from bim.models import BimModel, IfcImport
from spatial.models import Building, Floor, Unit

#: Plan coordinates are rounded to millimetres.
PLAN_DIGITS = 3


def ifc_imports_visible(*, user) -> QuerySet[IfcImport]:
    return IfcImport.objects.restrict(user, "view").select_related("site", "building", "created_by")


def building_frame(building: Building) -> georef.Frame:
    """The frame of the building's IFC model; for a building drawn on the map, north-up
    metres around its footprint's centroid."""
    stored = BimModel.objects.filter(building=building).values_list("frame", flat=True).first()
    if stored:
        return georef.Frame.from_dict(stored)
    centre = building.geom.centroid
    return georef.frame_local(lon=centre.x, lat=centre.y)


def _to_local(geometry: GEOSGeometry | None, frame: georef.Frame) -> dict | None:
    if geometry is None:
        return None
    shape = shapely.from_wkb(bytes(geometry.wkb))

    def local(xy: np.ndarray) -> np.ndarray:
        x, y = frame.to_local(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    shape = shapely.set_precision(shapely.transform(shape, local), 10**-PLAN_DIGITS)
    return shapely.geometry.mapping(shape)


def floor_plan(*, user, floor_id: int) -> dict:
    """A floor as a plan: its outline and its units' footprints as a GeoJSON feature
    collection in the building's local metres (x east-ish, y north-ish, the IFC model's own
    coordinates when the building came from one), with the frame that maps them to WGS 84.
    Raises Floor.DoesNotExist for a floor the user may not see."""
    floor = Floor.objects.restrict(user, "view").select_related("building").get(pk=floor_id)
    frame = building_frame(floor.building)
    units = (
        Unit.objects.restrict(user, "view")
        .filter(floor=floor)
        .select_related("bim_space")
        .order_by("code")
    )
    features = []
    outline = _to_local(floor.geom or floor.building.geom, frame)
    features.append(
        {
            "type": "Feature",
            "id": f"floor-{floor.pk}",
            "geometry": outline,
            "properties": {"kind": "floor", "id": floor.pk, "code": floor.code},
        }
    )
    for unit in units:
        space = getattr(unit, "bim_space", None)
        features.append(
            {
                "type": "Feature",
                "id": unit.pk,
                "geometry": _to_local(unit.geom, frame),
                "properties": {
                    "kind": "unit",
                    "id": unit.pk,
                    "code": unit.code,
                    "name": unit.name,
                    "number": unit.number,
                    "use": unit.use,
                    "status": unit.status,
                    "gross_area": _text(unit.gross_area),
                    "usable_area": _text(unit.usable_area),
                    "area_m2": round(unit.area_m2, 2) if unit.area_m2 is not None else None,
                    "geometry_area": round(space.geometry_area, 2) if space else None,
                    "outside_floor": unit.outside_floor,
                    "bim_global_id": unit.bim_global_id,
                },
            }
        )
    shapes = [shapely.geometry.shape(f["geometry"]) for f in features if f["geometry"]]
    bounds = shapely.total_bounds(shapes).round(PLAN_DIGITS).tolist() if shapes else None
    return {
        "type": "FeatureCollection",
        "floor": {
            "id": floor.pk,
            "code": floor.code,
            "name": floor.name,
            "level": floor.level,
            "elevation_m": _text(floor.elevation_m),
            "building": floor.building_id,
            "building_code": floor.building.code,
        },
        "units": "metre",
        "bbox": bounds,
        "transform": {
            **frame.as_dict(),
            "description": (
                "Local metres (x, y) map to the plane: E = e0 + scale·(x·cos r − y·sin r), "
                "N = n0 + scale·(x·sin r + y·cos r), r = rotation_deg; the plane is `crs` "
                "(coordinates ÷ crs_unit_m) or, without one, the azimuthal equidistant plane "
                "of WGS 84 centred on lon0, lat0."
            ),
        },
        "features": features,
    }


def _text(value) -> str | None:
    return None if value is None else str(value)
