"""Demo data: a deterministic 城投 portfolio in Hefei (合肥), and the demo logins.

`demo_seed` builds a fictional group, 庐州城市发展投资集团, with subsidiaries and project
companies; its sites (industrial parks, office parks, commercial complexes, apartments,
logistics parks), their buildings, floors and units; city and internal roads, parks and
land parcels; and an asset register with tags and a coding rule. Everything derives from one
`random.Random` seed, so a scale always yields the same rows (database ids aside).

Shapes are laid out in local metres around each site and converted to lon/lat with a local
equirectangular projection (metres per degree on the WGS 84 ellipsoid at that latitude).
Sites sit on a grid of 560 m city blocks around each district's centre, city roads run
along the block edges, buildings stand in rows inside their site, and each floor is tiled
by units along a corridor (or by open bays for factories and warehouses).

Only the companies (whose hierarchy path the service maintains) and the coding rule go
through the ORM; everything else is written with PostgreSQL COPY, so 100,000 units load in
well under three minutes. The database computes the generated area and length columns;
the denormalised unit fields are filled here and `outside_floor` is set by one UPDATE.
No history rows are written for seeded features.
"""

import math
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import shapely
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql
from shapely.geometry import MultiPolygon, Polygon, box
from stdnum.cn import uscc

from finance.collection.demo import demo_receipts
from finance.demo import demo_finance_seed
from leasing.demo import LeaseRows
from portfolio import coding
from portfolio.choices import AssetStatus, TagKind
from portfolio.models import Category, CodeSequence, CodingRule
from spatial.choices import (
    BuildingStructure,
    BuildingUse,
    CompanyKind,
    LandRight,
    LandUse,
    ParkKind,
    RoadGrade,
    Role,
    SiteKind,
    UnitStatus,
    UnitUse,
)
from spatial.models import Company, Membership, Site
from spatial.services import OUTLINE_TOLERANCE_DEG, company_create
from tracking.demo import demo_tracking

#: Units each scale aims for; every scale has at least MIN_SITES sites.
SCALES = {"demo": 3_000, "10k": 10_000, "100k": 100_000}
#: Months of posted bills and receipts up to AS_OF, per scale.
FINANCE_MONTHS = {"demo": 12, "10k": 12, "100k": 3}
MIN_SITES = 12
RANDOM_SEED = 14885
AS_OF = date(2026, 6, 30)  # the demo register's "today": nothing is acquired after it
CODE_PATTERN = "{company}-{category}-{year}-{seq:05}"

# -- geography -------------------------------------------------------------------------------

BOUNDS = (117.10, 31.70, 117.45, 31.95)  # lon/lat box every demo geometry stays inside
LAKE_SHORE_LAT = 31.715  # 巢湖 lies south of this: no blocks there
LAT_REF = 31.825
CELL_M = 560.0  # a city block, road centre line to road centre line
CELL_MARGIN_M = 50.0  # carriageway, pavement and setback between a road and a site
WALL_M = 0.25  # outer wall: units keep this far inside the floor outline
PARTITION_M = 0.1  # half a partition wall: neighbouring units are 0.2 m apart


def m_per_deg_lat(lat: float) -> float:
    phi = math.radians(lat)
    return 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)


def m_per_deg_lon(lat: float) -> float:
    phi = math.radians(lat)
    return 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)


def ewkb(geoms: Any) -> Any:
    """Hex EWKB with SRID 4326, which PostGIS parses from a COPY text column; a list for
    an array of geometries, a string for one."""
    hexed = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    return np.asarray(hexed).tolist()


