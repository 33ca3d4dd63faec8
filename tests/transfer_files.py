"""Sample files for the import and export tests, written in the tests' tmp_path: the same
units as GeoPackage, zipped Shapefile (CGCS2000 Gauss-Krüger CM117), GeoJSON (GCJ-02),
CSV (Chinese headers, GBK), XLSX and DXF (closed polylines and text labels)."""

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import wkt as shapely_wkt

from spatial.models import Floor
from spatial.transfer import crs
from tests.factories import unit_slot

GK117 = "EPSG:4548"  # CGCS2000 / 3-degree Gauss-Kruger CM 117E


def unit_rows(floor: Floor, count: int = 3, *, prefix: str = "IMP-U", start: int = 0) -> list:
    """Rows of units inside `floor`, as an import expects them: attributes and a shapely
    polygon in EPSG:4326."""
    rows = []
    for n in range(start, start + count):
        rows.append(
            {
                "code": f"{prefix}{n + 1:03d}",
                "name": f"{n + 101}室",
                "floor_code": floor.code,
                "number": f"{n + 101}",
                "use": "office",
                "status": "vacant",
                "gross_area": 81.0,
                "usable_area": 68.5,
                "geometry": shapely_wkt.loads(unit_slot(floor.geom, n).wkt),
            }
        )
    return rows


def frame(rows: list, crs_: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    data = gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "geometry"} for r in rows],
        geometry=[r["geometry"] for r in rows],
        crs="EPSG:4326",
    )
    if crs_ is None:
        return data.set_crs(None, allow_override=True)
    return data.to_crs(crs_)


def write_gpkg(path: Path, rows: list, *, layer: str = "units", crs_="EPSG:4326") -> Path:
    frame(rows, crs_).to_file(path, layer=layer, driver="GPKG")
    return path


def write_shp_zip(path: Path, rows: list, *, crs_=GK117, prj: bool = True, cpg: bool = True,
                  encoding: str = "UTF-8") -> Path:  # fmt: skip
    folder = path.parent / (path.stem + "-parts")
    folder.mkdir()
    data = frame(rows, crs_)
    data = data.rename(columns={"usable_area": "usable_are"})
    data.to_file(folder / "units.shp", driver="ESRI Shapefile", encoding=encoding)
    with zipfile.ZipFile(path, "w") as archive:
        for part in sorted(folder.iterdir()):
            if part.suffix == ".prj" and not prj or part.suffix == ".cpg" and not cpg:
                continue
            archive.write(part, part.name)
    return path


def write_geojson_gcj02(path: Path, rows: list) -> Path:
    """GeoJSON whose coordinates are GCJ-02 (as from AMap), though the format says WGS 84."""
    data = frame(rows)
    data["geometry"] = crs.from_wgs84(np.asarray(data.geometry.array), crs.parse_crs("GCJ02"))
    data.to_file(path, driver="GeoJSON")
    return path


CHINESE_HEADERS = {
    "code": "编码",
    "name": "名称",
    "floor_code": "楼层编码",
    "number": "房号",
    "use": "用途",
    "status": "状态",
    "gross_area": "建筑面积",
    "usable_area": "套内面积",
}


def table(rows: list, *, chinese: bool = False, crs_: str | None = None) -> pd.DataFrame:
    data = pd.DataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows])
    geoms = np.array([r["geometry"] for r in rows], dtype=object)
    if crs_:
        geoms = crs.from_wgs84(geoms, crs.parse_crs(crs_))
        data["crs"] = crs_
    data["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1)
    if chinese:
        data = data.rename(columns={**CHINESE_HEADERS, "wkt": "几何"})
        data["用途"] = "办公"  # the Chinese label of "office"
        data["状态"] = "空置"  # … of "vacant"
    return data


def write_csv(path: Path, rows: list, *, encoding: str = "utf-8", **options) -> Path:
    path.write_bytes(table(rows, **options).to_csv(index=False).encode(encoding))
    return path


def write_xlsx(path: Path, rows: list, **options) -> Path:
    table(rows, **options).to_excel(path, index=False, sheet_name="units")
    return path


def write_dxf(path: Path, rows: list, *, crs_: str = GK117, label_layer: str = "LABELS") -> Path:
    """A minimal DXF (GBK text, as Chinese CAD writes it): each unit a closed LWPOLYLINE on
    layer UNITS in Gauss-Krüger metres, with its code as a TEXT inside it."""
    geoms = crs.from_wgs84(np.array([r["geometry"] for r in rows]), crs.parse_crs(crs_))
    out = ["0", "SECTION", "2", "HEADER", "9", "$ACADVER", "1", "AC1021",
           "9", "$DWGCODEPAGE", "3", "ANSI_936", "0", "ENDSEC",
           "0", "SECTION", "2", "ENTITIES"]  # fmt: skip
    for row, geom in zip(rows, geoms, strict=True):
        ring = list(geom.exterior.coords)[:-1]
        out += ["0", "LWPOLYLINE", "8", "UNITS", "90", str(len(ring)), "70", "1"]
        for x, y in ring:
            out += ["10", repr(x), "20", repr(y)]
        centre = geom.representative_point()
        out += ["0", "TEXT", "8", label_layer, "10", repr(centre.x), "20", repr(centre.y),
                "30", "0.0", "40", "1.0", "1", row["code"]]  # fmt: skip
    out += ["0", "ENDSEC", "0", "EOF"]
    path.write_bytes(("\n".join(out) + "\n").encode("gbk"))
    return path
