"""Floor and building outlines from room footprints (bim.ifc.geometry): the wall gaps between
rooms closed, every room covered, no holes; the building's outline from its floors' the same
as closing them again, on every sample model."""

import pytest
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

from bim.ifc import geometry
from bim.ifc.reader import read_model
from tests.test_bim_support import sample

SAMPLES = [
    "AC20-FZK-Haus.ifc",
    "ExampleHOM_with_radiator.ifc",
    "Office_A_20110811.ifc",
    "b03_heating_with_building_blenderBIM.ifc",
    "duplex.ifc",
]


def test_rooms_apart_by_a_wall_get_one_outline_over_both_and_the_wall():
    rooms = [box(0, 0, 4, 5), box(4.2, 0, 8, 5)]  # a 0.2 m wall between them
    outline = geometry.outline(rooms)
    assert isinstance(outline, Polygon) and not outline.interiors
    assert outline.area == pytest.approx(8 * 5, rel=1e-6)
    assert all(outline.covers(room) for room in rooms)


def test_rooms_around_a_courtyard_get_an_outline_without_the_hole():
    ring = [box(0, 0, 10, 2), box(0, 8, 10, 10), box(0, 2.2, 2, 7.8), box(8, 2.2, 10, 7.8)]
    outline = geometry.outline(ring)
    assert not outline.interiors
    assert outline.area == pytest.approx(100, rel=1e-6)


def test_rooms_far_apart_get_their_convex_hull():
    rooms = [box(0, 0, 4, 4), box(20, 0, 24, 4)]
    outline = geometry.outline(rooms)
    assert outline.equals(shapely.union_all(rooms).convex_hull)


def test_outline_covers_rooms_at_any_angle():
    rooms = [affinity.rotate(box(0, 0, 3.3, 4.1), 17.3, origin=(0, 0)),
             affinity.rotate(box(3.5, 0, 7.1, 4.1), 17.3, origin=(0, 0))]  # fmt: skip
    outline = geometry.outline(rooms)
    assert all(outline.buffer(1e-6).covers(room) for room in rooms)


def test_no_rooms_no_outline():
    assert geometry.outline([]) is None
    assert geometry.outline([Polygon(), None]) is None
    assert geometry.building_outline([None, None]) is None


def test_stacked_floors_give_their_union_without_holes():
    ground, upper = box(0, 0, 10, 10), box(2, 2, 14, 10)
    outline = geometry.building_outline([ground, None, upper])
    assert outline.equals(shapely.union_all([ground, upper]))


def test_floors_apart_get_the_closing_of_their_outlines():
    towers = [box(0, 0, 10, 10), box(10.5, 0, 20, 10)]  # two wings, 0.5 m apart
    outline = geometry.building_outline(towers)
    assert outline.equals(geometry.outline(towers))
    assert outline.area == pytest.approx(200, rel=1e-6)


@pytest.mark.parametrize("name", SAMPLES)
def test_building_outline_of_each_sample_is_the_closing_of_its_floors(name):
    model = read_model(sample(name))
    for building in model.buildings:
        floors = [geometry.outline(s.footprint for s in st.spaces) for st in building.storeys]
        drawn = [f for f in floors if f is not None]
        union = geometry.building_outline(floors)
        closed = geometry.outline(drawn)
        assert union.symmetric_difference(closed).area < 1e-3  # m²
        assert all(union.buffer(1e-6).covers(f) for f in drawn)