class Frame:
    """Local metres (x east, y north, turned by `theta` degrees) around an origin."""

    def __init__(self, lon: float, lat: float, theta: float = 0.0):
        self.lon, self.lat = lon, lat
        rad = math.radians(theta)
        self.cos, self.sin = math.cos(rad), math.sin(rad)
        self.mx, self.my = m_per_deg_lon(lat), m_per_deg_lat(lat)

    def coords(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0], xy[..., 1]
        out = np.empty(xy.shape, dtype=float)
        out[..., 0] = self.lon + (x * self.cos - y * self.sin) / self.mx
        out[..., 1] = self.lat + (x * self.sin + y * self.cos) / self.my
        return out

    def geom(self, geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, self.coords)

    def rects(self, rects: np.ndarray) -> list[str]:
        """Hex EWKB polygons of local rectangles given as rows of (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = np.asarray(rects, dtype=float).T
        corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))  # counter-clockwise
        ring = np.stack([np.stack(c, axis=-1) for c in corners], axis=1)
        return ewkb(shapely.polygons(self.coords(ring)))

    def points(self, xy: Sequence) -> list[str]:
        return ewkb(shapely.points(self.coords(np.asarray(xy, dtype=float))))


# -- reference data --------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    name: str
    short: str
    code: str
    region: str  # GB/T 2260 code of the district or development zone
    centre: tuple[float, float]
    weight: float
    roads: tuple[str, ...]


@dataclass(frozen=True)
class CompanySpec:
    code: str
    name: str
    short: str
    kind: str
    parent: str | None
    district: str | None  # None: registered at city level


@dataclass(frozen=True)
class BuildingType:
    label: str
    use: str
    structure: str
    width: tuple[int, int]
    depth: tuple[int, int]
    floors: tuple[int, int]
    basements: tuple[int, int]
    storey_m: float
    plan: str  # "corridor" (rooms either side of a corridor), "mall" or "open"
    bay_m: float
    merge: tuple[int, ...]  # how many bays one unit takes, drawn per unit
    unit_use: str
    ground_use: str
    cost: tuple[int, int]  # construction cost, yuan per m² of gross floor area


@dataclass(frozen=True)
class SiteType:
    kind: str
    themes: tuple[str, ...]
    width: tuple[int, int]
    depth: tuple[int, int]
    program: tuple[tuple[BuildingType, int, int], ...]  # (type, fewest, most)
    land_use: str
    land_years: int
    owners: dict[str, str]  # district code → owning company code; "*" for the others


B, S, U = BuildingUse, BuildingStructure, UnitUse
# fmt: off
DISTRICTS = (
    District("高新区", "高新", "GX", "340171", (117.135, 31.835), 1.2, (
        "创新大道", "望江西路", "天智路", "香樟大道", "习友路", "玉兰大道", "科学大道",
        "石莲南路", "长宁大道", "彩虹路")),
    District("经开区", "经开", "JK", "340172", (117.205, 31.778), 1.1, (
        "繁华大道", "锦绣大道", "莲花路", "翡翠路", "芙蓉路", "始信路", "丹霞路", "石门路",
        "云谷路", "汤口路")),
    District("蜀山区", "蜀山", "SS", "340104", (117.218, 31.858), 1.0, (
        "长江西路", "黄山路", "潜山路", "合作化南路", "肥西路", "井岗路", "梅山路", "史河路",
        "怀宁路", "清溪路")),
    District("包河区", "包河", "BH", "340111", (117.305, 31.805), 1.0, (
        "马鞍山路", "宁国路", "徽州大道", "包河大道", "花园大道", "太湖路", "望江东路",
        "南一环路", "九华山路", "屯溪路")),
    District("庐阳区", "庐阳", "LY", "340103", (117.265, 31.888), 0.8, (
        "长江中路", "阜阳北路", "蒙城路", "濉溪路", "北一环路", "宿州路", "亳州路", "临泉路",
        "四里河路", "义井路")),
    District("瑶海区", "瑶海", "YH", "340102", (117.330, 31.870), 0.9, (
        "长江东路", "铜陵路", "胜利路", "当涂路", "站前路", "新安江路", "明光路", "大通路",
        "凤阳路", "和平路")),
    District("滨湖新区", "滨湖", "BHX", "340111", (117.287, 31.748), 1.0, (
        "紫云路", "庐州大道", "广西路", "南京路", "杭州路", "福州路", "洞庭湖路", "西藏路",
        "贵州路", "华山路")),
)

G, SUB, PRJ = CompanyKind.GROUP, CompanyKind.SUBSIDIARY, CompanyKind.PROJECT
COMPANIES = (
    CompanySpec("LZCT", "庐州城市发展投资集团有限公司", "庐州城投", G, None, None),
    CompanySpec("LZCY", "庐州产业园运营有限公司", "庐州产业园", SUB, "LZCT", None),
    CompanySpec("LZZY", "庐州置业有限公司", "庐州置业", SUB, "LZCT", None),
    CompanySpec("LZSZ", "庐州市政设施管理有限公司", "庐州市政", SUB, "LZCT", None),
    CompanySpec("LZAJ", "庐州安居租赁有限公司", "庐州安居", SUB, "LZCT", None),
    CompanySpec("LZCYGX", "庐州高新智造园开发有限公司", "高新智造园", PRJ, "LZCY", "GX"),
    CompanySpec("LZCYJK", "庐州经开产业园管理有限公司", "经开产业园", PRJ, "LZCY", "JK"),
    CompanySpec("LZWL", "庐州智慧物流园有限公司", "庐州物流园", PRJ, "LZCY", "JK"),
    CompanySpec("LZZYSS", "庐州蜀山科创置业有限公司", "蜀山科创", PRJ, "LZZY", "SS"),
    CompanySpec("LZZYLY", "庐州庐阳商务中心有限公司", "庐阳商务", PRJ, "LZZY", "LY"),
    CompanySpec("LZZYBH", "庐州滨湖商业管理有限公司", "滨湖商业", PRJ, "LZZY", "BHX"),
    CompanySpec("LZAJRC", "庐州人才公寓运营有限公司", "人才公寓", PRJ, "LZAJ", "BH"),
    CompanySpec("LZSZDL", "庐州道路养护工程有限公司", "道路养护", PRJ, "LZSZ", "BH"),
    CompanySpec("LZSZYL", "庐州园林绿化养护有限公司", "园林养护", PRJ, "LZSZ", "SS"),
)

#                        label         use            structure              width      depth
#                        floors   basements storey plan bay merge  unit use  ground use  cost
FACTORY = BuildingType("厂房", B.INDUSTRIAL, S.REINFORCED_CONCRETE, (60, 84), (24, 30),
                       (2, 5), (0, 0), 5.4, "open", 18.0, (1, 1, 2), U.INDUSTRIAL,
                       U.INDUSTRIAL, (2200, 3200))
LABS = BuildingType("研发楼", B.OFFICE, S.REINFORCED_CONCRETE, (48, 60), (18, 20),
                    (5, 9), (0, 1), 3.9, "corridor", 7.8, (1, 1, 2), U.OFFICE,
                    U.OFFICE, (3200, 4200))
SERVICE = BuildingType("综合服务楼", B.PUBLIC, S.REINFORCED_CONCRETE, (30, 40), (18, 22),
                       (2, 3), (0, 0), 4.2, "open", 10.0, (1, 2), U.OFFICE,
                       U.CATERING, (3000, 3800))
TOWER = BuildingType("写字楼", B.OFFICE, S.FRAME_CORE, (40, 54), (22, 26),
                     (10, 22), (1, 2), 4.0, "corridor", 4.2, (1, 2, 2, 3, 4), U.OFFICE,
                     U.RETAIL, (4800, 6500))
OFFICE = BuildingType("综合楼", B.OFFICE, S.REINFORCED_CONCRETE, (36, 48), (16, 18),
                      (3, 6), (0, 0), 3.6, "corridor", 7.2, (1, 2), U.OFFICE,
                      U.OFFICE, (3000, 4000))
APARTMENT = BuildingType("公寓楼", B.RESIDENTIAL, S.SHEAR_WALL, (48, 60), (13, 15),
                         (8, 18), (0, 1), 3.0, "corridor", 3.9, (1, 2, 2), U.APARTMENT,
                         U.APARTMENT, (3600, 4600))
MALL = BuildingType("购物中心", B.COMMERCIAL, S.REINFORCED_CONCRETE, (90, 120), (60, 70),
                    (3, 5), (1, 2), 5.1, "mall", 9.0, (1, 1, 2, 3), U.RETAIL,
                    U.RETAIL, (5200, 7000))
WAREHOUSE = BuildingType("仓库", B.WAREHOUSE, S.STEEL, (96, 144), (48, 60),
                         (1, 2), (0, 0), 10.0, "open", 24.0, (1, 1, 2), U.WAREHOUSE,
                         U.WAREHOUSE, (1500, 2200))

SITE_TYPES = {
    SiteKind.INDUSTRIAL_PARK: SiteType(
        SiteKind.INDUSTRIAL_PARK,
        ("智能制造产业园", "新能源汽车零部件产业园", "集成电路产业园", "生物医药产业园",
         "光伏新材料产业园", "高端装备产业园", "机器人产业园"),
        (300, 440), (260, 420), ((LABS, 1, 2), (FACTORY, 4, 8), (SERVICE, 1, 1)),
        LandUse.INDUSTRIAL, 50, {"GX": "LZCYGX", "JK": "LZCYJK", "*": "LZCY"}),
    SiteKind.OFFICE_PARK: SiteType(
        SiteKind.OFFICE_PARK,
        ("科创中心", "数字经济大厦", "创新创业园", "金融商务中心", "总部基地", "软件园"),
        (170, 280), (170, 260), ((TOWER, 1, 2), (OFFICE, 0, 2)),
        LandUse.COMMERCIAL, 40,
        {"SS": "LZZYSS", "GX": "LZZYSS", "LY": "LZZYLY", "YH": "LZZYLY", "*": "LZZY"}),
    SiteKind.COMMERCIAL: SiteType(
        SiteKind.COMMERCIAL, ("邻里中心", "商业广场", "购物公园", "美食街区"),
        (200, 300), (170, 240), ((MALL, 1, 1), (TOWER, 0, 1)),
        LandUse.COMMERCIAL, 40, {"BH": "LZZYBH", "BHX": "LZZYBH", "*": "LZZY"}),
    SiteKind.RESIDENTIAL: SiteType(
        SiteKind.RESIDENTIAL, ("人才公寓", "青年公寓", "安居苑", "蓝领公寓"),
        (160, 280), (180, 320), ((APARTMENT, 1, 3), (SERVICE, 0, 1)),
        LandUse.RESIDENTIAL, 70, {"*": "LZAJRC"}),
    SiteKind.LOGISTICS: SiteType(
        SiteKind.LOGISTICS, ("智慧物流园", "冷链物流中心", "仓储配送中心"),
        (320, 440), (280, 440), ((OFFICE, 1, 1), (WAREHOUSE, 2, 5)),
        LandUse.INDUSTRIAL, 50, {"*": "LZWL"}),
    SiteKind.MIXED: SiteType(
        SiteKind.MIXED, ("城市综合体", "文化创意园", "双创街区"),
        (260, 400), (260, 400), ((TOWER, 1, 1), (MALL, 1, 1), (APARTMENT, 1, 2)),
        LandUse.COMMERCIAL, 40, {"*": "LZZY"}),
}

K = SiteKind
#: The first sites, so that even the smallest scale shows every district and kind.
OPENING_SITES = (
    ("GX", K.INDUSTRIAL_PARK), ("SS", K.OFFICE_PARK), ("BHX", K.COMMERCIAL),
    ("BH", K.RESIDENTIAL), ("JK", K.LOGISTICS), ("LY", K.OFFICE_PARK),
    ("YH", K.INDUSTRIAL_PARK), ("JK", K.INDUSTRIAL_PARK), ("GX", K.RESIDENTIAL),
    ("BHX", K.MIXED), ("SS", K.COMMERCIAL), ("BH", K.OFFICE_PARK),
)
#: After those, a district is drawn by weight, then a kind of site by these weights.
KIND_WEIGHTS = {
    "GX": {K.INDUSTRIAL_PARK: 4, K.OFFICE_PARK: 3, K.RESIDENTIAL: 2, K.COMMERCIAL: 1},
    "JK": {K.INDUSTRIAL_PARK: 4, K.LOGISTICS: 3, K.RESIDENTIAL: 1, K.COMMERCIAL: 1},
    "SS": {K.OFFICE_PARK: 3, K.COMMERCIAL: 2, K.RESIDENTIAL: 2, K.MIXED: 1},
    "BH": {K.OFFICE_PARK: 2, K.COMMERCIAL: 2, K.RESIDENTIAL: 3, K.LOGISTICS: 1},
    "LY": {K.OFFICE_PARK: 3, K.COMMERCIAL: 3, K.RESIDENTIAL: 2},
    "YH": {K.INDUSTRIAL_PARK: 2, K.LOGISTICS: 2, K.COMMERCIAL: 2, K.RESIDENTIAL: 2},
    "BHX": {K.OFFICE_PARK: 3, K.COMMERCIAL: 2, K.MIXED: 2, K.RESIDENTIAL: 2},
}

STATUSES = (UnitStatus.VACANT, UnitStatus.RESERVED, UnitStatus.LEASED, UnitStatus.SELF_USED,
            UnitStatus.UNAVAILABLE)
#: Weights of STATUSES per unit use; a site's vacancy factor scales the first.
STATUS_WEIGHTS = {
    U.OFFICE: (20, 4, 62, 10, 4), U.RETAIL: (22, 5, 70, 3, 0), U.APARTMENT: (12, 4, 82, 2, 0),
    U.INDUSTRIAL: (20, 5, 70, 5, 0), U.WAREHOUSE: (18, 2, 73, 7, 0),
    U.PARKING: (0, 0, 40, 60, 0), U.CATERING: (25, 0, 75, 0, 0), U.PUBLIC: (0, 0, 0, 0, 1),
}
#: Usable share of the gross floor area (得房率) per unit use.
USABLE_RATE = {
    U.OFFICE: (0.72, 0.82), U.RETAIL: (0.65, 0.80), U.APARTMENT: (0.75, 0.85),
    U.INDUSTRIAL: (0.88, 0.95), U.WAREHOUSE: (0.92, 0.98), U.PARKING: (0.95, 1.0),
    U.CATERING: (0.70, 0.80), U.PUBLIC: (1.0, 1.0),
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭"
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "军", "杰", "涛", "明", "超",
               "秀英", "海燕", "建华", "志强", "晓东", "丽华", "子涵", "国庆", "玉兰")

T = TagKind
#: kind → (GB/T 14885 category, name, (brand, model) choices, cost range in yuan, tags,
#: custodian department)
EQUIPMENT = {
    "elevator": ("2100000", "电梯", (("三菱电机", "LEHY-III"), ("日立", "HGP"),
                 ("奥的斯", "GeN2"), ("通力", "MonoSpace 500"), ("迅达", "3300"),
                 ("康力", "KLK2")), (280_000, 650_000), (T.BARCODE, T.QR, T.NFC_UID), "工程管理部"),
    "pump": ("2100000", "水泵机组", (("格兰富", "CR 32-4"), ("威乐", "MVI 1608"),
             ("南方泵业", "CDM 32-5"), ("凯泉", "KQDP 50-4")), (25_000, 120_000),
             (T.BARCODE, T.NFC_UID), "工程管理部"),
    "transformer": ("2200000", "干式变压器", (("特变电工", "SCB13-1000/10"),
                    ("正泰电气", "SCB11-800/10"), ("西门子", "GEAFOL 1250kVA")),
                    (180_000, 600_000), (T.BARCODE, T.QR, T.NFC_UID), "工程管理部"),
    "substation": ("2200000", "箱式变电站", (("特变电工", "YBM-12/0.4-630"),
                   ("正泰电气", "ZGS11-800/10")), (260_000, 520_000), (T.BARCODE, T.QR),
                   "工程管理部"),
    "patrol": ("2030000", "巡逻电动车", (("五菱", "宏光MINIEV"), ("比亚迪", "e1")),
               (45_000, 90_000), (T.BARCODE, T.QR), "物业管理部"),
    "car": ("2030000", "公务用车", (("江淮", "瑞风M4"), ("比亚迪", "秦PLUS EV")),
            (120_000, 260_000), (T.BARCODE, T.QR), "综合办公室"),
    "sweeper": ("2030000", "道路洗扫车", (("江淮", "HFC5180TXS"), ("中联重科", "ZBH5180TXS")),
                (380_000, 620_000), (T.BARCODE, T.QR), "养护管理部"),
    "computer": ("2010000", "台式计算机", (("联想", "ThinkCentre M930t"),
                 ("华为", "擎云 B730"), ("同方", "超越 E500")), (4_500, 9_000),
                 (T.BARCODE, T.RFID_EPC), "综合办公室"),
    "laptop": ("2010000", "笔记本电脑", (("联想", "ThinkPad E14"), ("华为", "MateBook 14")),
               (5_500, 11_000), (T.BARCODE, T.RFID_EPC), "综合办公室"),
    "desk": ("6010000", "办公桌椅", (("", "1.6m 办公桌+椅"), ("", "2.0m 主管桌+椅")),
             (2_800, 9_000), (T.BARCODE, T.RFID_EPC), "综合办公室"),
    "furniture": ("6010000", "公寓家具套装", (("", "床/衣柜/书桌/椅"),), (3_500, 8_000),
                  (T.RFID_EPC,), "物业管理部"),
    "fitness": ("3310000", "户外健身器材", (("", "健身路径 12 件"),), (18_000, 60_000),
                (T.BARCODE,), "养护管理部"),
    "camera": ("2310000", "监控摄像机", (("海康威视", "DS-2DE4425IW"), ("大华", "SD49425XB")),
               (2_500, 8_000), (T.BARCODE, T.QR), "养护管理部"),
}
# fmt: on
del B, S, U, G, SUB, PRJ, K, T
DISTRICT = {d.code: d for d in DISTRICTS}
GROUP_CODE = "LZCT"


def cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 35 → 三十五 (for 1 to 99)."""
    digits = "零一二三四五六七八九"
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else "十" if tens == 1 else digits[tens] + "十"
    return head + (digits[units] if units else "")


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_uscc(rng: random.Random, region: str) -> str:
    """A well-formed 统一社会信用代码: 9 (market regulator) 1 (enterprise), the region, an
    organisation code with its GB 11714 check character, then the GB 32100 check character."""
    body = "MA" + "".join(rng.choice(_USCC_ALPHABET) for _ in range(6))
    total = sum(int(c, 36) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    number = "91" + region + body + {10: "X", 11: "0"}.get(check, str(check))
    return number + uscc.calc_check_digit(number)


def stake(metres: float) -> str:
    """1234.5 → "K1+235" (whole metres, for labels)."""
    km, rest = divmod(round(metres), 1000)
    return f"K{km}+{rest:03d}"


# -- rows and COPY ---------------------------------------------------------------------------


class Table:
    """Rows for one table, held until written. Foreign keys to other Tables hold row
    indexes until ids are reserved, then are mapped. Column 0 is always `id`."""

    def __init__(self, name: str, columns: Sequence[str], fks: dict[str, "Table"] | None = None):
        self.name = name
        self.columns = ("id", *columns)
        self.rows: list[list[Any]] = []
        self.ids: list[int] = []
        self.fk_positions = [(self.columns.index(c), t) for c, t in (fks or {}).items()]

    def add(self, *values: Any) -> int:
        self.rows.append([None, *values])
        return len(self.rows) - 1

    def reserve(self, cursor) -> None:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [self.name, len(self.rows)],
        )
        self.ids = [r[0] for r in cursor.fetchall()]

    def copy(self, cursor) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.name), sql.SQL(", ").join(map(sql.Identifier, self.columns))
        )
        ids, fks = self.ids, self.fk_positions
        with cursor.copy(statement) as copy:
            for index, row in enumerate(self.rows):
                row[0] = ids[index]
                for pos, table in fks:
                    if row[pos] is not None:
                        row[pos] = table.ids[row[pos]]
                copy.write_row(row)


