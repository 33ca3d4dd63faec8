"""Choices for the spatial graph."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CompanyKind(models.TextChoices):
    GROUP = "group", _("Group (集团)")
    SUBSIDIARY = "subsidiary", _("Subsidiary (子公司)")
    PROJECT = "project", _("Project company (项目公司)")


class Role(models.TextChoices):
    GROUP_ADMIN = "group_admin", _("Group administrator")
    ASSET_MANAGER = "asset_manager", _("Asset manager")
    LEASING_AGENT = "leasing_agent", _("Leasing agent")
    FINANCE = "finance", _("Finance")
    FIELD_STAFF = "field_staff", _("Field staff")
    READ_ONLY = "read_only", _("Read-only")
    GIS_ANALYST = "gis_analyst", _("GIS analyst")


class SiteKind(models.TextChoices):
    INDUSTRIAL_PARK = "industrial_park", _("Industrial park")
    OFFICE_PARK = "office_park", _("Office park")
    COMMERCIAL = "commercial", _("Commercial complex")
    RESIDENTIAL = "residential", _("Residential estate")
    LOGISTICS = "logistics", _("Logistics park")
    MIXED = "mixed", _("Mixed use")


class BuildingStructure(models.TextChoices):
    REINFORCED_CONCRETE = "reinforced_concrete", _("Reinforced concrete frame")
    SHEAR_WALL = "shear_wall", _("Shear wall")
    FRAME_CORE = "frame_core", _("Frame-core tube")
    STEEL = "steel", _("Steel")
    MASONRY = "masonry", _("Brick and concrete")
    OTHER = "other", _("Other")


class BuildingUse(models.TextChoices):
    OFFICE = "office", _("Office")
    COMMERCIAL = "commercial", _("Commercial")
    RESIDENTIAL = "residential", _("Residential")
    INDUSTRIAL = "industrial", _("Industrial")
    WAREHOUSE = "warehouse", _("Warehouse")
    PUBLIC = "public", _("Public facility")
    MIXED = "mixed", _("Mixed use")


class UnitUse(models.TextChoices):
    OFFICE = "office", _("Office")
    RETAIL = "retail", _("Retail")
    APARTMENT = "apartment", _("Apartment")
    WAREHOUSE = "warehouse", _("Warehouse")
    INDUSTRIAL = "industrial", _("Industrial workshop")
    PARKING = "parking", _("Parking")
    CATERING = "catering", _("Catering")
    HOTEL = "hotel", _("Hotel")
    PUBLIC = "public", _("Common area")
    OTHER = "other", _("Other")


class UnitStatus(models.TextChoices):
    VACANT = "vacant", _("Vacant")
    RESERVED = "reserved", _("Reserved")
    LEASED = "leased", _("Leased")
    SELF_USED = "self_used", _("Self-used")
    UNAVAILABLE = "unavailable", _("Not leasable")


class RoadGrade(models.TextChoices):
    EXPRESSWAY = "expressway", _("Expressway")
    ARTERIAL = "arterial", _("Arterial road")
    SECONDARY = "secondary", _("Secondary arterial road")
    BRANCH = "branch", _("Branch road")
    INTERNAL = "internal", _("Internal road")


class ParkKind(models.TextChoices):
    COMPREHENSIVE = "comprehensive", _("Comprehensive park")
    COMMUNITY = "community", _("Community park")
    SPECIALIZED = "specialized", _("Specialized park")
    POCKET = "pocket", _("Pocket park")
    GREENWAY = "greenway", _("Greenway")


class LandUse(models.TextChoices):
    """First-level classes of GB/T 21010-2017 (土地利用现状分类) used by 城投 portfolios."""

    COMMERCIAL = "05", _("05 Commercial and service land")
    INDUSTRIAL = "06", _("06 Industrial, mining and storage land")
    RESIDENTIAL = "07", _("07 Residential land")
    PUBLIC = "08", _("08 Public administration and service land")
    SPECIAL = "09", _("09 Special-use land")
    TRANSPORT = "10", _("10 Transport land")
    WATER = "11", _("11 Water and water facilities")
    OTHER = "12", _("12 Other land")


class LandRight(models.TextChoices):
    GRANTED = "granted", _("Granted (出让)")
    ALLOCATED = "allocated", _("Allocated (划拨)")
    LEASED = "leased", _("Leased (租赁)")
    CAPITAL = "capital", _("Contributed as capital (作价出资)")
