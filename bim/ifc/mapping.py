"""Declared tables: IFC classes → GB/T 14885 asset categories, space names → unit uses,
storey names → basements. Plain data, read by the reader; no Django.
"""

import re
from collections.abc import Callable
from functools import lru_cache

import ifcopenshell
from django.utils.translation import gettext_lazy as _

# -- equipment -------------------------------------------------------------------------------

#: (IFC class, predefined types or None for any, GB/T 14885 category code), most specific
#: first. An element matches a row when its class, a superclass or the occurrence class of its
#: type object (IfcPumpType → IfcPump) is the row's class. IFC2X3 models name the equipment
#: only through their type (an IfcFlowTerminal typed by an IfcLightFixtureType), hence the
#: type lookup.
EQUIPMENT_CATEGORIES: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    # 计算机设备及软件 / 办公设备
    ("IfcCommunicationsAppliance", frozenset({"COMPUTER"}), "2010000"),
    ("IfcElectricAppliance", frozenset({"COMPUTER"}), "2010000"),
    ("IfcCommunicationsAppliance", frozenset({"PRINTER", "SCANNER", "FAX"}), "2020000"),
    (
        "IfcElectricAppliance",
        frozenset({"PHOTOCOPIER", "FACSIMILE", "PRINTER", "SCANNER"}),
        "2020000",
    ),
    # 通信设备 / 广播、电视、电影设备
    ("IfcCommunicationsAppliance", None, "2310000"),
    ("IfcAudioVisualAppliance", None, "2320000"),
    # 电气设备
    ("IfcLightFixture", None, "2200000"),
    ("IfcLamp", None, "2200000"),
    ("IfcElectricAppliance", None, "2200000"),
    ("IfcElectricDistributionBoard", None, "2200000"),
    ("IfcElectricFlowStorageDevice", None, "2200000"),
    ("IfcElectricGenerator", None, "2200000"),
    ("IfcElectricMotor", None, "2200000"),
    ("IfcElectricTimeControl", None, "2200000"),
    ("IfcMotorConnection", None, "2200000"),
    ("IfcOutlet", None, "2200000"),
    ("IfcProtectiveDevice", None, "2200000"),
    ("IfcProtectiveDeviceTrippingUnit", None, "2200000"),
    ("IfcSolarDevice", None, "2200000"),
    ("IfcSwitchingDevice", None, "2200000"),
    ("IfcTransformer", None, "2200000"),
    ("IfcUnitaryControlElement", None, "2200000"),
    # 安全生产设备: fire fighting
    ("IfcFireSuppressionTerminal", None, "3240000"),
    # 仪器仪表: sensors, controllers, actuators, meters, alarms
    ("IfcFlowMeter", None, "2400000"),
    ("IfcFlowInstrument", None, "2400000"),
    ("IfcDistributionControlElement", None, "2400000"),
    # 机械设备: HVAC and plumbing plant, terminals, lifts
    ("IfcTransportElement", None, "2100000"),
    ("IfcEnergyConversionDevice", None, "2100000"),  # boilers, chillers, coils, heat exchangers …
    ("IfcFlowMovingDevice", None, "2100000"),  # pumps, fans, compressors
    ("IfcFlowController", None, "2100000"),  # valves, dampers
    ("IfcFlowStorageDevice", None, "2100000"),  # tanks
    ("IfcFlowTreatmentDevice", None, "2100000"),  # filters, interceptors
    ("IfcFlowTerminal", None, "2100000"),  # air terminals, space heaters, sanitary terminals …
    ("IfcDistributionFlowElement", None, "2100000"),
    # 家具用具
    ("IfcFurniture", None, "6010000"),
    ("IfcSystemFurnitureElement", None, "6010000"),
    ("IfcFurnishingElement", None, "6010000"),
)

#: Classes that are part of the building services' network, not registered equipment.
SKIPPED_EQUIPMENT = (
    ("IfcFlowSegment", _("pipes, ducts and cables are part of the building services")),
    ("IfcFlowFitting", _("fittings are part of the building services")),
    ("IfcDistributionChamberElement", _("chambers and manholes are part of the site works")),
    ("IfcDistributionPort", _("ports are connection points, not equipment")),
)

#: The classes whose instances are considered as equipment at all.
EQUIPMENT_ROOTS = ("IfcDistributionElement", "IfcFurnishingElement", "IfcTransportElement")


