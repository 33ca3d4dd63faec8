"""Read an IFC file into plain data: buildings, storeys, spaces with footprints and areas,
equipment with positions, units and georeferencing. No database here; `bim.writer` writes.

Every length leaves this module in metres and every area in square metres, whatever the
file's units (metres, millimetres, feet …): IfcOpenShell's geometry is in metres already,
attribute and property values are multiplied by the project's unit scales.
"""

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import ifcopenshell
import ifcopenshell.util.element as ifc_element
import ifcopenshell.util.placement as ifc_placement
import ifcopenshell.util.unit as ifc_unit
import numpy as np
from django.utils.translation import gettext as _
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from bim.ifc import geometry, mapping
from bim.ifc.georef import MapConversion, compound_angle_to_degrees

SUPPORTED_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3")
_SCHEMA_RE = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.IGNORECASE)
_END = b"END-ISO-10303-21;"

#: Where areas are read from, in order: quantity sets first, then what authoring tools write.
#: (property set, property, "net" or "gross").
AREA_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("Qto_SpaceBaseQuantities", "NetFloorArea", "net"),
    ("Qto_SpaceBaseQuantities", "GrossFloorArea", "gross"),
    ("BaseQuantities", "NetFloorArea", "net"),
    ("BaseQuantities", "GrossFloorArea", "gross"),
    ("Pset_SpaceCommon", "NetPlannedArea", "net"),
    ("Pset_SpaceCommon", "GrossPlannedArea", "gross"),
    ("PSet_Revit_Dimensions", "Area", "net"),  # Revit's room area
    ("GSA Space Areas", "GSA BIM Area", "net"),
    ("ArchiCADQuantities", "Netto-Grundfläche", "net"),
    ("ArchiCADQuantities", "Net Area", "net"),
    ("ArchiCADQuantities", "Area", "gross"),
)

#: Properties that tell what a space is used for, beside its names and type.
USE_PROPERTIES = (
    ("Pset_SpaceCommon", "Category"),
    ("Pset_SpaceCommon", "OccupancyType"),
    ("PSet_Revit_Other", "Category Description"),
    ("PSet_Revit_Identity Data", "OmniClass Table 13 Category"),
)


class IfcFileError(ValueError):
    """The file cannot be imported; the message says why, in words a user can act on."""


@dataclass
class SpaceData:
    global_id: str
    name: str
    long_name: str
    object_type: str
    type_name: str
    use: str
    storey_id: str | None
    net_area: float | None = None
    gross_area: float | None = None
    area_source: str = ""
    footprint: BaseGeometry | None = None
    geometry_area: float | None = None
    z_min: float | None = None
    z_max: float | None = None


@dataclass
class StoreyData:
    global_id: str
    name: str
    long_name: str
    elevation: float  # metres
    building_id: str
    spaces: list[SpaceData] = field(default_factory=list)


@dataclass
class ElementData:
    global_id: str
    ifc_class: str
    name: str
    type_name: str
    category_code: str
    storey_id: str | None
    space_id: str | None
    point: tuple[float, float, float]
    brand: str = ""
    model_number: str = ""
    serial_number: str = ""


@dataclass
class BuildingData:
    global_id: str
    name: str
    long_name: str
    address: str
    year_built: int | None
    storeys: list[StoreyData] = field(default_factory=list)


@dataclass
class SiteReference:
    lon: float | None
    lat: float | None
    elevation: float | None
    true_north: tuple[float, float] | None
    origin_xy: tuple[float, float]


@dataclass
class ModelData:
    path: Path
    schema: str
    schema_identifier: str
    application: str
    project_name: str
    length_unit: str
    length_scale: float  # metres per project length unit
    area_scale: float  # m² per project area unit
    buildings: list[BuildingData]
    elements: list[ElementData]
    map_conversion: MapConversion | None
    site_reference: SiteReference | None
    skipped: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def spaces(self) -> list[SpaceData]:
        return [s for b in self.buildings for st in b.storeys for s in st.spaces]

    @property
    def storeys(self) -> list[StoreyData]:
        return [st for b in self.buildings for st in b.storeys]


