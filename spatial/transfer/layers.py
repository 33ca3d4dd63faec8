"""The layers that can be imported and exported, and the declared column mapping table.

Each layer names its model, the parent it hangs from (by code) and its attribute columns.
A column is found in a file under its own name (the model field, or `<parent>_code`), its
Shapefile name (at most 10 characters) or one of its aliases, most of them the Chinese
headers found in 台账 spreadsheets; names are compared case-insensitively, ignoring spaces,
'_' and '-'. What each column holds (text, choice, number, date) and whether it is required
follows from the model field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from django.db import models
from django.utils import translation

from spatial.models import Building, Company, Feature, Floor, Parcel, Park, Road, Site, Unit

#: Generic aliases: the same header means the same column in every layer that has it.
ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("编码", "代码", "编号", "id_code"),
    "name": ("名称", "名字"),
    "remarks": ("备注", "说明"),
    "company_code": ("权属单位编码", "权属单位代码", "公司编码", "单位编码", "company"),
    "site_code": ("园区编码", "项目编码", "site"),
    "building_code": ("楼宇编码", "楼栋编码", "建筑编码", "building"),
    "floor_code": ("楼层编码", "floor"),
    "address": ("地址", "坐落"),
    "district": ("区县", "行政区", "所在区"),
    "use": ("用途", "主要用途", "使用用途"),
    "status": ("状态", "租赁状态", "房源状态"),
    "gross_area": ("建筑面积",),
    "usable_area": ("套内面积", "使用面积"),
    "level": ("楼层号", "层号", "所在楼层"),
    "number": ("房号", "房间号", "单元号"),
    "floors_above": ("地上层数",),
    "floors_below": ("地下层数",),
    "year_built": ("建成年份", "竣工年份"),
    "structure": ("结构", "建筑结构", "结构类型"),
    "elevation_m": ("标高", "楼层标高"),
    "grade": ("等级", "道路等级"),
    "width_m": ("宽度", "路宽", "道路宽度"),
    "lanes": ("车道数",),
    "start_stake_m": ("起点桩号", "起始桩号"),
    "end_stake_m": ("终点桩号", "结束桩号"),
    "green_area": ("绿地面积",),
    "opened_year": ("开园年份",),
    "land_use": ("土地用途", "用地性质", "地类", "用地类型"),
    "land_right": ("权利性质", "使用权类型", "土地权利类型"),
    "title_number": ("不动产权证号", "权证号", "土地证号", "产权证号"),
    "right_end_date": ("终止日期", "使用权终止日期", "土地使用权终止日期"),
}

#: Aliases whose meaning depends on the layer.
LAYER_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "sites": {"kind": ("类型", "园区类型"), "official_area": ("占地面积", "用地面积")},
    "buildings": {"height_m": ("高度", "建筑高度")},
    "floors": {"height_m": ("层高",)},
    "parks": {"kind": ("类型", "公园类型")},
    "parcels": {"official_area": ("宗地面积", "确权面积", "登记面积", "土地面积")},
}

#: Shapefile field names are at most 10 characters; these are written and read back.
SHP_NAMES = {
    "company_code": "comp_code",
    "building_code": "bldg_code",
    "official_area": "offic_area",
    "floors_above": "fl_above",
    "floors_below": "fl_below",
    "elevation_m": "elevation",
    "usable_area": "usable_are",
    "start_stake_m": "start_stk",
    "end_stake_m": "end_stake",
    "opened_year": "opened_yr",
    "title_number": "title_no",
    "right_end_date": "right_end",
    "outside_floor": "outside_fl",
}


#: Export formats: format → (file extension, content type). Here, not in exporter.py, so that
#: the API can list them without loading pandas and GDAL at start-up.
FORMATS = {
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "shp": (".zip", "application/zip"),
    "geojson": (".geojson", "application/geo+json"),
    "kml": (".kml", "application/vnd.google-earth.kml+xml"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "csv": (".csv", "text/csv; charset=utf-8"),
    "dxf": (".dxf", "image/vnd.dxf"),
}
EXTENSIONS = {".gpkg": "gpkg", ".zip": "shp", ".shp": "shp", ".geojson": "geojson",
              ".json": "geojson", ".kml": "kml", ".xlsx": "xlsx", ".csv": "csv",
              ".dxf": "dxf"}  # fmt: skip


def normalise_header(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer."""

    name: str  # the canonical column name: a model field, or "<parent>_code"
    kind: str  # "code", "text", "choice", "decimal", "int", "date", "stake", "ref"
    required: bool
    model_field: models.Field | None = None
    ref_model: type[models.Model] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def shp_name(self) -> str:
        return SHP_NAMES.get(self.name, self.name)[:10]

    @cached_property
    def choices(self) -> dict[str, str]:
        """Accepted spellings → stored value: the value, its English and Chinese labels."""
        if self.model_field is None or not self.model_field.choices:
            return {}
        accepted: dict[str, str] = {}
        for value, label in self.model_field.choices:
            accepted[str(value).lower()] = value
            for language in ("en", "zh-hans"):
                with translation.override(language):
                    accepted.setdefault(str(label).strip().lower(), value)
        return accepted


