"""The writes of one import (used by bim.services.model_import, inside its transaction):
a read model becomes a building, floors, units and assets, created or updated by GlobalId;
what the new version no longer has is removed, or kept when something refers to it.

A model has hundreds of units and assets, and the per-row services (`feature_create`,
`asset_create`) cost a dozen queries a row. The rows are therefore validated here with the
models' own field checks (`clean_fields`, `clean`; the geometry checks of spatial's
GeometryValidator for all polygons at once) and the rules of those services (derived
building/site/company, category defaults, coding rules, unique codes and GlobalIds checked in
one query each), and written in bulk with their history; `outside_floor` is computed as
`spatial.services.floor_units_reflag` computes it, with its tolerance. The database
constraints stay the last word: a violation aborts the whole import.
"""

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import shapely
from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model, Q
from django.utils.translation import gettext as _
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from simple_history.utils import bulk_update_with_history

from bim.bulk import InsertBatch
from bim.ifc import geometry as ifc_geometry
from bim.ifc import georef, mapping
from bim.ifc.reader import (
    BuildingData,
    ElementData,
    IfcFileError,
    ModelData,
    SpaceData,
    StoreyData,
    locate_in_space,
)
from bim.models import BimModel, BimSpace, IfcImport
from portfolio import services as portfolio_services
from portfolio.choices import AssetStatus
from portfolio.models import Asset, Category, CodingRule, Document
from spatial import services as spatial_services
from spatial.choices import UnitStatus
from spatial.models import Building, Floor, Site, Unit

_CODE_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
#: Rows per INSERT statement.
_BATCH = 100
#: Unit statuses that mean a tenant holds the unit: never deleted, never re-marked.
_HELD = (UnitStatus.LEASED, UnitStatus.RESERVED)
_SPATIAL_PARENTS = ("floor", "building", "site", "company")
# The geometry is checked for all units and floor outlines at once (Writer._place); a floor
# without an outline of its own gets the building's, which is checked with the building.
_UNIT_CHECKED = (*_SPATIAL_PARENTS, "geom")
_FLOOR_CHECKED = ("building", "company", "geom")
_ASSET_RELATIONS = (
    "category", "company", "site", "building", "floor", "unit", "road", "park", "parcel",
)  # fmt: skip
# The point is made from finite coordinates inside the checked building extent.
_ASSET_CHECKED = (*_ASSET_RELATIONS, "geom")


@dataclass
class Tally:
    added: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    kept: list[dict] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "kept": len(self.kept),
        }


@dataclass
class Placement:
    """A building's geometry on the map: every footprint projected in one call."""

    frame: georef.Frame
    method: str
    building: Polygon
    floors: dict[str, Polygon | None]  # storey GlobalId → outline
    spaces: dict[str, Polygon]  # space GlobalId → footprint
    # The same as HEXEWKB (SRID 4326), made in one call: what new rows are written with.
    building_ewkb: str = ""
    floors_ewkb: dict[str, str | None] = field(default_factory=dict)
    spaces_ewkb: dict[str, str] = field(default_factory=dict)