# -- the file --------------------------------------------------------------------------------


def check_file(path: Path) -> str:
    """Refuse what is not a complete IFC-SPF file of a supported schema; return the schema
    identifier from the header. Reads only the head and the tail of the file."""
    with path.open("rb") as handle:
        return check_stream(handle, path.stat().st_size)


def check_stream(handle: BinaryIO, size: int) -> str:
    """`check_file` for an open binary file (an upload): its head and tail only."""
    if size == 0:
        raise IfcFileError(_("The file is empty."))
    handle.seek(0)
    head = handle.read(8192)
    handle.seek(max(0, size - 4096))
    tail = handle.read()
    handle.seek(0)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"PK\x03\x04"):
        raise IfcFileError(
            _("This is a ZIP archive (.ifczip); unpack it or export the model as IFC (.ifc).")
        )
    if stripped.startswith(b"<"):
        raise IfcFileError(_("This is an XML file (ifcXML); export the model as IFC (.ifc)."))
    if not stripped.startswith(b"ISO-10303-21;"):
        raise IfcFileError(_("Not an IFC file: it does not start with ISO-10303-21;."))
    match = _SCHEMA_RE.search(head)
    if not match:
        raise IfcFileError(_("Not an IFC file: its header names no FILE_SCHEMA."))
    identifier = match.group(1).decode("ascii", "replace").strip().upper()
    if schema_family(identifier) is None:
        raise IfcFileError(_unsupported(repr(identifier)))
    if _END not in tail:
        raise IfcFileError(
            _(
                "The file is truncated: it does not end with END-ISO-10303-21; (%(size)d "
                "bytes). Upload it again or export it again."
            )
            % {"size": size}
        )
    return identifier


def _unsupported(what: str) -> str:
    return _("Unsupported IFC schema %(schema)s; export the model as IFC2X3, IFC4 or IFC4X3.") % {
        "schema": what
    }


def schema_family(identifier: str) -> str | None:
    identifier = identifier.upper()
    if identifier.startswith("IFC2X3"):
        return "IFC2X3"
    if identifier.startswith("IFC4X3"):
        return "IFC4X3"
    if identifier == "IFC4" or identifier.startswith("IFC4_"):
        return "IFC4"
    return None


def open_file(path: Path) -> ifcopenshell.file:
    check_file(path)
    try:
        return ifcopenshell.open(str(path))
    except ifcopenshell.SchemaError as exc:
        raise IfcFileError(_unsupported(f"({exc})")) from exc
    except (ifcopenshell.Error, RuntimeError, OSError) as exc:
        raise IfcFileError(
            _("IfcOpenShell could not read the file: %(error)s") % {"error": exc}
        ) from exc


# -- reading ---------------------------------------------------------------------------------

Progress = Callable[[int, str], None]


