"""The simulator's traffic is accepted by the engine; the demo seeding is idempotent."""

import json
import random
import time
from datetime import UTC, datetime

import pytest

from tests.factories import BuildingFactory, RoadFactory, SiteFactory
from tests.tracking_support import clean_history  # noqa: F401 - autouse fixture
from tracking.demo import demo_tracking
from tracking.engine import Engine
from tracking.ingest import Raw
from tracking.models import Device, Geofence, RejectedMessage, Rule

pytestmark = pytest.mark.django_db


def test_simulated_traffic_is_all_accepted_and_demo_seeding_is_idempotent(tree):
    site = SiteFactory(company=tree.group)
    RoadFactory(site=site)
    BuildingFactory(site=site)
    # when the demo is seeded twice
    assert demo_tracking(company_code=tree.group.code, devices=8) == 8
    assert demo_tracking(company_code=tree.group.code, devices=8) == 0
    # then devices of three kinds, a corridor and a no-entry circle, and their rules
    assert Device.objects.count() == 8
    assert set(Geofence.objects.values_list("kind", flat=True)) == {"corridor", "circle"}
    assert Rule.objects.count() == 7
    # and 5 simulated minutes of traffic pass validation entirely
    from tracking.simulate import devices_ensure

    sims = devices_ensure(tree.group, 8)
    assert {s.kind for s in sims} == {"vehicle", "equipment", "sensor"}
    rng, t0 = random.Random(1), time.time() - 400
    messages = []
    for step in range(30):
        for sim in sims:
            kind, body = sim.step(rng, t0 + step * 10, 10)
            messages.append(
                Raw(
                    f"sam/{tree.group.code}/{sim.code}/{kind}",
                    json.dumps(body).encode(),
                    datetime.now(UTC),
                )
            )
    result = Engine(root="sam").process(messages, datetime.now(UTC))
    assert list(RejectedMessage.objects.values_list("reason", "detail")) == []
    assert result.positions + result.readings == 240
