"""Realistic device traffic for demos and load: vehicles driving along the roads in the
database, equipment wandering inside building footprints, and sensors whose temperature
follows a daily sine with occasional faults (spikes, dropouts, a stuck value)."""

import json
import math
import random
from dataclasses import dataclass, field

import shapely
from django.db import connection, transaction

from spatial.models import Company
from tracking.choices import DeviceKind
from tracking.ingest import haversine_m
from tracking.models import Device


@dataclass
class Sim:
    code: str
    kind: str  # vehicle | equipment | sensor
    path: list[tuple[float, float]] = field(default_factory=list)  # road vertices
    area: shapely.Geometry | None = None  # building footprint
    speed_kmh: float = 30.0
    s: float = 0.0  # metres along the road
    direction: int = 1
    where: tuple[float, float] | None = None
    base: float = 22.0  # sensor daily mean (°C)
    stuck: float | None = None

    def step(self, rng: random.Random, t: float, dt: float) -> tuple[str, dict]:
        if self.kind == "vehicle":
            return "position", self._drive(rng, t, dt)
        if self.kind == "equipment":
            return "position", self._wander(rng, t)
        return "telemetry", self._sense(rng, t)

    def _drive(self, rng, t, dt):
        lengths = [haversine_m(*a, *b) for a, b in zip(self.path, self.path[1:], strict=False)]
        total = sum(lengths) or 1.0
        speed = max(5.0, self.speed_kmh + rng.gauss(0, 5))
        self.s += self.direction * speed / 3.6 * dt
        if not 0 <= self.s <= total:  # turn round at the road's end
            self.direction *= -1
            self.s = min(max(self.s, 0.0), total)
        remaining, i = self.s, 0
        while i < len(lengths) - 1 and remaining > lengths[i]:
            remaining -= lengths[i]
            i += 1
        f = remaining / lengths[i] if lengths[i] else 0
        (x1, y1), (x2, y2) = self.path[i], self.path[i + 1]
        x, y = x1 + (x2 - x1) * f, y1 + (y2 - y1) * f
        heading = math.degrees(math.atan2(x2 - x1, y2 - y1)) % 360
        if self.direction < 0:
            heading = (heading + 180) % 360
        return {
            "ts": round(t, 3),
            "lon": round(x + rng.gauss(0, 2e-5), 7),
            "lat": round(y + rng.gauss(0, 2e-5), 7),
            "speed": round(speed, 1),
            "heading": round(heading),
            "run": True,
        }

    def _wander(self, rng, t):
        minx, miny, maxx, maxy = self.area.bounds
        x, y = self.where or ((minx + maxx) / 2, (miny + maxy) / 2)
        for _ in range(10):
            nx, ny = x + rng.gauss(0, 3e-5), y + rng.gauss(0, 3e-5)
            if self.area.contains(shapely.Point(nx, ny)):
                x, y = nx, ny
                break
        self.where = (x, y)
        return {"ts": round(t, 3), "lon": round(x, 7), "lat": round(y, 7), "speed": 1.0}

    def _sense(self, rng, t):
        hour = (t / 3600 + 8) % 24  # local time in Shanghai
        value = self.base + 6 * math.sin((hour - 9) / 24 * 2 * math.pi) + rng.gauss(0, 0.3)
        fault = rng.random()
        if self.stuck is not None:
            value = self.stuck
            if fault < 0.01:
                self.stuck = None
        elif fault < 0.002:
            self.stuck = round(value, 1)
        elif fault < 0.005:
            value += rng.uniform(40, 60)  # spike: over-temperature
        values = {"temp": round(value, 2), "run": rng.random() > 0.1}
        if fault > 0.998:
            values["battery"] = None  # dropout of one metric
        return {"ts": round(t, 3), "values": values}


@transaction.atomic
def devices_ensure(company: Company, count: int, seed: int = 7) -> list[Sim]:
    """`count` simulated devices of `company` (created if missing, codes SIM-V/E/S-nnnn):
    half vehicles on its roads, a quarter equipment in its buildings, a quarter sensors."""
    rng = random.Random(seed)  # noqa: S311 - simulated traffic, not secrets
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsText(r.geom) FROM spatial_road r JOIN spatial_company c"
            " ON c.id = r.company_id WHERE c.path LIKE %s ORDER BY r.id LIMIT 500",
            [company.path + "%"],
        )
        roads = [shapely.from_wkt(w) for (w,) in cursor.fetchall()]
        cursor.execute(
            "SELECT ST_AsText(b.geom) FROM spatial_building b JOIN spatial_company c"
            " ON c.id = b.company_id WHERE c.path LIKE %s ORDER BY b.id LIMIT 500",
            [company.path + "%"],
        )
        buildings = [shapely.from_wkt(w) for (w,) in cursor.fetchall()]
    sims, new = [], []
    existing = set(Device.objects.filter(code__startswith="SIM-").values_list("code", flat=True))
    for n in range(count):
        kind = "vehicle" if n % 4 < 2 else ("equipment" if n % 4 == 2 else "sensor")
        if kind == "vehicle" and not roads:
            kind = "sensor"
        if kind == "equipment" and not buildings:
            kind = "sensor"
        code = f"SIM-{kind[0].upper()}-{n:04d}"
        sim = Sim(code=code, kind=kind, speed_kmh=rng.uniform(20, 50), base=rng.uniform(18, 26))
        if kind == "vehicle":
            sim.path = list(rng.choice(roads).coords)
        elif kind == "equipment":
            sim.area = rng.choice(buildings)
            shapely.prepare(sim.area)
        sims.append(sim)
        if code not in existing:
            device_kind = DeviceKind.SENSOR if kind == "sensor" else DeviceKind.GNSS
            new.append(
                Device(
                    company=company,
                    code=code,
                    kind=device_kind,
                    name={"vehicle": "巡检车", "equipment": "移动设备", "sensor": "温度传感器"}[
                        kind
                    ],
                    normal_ranges={"temp": [5, 45]} if kind == "sensor" else {},
                )
            )
    Device.objects.bulk_create(new)
    return sims


def payload(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"))