FEATURE_COLUMNS = ("code", "name", "remarks", "created_at", "updated_at", "company_id")

# -- floor plans -----------------------------------------------------------------------------


@dataclass
class Plan:
    """The units of one floor layout: local rectangles and uses, then hex EWKB and areas."""

    rects: list[tuple[float, float, float, float]] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    polygons: list[str] = field(default_factory=list)
    centres: list[str] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)

    def band(self, rng, y0, y1, x0, x1, bay, merge, use, core=False) -> None:
        """Units across the band [x0, x1] × [y0, y1], each one or more bays wide; with
        `core`, the middle one is the stair and lift core (a common area)."""
        n = max(1, round((x1 - x0) / bay))
        step = (x1 - x0) / n
        spans, i = [], 0
        while i < n:
            k = min(rng.choice(merge), n - i)
            spans.append((x0 + i * step, x0 + (i + k) * step))
            i += k
        middle = len(spans) // 2 if core and len(spans) > 2 else -1
        for j, (a, b) in enumerate(spans):
            p = PARTITION_M
            self.rects.append((a + p, y0 + p, b - p, y1 - p))
            self.uses.append(UnitUse.PUBLIC if j == middle else use)

    def place(self, frame: Frame, cx: float, cy: float) -> "Plan":
        local = np.array(self.rects) + (cx, cy, cx, cy)
        self.polygons = frame.rects(local)
        centres = np.column_stack([local[:, [0, 2]].mean(1), local[:, [1, 3]].mean(1)])
        self.centres = frame.points(centres)
        self.areas = ((local[:, 2] - local[:, 0]) * (local[:, 3] - local[:, 1])).tolist()
        return self


