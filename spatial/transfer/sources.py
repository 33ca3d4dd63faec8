"""Reading a file into rows: attributes, geometries in the file's CRS, and row numbers.

Formats: GeoPackage, Shapefile (a .zip with .shp/.shx/.dbf and usually .prj/.cpg, or a .shp
beside them), GeoJSON, KML/KMZ, DXF, CSV and XLSX. Spatial formats are read with pyogrio
(GDAL); CSV and XLSX with pandas, their geometry taken from a WKT column or lon/lat (x/y)
columns. Anything that cannot be read raises TransferError naming the `file`.
"""

from __future__ import annotations

import csv
import io
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from spatial.transfer.crs import Crs, CrsError, crs_from_pyproj, parse_crs
from spatial.transfer.layers import LAYERS, REGISTERED, normalise_header

#: Unzipped content above this many bytes is refused (a zip bomb, or the wrong file).
MAX_UNZIPPED_BYTES = 2 * 1024**3

WKT_COLUMNS = ("wkt", "geometry", "geom", "几何", "空间信息", "shape")
LON_COLUMNS = ("lon", "lng", "longitude", "经度")
LAT_COLUMNS = ("lat", "latitude", "纬度")
X_COLUMNS = ("x", "x坐标", "东坐标", "easting")
Y_COLUMNS = ("y", "y坐标", "北坐标", "northing")
CRS_COLUMNS = ("crs", "坐标系")

FORMATS = {
    ".gpkg": "GPKG",
    ".zip": "ESRI Shapefile",
    ".shp": "ESRI Shapefile",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".kml": "KML",
    ".kmz": "KML",
    ".dxf": "DXF",
    ".csv": "CSV",
    ".xlsx": "XLSX",
}


