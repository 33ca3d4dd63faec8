"""The database itself refuses bad rows, even when the services are bypassed; areas and
lengths computed in generated columns are geodesic."""

from decimal import Decimal

import pytest
import shapely.wkt
from django.contrib.gis.geos import LineString, MultiPolygon
from django.db import IntegrityError, transaction

from spatial.models import Building, Company, Floor, Road, Site, Unit
from tests.factories import (
    GEOD,
    HEFEI,
    BuildingFactory,
    FloorFactory,
    RoadFactory,
    SiteFactory,
    UnitFactory,
    offset,
    rect,
)


def _insert_fails(instance) -> None:
    """Saving `instance` directly (no full_clean) must be refused by the database."""
    with pytest.raises(IntegrityError), transaction.atomic():
        instance.save()


def test_floor_level_zero_is_refused_by_the_database(tree):
    # given
    building = BuildingFactory(site__company=tree.sub_a)
    floor = FloorFactory.build(building=building, company=tree.sub_a, level=0, geom=building.geom)
    # when / then
    _insert_fails(floor)
    assert Floor.objects.filter(building=building).count() == 0


def test_two_floors_with_one_level_in_a_building_are_refused(tree):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a, level=3)
    twin = FloorFactory.build(building=floor.building, company=tree.sub_a, level=3, geom=floor.geom)
    # when / then
    _insert_fails(twin)
    assert list(Floor.objects.filter(building=floor.building).values_list("pk", flat=True)) == [
        floor.pk
    ]


def test_unit_usable_area_above_gross_area_is_refused_by_the_database(tree):
    # given
    floor = FloorFactory(building__site__company=tree.sub_a)
    unit = UnitFactory.build(
        floor=floor,
        building=floor.building,
        site=floor.building.site,
        company=tree.sub_a,
        gross_area=Decimal("80.00"),
        usable_area=Decimal("80.01"),
    )
    # when / then
    _insert_fails(unit)
    assert Unit.objects.count() == 0


@pytest.mark.parametrize("end_stake", [Decimal("100.00"), Decimal("99.99")])
def test_road_end_stake_not_after_start_stake_is_refused(tree, end_stake):
    # given
    site = SiteFactory(company=tree.sub_a)
    road = RoadFactory.build(
        site=site, company=tree.sub_a, start_stake_m=Decimal("100.00"), end_stake_m=end_stake
    )
    # when / then
    _insert_fails(road)
    assert Road.objects.count() == 0


def test_building_year_built_1700_is_refused_by_the_database(tree):
    # given
    site = SiteFactory(company=tree.sub_a)
    building = BuildingFactory.build(site=site, company=tree.sub_a, year_built=1700)
    # when / then
    _insert_fails(building)
    assert Building.objects.count() == 0


def test_duplicate_feature_code_is_refused_by_the_database(tree):
    # given
    SiteFactory(company=tree.sub_a, code="HF-SITE-1")
    twin = SiteFactory.build(company=tree.sub_b, code="HF-SITE-1")
    # when / then
    _insert_fails(twin)
    assert Site.objects.filter(code="HF-SITE-1").count() == 1


def test_company_cannot_be_its_own_parent_in_the_database(tree):
    # given
    company = Company.objects.get(pk=tree.sub_a.pk)
    # when
    with pytest.raises(IntegrityError), transaction.atomic():
        Company.objects.filter(pk=company.pk).update(parent_id=company.pk)
    # then
    company.refresh_from_db()
    assert company.parent_id == tree.group.pk


def test_site_area_is_geodesic_for_a_100_m_square_in_hefei(tree):
    # given: a square 100 m a side, its corners placed on the spheroid
    square = rect(*HEFEI, 100, 100)
    expected, _ = GEOD.geometry_area_perimeter(_shapely(square))
    # when
    site = SiteFactory(company=tree.sub_a, geom=MultiPolygon(square, srid=4326))
    site.refresh_from_db()
    # then
    assert site.area_m2 == pytest.approx(10_000, rel=0.005)
    assert site.area_m2 == pytest.approx(abs(expected), rel=1e-4)


def test_building_area_is_geodesic_not_planar_degrees(tree):
    # given
    footprint = rect(*offset(*HEFEI, 20, 20), 60, 40)
    expected, _ = GEOD.geometry_area_perimeter(_shapely(footprint))
    # when
    building = BuildingFactory(site__company=tree.sub_a, geom=footprint)
    building.refresh_from_db()
    # then
    assert building.area_m2 == pytest.approx(2_400, rel=0.005)
    assert building.area_m2 == pytest.approx(abs(expected), rel=1e-4)


def test_road_length_is_geodesic_for_one_kilometre_east(tree):
    # given: 1 km due east along latitude 31.85
    start = HEFEI
    end = offset(*start, east_m=1000)
    line = LineString(start, end, srid=4326)
    expected = GEOD.line_length([start[0], end[0]], [start[1], end[1]])
    # when
    road = RoadFactory(site__company=tree.sub_a, geom=line, end_stake_m=Decimal("1000.00"))
    road.refresh_from_db()
    # then
    assert road.length_m == pytest.approx(1_000, rel=0.005)
    assert road.length_m == pytest.approx(expected, rel=1e-4)


def test_every_model_has_a_readable_str(tree):
    # given
    unit = UnitFactory(floor__building__site__company=tree.sub_a, name="101室", code="U-101")
    # when / then
    assert str(unit) == "101室 (U-101)"
    assert str(tree.group) == "合肥城投集团"


def _shapely(polygon):
    return shapely.wkt.loads(polygon.wkt)