def floor_plan(rng: random.Random, bt: BuildingType, w: float, d: float, use: str) -> Plan:
    """Units tiling a w × d floor centred on the origin, inside its outer wall."""
    plan = Plan()
    x0, x1, y0, y1 = -w / 2 + WALL_M, w / 2 - WALL_M, -d / 2 + WALL_M, d / 2 - WALL_M
    if use == UnitUse.PARKING:  # a basement: plant room, parking zones, a store room
        plan.band(rng, y0, y1, x0, x0 + 10, 10, (1,), UnitUse.PUBLIC)
        plan.band(rng, y0, y1, x0 + 10, x1, 16, (2, 3), UnitUse.PARKING)
        if len(plan.uses) > 2:
            plan.uses[-1] = UnitUse.WAREHOUSE
    elif bt.plan == "corridor":
        half = (1.8 if d < 16 else 2.4) / 2
        middle = (y0 + y1) / 2
        plan.band(rng, middle + half, y1, x0, x1, bt.bay_m, bt.merge, use, core=True)
        plan.band(rng, y0, middle - half, x0, x1, bt.bay_m, bt.merge, use)
    elif bt.plan == "mall":  # shops along two 6 m malls, an island of shops between them
        aisle = 6.0
        outer = (y1 - y0 - 2 * aisle) * 0.3
        inner = (y0 + outer + aisle, y1 - outer - aisle)
        plan.band(rng, y1 - outer, y1, x0, x1, bt.bay_m, bt.merge, use)
        plan.band(rng, *inner, x0, x1, bt.bay_m * 1.5, bt.merge, use, core=True)
        plan.band(rng, y0, y0 + outer, x0, x1, bt.bay_m, bt.merge, use)
    else:
        plan.band(rng, y0, y1, x0, x1, bt.bay_m, bt.merge, use)
    return plan


# -- the builder -----------------------------------------------------------------------------


@dataclass
class SiteContext:
    row: int  # index into the site Table
    code: str
    name: str
    owner: Company
    frame: Frame
    address: str
    year: int
    vacancy: float  # scales the weight of "vacant": some sites let better than others


@dataclass
class SeedResult:
    scale: str
    seconds: float
    counts: dict[str, int]
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{n:,} {label}" for label, n in self.counts.items())
        phases = "; ".join(f"{name} {s:.1f} s" for name, s in self.phases.items())
        return f"Seeded demo data (scale {self.scale}) in {self.seconds:.1f} s: {counts}." + (
            f" ({phases})" if phases else ""
        )