@dataclass(frozen=True)
class Layer:
    """A layer of the spatial graph as files see it."""

    name: str
    model: type[Feature]
    parent: str | None  # the model field of the parent ("floor"), reached by "<parent>_code"
    parent_required: bool
    fields: tuple[str, ...]  # model fields beyond code, name and remarks
    export_extra: tuple[str, ...] = ()  # computed columns an export adds, an import ignores
    columns: tuple[Column, ...] = field(default=(), compare=False)

    @property
    def geom_field(self):
        return self.model._meta.get_field("geom")

    @property
    def geom_type(self) -> str:
        """ "Polygon", "MultiPolygon" or "LineString": what the column holds."""
        return {
            "POLYGON": "Polygon",
            "MULTIPOLYGON": "MultiPolygon",
            "LINESTRING": "LineString",
            "POINT": "Point",
        }[self.geom_field.geom_type]

    @property
    def geom_required(self) -> bool:
        return not self.geom_field.null

    @property
    def parent_model(self) -> type[Feature] | None:
        return self.model._meta.get_field(self.parent).related_model if self.parent else None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def lookup(self) -> dict[str, Column]:
        """Normalised header → column: own names first, then Shapefile names, then aliases."""
        found: dict[str, Column] = {}
        for source in ("name", "shp", "alias"):
            for column in self.columns:
                names = {
                    "name": (column.name,),
                    "shp": (column.shp_name,),
                    "alias": column.aliases,
                }[source]
                for name in names:
                    found.setdefault(normalise_header(name), column)
        return found


def _kind(model_field: models.Field) -> str:
    if model_field.choices:
        return "choice"
    if isinstance(model_field, models.DecimalField):
        return "decimal"
    if isinstance(model_field, models.IntegerField):
        return "int"
    if isinstance(model_field, models.DateField):
        return "date"
    return "text"


def _columns(layer: Layer) -> tuple[Column, ...]:
    model = layer.model
    aliases = {**ALIASES, **LAYER_ALIASES.get(layer.name, {})}
    columns = [
        Column("code", "code", True, model._meta.get_field("code"), aliases=aliases["code"]),
        Column("name", "text", True, model._meta.get_field("name"), aliases=aliases["name"]),
        Column(
            "company_code",
            "ref",
            layer.parent is None,
            ref_model=Company,
            aliases=aliases["company_code"],
        ),
    ]
    if layer.parent:
        name = f"{layer.parent}_code"
        columns.append(
            Column(
                name,
                "ref",
                layer.parent_required,
                ref_model=layer.parent_model,
                aliases=aliases.get(name, ()),
            )  # fmt: skip
        )
    for name in (*layer.fields, "remarks"):
        model_field = model._meta.get_field(name)
        kind = "stake" if name.endswith("_stake_m") else _kind(model_field)
        required = not model_field.blank and not model_field.has_default()
        columns.append(Column(name, kind, required, model_field, aliases=aliases.get(name, ())))
    return tuple(columns)