@lru_cache(maxsize=4096)
def class_lineage(schema: str, ifc_class: str) -> tuple[str, ...]:
    """The class and its superclasses, most specific first; empty if the schema lacks it."""
    try:
        declaration = ifcopenshell.ifcopenshell_wrapper.schema_by_name(schema).declaration_by_name(
            ifc_class
        )
    except (RuntimeError, IndexError):
        return ()
    names = []
    while declaration is not None:
        names.append(declaration.name())
        declaration = declaration.supertype()
    return tuple(names)


def occurrence_class_of_type(type_class: str | None) -> str | None:
    """IfcPumpType → IfcPump, IfcDoorStyle → IfcDoor; None for other names."""
    if not type_class:
        return None
    for suffix in ("Type", "Style"):
        if type_class.endswith(suffix):
            return type_class[: -len(suffix)]
    return None


def equipment_category(
    schema: str,
    ifc_class: str,
    type_class: str | None,
    predefined: "str | None | Callable[[], str | None]" = None,
) -> tuple[str | None, str | None]:
    """(category code, skip reason): exactly one of them is set, or neither for non-equipment.

    `predefined` may be a callable, asked only when a row depends on the predefined type."""
    names = list(class_lineage(schema, ifc_class)) or [ifc_class]
    by_type = occurrence_class_of_type(type_class)
    if by_type and by_type not in names:
        names = [*(class_lineage(schema, by_type) or (by_type,)), *names]
    for skipped, reason in SKIPPED_EQUIPMENT:
        if skipped in names:
            return None, reason
    resolved: str | None = None
    for row_class, predefined_types, code in EQUIPMENT_CATEGORIES:
        if row_class not in names:
            continue
        if predefined_types is None:
            return code, None
        if resolved is None:
            value = predefined() if callable(predefined) else predefined
            resolved = (value or "").upper()
        if resolved in predefined_types:
            return code, None
    return None, None


# -- spaces ----------------------------------------------------------------------------------

#: (unit use, keywords), first match wins; matched case-insensitively against the space's
#: long name, name, object type, type name and category properties. English, German (the
#: authoring tools used in Europe) and Chinese.
UNIT_USE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("parking", ("parking", "garage", "carport", "stellplatz", "车库", "停车")),
    (
        "warehouse",
        ("storage", "store room", "storeroom", "stock", "lager", "abstell", "仓库", "库房", "储藏"),
    ),
    ("catering", ("restaurant", "canteen", "cafe", "café", "dining", "kantine", "餐")),
    ("retail", ("retail", "shop", "laden", "verkauf", "商铺", "商业", "零售")),
    ("hotel", ("hotel", "guest room", "客房", "酒店")),
    ("industrial", ("workshop", "werkstatt", "production", "车间", "厂房")),
    ("office", ("office", "büro", "buero", "meeting", "conference", "besprechung", "办公", "会议")),
    (
        "apartment",
        (
            "living",
            "bedroom",
            "bed room",
            "wohn",
            "schlaf",
            "kinder",
            "children",
            "kitchen",
            "küche",
            "kueche",
            "hobby",
            "apartment",
            "dwelling",
            "residential",
            "住宅",
            "卧",
            "客厅",
            "厨房",
            "公寓",
        ),
    ),  # fmt: skip
    (
        "public",
        (
            "corridor",
            "hall",
            "lobby",
            "foyer",
            "stair",
            "lift",
            "elevator",
            "toilet",
            "wc",
            "restroom",
            " rr",
            "bath",
            "shower",
            "janitor",
            "mechanical",
            "electrical",
            "shaft",
            "circulation",
            "flur",
            "diele",
            "treppe",
            "bad",
            "dusche",
            "technik",
            "走廊",
            "大堂",
            "楼梯",
            "电梯",
            "卫生间",
            "设备",
            "管井",
        ),
    ),  # fmt: skip
)


def unit_use(*texts: str | None) -> str:
    haystack = " " + " ".join(t for t in texts if t).lower()
    for use, keywords in UNIT_USE_KEYWORDS:
        if any(keyword in haystack for keyword in keywords):
            return use
    return "other"


# -- storeys ---------------------------------------------------------------------------------

#: Storey names that mean "below ground" whatever their elevation says.
BASEMENT_NAME = re.compile(
    r"^\s*(?:b\d+|-\d+|ug\b|\d*\.?\s*ug\b|u\d+|keller|untergeschoss|basement|cellar|sous-sol|"
    r"地下|负\d+)",
    re.IGNORECASE,
)

#: A storey this far (metres) or more below the reference level counts as a basement.
BASEMENT_BELOW_M = 0.5


def is_basement(name: str | None, elevation_m: float | None) -> bool:
    if name and BASEMENT_NAME.search(name):
        return True
    return elevation_m is not None and elevation_m <= -BASEMENT_BELOW_M