class Writer:
    def __init__(
        self,
        *,
        site: Site,
        model: ModelData,
        frame_for,
        options,
        user,
        job: IfcImport | None,
        today: date,
    ):
        self.site = site
        self.model = model
        self.frame_for = frame_for  # (previous frame | None) → (frame, method, warnings)
        self.options = options
        self.user = user
        self.job = job
        self.today = today
        self.reason = f"IFC import #{job.pk}" if job else "IFC import"
        self.tallies = {kind: Tally() for kind in ("floors", "units", "assets")}
        self.skipped: list[dict] = list(model.skipped)
        self.warnings: list[str] = list(model.warnings)
        self.buildings: list[dict] = []
        self.spaces: list[dict] = []
        self.georef: dict = {}
        self._categories: dict[str, Category] = {}
        self._rules: dict[int, bool] = {}
        # What Writer._probe found out: codes asked → (asked, taken) per model, whether an
        # active coding rule could apply per company, and whether any unit or asset has one
        # of the model's GlobalIds (they are looked up only then).
        self._known_codes: dict[type[Model], tuple[set[str], set[str]]] = {}
        self._rules_possible: dict[int, bool] = {}
        self.units_exist = self.assets_exist = True
        self._id_pools: dict[type[Model], list[int]] = {}
        # The new rows of a building, sent in one statement (bulk.InsertBatch) before the
        # building is done or anything else is asked of the database that could see them.
        self.inserts = InsertBatch()

    # -- the building --------------------------------------------------------------------

    def write_building(self, data: BuildingData) -> None:
        """The building's rows: its statements are sent as they are made (InsertBatch's
        pipeline), so the database runs the probe while the geometry is placed, and each
        table's inserts while the next table's rows are made."""
        with self.inserts.sending():
            self._write_building(data)

    def _write_building(self, data: BuildingData) -> None:
        storeys = sorted(data.storeys, key=lambda s: s.elevation)
        levels = _levels(storeys)
        probed = self._probe(data, storeys, levels)
        # Where the model goes does not depend on the database unless it can only go where
        # the previous import put it: placed meanwhile when it can be.
        try:
            chosen = self.frame_for(None)
        except ValidationError:
            chosen = None
        placed_at = len(self.warnings)  # the frame's warnings go before the placing's
        placement = self._place(*chosen[:2], storeys) if chosen is not None else None
        existing = None
        if probed():
            existing = (
                Building.objects.select_for_update(of=("self",))
                .select_related("company")
                .filter(bim_global_id=data.global_id)
                .first()
            )
        # A building new in this import has nothing of its own yet: no floors, units or
        # assets to match or remove, no model to update (the queries for them are skipped).
        self.new_building = existing is None
        if existing is not None and existing.site_id != self.site.pk:
            raise ValidationError(
                {
                    "site": [
                        _(
                            "This model's building %(gid)s was imported into site %(site)s as "
                            "%(code)s; import new versions there."
                        )
                        % {"gid": data.global_id, "site": existing.site.code, "code": existing.code}
                    ]
                }
            )
        if chosen is None:
            previous = None
            if existing is not None:
                stored = BimModel.objects.filter(building=existing).values_list("frame", flat=True)
                if stored and stored[0]:
                    previous = georef.Frame.from_dict(stored[0])
            chosen = self.frame_for(previous)
            placement = self._place(*chosen[:2], storeys)
        frame, _method, warnings = chosen
        self.warnings[placed_at:placed_at] = warnings

        building = self._write_building_row(data, existing, placement, storeys, levels)
        floors = self._write_floors(building, storeys, levels, placement)
        self.inserts.send()
        units = self._write_units(building, storeys, floors, placement)
        self.inserts.send()
        self._write_assets(building, floors, units, frame)
        self.inserts.send()
        self._remove_missing(building, floors, units)
        self._write_model(building, placement, storeys, units)
        self.inserts.flush()

    def _probe(
        self, data: BuildingData, storeys: list[StoreyData], levels: list[int]
    ) -> Callable[[], bool]:
        """Ask at once what the writes would otherwise ask one query at a time; the question
        is sent, and the function returned takes in the answer and says whether the building
        exists. It asks which of the codes a first import would give (the
        building's, its floors', units' and assets') are taken, whether any unit or asset
        has one of the model's GlobalIds, whether a coding rule could apply, the categories
        of the equipment; and for a new building, ids for the rows a first import inserts
        (the building, its floors, units, assets and model; those left unused are gaps in
        their sequences, as a rollback leaves).

        What it answers is only used where it covers the question exactly (codes outside
        the guess, e.g. of a re-import, are looked up as before); the rows found are then
        read, locked, by the ORM as before."""
        name = self._building_name(data)
        building_code = self.options.building_code or _code_candidate(
            f"{self.site.code[:40]}-{_code_part(name, 20) or 'BIM'}"
        )
        floor_codes = {
            st.global_id: _code_candidate(f"{building_code[:56]}-{_level_label(lv)}")
            for st, lv in zip(storeys, levels, strict=True)
        }
        unit_codes = [
            _code_candidate(
                f"{floor_codes[st.global_id]}-{_code_part(s.name or s.long_name, 20) or 'U'}"
            )
            for st in storeys
            for s in st.spaces
        ]
        asset_codes = [
            _code_candidate(f"{building_code[:41]}-{e.global_id.replace('$', '.')}")
            for e in self.model.elements
        ]
        space_ids = [s.global_id for st in storeys for s in st.spaces]
        element_ids = [e.global_id for e in self.model.elements]
        company = self.site.company
        company_ids = [int(p) for p in company.path.strip("/").split("/") if p]
        quote = connection.ops.quote_name

        def table(model: type[Model]) -> str:
            return quote(model._meta.db_table)

        def codes(model: type[Model]) -> str:
            return f"ARRAY(SELECT code FROM {table(model)} WHERE code = ANY(%s))"  # noqa: S608

        in_building = {st.global_id for st in storeys}
        new_rows = {
            Building: 1,
            Floor: len(storeys),
            Unit: len(space_ids),
            Asset: sum(1 for e in self.model.elements if e.storey_id in in_building),
            BimModel: 1,
        }
        # (Not evaluated for a building that exists: a CASE branch's subquery runs when taken.)
        ids = (
            "CASE WHEN b.found THEN NULL ELSE ARRAY(SELECT nextval(pg_get_serial_sequence(%s, %s))"
            " FROM generate_series(1, %s)) END"
        )
        cursor = self.inserts.execute(
            f"SELECT b.found, {codes(Building)}, {codes(Floor)}, {codes(Unit)}, "  # noqa: S608
            f"{codes(Asset)}, "
            f"EXISTS(SELECT 1 FROM {table(Unit)} WHERE bim_global_id = ANY(%s)), "
            f"EXISTS(SELECT 1 FROM {table(Asset)} WHERE bim_global_id = ANY(%s)), "
            f"EXISTS(SELECT 1 FROM {table(CodingRule)} WHERE is_active "
            "AND (company_id IS NULL OR company_id = ANY(%s))), "
            f"(SELECT json_agg(c)::text FROM {table(Category)} AS c WHERE code = ANY(%s)), "
            f"{', '.join([ids] * len(new_rows))} "
            f"FROM (SELECT EXISTS(SELECT 1 FROM {table(Building)} "
            "WHERE bim_global_id = %s) AS found) AS b",
            [
                [building_code], list(floor_codes.values()), unit_codes, asset_codes,
                space_ids, element_ids, company_ids,
                sorted({e.category_code for e in self.model.elements}),
                *(v for m, n in new_rows.items()
                  for v in (m._meta.db_table, m._meta.pk.column, n)),
                data.global_id,
            ],
        )  # fmt: skip
        asked = (building_code, floor_codes, unit_codes, asset_codes, new_rows, company)
        return lambda: self._probed(cursor, *asked)

    def _probed(
        self, cursor, building_code, floor_codes, unit_codes, asset_codes, new_rows, company
    ) -> bool:
        self.inserts.wait()
        row = cursor.fetchone()
        cursor.close()
        exists, *taken, self.units_exist, self.assets_exist, rules, categories = row[:9]
        self._id_pools = {  # reversed: taken from the end
            model: list(reversed(pool or ())) for model, pool in zip(new_rows, row[9:], strict=True)
        }
        # The categories as the ORM would read them (decimals as decimals).
        columns = [f.column for f in Category._meta.concrete_fields]
        for values in json.loads(categories or "[]", parse_float=Decimal):
            category = Category.from_db(connection.alias, None, [values[c] for c in columns])
            self._categories[category.code] = category
        for model, asked, found in zip(
            (Building, Floor, Unit, Asset),
            ([building_code], floor_codes.values(), unit_codes, asset_codes),
            taken,
            strict=True,
        ):
            self._known_codes[model] = (set(asked), set(found))
        self._rules_possible[company.pk] = rules
        return exists

    def _place(self, frame: georef.Frame, method: str, storeys: list[StoreyData]) -> Placement:
        spaces = [s for st in storeys for s in st.spaces]
        footprints = []
        for space in spaces:
            polygon, lost = ifc_geometry.single_polygon(space.footprint)
            if lost > 0.01 * (space.geometry_area or 0):
                self.warnings.append(
                    _(
                        "Space %(space)s: its footprint has several parts; the largest was kept "
                        "(%(lost).2f m² left out)."
                    )
                    % {"space": space.name or space.global_id, "lost": lost}
                )
            footprints.append(polygon)
        outlines = [ifc_geometry.outline(s.footprint for s in st.spaces) for st in storeys]
        building = ifc_geometry.building_outline(outlines)
        if building is None:
            raise IfcFileError("No storey of the building has a space with geometry.")
        local = footprints + [o if o is not None else Polygon() for o in outlines] + [building]
        mapped = shapely.transform(np.array(local, dtype=object), _projector(frame))
        # The checks of spatial's GeometryValidator, for all polygons at once.
        xmin, ymin, xmax, ymax = shapely.total_bounds(mapped)
        if not (np.isfinite([xmin, ymin, xmax, ymax]).all() and -180 <= xmin <= xmax <= 180
                and -90 <= ymin <= ymax <= 90):  # fmt: skip
            raise ValidationError(
                {"anchor": [_("The model lands outside the globe (%(extent)s); check its "
                              "georeferencing.") % {"extent": f"{xmin:.3f}, {ymin:.3f}, "
                                                              f"{xmax:.3f}, {ymax:.3f}"}]}
            )  # fmt: skip
        valid = shapely.is_valid(mapped)
        mapped = [
            None if g.is_empty else (g if ok and isinstance(g, Polygon) else _polygon(g))
            for g, ok in zip(mapped, valid, strict=True)
        ]
        ewkb = _ewkb(mapped)
        n = len(footprints)
        placement = Placement(
            frame=frame,
            method=method,
            building=mapped[-1],
            floors={st.global_id: g for st, g in zip(storeys, mapped[n:-1], strict=True)},
            spaces={s.global_id: g for s, g in zip(spaces, mapped[:n], strict=True)},
            building_ewkb=ewkb[-1],
            floors_ewkb={st.global_id: g for st, g in zip(storeys, ewkb[n:-1], strict=True)},
            spaces_ewkb={s.global_id: g for s, g in zip(spaces, ewkb[:n], strict=True)},
        )
        centroid = placement.building.centroid
        self.georef = {
            "method": method,
            "frame": frame.as_dict(),
            "building_centroid": [round(centroid.x, 7), round(centroid.y, 7)],
        }
        if frame.crs and georef.crs_area_contains(frame.crs, centroid.x, centroid.y) is False:
            self.warnings.append(
                _(
                    "The building lands at %(lon).5f, %(lat).5f, outside the area of use of "
                    "%(crs)s; check the map conversion and its CRS."
                )
                % {"lon": centroid.x, "lat": centroid.y, "crs": frame.crs}
            )
        return placement

    def _write_building_row(
        self, data: BuildingData, existing, placement: Placement, storeys, levels
    ) -> Building:
        spaces = [s for st in storeys for s in st.spaces]
        top = max((s.z_max for s in spaces if s.z_max is not None), default=None)
        ground = next((st for st, lv in zip(storeys, levels, strict=True) if lv == 1), None)
        height = None
        if top is not None and ground is not None and 0.01 < top - ground.elevation < 10000:
            height = Decimal(f"{top - ground.elevation:.2f}")
        name = self._building_name(data)
        fields = {
            "name": name[:200],
            "geom": placement.building_ewkb if existing is None else _geos(placement.building_ewkb),
            "floors_above": sum(1 for lv in levels if lv > 0),
            "floors_below": sum(1 for lv in levels if lv < 0),
            "height_m": height,
        }
        if data.year_built:
            fields["year_built"] = data.year_built
        if data.address:
            fields["address"] = data.address
        if existing is None:
            building = Building(
                code=self._building_code(name),
                site=self.site,
                company=self.site.company,
                bim_global_id=data.global_id,
                **fields,
            )
            _validate(building, exclude=("site", "company"), what=f"building {data.global_id}")
            self._save(Building, new=[building])
            changes = ["created"]
        else:
            building = existing
            changes = _apply(building, fields)
            if changes:
                _validate(building, exclude=("site", "company"), what=building.code)
                self._save(Building, changed=[building], fields=changes)
        self.buildings.append(
            {"id": building.pk, "code": building.code, "name": building.name,
             "global_id": data.global_id, "changes": changes}
        )  # fmt: skip
        return building

    def _building_name(self, data: BuildingData) -> str:
        return data.name or data.long_name or self.model.project_name or self.model.path.stem

    def _building_code(self, name: str) -> str:
        if self.options.building_code:
            wanted = self.options.building_code
            known = self._known_codes.get(Building)
            if known is not None and wanted in known[0]:
                taken = wanted in known[1]
            else:
                taken = Building.objects.filter(code=wanted).exists()
            if taken:
                raise ValidationError(
                    {
                        "building_code": [
                            _("A building with code %(code)s exists already.") % {"code": wanted}
                        ]
                    }
                )
            return wanted
        stem = _code_part(name, 20) or "BIM"
        return _allocate_codes(
            Building, [f"{self.site.code[:40]}-{stem}"], known=self._known_codes.get(Building)
        )[0]

    # -- floors --------------------------------------------------------------------------

    def _write_floors(self, building, storeys, levels, placement: Placement) -> dict[str, Floor]:
        tally = self.tallies["floors"]
        in_building = []
        if not self.new_building:
            in_building = list(Floor.objects.select_for_update().filter(building=building))
        existing = {f.bim_global_id: f for f in in_building if f.bim_global_id}
        wanted = {st.global_id: lv for st, lv in zip(storeys, levels, strict=True)}
        drawn = {f.level: f for f in in_building if not f.bim_global_id}
        clashes = sorted(set(wanted.values()) & set(drawn))
        if clashes:
            raise ValidationError(
                {
                    "level": [
                        _(
                            "Level %(level)d of the building is taken by floor %(floor)s, "
                            "which is not from the model; move or delete it first."
                        )
                        % {"level": lv, "floor": drawn[lv].code}
                        for lv in clashes
                    ]
                }
            )
        # Floors whose level changes, and those whose storey is gone, step aside first: no
        # two floors may share a level at any moment (a unique constraint).
        for n, floor in enumerate(f for gid, f in existing.items() if wanted.get(gid) != f.level):
            Floor.objects.filter(pk=floor.pk).update(level=20000 + n)
            floor.level = 20000 + n
        self.removed_floors = [f for gid, f in existing.items() if gid not in wanted]

        new_storeys = [st for st in storeys if st.global_id not in existing]
        codes = iter(
            _allocate_codes(
                Floor,
                [
                    f"{building.code[:56]}-{_level_label(wanted[st.global_id])}"
                    for st in new_storeys
                ],
                known=self._known_codes.get(Floor),
            )
        )
        new, changed, change_fields = [], [], set()
        self.reshaped_floors: list[Floor] = []
        by_storey: dict[str, Floor] = {}
        for index, (storey, level) in enumerate(zip(storeys, levels, strict=True)):
            following = (
                storeys[index + 1].elevation
                if index + 1 < len(storeys)
                else max((s.z_max for s in storey.spaces if s.z_max is not None), default=None)
            )
            height = None
            if following is not None and 0.01 < following - storey.elevation < 10000:
                height = Decimal(f"{following - storey.elevation:.2f}")
            # A storey without spaces (a roof, a foundation level) gets the building's outline.
            floor = existing.get(storey.global_id)
            outline = placement.floors_ewkb.get(storey.global_id) or placement.building_ewkb
            fields = {
                "name": (storey.name or storey.long_name or _level_label(level))[:200],
                "level": level,
                "elevation_m": Decimal(f"{storey.elevation:.3f}"),
                "height_m": height,
                "geom": outline if floor is None else _geos(outline),
            }
            if floor is None:
                floor = Floor(
                    code=next(codes),
                    building=building,
                    company=building.company,
                    bim_global_id=storey.global_id,
                    **fields,
                )
                _validate(floor, exclude=_FLOOR_CHECKED, what=f"storey {storey.name}")
                new.append(floor)
            else:
                changes = _apply(floor, fields)
                if "geom" in changes:
                    self.reshaped_floors.append(floor)
                if changes:
                    _validate(floor, exclude=_FLOOR_CHECKED, what=floor.code)
                    changed.append(floor)
                    change_fields.update(changes)
                    tally.changed.append({**_entry(floor, storey.global_id), "fields": changes})
                else:
                    tally.unchanged += 1
            by_storey[storey.global_id] = floor
        self._save(Floor, new=new, changed=changed, fields=change_fields)
        tally.added.extend(_entry(floor, floor.bim_global_id) for floor in new)
        return by_storey

    # -- units ---------------------------------------------------------------------------

    def _write_units(self, building, storeys, floors, placement: Placement) -> dict[str, Unit]:
        tally = self.tallies["units"]
        existing = {}
        if self.units_exist:
            existing = {
                u.bim_global_id: u
                for u in Unit.objects.select_for_update().filter(
                    bim_global_id__in=list(placement.spaces)
                )
            }
        fresh = [
            (storey, space)
            for storey in storeys
            for space in storey.spaces
            if space.global_id not in existing
        ]
        codes = dict(
            zip(
                [s.global_id for _, s in fresh],
                _allocate_codes(
                    Unit,
                    [
                        f"{floors[st.global_id].code}-"
                        f"{_code_part(s.name or s.long_name, 20) or 'U'}"
                        for st, s in fresh
                    ],
                    known=self._known_codes.get(Unit),
                ),
                strict=True,
            )
        )
        new, changed, change_fields = [], [], set()
        result: dict[str, Unit] = {}
        tolerance = spatial_services.OUTLINE_TOLERANCE_DEG
        for storey in storeys:
            floor = floors[storey.global_id]
            # What floor_units_reflag computes in SQL: is the unit covered by its floor?
            outline = placement.floors.get(storey.global_id) or placement.building
            covering = outline.buffer(tolerance)
            shapely.prepare(covering)
            for space in storey.spaces:
                unit = existing.get(space.global_id)
                if unit is not None and unit.building_id != building.pk:
                    self._skip_space(
                        space,
                        _("its GlobalId belongs to unit %(code)s of another building")
                        % {"code": unit.code},
                    )
                    continue
                footprint = placement.spaces[space.global_id]
                fields = self._unit_fields(space, floor, footprint)
                if fields is None:
                    self._skip_space(space, _("its footprint is empty"))
                    continue
                ewkb = placement.spaces_ewkb[space.global_id]
                fields["geom"] = ewkb if unit is None else _geos(ewkb)
                fields["outside_floor"] = not covering.covers(footprint)
                if unit is None:
                    unit = Unit(
                        code=codes[space.global_id],
                        building=building,
                        site_id=building.site_id,
                        company_id=building.company_id,
                        status=UnitStatus.VACANT,
                        bim_global_id=space.global_id,
                        **fields,
                    )
                    error = _field_errors(unit, exclude=_UNIT_CHECKED)
                    if error:
                        self._skip_space(space, error)
                        continue
                    new.append(unit)
                else:
                    changes = _apply(unit, fields)
                    if changes:
                        error = _field_errors(unit, exclude=_UNIT_CHECKED)
                        if error:
                            self._skip_space(space, error)
                            continue
                        changed.append(unit)
                        change_fields.update(changes)
                        tally.changed.append({**_entry(unit, space.global_id), "fields": changes})
                    else:
                        tally.unchanged += 1
                result[space.global_id] = unit
        self.existing_units = [u for gid, u in result.items() if gid in existing]
        self._save(Unit, new=new, changed=changed, fields=change_fields)
        tally.added.extend(_entry(unit, unit.bim_global_id) for unit in new)
        if self.reshaped_floors:
            self.inserts.flush()
        for floor in self.reshaped_floors:  # other units on a floor whose outline changed
            spatial_services.floor_units_reflag(floor=floor)
        return result

    def _unit_fields(self, space: SpaceData, floor: Floor, footprint: Polygon | None):
        if footprint is None or footprint.is_empty:
            return None
        gross, usable = space.gross_area, space.net_area
        if gross is not None and usable is not None and usable > gross + 1e-9:
            self.warnings.append(
                _(
                    "Space %(space)s: net area %(net).2f m² exceeds gross area %(gross).2f m² "
                    "in the file; the two were swapped."
                )
                % {"space": space.name or space.global_id, "net": usable, "gross": gross}
            )
            gross, usable = usable, gross
        return {
            "floor": floor,
            "name": (space.long_name or space.name or space.global_id)[:200],
            "number": (space.name if space.long_name else "")[:30],
            "use": space.use,
            "gross_area": _decimal(gross),
            "usable_area": _decimal(usable),
        }

    def _skip_space(self, space: SpaceData, reason: str) -> None:
        self.skipped.append(
            {
                "global_id": space.global_id,
                "ifc_class": "IfcSpace",
                "name": space.long_name or space.name,
                "reason": reason,
            }
        )

    # -- assets --------------------------------------------------------------------------

    def _write_assets(self, building, floors, units, frame: georef.Frame) -> None:
        tally = self.tallies["assets"]
        self.current_assets: set[str] = set()
        elements = [e for e in self.model.elements if e.storey_id in floors]
        if not elements:
            return
        existing = {}
        if self.assets_exist:
            existing = {
                a.bim_global_id: a
                for a in Asset.objects.select_for_update().filter(
                    bim_global_id__in=[e.global_id for e in elements]
                )
            }
        storey_spaces: dict[str, list[SpaceData]] = defaultdict(list)
        for storey in self.model.storeys:
            storey_spaces[storey.global_id].extend(storey.spaces)
        lons, lats = frame.to_lonlat([e.point[0] for e in elements], [e.point[1] for e in elements])
        points = _ewkb(shapely.points(np.column_stack([lons, lats])))
        self._load_categories({e.category_code for e in elements})
        new, changed, change_fields = [], [], set()
        for element, point in zip(elements, points, strict=True):
            asset = existing.get(element.global_id)
            if asset is not None and asset.building_id not in (None, building.pk):
                self._skip_element(
                    element,
                    _("its GlobalId belongs to asset %(code)s elsewhere") % {"code": asset.code},
                )
                continue
            space_id = element.space_id or locate_in_space(
                element.point, storey_spaces[element.storey_id]
            )
            unit = units.get(space_id) if space_id else None
            category = self._category(element.category_code)
            fields = {
                "name": element.name,
                "category": category,
                "brand": element.brand,
                "model_number": element.model_number,
                "serial_number": element.serial_number,
                "site_id": building.site_id,
                "building_id": building.pk,
                "floor_id": floors[element.storey_id].pk,
                "unit_id": unit.pk if unit is not None else None,
                "geom": point if asset is None else _geos(point),
            }
            if asset is None:
                asset = Asset(
                    company_id=building.company_id,
                    bim_global_id=element.global_id,
                    status=AssetStatus.IN_USE,
                    useful_life_months=category.useful_life_months,
                    residual_rate=category.residual_rate,
                    **fields,
                )
                asset.code = self._asset_code(building, category, element.global_id)
                error = _field_errors(asset, exclude=_ASSET_CHECKED)
                if error:
                    self._skip_element(element, error)
                    continue
                new.append(asset)
            else:
                changes = _apply(asset, fields)
                if changes:
                    changed.append(asset)
                    change_fields.update(changes)
                    tally.changed.append({**_asset_entry(asset, element), "fields": changes})
                else:
                    tally.unchanged += 1
            self.current_assets.add(element.global_id)
        # Codes made from GlobalIds are unique among themselves; make sure of the table.
        made = [a for a in new if a.code.startswith(f"{building.code[:41]}-")]
        allocated = _allocate_codes(
            Asset, [a.code for a in made], known=self._known_codes.get(Asset)
        )
        for asset, code in zip(made, allocated, strict=True):
            asset.code = code
        self._save(Asset, new=new, changed=changed, fields=change_fields)
        by_id = {e.global_id: e for e in elements}
        tally.added.extend(_asset_entry(a, by_id[a.bim_global_id]) for a in new)

    def _skip_element(self, element: ElementData, reason: str) -> None:
        self.skipped.append(
            {
                "global_id": element.global_id,
                "ifc_class": element.ifc_class,
                "name": element.name,
                "reason": reason,
            }
        )

    def _load_categories(self, codes: set[str]) -> None:
        missing = codes - set(self._categories)
        if missing:
            self._categories.update((c.code, c) for c in Category.objects.filter(code__in=missing))

    def _category(self, code: str) -> Category:
        if code not in self._categories:
            self._load_categories({code})
        return self._categories[code]

    def _asset_code(self, building, category: Category, global_id: str) -> str:
        """From the coding rules when one applies, else the building's code and the GlobalId
        ($ is not a code character; '.' is not a GlobalId one, so the swap keeps it unique)."""
        has_rule = self._rules.get(category.pk)
        if has_rule is None and not self._any_rule(building.company):
            has_rule = self._rules[category.pk] = False
        if has_rule is None:
            rule = portfolio_services.coding_rule_for(company=building.company, category=category)
            has_rule = self._rules[category.pk] = rule is not None
        if has_rule:
            return portfolio_services.asset_code_issue(
                company=building.company, category=category, on=self.today
            )
        return f"{building.code[:41]}-{global_id.replace('$', '.')}"

    def _any_rule(self, company) -> bool:
        """Whether any active coding rule could apply to the company (its own, its parents',
        or one for all companies): one query, and none per category when there is none."""
        if company.pk not in self._rules_possible:
            company_ids = [int(p) for p in company.path.strip("/").split("/") if p]
            self._rules_possible[company.pk] = CodingRule.objects.filter(
                Q(company__isnull=True) | Q(company_id__in=company_ids), is_active=True
            ).exists()
        return self._rules_possible[company.pk]

    # -- what the new version no longer has ---------------------------------------------

    def _remove_missing(self, building, floors, units) -> None:
        if self.new_building:
            return  # all it has is what this import wrote
        self.inserts.flush()
        assets = (
            Asset.objects.select_for_update()
            .filter(building=building)
            .exclude(bim_global_id="")
            .exclude(bim_global_id__in=self.current_assets)
        )
        for asset in assets:
            entry = _entry(asset, asset.bim_global_id)
            referrers = _referrers(asset)
            if referrers:
                if asset.status != AssetStatus.PENDING_DISPOSAL:
                    asset.status = AssetStatus.PENDING_DISPOSAL
                    self._save(Asset, changed=[asset], fields={"status"})
                self.tallies["assets"].kept.append(
                    {**entry, "reason": _kept(referrers),
                     "status": asset.status}
                )  # fmt: skip
            else:
                asset.delete()
                self.tallies["assets"].removed.append(entry)

        missing = (
            Unit.objects.select_for_update()
            .filter(building=building)
            .exclude(bim_global_id="")
            .exclude(bim_global_id__in=list(units))
        )
        for unit in missing:
            entry = _entry(unit, unit.bim_global_id)
            referrers = _referrers(unit, ignore=(BimSpace,))
            if unit.status in _HELD:
                referrers.insert(
                    0, _("its status is %(status)s") % {"status": unit.get_status_display()}
                )
            if referrers:
                if unit.status not in _HELD and unit.status != UnitStatus.UNAVAILABLE:
                    unit.status = UnitStatus.UNAVAILABLE
                    self._save(Unit, changed=[unit], fields={"status"})
                BimSpace.objects.filter(unit=unit).update(removed_in=self.job)
                self.tallies["units"].kept.append(
                    {**entry, "reason": _kept(referrers),
                     "status": unit.status}
                )  # fmt: skip
            else:
                spatial_services.feature_delete(unit)
                self.tallies["units"].removed.append(entry)

        top = max((f.level for f in floors.values()), default=0)
        for floor in self.removed_floors:
            entry = _entry(floor, floor.bim_global_id)
            referrers = _referrers(floor)
            if referrers:
                top += 1
                Floor.objects.filter(pk=floor.pk).update(level=top)
                self.tallies["floors"].kept.append(
                    {**entry, "reason": _kept(referrers),
                     "level": top}
                )  # fmt: skip
                self.warnings.append(
                    _(
                        "Floor %(floor)s is no longer in the model but still holds "
                        "%(referrers)s; it was kept, at level %(level)d."
                    )
                    % {"floor": floor.code, "referrers": ", ".join(referrers), "level": top}
                )
            else:
                spatial_services.feature_delete(floor)
                self.tallies["floors"].removed.append(entry)

    # -- what the model remembers --------------------------------------------------------

    def _write_model(self, building, placement: Placement, storeys, units) -> None:
        values = {
            "schema": self.model.schema_identifier,
            "application": self.model.application[:255],
            "file_name": (self.job.original_name if self.job else self.model.path.name)[:255],
            "length_unit": self.model.length_unit[:40],
            "georef_method": placement.method,
            "frame": placement.frame.as_dict(),
            "last_import": self.job,
        }
        if self.new_building:
            bim_model = BimModel(building=building, **values)
            self._take_ids(BimModel, [bim_model])
            self.inserts.add(BimModel, [bim_model])
        else:
            self.inserts.flush()
            bim_model, _ = BimModel.objects.update_or_create(building=building, defaults=values)
        if self.existing_units:
            BimSpace.objects.filter(unit__in=self.existing_units).delete()
        spaces = [s for st in storeys for s in st.spaces]
        rows = []
        for space in spaces:
            unit = units.get(space.global_id)
            if unit is None:
                continue
            rows.append(
                BimSpace(
                    unit=unit,
                    model=bim_model,
                    global_id=space.global_id,
                    name=space.name[:255],
                    long_name=space.long_name[:255],
                    object_type=space.object_type[:255],
                    type_name=space.type_name[:255],
                    geometry_area=space.geometry_area or 0.0,
                    net_area=space.net_area,
                    gross_area=space.gross_area,
                    area_source=space.area_source[:60],
                    elevation_m=space.z_min,
                    height_m=(space.z_max - space.z_min) if space.z_max is not None else None,
                )
            )
            self.spaces.append(
                {
                    "global_id": space.global_id,
                    "unit": unit.code,
                    "geometry_area": round(space.geometry_area or 0.0, 3),
                    "net_area": _round(space.net_area),
                    "gross_area": _round(space.gross_area),
                    "area_source": space.area_source,
                }
            )
        self.inserts.add(BimSpace, rows, ids=False)  # nothing refers to them in this import
        self._check_areas(spaces)

    def _check_areas(self, spaces: list[SpaceData]) -> None:
        """One warning for the spaces whose geometry and stated areas differ by over 5 %."""
        off = []
        for space in spaces:
            stated = space.gross_area or space.net_area
            if stated and space.geometry_area:
                deviation = space.geometry_area / stated - 1
                if abs(deviation) > 0.05:
                    off.append((space, deviation))
        if off:
            median = sorted(d for _, d in off)[len(off) // 2]
            sources = Counter(s.area_source for s, _ in off)
            self.warnings.append(
                _(
                    "%(off)d of %(all)d spaces: the area of the geometry differs from the area "
                    "in %(sources)s by over 5 %% (median %(median)s); the file's figures were "
                    "stored, the geometry's beside them."
                )
                % {
                    "off": len(off),
                    "all": len(spaces),
                    "sources": ", ".join(sources),
                    "median": f"{median:+.1%}",
                }
            )

    # -- saving and reporting ------------------------------------------------------------

    def _save(self, model, *, new=(), changed=(), fields=()) -> None:
        """New rows (with their history) go into the building's insert batch; changed ones
        are updated now, after what was queued."""
        if new:
            self._take_ids(model, new)
            self.inserts.add(model, list(new), history=True, user=self.user, reason=self.reason)
        if changed:
            self.inserts.flush()
            bulk_update_with_history(
                list(changed), model, sorted(fields), batch_size=_BATCH,
                default_user=self.user, default_change_reason=self.reason,
            )  # fmt: skip

    def _take_ids(self, model: type[Model], objs) -> None:
        """Ids from the pool the probe allocated, while it lasts (InsertBatch asks the
        sequence for the rest)."""
        pool = self._id_pools.get(model)
        for obj in objs:
            if not pool:
                return
            if obj.pk is None:
                obj.pk = pool.pop()

    def report(self, *, file_name: str) -> dict:
        model = self.model
        return {
            "file": {
                "name": file_name,
                "schema": model.schema_identifier,
                "application": model.application,
                "length_unit": model.length_unit,
                "length_scale": model.length_scale,
            },
            "building": self.buildings[0] if self.buildings else {},
            "buildings": self.buildings,
            "georeferencing": self.georef,
            "counts": {kind: tally.counts() for kind, tally in self.tallies.items()},
            "added": [e for t in self.tallies.values() for e in t.added],
            "changed": [e for t in self.tallies.values() for e in t.changed],
            "removed": [e for t in self.tallies.values() for e in t.removed],
            "kept": [e for t in self.tallies.values() for e in t.kept],
            "skipped": self.skipped,
            "warnings": self.warnings,
            "spaces": self.spaces,
        }


# -- helpers ---------------------------------------------------------------------------------


def _levels(storeys: list[StoreyData]) -> list[int]:
    """Floor levels in elevation order: basements -1, -2 … downwards, the rest 1, 2 … up.
    A storey below a basement is a basement too, whatever its name."""
    basement = [mapping.is_basement(s.name or s.long_name, s.elevation) for s in storeys]
    below = max((i for i, b in enumerate(basement) if b), default=-1) + 1
    return [-(below - i) if i < below else i - below + 1 for i in range(len(storeys))]


def _level_label(level: int) -> str:
    return f"B{-level}" if level < 0 else f"F{level}"


def _code_part(text: str, limit: int) -> str:
    return _CODE_CHARS.sub("-", text or "").strip("-.")[:limit].strip("-.")


def _code_candidate(code: str) -> str:
    return code[:60].rstrip("-.")


def _allocate_codes(
    model: type[Model], wanted: list[str], *, known: tuple[set[str], set[str]] | None = None
) -> list[str]:
    """Unique codes for new rows: each wanted code, or with -2, -3 … when it is taken (by any
    row of the table, the codes being unique across it) or wanted twice. `known`: codes
    already asked about and those of them taken (Writer._probe); asked again otherwise."""
    wanted = [_code_candidate(w) for w in wanted]
    if not wanted:
        return []
    if known is not None and known[0].issuperset(wanted):
        taken = known[1].intersection(wanted)
    else:
        taken = set(model.objects.filter(code__in=set(wanted)).values_list("code", flat=True))
    while True:
        result, used = [], set()
        for base in wanted:
            code, n = base, 2
            while code in taken or code in used:
                code, n = f"{base[:57]}-{n}", n + 1
            used.add(code)
            result.append(code)
        suffixed = set(result) - set(wanted)
        if not suffixed:
            return result
        clash = set(model.objects.filter(code__in=suffixed).values_list("code", flat=True))
        if not clash:
            return result
        taken |= clash


def _decimal(value: float | None) -> Decimal | None:
    if value is None or not math.isfinite(value):
        return None
    rounded = Decimal(f"{value:.2f}")
    return rounded if rounded > 0 else None


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _ewkb(geometries) -> list[str | None]:
    """HEXEWKB (SRID 4326) of lon/lat geometries, in one call; None for None or empty."""
    array = np.array(
        [None if g is None or g.is_empty else g for g in geometries] + [None], dtype=object
    )[:-1]  # (the None keeps numpy from unpacking the geometries)
    return list(shapely.to_wkb(shapely.set_srid(array, 4326), hex=True, include_srid=True))


def _geos(ewkb: str | None) -> GEOSGeometry | None:
    """For comparing with a stored row's geometry (`_apply`)."""
    return None if ewkb is None else GEOSGeometry(ewkb)


def _projector(frame: georef.Frame):
    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = frame.to_lonlat(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return project


def _polygon(geometry: BaseGeometry) -> Polygon:
    """A valid polygon in lon/lat: projecting a valid footprint keeps it valid but for
    rounding at a pinch point, which make_valid repairs (keeping the largest part)."""
    if isinstance(geometry, Polygon) and geometry.is_valid:
        return geometry
    repaired = shapely.make_valid(geometry)
    parts = [p for p in getattr(repaired, "geoms", [repaired]) if isinstance(p, Polygon)]
    return max(parts, key=lambda p: p.area) if parts else Polygon()


def _apply(obj: Model, fields: dict) -> list[str]:
    """Set the fields that differ; return their names. Geometry compares to 1e-9 degrees
    (0.1 mm), relations by id (reading them would cost a query each)."""
    changed = []
    for name, value in fields.items():
        if isinstance(value, Model):
            if getattr(obj, f"{name}_id") != value.pk:
                setattr(obj, name, value)
                changed.append(name)
            continue
        current = getattr(obj, name)
        if isinstance(value, GEOSGeometry) and isinstance(current, GEOSGeometry):
            same = current.equals_exact(value, 1e-9)
        else:
            same = current == value
        if not same:
            setattr(obj, name, value)
            changed.append(name.removesuffix("_id"))
    return changed


def _field_errors(obj: Model, *, exclude: tuple[str, ...]) -> str:
    """The model's own field checks and clean(), without the query per foreign key that
    full_clean() makes; the message, or "" when valid."""
    try:
        obj.clean_fields(exclude=list(exclude))
        obj.clean()
    except ValidationError as exc:
        return messages(exc)
    return ""


def _validate(obj: Model, *, exclude: tuple[str, ...], what: str) -> None:
    error = _field_errors(obj, exclude=exclude)
    if error:
        raise ValidationError({"file": [f"{what}: {error}"]})


def messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())
    return " ".join(exc.messages)


def _referrers(obj: Model, *, ignore: tuple[type[Model], ...] = ()) -> list[str]:
    """What refers to `obj`: every reverse relation of its model (so leases, work orders and
    whatever later apps add are seen without a change here) and attached documents."""
    found = []
    for relation in obj._meta.related_objects:
        related = relation.related_model
        if related in ignore:
            continue
        count = related._base_manager.filter(**{relation.field.name: obj.pk}).count()
        if count:
            found.append(_count_label(count, related))
    documents = Document.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj)), object_id=obj.pk
    ).count()
    if documents:
        found.append(_count_label(documents, Document))
    return found


def _kept(referrers: list[str]) -> str:
    return _("kept: referenced by %(what)s") % {"what": ", ".join(referrers)}


def _count_label(count: int, model: type[Model]) -> str:
    meta = model._meta
    return f"{count} {meta.verbose_name_plural if count > 1 else meta.verbose_name}"


def _entry(obj, global_id: str) -> dict:
    return {
        "kind": obj._meta.model_name,
        "id": obj.pk,
        "code": obj.code,
        "name": obj.name,
        "global_id": global_id,
    }


def _asset_entry(asset: Asset, element: ElementData) -> dict:
    return {
        **_entry(asset, element.global_id),
        "ifc_class": element.ifc_class,
        "category": element.category_code,
    }