class TransferError(Exception):
    """A whole file (or request) cannot be imported or exported; `field` names the input,
    `status` is the HTTP status the API answers with (403: not allowed)."""

    def __init__(self, message: str, field: str = "file", status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    @classmethod
    def conflict(cls, exc: Exception) -> TransferError:
        """The database refused the write (a unique code taken meanwhile, a parent deleted):
        nothing was written."""
        return cls(f"Conflicts with stored data, nothing was written: {str(exc).splitlines()[0]}")


@dataclass
class Source:
    """What a file holds, before any mapping or checking."""

    format: str
    frame: pd.DataFrame  # attribute columns as read, one row per feature
    geoms: np.ndarray  # shapely geometries in the file's CRS; None where there is none
    rows: np.ndarray  # 1-based feature numbers as in the file
    crs: Crs | None = None  # what the file says it is in
    crs_note: str = "file"  # "file", or how the CRS was assumed
    source_layer: str | None = None
    lines: np.ndarray | None = None  # spreadsheet row / text line, for CSV and XLSX
    warnings: list[str] = field(default_factory=list)
    #: row index → why the geometry cell could not be read (bad WKT, coordinates not numbers)
    geom_errors: dict[int, str] = field(default_factory=dict)


def sniff_format(path: Path) -> str:
    """The format from the extension, checked against (or, without one, taken from) the
    first bytes, so that a picture renamed .gpkg is refused before GDAL sees it."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if not head:
        raise TransferError("The file is empty.")
    suffix = path.suffix.lower()
    fmt = FORMATS.get(suffix)
    if head.startswith(b"PK\x03\x04"):
        if suffix == ".xlsx":
            return "XLSX"
        if suffix == ".kmz":
            return "KML"
        return "ESRI Shapefile" if fmt in (None, "ESRI Shapefile") else _mismatch(path, fmt)
    if head.startswith(b"SQLite format 3\x00"):
        return "GPKG" if fmt in (None, "GPKG") else _mismatch(path, fmt)
    if fmt in ("GPKG", "XLSX") or suffix in (".zip", ".kmz"):
        return _mismatch(path, fmt)
    if fmt is not None:
        return fmt
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "GeoJSON"
    if text.startswith(b"<"):
        return "KML"
    if text.startswith(b"0") and b"SECTION" in head:
        return "DXF"
    raise TransferError(
        f"Not a spatial file this import reads ({path.name}); use GeoPackage, a zipped "
        "Shapefile, GeoJSON, KML, DXF, CSV or XLSX."
    )


def _mismatch(path: Path, fmt: str | None) -> str:
    raise TransferError(f"{path.name} is not a valid {fmt or 'spatial'} file.")


def read_source(path: Path, *, layer_name: str, source_layer: str | None = None) -> Source:
    fmt = sniff_format(path)
    reader = {
        "GPKG": _read_ogr,
        "ESRI Shapefile": _read_shapefile,
        "GeoJSON": _read_ogr,
        "KML": _read_kml,
        "DXF": _read_dxf,
        "CSV": _read_table,
        "XLSX": _read_table,
    }[fmt]
    source = reader(path, fmt=fmt, layer_name=layer_name, source_layer=source_layer)
    if len(source.frame) == 0:
        raise TransferError("The file holds no features.")
    return source


# -- GDAL formats -------------------------------------------------------------------------------


def _ogr_layers(path: Path) -> list[str]:
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, DataLayerError) as exc:
        raise TransferError(f"Not a readable spatial file: {_gdal_reason(exc)}") from exc


def _gdal_reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _pick_layer(path: Path, layers: list[str], layer_name: str, wanted: str | None) -> str:
    if not layers:
        raise TransferError("The file holds no layers.")
    if wanted is not None:
        if wanted not in layers:
            raise TransferError(
                f"The file has no layer {wanted!r}; it has {', '.join(layers)}.", "source_layer"
            )
        return wanted
    if len(layers) == 1:
        return layers[0]
    for name in layers:
        if normalise_header(name) in (layer_name, layer_name.rstrip("s")):
            return name
    raise TransferError(
        f"The file holds several layers ({', '.join(layers)}); name the one to import "
        "(source_layer).",
        "source_layer",
    )


def _read_frame(path: Path, layer: str | None = None, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(path, layer=layer, force_2d=True, **kwargs)
    except (DataSourceError, DataLayerError, FieldError, GeometryError) as exc:
        raise TransferError(f"Not a readable spatial file: {_gdal_reason(exc)}") from exc


def _split(frame, fmt: str, layer: str | None, crs_note: str = "file") -> Source:
    geoms = np.asarray(frame.geometry.array, dtype=object) if "geometry" in frame else None
    crs = crs_from_pyproj(frame.crs) if getattr(frame, "crs", None) is not None else None
    attributes = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    if geoms is None:
        geoms = np.full(len(attributes), None, dtype=object)
    return Source(
        format=fmt,
        frame=attributes.reset_index(drop=True),
        geoms=geoms,
        rows=np.arange(1, len(attributes) + 1),
        crs=crs,
        crs_note=crs_note,
        source_layer=layer,
    )


def _read_ogr(path: Path, *, fmt: str, layer_name: str, source_layer: str | None) -> Source:
    layer = _pick_layer(path, _ogr_layers(path), layer_name, source_layer)
    columns = _wanted_columns(path, layer, layer_name)
    return _split(_read_frame(path, layer, columns=columns), fmt, layer)


def _wanted_columns(path: Path, layer: str, layer_name: str) -> list[str] | None:
    """The file's columns less those an import ignores without a word: what an export adds
    (`export_extra`: area_m2, building_code, …, when not also a column of the layer). An export
    re-imported as it is carries four of them beside ten columns that count, and GDAL spends
    as long on a column it reads for nothing as on one that counts. None: read them all."""
    spec = LAYERS.get(layer_name) or REGISTERED.get(layer_name)
    if spec is None or not spec.export_extra:
        return None
    try:
        fields = [str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]]
    except (DataSourceError, DataLayerError):
        return None  # reading the layer says what is wrong
    lookup = spec.lookup()
    quiet = {normalise_header(c) for c in spec.export_extra} - set(lookup)
    wanted = [f for f in fields if normalise_header(f) not in quiet]
    return wanted if len(wanted) < len(fields) else None


def _safe_extract(archive: zipfile.ZipFile, folder: Path) -> None:
    total = 0
    for info in archive.infolist():
        name = Path(info.filename)
        if name.is_absolute() or ".." in name.parts:
            raise TransferError(f"The zip holds an unsafe path: {info.filename}")
        total += info.file_size
        if total > MAX_UNZIPPED_BYTES:
            raise TransferError("The zip unpacks to more than 2 GiB.")
    archive.extractall(folder)  # noqa: S202 - names checked above


def _read_shapefile(path: Path, *, fmt: str, layer_name: str, source_layer: str | None) -> Source:
    if path.suffix.lower() == ".shp":
        return _read_shp(path, source_layer)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise TransferError(f"Not a readable zip file: {exc}") from exc
    with archive, tempfile.TemporaryDirectory(prefix="geoasset-import-") as folder:
        try:
            _safe_extract(archive, Path(folder))
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            raise TransferError(f"Not a readable zip file: {exc}") from exc
        shps = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() == ".shp")
        if not shps:
            raise TransferError("The zip holds no Shapefile (.shp).")
        if source_layer is not None:
            shps = [p for p in shps if p.stem == source_layer] or _no_layer(shps, source_layer)
        elif len(shps) > 1:
            named = [p for p in shps if normalise_header(p.stem) == layer_name]
            if len(named) != 1:
                raise TransferError(
                    f"The zip holds several Shapefiles ({', '.join(p.stem for p in shps)}); "
                    "name the one to import (source_layer).",
                    "source_layer",
                )
            shps = named
        return _read_shp(shps[0], source_layer)


def _no_layer(shps: list[Path], wanted: str):
    raise TransferError(
        f"The zip has no Shapefile {wanted!r}; it has {', '.join(p.stem for p in shps)}.",
        "source_layer",
    )


def _sidecar(shp: Path, suffix: str) -> Path | None:
    for candidate in shp.parent.iterdir():
        if candidate.stem == shp.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def _read_shp(shp: Path, source_layer: str | None) -> Source:
    missing = [s for s in (".shx", ".dbf") if _sidecar(shp, s) is None]
    if missing:
        raise TransferError(f"The Shapefile {shp.name} lacks its {' and '.join(missing)} file.")
    encoding = None
    notes = []
    if _sidecar(shp, ".cpg") is None:
        # Without a .cpg GDAL assumes Latin-1; Chinese attribute tables are UTF-8 or GBK.
        dbf = _sidecar(shp, ".dbf").read_bytes()
        try:
            dbf.decode("utf-8")
            encoding = "UTF-8"
        except UnicodeDecodeError:
            encoding = "GB18030"
        notes.append(f"No .cpg file: attributes read as {encoding}.")
    frame = _read_frame(shp, encoding=encoding)
    source = _split(frame, "ESRI Shapefile", shp.stem)
    source.warnings.extend(notes)
    return source


#: Columns the LIBKML driver adds to every placemark; not attributes of the feature.
KML_STYLE_COLUMNS = ("id", "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude",
                     "visibility", "drawOrder", "icon", "snippet")  # fmt: skip


def _read_kml(path: Path | str, *, fmt: str, layer_name: str, source_layer: str | None) -> Source:
    if zipfile.is_zipfile(path):  # KMZ: GDAL keeps ExtendedData only when it reads the .kml
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".kml")]
        if not members:
            raise TransferError("The KMZ holds no .kml document.")
        path = f"/vsizip/{path}/{members[0]}"  # a str: Path would fold the double slash
    layers = _ogr_layers(path)
    if source_layer is not None or len(layers) == 1:
        layer = _pick_layer(path, layers, layer_name, source_layer)
        frames = [_read_frame(path, layer)]
    else:  # KML folders: one import of all of them, in document order
        layer = None
        frames = [_read_frame(path, name) for name in layers]
        frames = [f for f in frames if len(f)]
    if not frames:
        raise TransferError("The file holds no features.")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    source = _split(frame, "KML", layer)
    source.crs = parse_crs("EPSG:4326")  # KML is always WGS 84 longitude/latitude
    drop = [c for c in KML_STYLE_COLUMNS if c in source.frame]
    drop += [
        c for c in ("description",)
        if c in source.frame and not source.frame[c].fillna("").astype(str).str.strip().any()
    ]  # fmt: skip
    source.frame = source.frame.drop(columns=drop)
    return source


def _read_dxf(path: Path, *, fmt: str, layer_name: str, source_layer: str | None) -> Source:
    """CAD drawings carry no attribute table: a feature's code is the text label (TEXT or
    MTEXT) placed inside its polygon, or nearest to its line. `source_layer` picks the CAD
    layer the features are drawn on; labels are taken from every layer."""
    frame = _read_frame(path)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    texts = frame.get("Text", pd.Series([None] * len(frame))).astype(object)
    is_label = shapely.get_type_id(geoms) == 0
    is_label &= texts.notna().to_numpy() & (texts.astype(str).str.strip() != "").to_numpy()
    is_feature = ~is_label & ~shapely.is_missing(geoms) & (shapely.get_type_id(geoms) != 0)
    if source_layer is not None:
        on_layer = (frame.get("Layer", pd.Series([""] * len(frame))) == source_layer).to_numpy()
        if not on_layer.any():
            layers = sorted(set(frame.get("Layer", pd.Series(dtype=str)).dropna()))
            raise TransferError(
                f"The drawing has no layer {source_layer!r}; it has {', '.join(layers)}.",
                "source_layer",
            )
        is_feature &= on_layer
    index = np.flatnonzero(is_feature)
    spec = LAYERS.get(layer_name)
    polygonal = spec is None or spec.geom_type != "LineString"
    features = _close_rings(geoms[index]) if polygonal else geoms[index]
    label_points = geoms[is_label]
    label_texts = texts[is_label].astype(str).str.strip().to_numpy()
    codes = np.full(len(index), None, dtype=object)
    if len(label_points) and len(features):
        tree = shapely.STRtree(label_points)
        areal = shapely.get_dimensions(features) == 2
        if areal.any():
            owners = np.flatnonzero(areal)
            hits = tree.query(features[areal], predicate="contains")
            for feature, label in sorted(zip(*hits.tolist(), strict=True)):
                if codes[owners[feature]] is None:  # the first label in the file wins
                    codes[owners[feature]] = label_texts[label]
        if (~areal).any():
            owners = np.flatnonzero(~areal)
            nearest = tree.query_nearest(features[~areal], all_matches=False)
            for feature, label in zip(*nearest.tolist(), strict=True):
                codes[owners[feature]] = label_texts[label]
    layer_names = frame["Layer"] if "Layer" in frame else pd.Series([""] * len(frame))
    attributes = pd.DataFrame(
        {"code": codes, "name": codes, "cad_layer": layer_names.iloc[index].to_numpy()}
    )
    return Source(
        format="DXF", frame=attributes, geoms=features, rows=index + 1, crs=None,
        source_layer=source_layer,
    )  # fmt: skip


def _close_rings(geoms: np.ndarray) -> np.ndarray:
    """Closed polylines (LWPOLYLINE with the closed flag, or ending where they start) as
    polygons, for layers of polygons; everything else as it is."""
    geoms = np.array(geoms, dtype=object)
    lines = np.flatnonzero(shapely.get_type_id(geoms) == 1)
    for i in lines:
        line = geoms[i]
        if line.is_closed and shapely.get_num_coordinates(line) >= 4:
            geoms[i] = shapely.Polygon(shapely.get_coordinates(line))
    return geoms


# -- CSV and XLSX -------------------------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise TransferError("The CSV file is neither UTF-8 nor GB18030 text.")
    if "\x00" in text:
        raise TransferError("Not a CSV text file.")
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max(",;\t|", key=first.count) if any(d in first for d in ",;\t|") else ","
    try:
        return pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            sep=delimiter,
            index_col=False,
            skip_blank_lines=False,  # so that row positions are line numbers
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise TransferError(f"Not a readable CSV file: {exc}") from exc


def _read_xlsx(path: Path, layer_name: str, wanted: str | None) -> tuple[pd.DataFrame, str]:
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        sheets = pd.ExcelFile(path, engine="openpyxl")
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise TransferError(f"Not a readable XLSX workbook: {exc}") from exc
    with sheets:
        sheet = _pick_layer(path, [str(s) for s in sheets.sheet_names], layer_name, wanted)
        frame = pd.read_excel(sheets, sheet_name=sheet, dtype=object)
    return frame, sheet


def _find(columns: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in columns:
            return columns[name]
    return None


def _read_table(path: Path, *, fmt: str, layer_name: str, source_layer: str | None) -> Source:
    if fmt == "CSV":
        frame, sheet, header_line = _read_csv(path), None, 1
    else:
        frame, sheet = _read_xlsx(path, layer_name, source_layer)
        header_line = 1
    frame = frame[~frame.apply(lambda column: column.map(_text) == "").all(axis=1)]
    lines = frame.index.to_numpy() + header_line + 1
    frame = frame.reset_index(drop=True)
    columns = {normalise_header(c): c for c in frame.columns}
    notes: list[str] = []
    crs, crs_note = None, "file"
    crs_column = _find(columns, CRS_COLUMNS)
    if crs_column is not None:
        values = {str(v).strip() for v in frame[crs_column] if str(v).strip() not in ("", "nan")}
        if len(values) > 1:
            raise TransferError(f"The {crs_column!r} column names several CRSs: {sorted(values)}.")
        if values:
            try:
                crs = parse_crs(values.pop())
            except CrsError as exc:
                raise TransferError(str(exc), "crs") from exc
        frame = frame.drop(columns=crs_column)
    wkt = _find(columns, WKT_COLUMNS)
    lon, lat = _find(columns, LON_COLUMNS), _find(columns, LAT_COLUMNS)
    x, y = _find(columns, X_COLUMNS), _find(columns, Y_COLUMNS)
    if wkt is not None:
        geoms, geom_errors = _from_wkt(frame[wkt])
        used = [wkt]
        # Coordinate columns written beside the WKT (as an export writes them) are ignored.
        used += [c for c in (lon, lat, x, y) if c is not None]
    elif lon is not None and lat is not None:
        geoms, geom_errors = _points(frame[lon], frame[lat])
        used = [lon, lat]
        if crs is None:
            crs, crs_note = parse_crs("EPSG:4326"), "assumed: longitude/latitude columns"
    elif x is not None and y is not None:
        geoms, geom_errors = _points(frame[x], frame[y])
        used = [x, y]
    elif layer_name in REGISTERED:
        # A ledger of assets may place them by location codes only (the service puts them
        # at their unit's or building's point).
        geoms, geom_errors, used = np.full(len(frame), None, dtype=object), {}, []
        if crs is None:
            crs, crs_note = parse_crs("EPSG:4326"), "assumed: no geometry columns"
    else:
        raise TransferError(
            "No geometry column: give a WKT column (wkt, geometry) or coordinate columns "
            "(lon/lat or x/y)."
        )
    source = Source(
        format=fmt,
        frame=frame.drop(columns=used),
        geoms=geoms,
        rows=np.arange(1, len(frame) + 1),
        crs=crs,
        crs_note=crs_note,
        source_layer=sheet,
        lines=lines,
        warnings=notes,
        geom_errors=geom_errors,
    )
    return source


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _from_wkt(values: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    texts = [_text(v) for v in values]
    # "SRID=4548;POLYGON(...)" (EWKT): the prefix is dropped; the CRS comes from elsewhere.
    texts = [t.split(";", 1)[1] if t.upper().startswith("SRID=") else t for t in texts]
    geoms = np.asarray(
        shapely.from_wkt([t or None for t in texts], on_invalid="ignore"), dtype=object
    )
    errors = {
        i: "Not a geometry: the WKT text cannot be read."
        for i, t in enumerate(texts)
        if t and geoms[i] is None
    }
    return geoms, errors


def _points(xs: pd.Series, ys: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    x = pd.to_numeric(pd.Series([_text(v) for v in xs]), errors="coerce").to_numpy(float)
    y = pd.to_numeric(pd.Series([_text(v) for v in ys]), errors="coerce").to_numpy(float)
    geoms = np.asarray(shapely.points(x, y), dtype=object)
    given = np.array([_text(a) != "" or _text(b) != "" for a, b in zip(xs, ys, strict=True)])
    bad = given & (np.isnan(x) | np.isnan(y))
    geoms[~given | bad] = None
    errors = {
        int(i): "Not a geometry: the coordinates are not numbers." for i in np.flatnonzero(bad)
    }
    return geoms, errors