class Builder:
    """Generates every row in memory (deterministically), then writes them with COPY."""

    def __init__(self, scale: str):
        self.target = SCALES[scale]
        self.rng = random.Random(RANDOM_SEED)  # noqa: S311 - demo data, not secrets
        self.now = timezone.now()
        self.dlon = CELL_M / m_per_deg_lon(LAT_REF)
        self.dlat = CELL_M / m_per_deg_lat(LAT_REF)
        self.taken: dict[tuple[int, int], str] = {}  # block → district code
        self.spirals: dict[str, Iterator[tuple[int, int]]] = {}
        self.unit_count = 0
        self.site_names: Counter[str] = Counter()
        self.people = [s + g for s in SURNAMES for g in GIVEN_NAMES]
        self.rng.shuffle(self.people)
        self.seq: dict[str, int] = {}  # code sequence key → last number issued
        self.prefixes: dict[tuple, tuple[str, str]] = {}
        self.tag_serial = 0
        self.parcel_serial = 0
        fc = FEATURE_COLUMNS
        self.site = Table(
            "spatial_site", (*fc, "geom", "kind", "address", "district", "official_area")
        )
        self.building = Table(
            "spatial_building",
            (
                *fc, "site_id", "geom", "use", "floors_above", "floors_below", "height_m",
                "year_built", "structure", "gross_area", "address", "bim_global_id",
            ),
            {"site_id": self.site},
        )  # fmt: skip
        self.floor = Table(
            "spatial_floor",
            (*fc, "building_id", "level", "elevation_m", "height_m", "geom", "bim_global_id"),
            {"building_id": self.building},
        )
        self.unit = Table(
            "spatial_unit",
            (
                *fc, "floor_id", "building_id", "site_id", "number", "geom", "use", "status",
                "gross_area", "usable_area", "outside_floor", "bim_global_id",
            ),
            {"floor_id": self.floor, "building_id": self.building, "site_id": self.site},
        )  # fmt: skip
        self.road = Table(
            "spatial_road",
            (*fc, "site_id", "geom", "grade", "width_m", "lanes", "start_stake_m", "end_stake_m"),
            {"site_id": self.site},
        )
        self.park = Table(
            "spatial_park",
            (*fc, "site_id", "geom", "kind", "green_area", "opened_year"),
            {"site_id": self.site},
        )
        self.parcel = Table(
            "spatial_parcel",
            (
                *fc, "site_id", "geom", "land_use", "land_right", "title_number",
                "official_area", "right_end_date",
            ),
            {"site_id": self.site},
        )  # fmt: skip
        self.asset = Table(
            "portfolio_asset",
            (
                "code", "name", "category_id", "company_id", "status", "custodian_department",
                "custodian", "brand", "model_number", "serial_number", "site_id", "building_id",
                "floor_id", "unit_id", "road_id", "park_id", "parcel_id", "geom",
                "acquisition_cost", "acquisition_date", "in_service_date", "useful_life_months",
                "residual_rate", "bim_global_id", "remarks", "created_at", "updated_at",
            ),
            {
                "site_id": self.site, "building_id": self.building, "floor_id": self.floor,
                "unit_id": self.unit, "road_id": self.road, "park_id": self.park,
                "parcel_id": self.parcel,
            },
        )  # fmt: skip
        self.tag = Table(
            "portfolio_assettag",
            ("asset_id", "kind", "value", "created_at"),
            {"asset_id": self.asset},
        )
        self.tables = (
            self.site, self.building, self.floor, self.unit, self.road, self.park, self.parcel,
            self.asset, self.tag,
        )  # fmt: skip

    # -- companies and the coding rule --------------------------------------------------------

    def companies(self) -> None:
        rng = random.Random(RANDOM_SEED + 1)  # noqa: S311 - demo data, not secrets
        self.company: dict[str, Company] = {}
        for spec in COMPANIES:
            district = DISTRICT[spec.district or "BH"]
            region = district.region if spec.district else "340100"
            road = rng.choice(district.roads)
            self.company[spec.code] = company_create(
                code=spec.code,
                name=spec.name,
                short_name=spec.short,
                kind=spec.kind,
                parent=self.company[spec.parent] if spec.parent else None,
                uscc=make_uscc(rng, region),
                address=f"安徽省合肥市{district.name}{road}{rng.randint(1, 199) * 8}号",
            )
        rule = CodingRule(
            name="庐州城投资产编码规则", pattern=CODE_PATTERN, company=self.company[GROUP_CODE]
        )
        rule.full_clean()
        rule.save()
        self.rule = rule
        self.seq_width = coding.parse_pattern(CODE_PATTERN).seq_width
        self.categories = {c.code: c for c in Category.objects.all()}
        needed = {"1010000", "1020000", "1030000", "2200000"} | {e[0] for e in EQUIPMENT.values()}
        if missing := sorted(needed - set(self.categories)):
            raise RuntimeError(f"GB/T 14885 categories {missing} are missing; run migrate first.")

    # -- the city grid ------------------------------------------------------------------------

    def block_centre(self, i: int, j: int) -> tuple[float, float]:
        return BOUNDS[0] + (i + 0.5) * self.dlon, BOUNDS[1] + (j + 0.5) * self.dlat

    def _spiral(self, district: District) -> Iterator[tuple[int, int]]:
        ci = int((district.centre[0] - BOUNDS[0]) / self.dlon)
        cj = int((district.centre[1] - BOUNDS[1]) / self.dlat)
        for r in range(60):
            ring = [
                (ci + di, cj + dj)
                for di in range(-r, r + 1)
                for dj in range(-r, r + 1)
                if max(abs(di), abs(dj)) == r
            ]
            self.rng.shuffle(ring)
            yield from ring

    def take_block(self, district: District) -> tuple[int, int]:
        """The next free block outward from the district centre (some are left empty)."""
        spiral = self.spirals.setdefault(district.code, self._spiral(district))
        south = max(BOUNDS[1], LAKE_SHORE_LAT)
        for i, j in spiral:
            lon, lat = self.block_centre(i, j)
            inside = BOUNDS[0] + self.dlon < lon < BOUNDS[2] - self.dlon
            inside = inside and south + self.dlat < lat < BOUNDS[3] - self.dlat
            if inside and (i, j) not in self.taken and self.rng.random() > 0.15:
                self.taken[(i, j)] = district.code
                return i, j
        raise RuntimeError(f"no free block left in {district.name}")

    # -- sites --------------------------------------------------------------------------------

    def build(self) -> None:
        n = 0
        weights = [d.weight for d in DISTRICTS]
        while self.unit_count < self.target or n < MIN_SITES:
            if n < len(OPENING_SITES):
                code, kind = OPENING_SITES[n]
                district = DISTRICT[code]
            else:
                district = self.rng.choices(DISTRICTS, weights)[0]
                kinds = KIND_WEIGHTS[district.code]
                kind = self.rng.choices(list(kinds), list(kinds.values()))[0]
            n += 1
            self.build_site(n, district, SITE_TYPES[kind])
        self.city_parks()
        self.city_roads()

    def person(self) -> str:
        return self.rng.choice(self.people)

    def day_in(self, year: int) -> date:
        return min(date(year, 1, 1) + timedelta(days=self.rng.randrange(365)), AS_OF)

    def build_site(self, n: int, district: District, st: SiteType) -> None:
        rng = self.rng
        theta = rng.choice((0.0, 0.0, 0.0, rng.uniform(-20, 20)))
        w, d = rng.uniform(*st.width), rng.uniform(*st.depth)
        # The turned rectangle must stay inside its block, clear of the roads.
        room = CELL_M / 2 - CELL_MARGIN_M
        c, s = abs(math.cos(math.radians(theta))), abs(math.sin(math.radians(theta)))
        hx, hy = (w * c + d * s) / 2, (w * s + d * c) / 2
        if max(hx, hy) > room:
            shrink = room / max(hx, hy)
            w, d, hx, hy = w * shrink, d * shrink, hx * shrink, hy * shrink
        lon, lat = self.block_centre(*self.take_block(district))
        ox, oy = rng.uniform(hx - room, room - hx), rng.uniform(hy - room, room - hy)
        frame = Frame(lon + ox / m_per_deg_lon(lat), lat + oy / m_per_deg_lat(lat), theta)

        base = f"庐州{district.short}{rng.choice(st.themes)}"
        self.site_names[base] += 1
        phase = self.site_names[base]
        name = base if phase == 1 else f"{base}（{cn_number(phase)}期）"
        owner = self.company[st.owners.get(district.code, st.owners["*"])]
        address = (
            f"合肥市{district.name}{rng.choice(district.roads)}{rng.randint(1, 250) * 4 + 2}号"
        )
        chamfer = rng.choice((0.0, 0.0, rng.uniform(15, 30)))  # a corner cut at a crossing
        outline = [(-w / 2, -d / 2), (w / 2, -d / 2), (w / 2, d / 2 - chamfer)]
        outline += [(w / 2 - chamfer, d / 2)] if chamfer else []
        local = Polygon([*outline, (-w / 2, d / 2)])
        row = self.site.add(
            f"{district.code}-{n:03d}", name, "虚构演示数据", self.now, self.now, owner.pk,
            ewkb(MultiPolygon([frame.geom(local)])), st.kind, address, district.name,
            f"{local.area:.2f}",
        )  # fmt: skip
        ctx = SiteContext(
            row, f"{district.code}-{n:03d}", name, owner, frame, address,
            year=rng.randint(2008, 2023), vacancy=rng.uniform(0.5, 2.2),
        )  # fmt: skip
        self.site_parcels(ctx, st, local, district)

        # Buildings in rows from the north edge, each row centred.
        inner_w, top, bottom = w - 40, d / 2 - 20, -d / 2 + 20
        program = [bt for bt, lo, hi in st.program for _ in range(rng.randint(lo, hi))]
        rows, row_items, y, x, depth = [], [], top, 0.0, 0.0
        for bt in program:
            bw, bd = rng.randrange(*bt.width, 3), rng.randrange(*bt.depth, 1)
            if row_items and x + bw > inner_w:
                rows.append((row_items, y, depth))
                y -= depth + max(24.0, min(45.0, depth * 1.2))
                row_items, x, depth = [], 0.0, 0.0
            if y - bd < bottom or bw > inner_w:
                break
            row_items.append((bt, bw, bd, x))
            x += bw + rng.uniform(15, 25)
            depth = max(depth, bd)
        if row_items:
            rows.append((row_items, y, depth))
        labels: Counter[str] = Counter()
        k = 0
        for items, y_top, _ in rows:
            last = items[-1]
            shift = -inner_w / 2 + (inner_w - last[3] - last[1]) / 2
            for bt, bw, bd, x0 in items:
                k += 1
                labels[bt.label] += 1
                label = self.building_label(bt, labels[bt.label], st)
                centre = (shift + x0 + bw / 2, y_top - bd / 2)
                self.build_building(ctx, k, label, bt, bw, bd, centre)

        self.site_roads(ctx, w, d, chamfer, rows)
        lowest = rows[-1][1] - rows[-1][2] if rows else top
        if lowest - bottom > 45 and rng.random() < 0.6:
            green_top = lowest - 15  # a green of at most 80 m; the rest is reserve land
            green = box(-inner_w / 2, max(bottom, green_top - 80), inner_w / 2, green_top)
            keeper = self.company["LZSZYL"] if rng.random() < 0.3 else owner
            geom = MultiPolygon([frame.geom(green)])
            self.add_park(
                f"{name}中心绿地", ParkKind.POCKET, geom, ctx.row, keeper, ctx.year, green.area
            )
        kinds = ["substation"] * rng.randint(1, 2) + ["patrol"] * rng.randint(0, 2)
        kinds += ["car"] if rng.random() < 0.3 else []
        for kind in kinds:
            point = frame.points([(rng.uniform(-w / 4, w / 4), -d / 2 + 12)])[0]
            self.add_equipment(kind, owner, ctx.year, point, where=name, site=ctx.row)

    @staticmethod
    def building_label(bt: BuildingType, k: int, st: SiteType) -> str:
        if bt is TOWER:
            return f"{'ABCDEFGH'[k - 1]}座"
        if bt is APARTMENT:
            return f"{k}栋"
        if bt in (FACTORY, WAREHOUSE, LABS):
            return f"{k}#{bt.label}"
        if bt is OFFICE and st.kind == SiteKind.LOGISTICS:
            return "办公楼"
        return bt.label if k == 1 else f"{bt.label}{cn_number(k)}"

    def build_building(self, ctx: SiteContext, k, label, bt, bw, bd, centre) -> None:
        rng, frame = self.rng, ctx.frame
        cx, cy = centre
        above, below = rng.randint(*bt.floors), rng.randint(*bt.basements)
        year = min(ctx.year + rng.randint(0, 3), AS_OF.year - 1)
        footprint = frame.rects([(cx - bw / 2, cy - bd / 2, cx + bw / 2, cy + bd / 2)])[0]
        code = f"{ctx.code}-{k:02d}"
        gross = bw * bd * (above + below)
        building = self.building.add(
            code, f"{ctx.name}{label}", "", self.now, self.now, ctx.owner.pk, ctx.row, footprint,
            bt.use, above, below, f"{above * bt.storey_m + 1.5:.2f}", year, bt.structure,
            f"{gross:.2f}", f"{ctx.address}{label}", "",
        )  # fmt: skip
        self.add_asset(
            "1020000", f"{ctx.name}{label}", ctx.owner, self.day_in(year),
            gross * rng.uniform(*bt.cost), "资产管理部", point=frame.points([centre])[0],
            site=ctx.row, building=building, remarks=f"建筑面积 {gross:,.0f} m²",
        )  # fmt: skip

        def plan(use: str) -> Plan:
            return floor_plan(rng, bt, bw, bd, use).place(frame, cx, cy)

        upper = [plan(bt.unit_use) for _ in range(rng.randint(1, 3))]
        ground = plan(bt.ground_use)
        basement = plan(UnitUse.PARKING) if below else None
        top = plan(UnitUse.CATERING) if bt is MALL else None
        ground_floor = lowest_floor = None
        for level in [*range(-below, 0), *range(1, above + 1)]:
            if level < 0:
                layout, number, storey, elevation = basement, f"B{-level}-", 3.9, level * 3.9
                fcode, fname = f"{code}-B{-level}", f"{label}地下{-level}层"
            else:
                layout = ground if level == 1 else top if top and level == above else None
                layout = layout or rng.choice(upper)
                number, storey, elevation = str(level), bt.storey_m, (level - 1) * bt.storey_m
                fcode, fname = f"{code}-F{level:02d}", f"{label}{level}层"
            floor = self.floor.add(
                fcode, fname, "", self.now, self.now, ctx.owner.pk, building, level,
                f"{elevation:.3f}", f"{storey:.2f}", footprint, "",
            )  # fmt: skip
            lowest_floor = floor if lowest_floor is None else lowest_floor
            ground_floor = floor if level == 1 else ground_floor
            self.build_units(ctx, layout, building, floor, fcode, number, label)
        # Building services: lifts, pumps and transformers.
        core = frame.points([(cx, cy + bd / 4)])[0]
        where = dict(site=ctx.row, building=building, where=f"{ctx.name}{label}")
        for _ in range(0 if above < 4 else 2 + above // 10 + (bw > 56)):
            self.add_equipment("elevator", ctx.owner, year, core, floor=ground_floor, **where)
        for _ in range(2 if above >= 6 else 1):
            self.add_equipment("pump", ctx.owner, year, core, floor=lowest_floor, **where)
        if above >= 8 or bt in (FACTORY, MALL):
            self.add_equipment("transformer", ctx.owner, year, core, floor=lowest_floor, **where)

    def build_units(self, ctx: SiteContext, plan, building, floor, fcode, prefix, label) -> None:
        rng, add, now, owner = self.rng, self.unit.add, self.now, ctx.owner
        for r, (use, polygon, area) in enumerate(
            zip(plan.uses, plan.polygons, plan.areas, strict=True), 1
        ):
            weights = list(STATUS_WEIGHTS[use])
            weights[0] *= ctx.vacancy
            status = rng.choices(STATUSES, weights)[0]
            lo, hi = USABLE_RATE[use]
            usable = round(area, 2)
            gross = round(usable / rng.uniform(lo, hi), 2) if hi < 1 else usable
            number = f"{prefix}{r:02d}"
            unit = add(
                f"{fcode}-{r:02d}", f"{label}{number}", "", now, now, owner.pk, floor, building,
                ctx.row, number, polygon, use, status, f"{gross:.2f}", f"{usable:.2f}", False, "",
            )  # fmt: skip
            self.unit_count += 1
            where = dict(
                site=ctx.row, building=building, floor=floor, unit=unit,
                where=f"{ctx.name}{label}{number}",
            )  # fmt: skip
            if status == UnitStatus.SELF_USED and use == UnitUse.OFFICE:
                kinds = ["computer"] * rng.randint(2, 6) + ["laptop", "desk", "desk"]
                for kind in kinds:
                    self.add_equipment(kind, owner, ctx.year, plan.centres[r - 1], **where)
            elif use == UnitUse.APARTMENT and rng.random() < 0.5:
                leased = status == UnitStatus.LEASED
                self.add_equipment(
                    "furniture", owner, ctx.year, plan.centres[r - 1], **where,
                    status=AssetStatus.LEASED_OUT if leased else AssetStatus.IN_USE,
                )  # fmt: skip

    def parcel_code(self, district: District) -> str:
        """A 宗地代码: region, cadastral district and subdistrict, GB (state-owned land use
        right, parcel), serial."""
        self.parcel_serial += 1
        zone, subzone = self.rng.randint(1, 12), self.rng.randint(1, 30)
        return f"{district.region}{zone:03d}{subzone:03d}GB{self.parcel_serial:05d}"

    def site_parcels(self, ctx: SiteContext, st: SiteType, local, district: District) -> None:
        rng = self.rng
        minx, miny, maxx, maxy = local.bounds
        split = rng.random() < 0.25  # two parcels, bought in two lots
        parts = [local]
        if split:
            parts = [local & box(minx, miny, 0, maxy), local & box(0, miny, maxx, maxy)]
        granted = date(ctx.year - rng.randint(1, 3), rng.randint(1, 12), rng.randint(1, 28))
        right = rng.choices((LandRight.GRANTED, LandRight.CAPITAL, LandRight.ALLOCATED), (16, 3, 1))
        right = right[0]
        price = {LandUse.INDUSTRIAL: (280, 520), LandUse.RESIDENTIAL: (1800, 4200)}
        end = None
        if right != LandRight.ALLOCATED:
            end = granted.replace(year=granted.year + st.land_years)
        for i, part in enumerate(parts, 1):
            title = f"皖({granted.year})合肥市不动产权第{rng.randint(1, 999_999) * 10 + i:07d}号"
            geom = MultiPolygon([ctx.frame.geom(part)])
            label = f"{ctx.name}{cn_number(i)}号地块" if split else f"{ctx.name}地块"
            parcel = self.parcel.add(
                self.parcel_code(district), label, "", self.now, self.now, ctx.owner.pk, ctx.row,
                ewkb(geom), st.land_use, right, title, f"{part.area:.2f}", end,
            )  # fmt: skip
            cost = part.area * rng.uniform(*price.get(st.land_use, (1500, 5200)))
            self.add_asset(
                "1010000", f"{label}土地使用权", ctx.owner, granted, cost, "资产管理部",
                point=ewkb(shapely.point_on_surface(geom)), site=ctx.row, parcel=parcel,
                remarks=title,
            )  # fmt: skip

    def site_roads(self, ctx: SiteContext, w, d, chamfer, rows) -> None:
        """A ring road 8 m inside the boundary and a spine road between the first two rows."""
        x0, y0, x1, y1 = -w / 2 + 8, -d / 2 + 8, w / 2 - 8, d / 2 - 8
        ring = [(x0, y0), (x1, y0), (x1, y1 - chamfer), (x1 - chamfer, y1), (x0, y1), (x0, y0)]
        if not chamfer:
            ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        lines = [("R1", "环路", ring)]
        if len(rows) > 1:
            y = (rows[0][1] - rows[0][2] + rows[1][1]) / 2
            lines.append(("R2", "主干道", [(x0, y), (x1, y)]))
        for suffix, label, points in lines:
            local = np.array(points, dtype=float)
            length = shapely.length(shapely.linestrings(local))
            self.road.add(
                f"{ctx.code}-{suffix}", f"{ctx.name}{label}", "", self.now, self.now,
                ctx.owner.pk, ctx.row, ewkb(shapely.linestrings(ctx.frame.coords(local))),
                RoadGrade.INTERNAL, "7.00", 2, "0.00", f"{length:.2f}",
            )  # fmt: skip

    # -- city parks and roads -----------------------------------------------------------------

    def add_park(self, name, kind, geom: MultiPolygon, site, owner, year, area) -> int:
        green = area * self.rng.uniform(0.65, 0.85)
        park = self.park.add(
            f"PK-{len(self.park.rows) + 1:04d}", name, "", self.now, self.now, owner.pk, site,
            ewkb(geom), kind, f"{green:.2f}", year,
        )  # fmt: skip
        counts = {ParkKind.COMPREHENSIVE: 6, ParkKind.SPECIALIZED: 4, ParkKind.COMMUNITY: 3}
        for i in range(counts.get(kind, 1)):
            point = ewkb(shapely.point_on_surface(geom.geoms[i % len(geom.geoms)]))
            kind_ = "fitness" if i % 2 == 0 else "camera"
            self.add_equipment(kind_, owner, year, point, where=name, site=site, park=park)
        return park

    def city_parks(self) -> None:
        """One large park per district, a community or pocket park per dozen sites."""
        rng, owner = self.rng, self.company["LZSZYL"]
        per_district = Counter(self.taken.values())
        half = CELL_M / 2 - CELL_MARGIN_M
        for district in DISTRICTS:
            for p in range(1 + per_district[district.code] // 12):
                frame = Frame(*self.block_centre(*self.take_block(district)))
                year = rng.randint(2005, 2022)
                if p == 0:  # split in two by a through road
                    parts = [box(-half, -half, -8, half), box(8, -half, half, half)]
                    wetland = district.code == "BHX"
                    kind = ParkKind.SPECIALIZED if wetland else ParkKind.COMPREHENSIVE
                    name = f"{district.short}{'湿地公园' if wetland else '中央公园'}"
                else:
                    size = rng.uniform(120, 2 * half)
                    parts = [box(-size / 2, -size / 2, size / 2, size / 2)]
                    kind = ParkKind.COMMUNITY if size > 200 else ParkKind.POCKET
                    road = rng.choice(district.roads)
                    name = f"{road}{'社区公园' if kind == ParkKind.COMMUNITY else '口袋公园'}"
                geom = MultiPolygon([frame.geom(part) for part in parts])
                area = sum(part.area for part in parts)
                self.add_park(name, kind, geom, None, owner, year, area)
                self.parcel.add(
                    self.parcel_code(district), f"{name}用地", "", self.now, self.now, owner.pk,
                    None, ewkb(geom), LandUse.PUBLIC, LandRight.ALLOCATED,
                    f"皖({year})合肥市不动产权第{rng.randint(1, 9_999_999):07d}号", f"{area:.2f}",
                    None,
                )  # fmt: skip

    def city_roads(self) -> None:
        """Roads along the edges of every taken block, one name per line of the grid, cut
        into segments of up to three blocks with continuous stake numbers."""
        rng, owner = self.rng, self.company["LZSZDL"]
        lines: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for (i, j), code in sorted(self.taken.items()):
            for line in (j, j + 1):
                lines.setdefault(("EW", line), []).append((i, code))
            for line in (i, i + 1):
                lines.setdefault(("NS", line), []).append((j, code))
        unused = {d.code: list(d.roads) for d in DISTRICTS}
        numbered: Counter[tuple[str, str]] = Counter()
        serial = 0
        for (orient, line), blocks in sorted(lines.items()):
            code = Counter(c for _, c in blocks).most_common(1)[0][0]
            if unused[code]:
                name = unused[code].pop(0)
            else:  # the real names are used up: 经 (north-south) or 纬 (east-west) roads
                numbered[code, orient] += 1
                axis = "纬" if orient == "EW" else "经"
                name = f"{DISTRICT[code].short}{axis}{cn_number(numbered[code, orient])}路"
            if name.endswith(("大道", "环路")) or name.startswith(("长江", "望江", "马鞍山")):
                grade, width, lanes = RoadGrade.ARTERIAL, rng.choice((50, 60)), 8
            elif name in DISTRICT[code].roads[:6]:  # the names listed first are the busier
                grade, width, lanes = RoadGrade.SECONDARY, rng.choice((36, 40)), 6
            else:
                grade, width, lanes = RoadGrade.BRANCH, 24, 4
            positions = sorted({p for p, _ in blocks})
            runs, start = [], positions[0]
            for a, b in zip(positions, [*positions[1:], None], strict=True):
                if b is None or b - a > 2:  # a gap of one block is bridged
                    runs.append((start, a + 1))
                    start = b
            for a, b in runs:
                for s in range(a, b, 3):
                    e = min(s + 3, b)
                    if orient == "EW":
                        lat = BOUNDS[1] + line * self.dlat
                        pts = [(BOUNDS[0] + k * self.dlon, lat) for k in range(s, e + 1)]
                        step = self.dlon * m_per_deg_lon(lat)
                    else:
                        lon = BOUNDS[0] + line * self.dlon
                        pts = [(lon, BOUNDS[1] + k * self.dlat) for k in range(s, e + 1)]
                        step = self.dlat * m_per_deg_lat(BOUNDS[1] + (s + e) / 2 * self.dlat)
                    start_m, end_m = (s - positions[0]) * step, (e - positions[0]) * step
                    serial += 1
                    self.city_road(
                        serial, name, orient, pts, start_m, end_m, grade, width, lanes, owner,
                        DISTRICT[code],
                    )  # fmt: skip

    def city_road(self, serial, name, orient, pts, start_m, end_m, grade, width, lanes, owner,
                  district) -> None:  # fmt: skip
        rng = self.rng
        geom = shapely.linestrings(pts)
        label = f"{name}（{stake(start_m)}—{stake(end_m)}）"
        year = rng.randint(2000, 2020)
        road = self.road.add(
            f"RD-{serial:04d}", name, label, self.now, self.now, owner.pk, None, ewkb(geom),
            grade, f"{width:.2f}", lanes, f"{start_m:.2f}", f"{end_m:.2f}",
        )  # fmt: skip
        mid = ewkb(shapely.line_interpolate_point(geom, 0.5, normalized=True))
        length = end_m - start_m
        for category, what, cost in (
            ("1030000", "道路", length * width * rng.uniform(600, 1200)),
            ("2200000", "路灯设施（一批）", length * rng.uniform(160, 260)),
        ):
            self.add_asset(
                category, f"{label}{what}", owner, self.day_in(year), cost, "养护管理部",
                point=mid, road=road,
            )  # fmt: skip
        if serial % 4 == 0:
            self.add_equipment("sweeper", owner, year, mid, where=name, road=road)
        if orient == "EW" and grade != RoadGrade.BRANCH and serial % 3 == 0:
            # A greenway: planted strips along both sides, clear of the blocks' sites.
            (lon0, lat), (lon1, _) = pts[0], pts[-1]
            frame = Frame((lon0 + lon1) / 2, lat)
            half = (lon1 - lon0) / 2 * frame.mx - 60
            strips = [box(-half, y0, half, y0 + 14) for y0 in (32, -46)]
            geom = MultiPolygon([frame.geom(strip) for strip in strips])
            park_owner = self.company["LZSZYL"]
            self.add_park(f"{name}绿道", ParkKind.GREENWAY, geom, None, park_owner, year,
                          2 * 14 * 2 * half)  # fmt: skip

    # -- assets -------------------------------------------------------------------------------

    def next_code(self, company: Company, category: Category, on: date) -> str:
        """The code `asset_code_issue` would give, counted here instead of row by row."""
        cache = (company.code, category.code, on.year, on.month)
        if cache not in self.prefixes:
            self.prefixes[cache] = coding.render(
                CODE_PATTERN, company_code=company.code, category_code=category.code, on=on
            )
        key, filled = self.prefixes[cache]
        self.seq[key] = self.seq.get(key, 0) + 1
        return coding.format_code(filled, self.seq[key], self.seq_width)

    def add_asset(self, category_code, name, owner, acquired, cost, department, *, point,
                  status=AssetStatus.IN_USE, brand="", model="", serial="", tags=(), remarks="",
                  site=None, building=None, floor=None, unit=None, road=None, park=None,
                  parcel=None) -> int:  # fmt: skip
        category = self.categories[category_code]
        code = self.next_code(owner, category, acquired)
        in_service = min(acquired + timedelta(days=self.rng.randint(0, 45)), AS_OF)
        asset = self.asset.add(
            code, name, category.pk, owner.pk, status, department, self.person(), brand, model,
            serial, site, building, floor, unit, road, park, parcel, point, f"{cost:.2f}",
            acquired, in_service, category.useful_life_months, category.residual_rate, "",
            remarks, self.now, self.now,
        )  # fmt: skip
        for kind in tags:
            self.tag_serial += 1
            n = self.tag_serial
            if kind == TagKind.BARCODE:
                value = code
            elif kind == TagKind.QR:
                value = f"https://zc.lzct.local/a/{code}"
            elif kind == TagKind.RFID_EPC:  # EPC-96: header and prefix, a scrambled serial
                value = f"3034257BF4{(n * 0x9E3779B97F4A7C15) % (1 << 56):014X}"
            else:  # a 7-byte NFC UID: manufacturer 04 (NXP), a scrambled serial
                value = f"04{(n * 0xC2B2AE3D27D5) % (1 << 48):012X}"
            self.tag.add(asset, kind, value, self.now)
        return asset

    def add_equipment(self, kind, owner, year, point, *, where, status=None, **location) -> int:
        rng = self.rng
        category, label, brands, (lo, hi), tags, department = EQUIPMENT[kind]
        if kind in ("computer", "laptop"):  # replaced every few years
            year = max(year, AS_OF.year - 5)
        acquired = self.day_in(rng.randint(year, max(year, AS_OF.year - 1)))
        if status is None:
            statuses = (AssetStatus.IN_USE, AssetStatus.IDLE, AssetStatus.UNDER_REPAIR)
            status = rng.choices((*statuses, AssetStatus.PENDING_DISPOSAL), (92, 4, 2, 2))[0]
        brand, model = rng.choice(brands)
        serial = f"{kind[:2].upper()}{rng.randrange(10**9):09d}" if brand else ""
        return self.add_asset(
            category, f"{where}{label}", owner, acquired, rng.uniform(lo, hi), department,
            point=point, status=status, brand=brand, model=model, serial=serial, tags=tags,
            **location,
        )  # fmt: skip

    # -- writing ------------------------------------------------------------------------------

    def write(self) -> None:
        with connection.cursor() as cursor:
            for table in self.tables:
                table.reserve(cursor)
            for table in self.tables:
                table.copy(cursor)
            # Units are laid out inside their floor; check it as floor_units_reflag does,
            # buffering each outline once and touching only units that are outside.
            cursor.execute(
                """
                WITH outline AS (
                    SELECT f.id, ST_Buffer(COALESCE(f.geom, b.geom), %s) AS geom
                      FROM spatial_floor f JOIN spatial_building b ON b.id = f.building_id
                     WHERE f.id = ANY(%s)
                )
                UPDATE spatial_unit u SET outside_floor = true
                  FROM outline o
                 WHERE u.floor_id = o.id AND NOT ST_Covers(o.geom, u.geom)
                """,
                [OUTLINE_TOLERANCE_DEG, self.floor.ids],
            )
        CodeSequence.objects.bulk_create(
            CodeSequence(rule=self.rule, key=key, last_value=value)
            for key, value in sorted(self.seq.items())
        )


# -- entry points ----------------------------------------------------------------------------


def demo_data_exists() -> bool:
    return Site.objects.exists() or Company.objects.exists()


def demo_reset() -> list[str]:
    """Empty every spatial and portfolio table except the asset categories. Rows of other
    apps that refer to them go too (TRUNCATE … CASCADE). Returns the tables named."""
    keep = {Category, Category.history.model}
    tables = [
        model._meta.db_table
        for label in ("portfolio", "spatial")
        for model in apps.get_app_config(label).get_models()
        if model not in keep and model._meta.managed and not model._meta.proxy
    ]
    with connection.cursor() as cursor:
        # Pending deferred foreign-key checks would make TRUNCATE fail inside a transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(map(sql.Identifier, tables))
            )
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return tables


def demo_seed(*, scale: str, reset: bool = False) -> SeedResult:
    """Load the demo portfolio at `scale` ("demo", "10k", "100k") in one transaction."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    clock = time.perf_counter
    started = clock()
    phases = {}
    with transaction.atomic():
        if reset:
            demo_reset()
        builder = Builder(scale)
        builder.companies()
        phases["reset and companies"] = clock() - started
        builder.build()
        # Tenants and leases for the units (leasing/demo.py), written with the rest.
        leases = LeaseRows(builder, Table, AS_OF, RANDOM_SEED + 2, make_uscc)
        leases.build()
        builder.tables = (*builder.tables, *leases.tables)
        phases["generate"] = clock() - started - sum(phases.values())
        builder.write()
        # bills (finance/demo.py): twelve months, three at 100k to keep the seed in its target
        extra_counts = demo_finance_seed(as_of=AS_OF, months=FINANCE_MONTHS[scale])
        # money in against them: on time, late, partial payers and arrears
        extra_counts["receipts"] = demo_receipts(as_of=AS_OF, seed=RANDOM_SEED + 3)
        # simulated trackers and sensors with a yard and a corridor geofence (tracking/demo.py)
        extra_counts["devices"] = demo_tracking()
    phases["write and commit"] = clock() - started - sum(phases.values())
    with connection.cursor() as cursor:  # fresh statistics for the map and the benchmarks
        for table in builder.tables:
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table.name)))
    phases["analyze"] = clock() - started - sum(phases.values())
    counts = {"companies": len(COMPANIES)}
    labels = {"assettag": "tags", "asset": "assets"}
    for table in builder.tables:
        model = table.name.split("_", 1)[1]
        counts[labels.get(model, f"{model}s")] = len(table.rows)
    counts["code sequences"] = len(builder.seq)
    counts.update((k, v) for k, v in extra_counts.items() if k != "seconds")
    return SeedResult(scale=scale, seconds=clock() - started, counts=counts, phases=phases)


# -- demo logins -----------------------------------------------------------------------------

DEFAULT_DEMO_PASSWORD = "demo-2026!"  # noqa: S105 - the documented demo password


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    company: str  # company code
    first_name: str
    staff: bool = False


DEMO_LOGINS = (
    DemoLogin("demo", Role.GROUP_ADMIN, "LZCT", "集团管理员", staff=True),
    DemoLogin("manager", Role.ASSET_MANAGER, "LZCY", "资产经理"),
    DemoLogin("agent", Role.LEASING_AGENT, "LZZY", "招商专员"),
    DemoLogin("finance", Role.FINANCE, "LZZY", "财务专员"),
    DemoLogin("field", Role.FIELD_STAFF, "LZSZ", "巡检员"),
    DemoLogin("analyst", Role.GIS_ANALYST, "LZSZ", "GIS 分析员"),
    DemoLogin("viewer", Role.READ_ONLY, "LZAJ", "只读用户"),
)


@transaction.atomic
def demo_users_ensure(*, password: str) -> list[tuple[str, str, str]]:
    """Create or reset the demo logins: the superuser `admin` and one user per role, each a
    member of one company of the demo group and of nothing else. Returns (username, role
    value, company name) rows; a login whose company is missing (no demo data) is skipped and
    listed with company ""."""
    user_model = get_user_model()
    rows = [("admin", "superuser", "(all companies)")]
    admin, _ = user_model.objects.get_or_create(username="admin")
    admin.is_superuser = admin.is_staff = admin.is_active = True
    admin.first_name = "超级管理员"
    admin.set_password(password)
    admin.save()
    companies = Company.objects.in_bulk([login.company for login in DEMO_LOGINS], field_name="code")
    for login in DEMO_LOGINS:
        company = companies.get(login.company)
        if company is None:
            rows.append((login.username, login.role, ""))
            continue
        user, _ = user_model.objects.get_or_create(username=login.username)
        user.is_active, user.is_staff, user.is_superuser = True, login.staff, False
        user.first_name = login.first_name
        user.set_password(password)
        user.save()
        user.memberships.exclude(company=company, role=login.role).delete()
        Membership.objects.get_or_create(user=user, company=company, role=login.role)
        rows.append((login.username, login.role, company.name))
    return rows