def _layer(name: str, model, parent, parent_required, fields, export_extra=()) -> Layer:
    layer = Layer(name, model, parent, parent_required, tuple(fields), tuple(export_extra))
    object.__setattr__(layer, "columns", _columns(layer))
    return layer


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        _layer(
            "sites", Site, None, False,
            ("kind", "address", "district", "official_area"), ("area_m2",),
        ),
        _layer(
            "buildings", Building, "site", True,
            ("use", "floors_above", "floors_below", "height_m", "year_built", "structure",
             "gross_area", "address"),
            ("area_m2",),
        ),
        _layer(
            "floors", Floor, "building", True,
            ("level", "elevation_m", "height_m"), ("area_m2",),
        ),
        _layer(
            "units", Unit, "floor", True,
            ("number", "use", "status", "gross_area", "usable_area"),
            ("building_code", "site_code", "area_m2", "outside_floor"),
        ),
        _layer(
            "roads", Road, "site", False,
            ("grade", "width_m", "lanes", "start_stake_m", "end_stake_m"), ("length_m",),
        ),
        _layer("parks", Park, "site", False, ("kind", "green_area", "opened_year"), ("area_m2",)),
        _layer(
            "parcels", Parcel, "site", False,
            ("land_use", "land_right", "title_number", "official_area", "right_end_date"),
            ("area_m2",),
        ),
    )
}  # fmt: skip


# -- layers other apps register -----------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredLayer:
    """A layer another app brings to import and export (portfolio's `assets`), registered
    from its AppConfig.ready(): spatial cannot import that app, so the app names its model,
    its columns and the function that writes one row through its own services.

    `row_write(values, geom, *, user, company, today)` gets a row's parsed values by column
    (references as codes), its EPSG:4326 geometry (or None) and the import's company; it
    creates or updates the row, returns "create" or "update", and raises ValidationError
    keyed by model field (`category`) or column (`category_code`) when the row is wrong.
    """

    name: str
    model: type[models.Model]
    geom_type: str  # "Point", ...
    columns: tuple[Column, ...]
    export_columns: tuple[tuple[str, str], ...]  # (column, lookup on the model)
    filterset: type  # the layer's API list FilterSet, reused by the export
    row_write: object  # Callable, see above
    parent: str | None = None
    fields: tuple[str, ...] = ()
    export_extra: tuple[str, ...] = ()
    located_only: bool = True  # export rows that have a geometry only

    def lookup(self) -> dict[str, Column]:
        return Layer.lookup(self)  # type: ignore[arg-type]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def column_of(self, field_name: str) -> str:
        """The column an error on a model field belongs to."""
        names = {c.name for c in self.columns}
        if f"{field_name}_code" in names:
            return f"{field_name}_code"
        if field_name in names or field_name == "geom":
            return field_name
        return "code"


#: name → the layers other apps registered
REGISTERED: dict[str, RegisteredLayer] = {}


def layer_register(layer: RegisteredLayer, *, shp_names: dict[str, str] | None = None) -> None:
    if layer.name in LAYERS or layer.name in REGISTERED:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"import/export layer {layer.name!r} registered twice")
    REGISTERED[layer.name] = layer
    SHP_NAMES.update(shp_names or {})


def layer_names() -> list[str]:
    """Every layer that can be imported and exported: the spatial graph's, then registered."""
    return [*LAYERS, *REGISTERED]


def column_for(model_field: models.Field, *, name: str | None = None, required: bool = False,
               aliases: tuple[str, ...] = ()) -> Column:  # fmt: skip
    """A column parsed by the model field's kind (text, choice, decimal, int, date)."""
    return Column(name or model_field.name, _kind(model_field), required, model_field,
                  aliases=aliases)  # fmt: skip


def ref_column(name: str, model: type[models.Model], *, required: bool = False,
               aliases: tuple[str, ...] = ()) -> Column:  # fmt: skip
    """A column holding the code of a row of `model`."""
    return Column(name, "ref", required, ref_model=model, aliases=aliases)