def read_model(path: Path, *, on_progress: Progress | None = None) -> ModelData:
    """Everything an import needs from the file; raises IfcFileError for what it cannot use.

    Progress runs from 0 to 70: opening, then the space geometry, which takes the time.
    """
    import time

    report = on_progress or (lambda pct, msg: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report(1, "reading the file")
    ifc_file = open_file(path)
    timings["open"] = time.perf_counter() - started
    family = schema_family(ifc_file.schema) or ifc_file.schema
    if family not in SUPPORTED_SCHEMAS:
        raise IfcFileError(_unsupported(repr(ifc_file.schema)))
    if not ifc_file.by_type("IfcProject"):
        raise IfcFileError(_("The model has no IfcProject; it is not a complete IFC model."))
    buildings_raw = ifc_file.by_type("IfcBuilding")
    if not buildings_raw:
        raise IfcFileError(_("The model has no building (IfcBuilding)."))
    storeys_raw = ifc_file.by_type("IfcBuildingStorey")
    if not storeys_raw:
        raise IfcFileError(
            _("The model has no storeys (IfcBuildingStorey); floors cannot be created.")
        )
    spaces_raw = ifc_file.by_type("IfcSpace")
    if not spaces_raw:
        raise IfcFileError(
            _("The model has no spaces (IfcSpace); export it with rooms / spaces to create units.")
        )
    report(5, "reading storeys and spaces")

    length_scale = float(ifc_unit.calculate_unit_scale(ifc_file))
    area_scale = float(ifc_unit.calculate_unit_scale(ifc_file, "AREAUNIT"))
    model = ModelData(
        path=path,
        schema=family,
        schema_identifier=ifc_file.schema_identifier,
        application=_application(ifc_file),
        project_name=_text(ifc_file.by_type("IfcProject")[0].LongName)
        or _text(ifc_file.by_type("IfcProject")[0].Name),
        length_unit=_unit_name(ifc_file),
        length_scale=length_scale,
        area_scale=area_scale,
        buildings=[],
        elements=[],
        map_conversion=None,
        site_reference=None,
    )

    buildings = {b.GlobalId: _building(b) for b in buildings_raw}
    storeys: dict[str, StoreyData] = {}
    for storey in storeys_raw:
        building = _ancestor(storey, "IfcBuilding")
        if building is None:
            if len(buildings) != 1:
                model.skipped.append(_skip(storey, _("not part of a building")))
                continue
            building_id = next(iter(buildings))
        else:
            building_id = building.GlobalId
        elevation = storey.Elevation
        if elevation is None:
            elevation = _placement(storey)[2, 3]
        data = StoreyData(
            global_id=storey.GlobalId,
            name=(storey.Name or "").strip(),
            long_name=(storey.LongName or "").strip(),
            elevation=float(elevation) * length_scale,
            building_id=building_id,
        )
        storeys[storey.GlobalId] = data
        buildings[building_id].storeys.append(data)

    index = _Index(ifc_file)
    by_id = {}
    unplaced = []
    for space in spaces_raw:
        data = _space(space, area_scale, index)
        by_id[space.GlobalId] = (space, data)
        parent = _ancestor(space, "IfcBuildingStorey")
        if parent is not None and parent.GlobalId in storeys:
            data.storey_id = parent.GlobalId
        else:
            unplaced.append(data)
    timings["attributes"] = time.perf_counter() - started - timings["open"]

    # The geometry: the time an import takes is mostly here.
    geometry_started = time.perf_counter()
    total = len(spaces_raw)
    step = max(1, total // 20)

    def geometry_progress(done: int) -> None:
        if done % step == 0 or done == total:
            report(10 + int(60 * done / total), f"space geometry {done}/{total}")

    shapes = list(geometry.iterate_shapes(ifc_file, spaces_raw, on_progress=geometry_progress))
    for shape, outline in zip(shapes, geometry.footprints(shapes), strict=True):
        entry = by_id.get(shape.global_id)
        if entry is None or outline.is_empty:
            continue
        data = entry[1]
        data.footprint = outline
        data.geometry_area = float(outline.area)
        data.z_min = float(shape.vertices[:, 2].min())
        data.z_max = float(shape.vertices[:, 2].max())
    timings["geometry"] = time.perf_counter() - geometry_started

    for space, data in by_id.values():
        if data.footprint is None:
            model.skipped.append(_skip(space, _("the space has no body geometry")))
    placed = {id(d) for d in unplaced}
    for data in unplaced:
        storey = _storey_by_elevation(storeys.values(), data.z_min)
        if storey is None:
            continue
        data.storey_id = storey.global_id
        model.warnings.append(
            _("Space %(space)s is not in a storey; placed on %(storey)s by its elevation.")
            % {"space": data.name or data.global_id, "storey": storey.name or storey.global_id}
        )
    for space, data in by_id.values():
        if data.footprint is None:
            continue
        if data.storey_id is None:
            if id(data) in placed:
                model.skipped.append(_skip(space, _("not in a storey, and none below it")))
            continue
        storeys[data.storey_id].spaces.append(data)
    if not any(d.footprint is not None and d.storey_id for _, d in by_id.values()):
        raise IfcFileError(_("No space of the model has a body geometry; units cannot be drawn."))

    model.buildings = [b for b in buildings.values() if b.storeys]
    report(72, "reading equipment")
    elements_started = time.perf_counter()
    _read_elements(ifc_file, model, storeys, by_id, index)
    timings["elements"] = time.perf_counter() - elements_started
    model.map_conversion = _map_conversion(ifc_file)
    model.site_reference = _site_reference(ifc_file, buildings_raw, length_scale)
    model.timings = timings
    return model


def _application(ifc_file: ifcopenshell.file) -> str:
    try:
        name = ifc_file.header.file_name
        return " / ".join(p for p in (name.originating_system, name.preprocessor_version) if p)
    except (AttributeError, RuntimeError):
        return ""


def _unit_name(ifc_file: ifcopenshell.file) -> str:
    unit = ifc_unit.get_project_unit(ifc_file, "LENGTHUNIT")
    if unit is None:
        return "metre"
    if unit.is_a("IfcSIUnit"):
        return ((unit.Prefix or "") + unit.Name).lower()
    return (unit.Name or "").lower()


def _placement(product, cache: dict | None = None) -> np.ndarray:
    """The product's placement in world coordinates (project units), parents cached."""
    placement = getattr(product, "ObjectPlacement", None)
    if placement is None:
        return np.eye(4)
    return _placement_matrix(placement, {} if cache is None else cache)


def _placement_matrix(placement, cache: dict) -> np.ndarray:
    key = placement.id()
    matrix = cache.get(key)
    if matrix is not None:
        return matrix
    if not placement.is_a("IfcLocalPlacement"):  # grid placements and the like
        matrix = ifc_placement.get_local_placement(placement)
    else:
        relative = _axis2placement(placement[1])  # RelativePlacement
        parent = placement[0]  # PlacementRelTo
        matrix = relative if parent is None else _placement_matrix(parent, cache) @ relative
    cache[key] = matrix
    return matrix


def _axis2placement(axes) -> np.ndarray:
    """IfcAxis2Placement3D as a matrix, in plain arithmetic: ifcopenshell.util.placement's
    numpy calls on 3-vectors cost more than the rest of reading an element."""
    if not axes.is_a("IfcAxis2Placement3D"):
        return ifc_placement.get_axis2placement(axes)
    location, axis, reference = axes[0], axes[1], axes[2]
    ox, oy, oz = (tuple(location[0]) + (0.0, 0.0, 0.0))[:3]
    zx, zy, zz = axis[0] if axis is not None else (0.0, 0.0, 1.0)
    xx, xy, xz = reference[0] if reference is not None else (1.0, 0.0, 0.0)
    length = math.sqrt(zx * zx + zy * zy + zz * zz)
    if length == 0:
        return ifc_placement.get_axis2placement(axes)
    zx, zy, zz = zx / length, zy / length, zz / length
    given = math.sqrt(xx * xx + xy * xy + xz * xz)
    d = xx * zx + xy * zy + xz * zz  # the x axis is the reference direction made normal to z
    xx, xy, xz = xx - d * zx, xy - d * zy, xz - d * zz
    length = math.sqrt(xx * xx + xy * xy + xz * xz)
    if length < 1e-3 * given:  # (nearly) parallel to the axis: let IfcOpenShell decide
        return ifc_placement.get_axis2placement(axes)
    xx, xy, xz = xx / length, xy / length, xz / length
    yx, yy, yz = zy * xz - zz * xy, zz * xx - zx * xz, zx * xy - zy * xx
    return np.array([[xx, yx, zx, ox], [xy, yy, zy, oy], [xz, yz, zz, oz], [0.0, 0.0, 0.0, 1.0]])


def _ancestor(product, ifc_class: str):
    """The nearest spatial ancestor of a class, through aggregation and containment."""
    node = product
    for _depth in range(16):
        parent = ifc_element.get_aggregate(node) or ifc_element.get_container(node)
        if parent is None:
            return None
        if parent.is_a(ifc_class):
            return parent
        node = parent
    return None


def _text(value) -> str:
    return str(value).strip() if value is not None else ""


def _skip(product, reason: str) -> dict:
    return {
        "global_id": product.GlobalId,
        "ifc_class": product.is_a(),
        "name": _text(getattr(product, "Name", "")),
        "reason": reason,
    }


class _Index:
    """What the reader looks up for every space and element, found once: the type of each
    object (one pass over IfcRelDefinesByType instead of an inverse lookup per object, which
    also asks the file for its schema every time) and the wanted properties of each type
    (shared by all its occurrences)."""

    def __init__(self, ifc_file: ifcopenshell.file):
        self.types: dict[int, object] = {}
        for rel in ifc_file.by_type("IfcRelDefinesByType"):
            relating = rel[5]  # RelatingType
            for obj in rel[4] or ():  # RelatedObjects
                self.types.setdefault(obj.id(), relating)
        self.type_properties: dict[tuple[int, int], dict[str, dict]] = {}

    def type_of(self, product):
        """ifcopenshell.util.element.get_type, for an occurrence."""
        return self.types.get(product.id())

    def properties(self, product, wanted: dict[str, set[str]], type_object=None) -> dict:
        """`_properties`, the type's part read once per type."""
        if type_object is None:
            return _properties(product, wanted)
        key = (type_object.id(), id(wanted))
        of_type = self.type_properties.get(key)
        if of_type is None:
            of_type = self.type_properties[key] = _read_definitions(
                type_object[5] or (),
                wanted,
                {},  # IfcTypeObject.HasPropertySets
            )
        out = {name: dict(values) for name, values in of_type.items()}
        return _read_definitions(_definitions(product), wanted, out)


def _properties(product, wanted: dict[str, set[str]], type_object=None) -> dict[str, dict]:
    """The wanted properties of a product's named property and quantity sets (and of its
    type's, which the occurrence's own override): {set name: {property: value}}.

    Reads only what is asked for, by attribute position: authoring tools write dozens of
    sets per object, and IfcOpenShell's attribute lookup by name is the slow part of
    reading them (ifcopenshell.util.element.get_psets reads them all)."""
    definitions = []
    if type_object is not None:
        definitions.extend(type_object[5] or ())  # IfcTypeObject.HasPropertySets
    definitions.extend(_definitions(product))
    return _read_definitions(definitions, wanted, {})


def _definitions(product) -> list:
    """The property definitions of an occurrence (IsDefinedBy … RelatingPropertyDefinition)."""
    definitions = []
    for rel in getattr(product, "IsDefinedBy", None) or ():
        if rel.is_a("IfcRelDefinesByProperties"):
            relating = rel[5]  # RelatingPropertyDefinition
            definitions.extend(relating if isinstance(relating, tuple) else (relating,))
    return definitions


def _read_definitions(definitions, wanted: dict[str, set[str]], out: dict) -> dict:
    """The wanted values of `definitions` into `out` ({set: {property: value}}), later
    definitions overriding earlier ones."""
    for definition in definitions:
        if definition is None:
            continue
        names = wanted.get(definition[2])  # Name
        if names is None:
            continue
        values = out.setdefault(definition[2], {})
        if definition.is_a("IfcPropertySet"):
            for prop in definition[4] or ():  # HasProperties
                if prop[0] in names and prop.is_a("IfcPropertySingleValue") and prop[2] is not None:
                    values[prop[0]] = prop[2].wrappedValue  # NominalValue
        elif definition.is_a("IfcElementQuantity"):
            for quantity in definition[5] or ():  # Quantities
                if quantity[0] in names and quantity.is_a("IfcPhysicalSimpleQuantity"):
                    values[quantity[0]] = quantity[3]  # the value follows Name, Description, Unit
    return out


def _wanted(*pairs: tuple[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pset, prop in pairs:
        out.setdefault(pset, set()).add(prop)
    return out


_SPACE_SETS = _wanted(*((p, n) for p, n, _ in AREA_SOURCES), *USE_PROPERTIES)
_ELEMENT_SETS = _wanted(
    ("Pset_ManufacturerTypeInformation", "Manufacturer"),
    ("Pset_ManufacturerTypeInformation", "ModelLabel"),
    ("Pset_ManufacturerTypeInformation", "ModelReference"),
    ("Pset_ManufacturerOccurrence", "SerialNumber"),
)
_BUILDING_SETS = _wanted(("Pset_BuildingCommon", "YearOfConstruction"))


def _building(building) -> BuildingData:
    psets = _properties(building, _BUILDING_SETS)
    year = psets.get("Pset_BuildingCommon", {}).get("YearOfConstruction")
    try:
        year = int(str(year)[:4]) if year else None
    except ValueError:
        year = None
    address = ""
    postal = getattr(building, "BuildingAddress", None)
    if postal is not None:
        lines = [*(postal.AddressLines or ()), postal.Town, postal.Region]
        address = ", ".join(
            t
            for t in (_text(x) for x in lines)
            if t and t.lower() not in ("enter address here", "<default>")
        )
    return BuildingData(
        global_id=building.GlobalId,
        name=_text(building.Name),
        long_name=_text(building.LongName),
        address=address[:255],
        year_built=year if year and 1800 <= year <= 2100 else None,
    )


def _space(space, area_scale: float, index: _Index) -> SpaceData:
    space_type = index.type_of(space)
    psets = index.properties(space, _SPACE_SETS, space_type)
    net = gross = None
    source = ""
    for pset, prop, kind in AREA_SOURCES:
        value = psets.get(pset, {}).get(prop)
        if not isinstance(value, int | float) or value <= 0:
            continue
        if kind == "net" and net is None:
            net = float(value) * area_scale
            source = source or pset
        elif kind == "gross" and gross is None:
            gross = float(value) * area_scale
            source = source or pset
    hints = [psets.get(p, {}).get(n) for p, n in USE_PROPERTIES]
    type_name = _text(space_type.Name) if space_type is not None else ""
    name, long_name = _text(space.Name), _text(space.LongName)
    object_type = _text(space.ObjectType)
    return SpaceData(
        global_id=space.GlobalId,
        name=name,
        long_name=long_name,
        object_type=object_type,
        type_name=type_name,
        use=mapping.unit_use(long_name, name, object_type, type_name, *map(_text, hints)),
        storey_id=None,
        net_area=net,
        gross_area=gross,
        area_source=source,
    )


def _storey_by_elevation(storeys, z: float | None) -> StoreyData | None:
    """The highest storey at or below `z` (with 0.5 m of slack), else the lowest."""
    ordered = sorted(storeys, key=lambda s: s.elevation)
    if not ordered:
        return None
    if z is None:
        return None
    below = [s for s in ordered if s.elevation <= z + 0.5]
    return below[-1] if below else ordered[0]


def _read_elements(ifc_file, model: ModelData, storeys: dict, spaces: dict, index: _Index) -> None:
    seen: set[int] = set()
    skipped: Counter = Counter()
    placements: dict = {}
    for root in mapping.EQUIPMENT_ROOTS:
        try:
            candidates = ifc_file.by_type(root)
        except RuntimeError:  # a class the schema does not have
            continue
        for element in candidates:
            if element.id() in seen:
                continue
            seen.add(element.id())
            type_object = index.type_of(element)
            code, reason = mapping.equipment_category(
                model.schema,
                element.is_a(),
                type_object.is_a() if type_object is not None else None,
                lambda element=element: ifc_element.get_predefined_type(element),
            )
            if reason:
                skipped[(element.is_a(), reason)] += 1
                continue
            if code is None:
                continue
            data = _element(
                element, type_object, code, model.length_scale, storeys, spaces, placements, index
            )
            if isinstance(data, str):
                model.skipped.append(_skip(element, data))
            else:
                model.elements.append(data)
    for (ifc_class, reason), count in sorted(skipped.items()):
        model.skipped.append({"ifc_class": ifc_class, "count": count, "reason": str(reason)})


def _element(element, type_object, code: str, scale: float, storeys, spaces, placements, index):
    """The element's data, or the reason it cannot be placed."""
    matrix = _placement(element, placements)
    local = np.array([0.0, 0.0, 0.0, 1.0])
    # By attribute position (IfcProduct.Representation, IfcProductDefinitionShape.
    # Representations, IfcShapeRepresentation.RepresentationIdentifier and Items,
    # IfcBoundingBox.Corner, XDim, YDim): a lookup by name costs several times more.
    shape = element[6]
    for representation in (shape[2] or ()) if shape is not None else ():
        if representation[1] == "Box" and representation[3]:
            box = representation[3][0]
            if box.is_a("IfcBoundingBox"):
                corner = box[0][0]
                local = np.array([corner[0] + box[1] / 2, corner[1] + box[2] / 2, corner[2], 1.0])
                break
    x, y, z = (matrix @ local)[:3] * scale
    space_id = storey_id = None
    container = ifc_element.get_container(element)
    if container is None:
        # A part of an assembly is placed where the assembly is.
        whole = ifc_element.get_aggregate(element)
        container = ifc_element.get_container(whole) if whole is not None else None
    if container is not None and container.is_a("IfcSpace") and container.GlobalId in spaces:
        space = spaces[container.GlobalId][1]
        space_id, storey_id = space.global_id, space.storey_id
    elif container is not None and container.is_a("IfcBuildingStorey"):
        storey_id = container.GlobalId if container.GlobalId in storeys else None
    if storey_id is None:
        storey = _storey_by_elevation(storeys.values(), float(z))
        storey_id = storey.global_id if storey else None
    if storey_id is None:
        return _("not in a storey of the building")
    psets = index.properties(element, _ELEMENT_SETS, type_object)
    maker = psets.get("Pset_ManufacturerTypeInformation", {})
    occurrence = psets.get("Pset_ManufacturerOccurrence", {})
    type_name = _text(type_object.Name) if type_object is not None else ""
    name = _text(element.Name) or type_name or element.is_a()
    return ElementData(
        global_id=element.GlobalId,
        ifc_class=element.is_a(),
        name=name[:200],
        type_name=type_name,
        category_code=code,
        storey_id=storey_id,
        space_id=space_id,
        point=(float(x), float(y), float(z)),
        brand=_text(maker.get("Manufacturer"))[:100],
        model_number=_text(maker.get("ModelLabel") or maker.get("ModelReference"))[:100],
        serial_number=_text(occurrence.get("SerialNumber"))[:100],
    )


def locate_in_space(point: tuple[float, float, float], spaces: list[SpaceData]) -> str | None:
    """The space of a storey whose footprint contains the point (the smallest, if nested)."""
    p = Point(point[0], point[1])
    hits = [s for s in spaces if s.footprint is not None and s.footprint.covers(p)]
    if not hits:
        return None
    return min(hits, key=lambda s: s.geometry_area or 0).global_id


# -- georeferencing --------------------------------------------------------------------------


def _length_unit_m(unit) -> float | None:
    if unit is None:
        return None
    try:
        return float(ifc_unit.get_unit_scale(unit))
    except (AttributeError, RuntimeError, TypeError):
        return None


_MAP_UNITS = {"METRE": 1.0, "METER": 1.0, "MILLIMETRE": 0.001, "MILLIMETER": 0.001, "FOOT": 0.3048}


def _map_conversion(ifc_file) -> MapConversion | None:
    if ifc_file.schema == "IFC2X3":
        project = ifc_file.by_type("IfcProject")[0]
        psets = ifc_element.get_psets(project)
        conversion = psets.get("ePSet_MapConversion")
        if not conversion:
            return None
        crs = psets.get("ePSet_ProjectedCRS", {})
        unit = _text(crs.get("MapUnit")).upper().replace(".", "")
        return MapConversion(
            eastings=float(conversion.get("Eastings") or 0),
            northings=float(conversion.get("Northings") or 0),
            orthogonal_height=float(conversion.get("OrthogonalHeight") or 0),
            x_axis_abscissa=conversion.get("XAxisAbscissa"),
            x_axis_ordinate=conversion.get("XAxisOrdinate"),
            scale=conversion.get("Scale"),
            crs_name=_text(crs.get("Name")),
            map_unit_m=_MAP_UNITS.get(unit),
        )
    contexts = ifc_file.by_type("IfcGeometricRepresentationContext", include_subtypes=False)
    contexts = sorted(contexts, key=lambda c: c.ContextType != "Model")
    for context in contexts:
        for operation in getattr(context, "HasCoordinateOperation", None) or ():
            target = operation.TargetCRS
            name = _text(getattr(target, "Name", ""))
            map_unit = _length_unit_m(getattr(target, "MapUnit", None))
            if operation.is_a("IfcMapConversion"):
                scale = operation.Scale
                if operation.is_a("IfcMapConversionScaled"):
                    scale = (scale or 1.0) * float(operation.FactorX or 1.0)
                return MapConversion(
                    eastings=float(operation.Eastings or 0),
                    northings=float(operation.Northings or 0),
                    orthogonal_height=float(operation.OrthogonalHeight or 0),
                    x_axis_abscissa=operation.XAxisAbscissa,
                    x_axis_ordinate=operation.XAxisOrdinate,
                    scale=scale,
                    crs_name=name,
                    map_unit_m=map_unit,
                )
            if operation.is_a("IfcRigidOperation"):
                first, second = operation.FirstCoordinate, operation.SecondCoordinate
                return MapConversion(
                    eastings=float(getattr(first, "wrappedValue", first) or 0),
                    northings=float(getattr(second, "wrappedValue", second) or 0),
                    orthogonal_height=float(operation.Height or 0),
                    x_axis_abscissa=1.0,
                    x_axis_ordinate=0.0,
                    scale=None,
                    crs_name=name,
                    map_unit_m=map_unit,
                )
    return None


def _site_reference(ifc_file, buildings, scale: float) -> SiteReference | None:
    site = None
    for building in buildings:
        site = _ancestor(building, "IfcSite")
        if site is not None:
            break
    if site is None:
        sites = ifc_file.by_type("IfcSite")
        site = sites[0] if sites else None
    if site is None:
        return None
    true_north = None
    contexts = ifc_file.by_type("IfcGeometricRepresentationContext", include_subtypes=False)
    for context in sorted(contexts, key=lambda c: c.ContextType != "Model"):
        if context.TrueNorth is not None:
            ratios = context.TrueNorth.DirectionRatios
            true_north = (float(ratios[0]), float(ratios[1]))
            break
    origin = _placement(site)[:2, 3] * scale
    elevation = site.RefElevation
    return SiteReference(
        lon=compound_angle_to_degrees(site.RefLongitude),
        lat=compound_angle_to_degrees(site.RefLatitude),
        elevation=float(elevation) * scale if elevation is not None else None,
        true_north=true_north,
        origin_xy=(float(origin[0]), float(origin[1])),
    )
