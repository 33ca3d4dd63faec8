"""Export a layer of the spatial graph to a file, in any CRS the import reads.

The columns are the import's (code, name, company_code, the parent's code, the layer's
fields, remarks), so that an exported file imports back as the same features; computed
columns (area_m2, length_m, ...) are added for information and ignored by an import.

Formats: GeoPackage, Shapefile (a zip with .shp/.shx/.dbf, .prj when the CRS has one, and a
.cpg saying UTF-8 so that Chinese names survive), GeoJSON, KML (longitude/latitude only),
XLSX and CSV (a WKT column, a representative point's coordinates and a `crs` column), and
DXF for CAD (outlines and code labels only: see `_write_dxf`).
Geometry leaves EPSG:4326 only here, through spatial.transfer.crs (GCJ-02 and BD-09 too).
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from django.contrib.gis.db.models.functions import AsWKB
from django.db.models import QuerySet

from spatial.transfer.crs import Crs, CrsError, from_wgs84, parse_crs
from spatial.transfer.layers import (
    EXTENSIONS,
    FORMATS,
    LAYERS,
    REGISTERED,
    SHP_NAMES,
    Layer,
    RegisteredLayer,
    layer_names,
)
from spatial.transfer.sources import TransferError

#: An Excel cell holds at most this many characters.
XLSX_CELL_LIMIT = 32_767

# pyogrio logs every file it writes ("Created 100,239 records") at INFO, which the root
# logger prints; exports report their own counts.
logging.getLogger("pyogrio").setLevel(logging.WARNING)


@dataclass
class ExportResult:
    path: Path
    filename: str
    content_type: str
    count: int
    crs: str


def parse_format(text: str | None, out: Path | None = None) -> str:
    fmt = (text or "").strip().lower()
    if not fmt and out is not None:
        fmt = EXTENSIONS.get(out.suffix.lower(), "")
    fmt = {"shapefile": "shp", "json": "geojson", "geopackage": "gpkg"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise TransferError(f"Unknown format {text!r}; one of {', '.join(FORMATS)}.", "format")
    return fmt


def export_columns(spec: Layer) -> list[tuple[str, str]]:
    """(column, lookup on the model) for every exported attribute, in file order."""
    if isinstance(spec, RegisteredLayer):
        return list(spec.export_columns)
    columns = [("code", "code"), ("name", "name"), ("company_code", "company__code")]
    if spec.parent:
        columns.append((f"{spec.parent}_code", f"{spec.parent}__code"))
    columns += [(f, f) for f in spec.fields]
    columns.append(("remarks", "remarks"))
    for extra in spec.export_extra:
        lookup = {"building_code": "building__code", "site_code": "site__code"}.get(extra, extra)
        columns.append((extra, lookup))
    return columns


def layer_frame(spec: Layer, queryset: QuerySet) -> tuple[pd.DataFrame, np.ndarray]:
    """The attribute table and the EPSG:4326 geometries of every row of `queryset`."""
    columns = export_columns(spec)
    if getattr(spec, "located_only", False):
        queryset = queryset.filter(geom__isnull=False)
    rows = list(
        queryset.order_by("code")
        .annotate(export_wkb=AsWKB("geom"))
        .values_list(*(lookup for _, lookup in columns), "export_wkb")
    )
    data = {}
    for position, (name, _) in enumerate(columns):
        data[name] = _column([row[position] for row in rows], spec, name)
    wkbs = [bytes(row[-1]) if row[-1] is not None else None for row in rows]
    geoms = np.asarray(shapely.from_wkb(wkbs), dtype=object) if wkbs else np.array([], object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows))), geoms


def _column(values: list, spec: Layer, name: str) -> pd.Series | list:
    """Typed the way GDAL writes them well: decimals as floats, dates as dates, integers as
    integers (floats when some are missing), text as text."""
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, Decimal):
        return pd.Series([float(v) if v is not None else np.nan for v in values], dtype=float)
    if isinstance(sample, bool):
        return pd.Series(values, dtype=object).astype(bool)
    if isinstance(sample, int):
        if any(v is None for v in values):
            return pd.Series([np.nan if v is None else v for v in values], dtype=float)
        return pd.Series(values, dtype="int64")
    if isinstance(sample, float):
        return pd.Series([np.nan if v is None else v for v in values], dtype=float)
    if isinstance(sample, date):
        return pd.Series(pd.to_datetime(values))
    return pd.Series(["" if v is None else v for v in values], dtype=object)


def layer_export(*, layer: str, queryset: QuerySet, fmt: str, crs: str | None,
                 folder: Path) -> ExportResult:  # fmt: skip
    """Write `queryset` (already scoped and filtered) as `layer` to a file in `folder`."""
    spec = LAYERS.get(layer) or REGISTERED.get(layer)
    if spec is None:
        raise TransferError(f"Unknown layer {layer!r}; one of {', '.join(layer_names())}.", "layer")
    fmt = parse_format(fmt)
    try:
        target = parse_crs(crs) if crs and str(crs).strip() else parse_crs("EPSG:4326")
    except CrsError as exc:
        raise TransferError(str(exc), "crs") from exc
    if fmt == "kml" and not target.is_geographic:
        raise TransferError("KML holds longitude/latitude only; choose a geographic CRS.", "crs")
    frame, geoms = layer_frame(spec, queryset)
    geoms = from_wgs84(geoms, target)
    folder = Path(folder)
    extension, content_type = FORMATS[fmt]
    path = folder / f"{layer}{extension}"
    writer = {
        "gpkg": _write_gpkg,
        "shp": _write_shapefile,
        "geojson": _write_geojson,
        "kml": _write_kml,
        "xlsx": _write_table,
        "csv": _write_table,
        "dxf": _write_dxf,
    }[fmt]
    writer(spec, frame, geoms, target, path)
    return ExportResult(path, path.name, content_type, len(frame), target.label)


def _frame(spec: Layer, frame: pd.DataFrame, geoms: np.ndarray, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=crs)


def _write(data: gpd.GeoDataFrame, path: Path, **options) -> None:
    with warnings.catch_warnings():
        # No CRS is the point for GCJ-02 and BD-09, which no file format can name.
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        pyogrio.write_dataframe(data, path, **options)


def _dates_as_text(data: pd.DataFrame) -> pd.DataFrame:
    """ISO dates as text, for formats without a date type (GeoJSON, KML, Shapefile, whose
    dBASE date GDAL will not write from a date-time column)."""
    for column in data.columns:
        if str(data[column].dtype).startswith("datetime"):
            data[column] = data[column].dt.strftime("%Y-%m-%d").where(data[column].notna(), None)
    return data


def _pyproj(target: Crs):
    """The CRS to write into the file; None for GCJ-02 and BD-09, which no file format
    can name (an import of such a file must be told `crs=GCJ02`)."""
    return target.pyproj()


def _write_gpkg(spec, frame, geoms, target, path) -> None:
    data = _frame(spec, frame, geoms, _pyproj(target))
    _write(data, path, layer=spec.name, driver="GPKG", geometry_type=spec.geom_type)


def _write_geojson(spec, frame, geoms, target, path) -> None:
    data = _frame(spec, _dates_as_text(frame.copy()), geoms, _pyproj(target))
    _write(data, path, driver="GeoJSON", geometry_type=spec.geom_type)


def _write_kml(spec, frame, geoms, target, path) -> None:
    # KML has no CRS: its coordinates are longitude/latitude, here in `target`'s datum.
    data = _frame(spec, _dates_as_text(frame.copy()), geoms, "EPSG:4326")
    _write(data, path, layer=spec.name, driver="LIBKML")


def _write_shapefile(spec, frame, geoms, target, path) -> None:
    folder = path.parent / f"{spec.name}-shp"
    folder.mkdir()
    data = frame.rename(columns={name: SHP_NAMES.get(name, name)[:10] for name in frame.columns})
    shp = folder / f"{spec.name}.shp"
    _write(
        _frame(spec, _dates_as_text(data), geoms, _pyproj(target)), shp,
        driver="ESRI Shapefile", encoding="UTF-8",
        promote_to_multi=spec.geom_type.startswith("Multi"),
    )  # fmt: skip
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(folder.iterdir()):
            archive.write(part, part.name)
            part.unlink()
    folder.rmdir()


def _write_table(spec, frame, geoms, target, path) -> None:
    data = frame.copy()
    wkt = shapely.to_wkt(geoms, rounding_precision=-1, trim=True)
    points = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(points), shapely.get_y(points)
    lon, lat = ("lon", "lat") if target.is_geographic else ("x", "y")
    data["wkt"] = wkt
    data[lon], data[lat] = x, y
    data["crs"] = target.label
    for column in data.columns:
        if str(data[column].dtype).startswith("datetime"):
            data[column] = data[column].dt.date
    if path.suffix == ".csv":
        data.to_csv(path, index=False, encoding="utf-8-sig")
        return
    too_long = [i for i, text in enumerate(wkt) if text is not None and len(text) > XLSX_CELL_LIMIT]
    if too_long:
        code = frame["code"].iloc[too_long[0]]
        raise TransferError(
            f"The geometry of {code} is too large for an Excel cell; export as gpkg or csv.",
            "format",
        )
    data.to_excel(path, index=False, sheet_name=spec.name, engine="openpyxl")


#: Height of the code labels in a DXF: a metre in a projected CRS, about a metre in degrees.
DXF_LABEL_HEIGHT = {True: 1e-5, False: 1.0}
#: Outlines and lines are drawn as polylines (GDAL would fill polygons as HATCH otherwise).
DXF_PEN = "PEN(c:#000000)"


def _write_dxf(spec, frame, geoms, target, path) -> None:
    """A CAD drawing of the layer, through GDAL's DXF driver: every outline (each ring of a
    polygon, each part of a multi-part feature) as a closed LWPOLYLINE, every road as a
    LWPOLYLINE and every asset as a POINT on the CAD layer named after the layer
    (`units`), and the feature's code as a text label at a point inside it on the layer
    `<layer>_code`. DXF has no attribute table and no CRS: the other columns and the CRS are
    not in the file (the X-CRS header and the command's output name the CRS). The import
    reads such a drawing back (codes from the labels, the rest with --set)."""
    shapes, layers, styles = [], [], []
    height = DXF_LABEL_HEIGHT[bool(target.is_geographic)]
    for code, geom in zip(frame["code"].tolist(), geoms, strict=True):
        if geom is None or geom.is_empty:
            continue
        parts = list(getattr(geom, "geoms", [geom]))
        for part in parts:
            if part.geom_type == "Polygon":
                rings = [part.exterior, *part.interiors]
                shapes += [shapely.LineString(ring.coords) for ring in rings]
                layers += [spec.name] * len(rings)
                styles += [DXF_PEN] * len(rings)
            else:
                shapes.append(part)
                layers.append(spec.name)
                styles.append(DXF_PEN if part.geom_type != "Point" else None)
        anchor = shapely.point_on_surface(geom) if geom.geom_type != "Point" else geom
        shapes.append(anchor)
        layers.append(f"{spec.name}_code")
        styles.append(f'LABEL(f:"Arial",t:"{code}",s:{height:g}g)')
    data = gpd.GeoDataFrame(
        {"Layer": layers, "OGR_STYLE": styles},
        geometry=gpd.GeoSeries(shapes, index=pd.RangeIndex(len(shapes))),
        crs=None,
    )
    _write(data, path, driver="DXF")
