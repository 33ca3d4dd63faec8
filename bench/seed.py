"""Seeding benchmark: load `seed_demo --scale 100k` into a fresh database and time it.

    python -m bench seed                 # 100k units, against the 180 s target
    python -m bench seed --scale 10k     # a quick run

The database (geoasset_bench) is dropped, created with PostGIS and btree_gist, migrated,
then seeded by a child `manage.py seed_demo`; it is left in place for the benchmarks that
read it. The figure that counts is the child's wall time, Django start-up included.
"""

import argparse
import re
import subprocess
import sys

from bench import common

SUMMARY = "seed_demo into a fresh database: seconds, rows, units/s, peak RSS"
ORDER = 10
TARGET_SECONDS = {"demo": 10.0, "10k": 30.0, "100k": 180.0}
TABLES = (
    "spatial_company",
    "spatial_site",
    "spatial_building",
    "spatial_floor",
    "spatial_unit",
    "spatial_road",
    "spatial_park",
    "spatial_parcel",
    "portfolio_asset",
    "portfolio_assettag",
    "portfolio_codesequence",
)
GEOMETRY_TABLES = TABLES[1:8] + ("portfolio_asset",)
HEFEI = "ST_MakeEnvelope(117.10, 31.70, 117.45, 31.95, 4326)"
CHECKS = {
    "invalid geometries": "SELECT "
    + " + ".join(f"(SELECT count(*) FROM {t} WHERE NOT ST_IsValid(geom))" for t in GEOMETRY_TABLES),
    "geometries outside Hefei": "SELECT "
    + " + ".join(
        f"(SELECT count(*) FROM {t} WHERE NOT ST_CoveredBy(geom, {HEFEI}))" for t in GEOMETRY_TABLES
    ),
    "units outside their floor": "SELECT count(*) FROM spatial_unit WHERE outside_floor",
    "usable area above gross": "SELECT count(*) FROM spatial_unit WHERE usable_area > gross_area",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench seed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=tuple(TARGET_SECONDS), default="100k")
    parser.add_argument("--database", default=common.BENCH_DATABASE)
    args = parser.parse_args(argv)
    target = TARGET_SECONDS[args.scale]

    print(f"seed {args.scale}: preparing database {args.database} …", flush=True)
    common.recreate_database(args.database)
    try:
        migrate = common.manage("migrate", "--noinput", "-v0", database=args.database)
        seed = common.manage("seed_demo", "--scale", args.scale, database=args.database)
    except subprocess.CalledProcessError as exc:
        print(f"seed {args.scale}: FAILED\n{exc.output}", file=sys.stderr)
        return 1

    with common.connect(args.database) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        checks = {name: conn.execute(query).fetchone()[0] for name, query in CHECKS.items()}
    inner = re.search(r" in ([\d.]+) s", seed.output)
    units = counts["spatial_unit"]
    ratio = seed.seconds / target

    print(seed.output.strip())
    print(f"  migrate: {migrate.seconds:.1f} s")
    width = max(map(len, TABLES))
    for table, n in counts.items():
        print(f"  {table:<{width}} {n:>10,}")
    print(
        f"  rows in all: {sum(counts.values()):,}; units/s: {units / seed.seconds:,.0f}; "
        f"peak RSS of seed_demo: {seed.peak_rss_mb:,.0f} MB"
        + (f"; seeding inside the command: {inner.group(1)} s" if inner else "")
    )
    for name, n in checks.items():
        print(f"  check {name}: {n}")
    ok = not any(checks.values()) and seed.seconds <= target
    print(
        f"seed {args.scale}: {seed.seconds:.1f} s (target {target:.0f} s, ratio {ratio:.2f})"
        + ("" if ok else "  ** FAILED **")
    )
    common.record(
        "seed", scale=args.scale, seconds=round(seed.seconds, 2), target=target,
        ratio=round(ratio, 3), units=units, rows=counts, peak_rss_mb=round(seed.peak_rss_mb),
        checks=checks,
    )  # fmt: skip
    return 0 if ok else 1
