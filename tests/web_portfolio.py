"""A small portfolio for the web page tests (Django client and headless Chromium).

Subsidiary A: one site, one building, one floor (level 1, the building's 60 m × 40 m
footprint) with three 100 m² office units: U-A1 let to a tenant at 60 yuan/m²/month from
2025-01-01 to 2027-12-31 (active), U-A2 and U-A3 vacant; one idle asset (cost 1,000.00)
standing on the floor. Subsidiary B: its own site with one unit, and an asset whose point
lies on A's floor (so the polygon over A's floor meets it, for B's eyes only).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal as D

from django.contrib.gis.geos import Point

from leasing import services as leasing_services
from leasing.models import Lease, Tenant
from portfolio.models import Asset, Category
from spatial.models import Building, Floor, Unit
from tests.factories import (
    AssetFactory,
    BuildingFactory,
    FloorFactory,
    UnitFactory,
    offset,
    origin,
)

LEASE_START = date(2025, 1, 1)
LEASE_END = date(2027, 12, 31)
AS_OF = date(2025, 6, 1)
USCC = "91340100MA4JURQ20P"


@dataclass(frozen=True)
class Portfolio:
    building: Building
    floor: Floor
    leased: Unit
    vacant: Unit
    vacant2: Unit
    tenant: Tenant
    lease: Lease
    asset: Asset
    unit_b: Unit
    asset_b: Asset


def portfolio_build(tree) -> Portfolio:
    building = BuildingFactory(site__company=tree.sub_a, name="科创中心1号楼")
    floor = FloorFactory(building=building, level=1, name="1F")
    units = [
        UnitFactory(floor=floor, code=f"U-A{n}", name=f"10{n}室", number=f"10{n}",
                    gross_area=D("100.00"), usable_area=D("80.00"))
        for n in (1, 2, 3)
    ]  # fmt: skip
    tenant = leasing_services.tenant_create(
        company=tree.sub_a, kind="company", name="合肥某科技有限公司", uscc=USCC, size="medium"
    )
    lease = leasing_services.lease_create(
        today=LEASE_START, number="HT-WEB-001", tenant=tenant, use="office",
        start_date=LEASE_START, end_date=LEASE_END,
        units=[{"unit": units[0], "area": D("100")}],
        steps=[{"start_date": LEASE_START, "price": D("60"), "basis": "sqm_month"}],
    )  # fmt: skip
    leasing_services.lease_submit(lease, today=LEASE_START)
    leasing_services.lease_approve(lease, today=LEASE_START)
    leasing_services.lease_activate(lease, today=LEASE_START)
    # Loaded by a data migration; a transactional test's flush may have dropped it.
    computers, _ = Category.objects.get_or_create(
        code="2010000", defaults={"name": "计算机设备及软件", "level": 2, "useful_life_months": 72}
    )
    inside = Point(*offset(*origin(floor.geom), 30, 35), srid=4326)
    asset = AssetFactory(
        company=tree.sub_a, code="A-WEB-1", name="配电柜", status="idle", floor=floor,
        category=computers,
        geom=inside, acquisition_cost=D("1000.00"),
    )  # fmt: skip
    unit_b = UnitFactory(floor__building__site__company=tree.sub_b, code="U-B1")
    asset_b = AssetFactory(
        company=tree.sub_b, code="A-WEB-B", name="B公司设备", geom=inside.clone(),
        category=computers,
        acquisition_cost=D("500.00"),
    )  # fmt: skip
    for unit in units:
        unit.refresh_from_db()
    return Portfolio(building, floor, units[0], units[1], units[2], tenant, lease, asset,
                     unit_b, asset_b)  # fmt: skip
