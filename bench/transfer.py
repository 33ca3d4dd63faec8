"""Import benchmark: 100,000 unit polygons from a GeoPackage, against ogr2ogr.

    python -m bench transfer                 # the 100k-unit demo in geoasset_bench
    python -m bench transfer --keep          # leave the databases and files for a look

It reads the demo that `python -m bench seed` builds in geoasset_bench. Every unit is
exported with `manage.py export_layer units … --format gpkg` (the attributes an import
needs: code, name, floor_code, use, status, areas, …), and so are the sites, buildings and
floors. A fresh database (geoasset_bench_import) is created and migrated, the companies are
copied into it, the sites, buildings and floors are imported with `import_layer`, and then
the units: that child's wall time, Django start-up included, is the figure
(`--no-history`, as a bulk load; the run with history rows is shown beside it). It is set
against `ogr2ogr -f PostgreSQL` loading the same GeoPackage into a new table of a scratch
database (geoasset_bench_ogr), the median of three runs: ogr2ogr checks nothing and derives
nothing, the import checks every row, resolves parents and scope, fills building/site and
computes outside_floor, into a table with nine indexes, check constraints, a generated
geodesic area and two foreign keys. What PostgreSQL alone spends storing the same rows in
spatial_unit is measured too (COPY and the deferred foreign-key checks, rolled back): the
floor under any import into this schema. The import is verified against the source: the
same units, field by field and geometry by geometry (one digest per database).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dj_database_url

from bench import common

SUMMARY = "import 100k units from a GeoPackage: rows/s against ogr2ogr -f PostgreSQL"
ORDER = 30  # after `seed`, which builds the database
TARGET_RATIO = 3.0
IMPORT_DATABASE = "geoasset_bench_import"
OGR_DATABASE = "geoasset_bench_ogr"
PARENTS = ("sites", "buildings", "floors")
OGR_RUNS = 3
COMPANY_COLUMNS = (
    "id, code, name, short_name, kind, parent_id, uscc, address, path, created_at, updated_at"
)

#: One digest of everything an import of units must reproduce.
DIGEST = """
SELECT count(*), md5(string_agg(concat_ws('|', u.code, u.name, u.number, u.use, u.status,
           u.gross_area::text, u.usable_area::text, u.outside_floor::text, f.code, b.code, s.code,
           c.code, encode(ST_AsBinary(u.geom), 'hex')), ',' ORDER BY u.code))
  FROM spatial_unit u JOIN spatial_floor f ON f.id = u.floor_id
  JOIN spatial_building b ON b.id = u.building_id JOIN spatial_site s ON s.id = u.site_id
  JOIN spatial_company c ON c.id = u.company_id
"""


def _pg_target(name: str) -> tuple[str, dict]:
    """A GDAL PG: connection string for `name` and the environment holding its password
    (kept out of the command line)."""
    params = dj_database_url.parse(common.database_url(name))
    parts = [f"dbname={params['NAME']}"]
    for key, option in (("HOST", "host"), ("PORT", "port"), ("USER", "user")):
        if params.get(key):
            parts.append(f"{option}={params[key]}")
    env = {**os.environ}
    if params.get("PASSWORD"):
        env["PGPASSWORD"] = params["PASSWORD"]
    return "PG:" + " ".join(parts), env


def _copy_companies(source: str, target: str) -> int:
    with common.connect(source) as src, common.connect(target) as dst:
        rows = src.execute(
            f"SELECT {COMPANY_COLUMNS} FROM spatial_company ORDER BY path"
        ).fetchall()
        with dst.cursor().copy(f"COPY spatial_company ({COMPANY_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        dst.execute(
            "SELECT setval(pg_get_serial_sequence('spatial_company', 'id'), "
            "(SELECT max(id) FROM spatial_company))"
        )
    return len(rows)


class _Rollback(Exception):
    pass


def _server_floor(database: str) -> tuple[float, float]:
    """What PostgreSQL alone spends storing the imported units: COPY of the same rows (read
    back from the table) into an emptied spatial_unit, and the deferred foreign-key checks
    of the commit; rolled back. No import, whatever its language, can go below this."""
    with common.connect(database) as conn:
        columns = ", ".join(
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = "
                "'spatial_unit' AND is_generated = 'NEVER' ORDER BY ordinal_position"
            ).fetchall()
        )
        data = bytearray()
        with conn.cursor().copy(f"COPY (SELECT {columns} FROM spatial_unit) TO STDOUT") as copy:
            for block in copy:
                data += block
        conn.commit()
        try:
            with conn.transaction():
                conn.execute("TRUNCATE spatial_unit CASCADE")
                started = time.perf_counter()
                with conn.cursor().copy(f"COPY spatial_unit ({columns}) FROM STDIN") as copy:
                    copy.write(bytes(data))
                copied = time.perf_counter() - started
                started = time.perf_counter()
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                checked = time.perf_counter() - started
                raise _Rollback
        except _Rollback:
            pass
    return copied, checked


def _inner_seconds(output: str) -> float | None:
    match = re.search(r" in ([\d.]+) s", output)
    return float(match.group(1)) if match else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench transfer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", default=common.BENCH_DATABASE)
    parser.add_argument("--database", default=IMPORT_DATABASE)
    parser.add_argument("--scratch", default=OGR_DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--no-history-run", action="store_true", help="skip the run with history")
    args = parser.parse_args(argv)

    try:
        with common.connect(args.source) as conn:
            units = conn.execute("SELECT count(*) FROM spatial_unit").fetchone()[0]
            source_digest = conn.execute(DIGEST).fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no bench database"
        print(f"transfer: cannot read {args.source} ({exc}); run `python -m bench seed`.")
        return 1
    if not units:
        print(f"transfer: {args.source} holds no units; run `python -m bench seed`.")
        return 1

    folder = Path(tempfile.mkdtemp(prefix="geoasset-bench-transfer-"))
    try:
        print(f"transfer: exporting {units:,} units and their parents from {args.source} …")
        exports = {}
        for layer in (*PARENTS, "units"):
            exports[layer] = folder / f"{layer}.gpkg"
            run = common.manage(
                "export_layer", layer, str(exports[layer]), "--format", "gpkg",
                database=args.source,
            )  # fmt: skip
            print(f"  export {layer}: {run.seconds:.1f} s")
        size_mb = exports["units"].stat().st_size / 1e6

        print(f"transfer: preparing {args.database} …", flush=True)
        common.recreate_database(args.database)
        common.manage("migrate", "--noinput", "-v0", database=args.database)
        companies = _copy_companies(args.source, args.database)
        print(f"  companies copied: {companies}")
        for layer in PARENTS:
            run = common.manage(
                "import_layer", layer, str(exports[layer]), "--no-history",
                database=args.database,
            )  # fmt: skip
            print(f"  import {layer}: {run.seconds:.1f} s")

        units_run = common.manage(
            "import_layer", "units", str(exports["units"]), "--no-history", "-v2",
            database=args.database,
        )  # fmt: skip
        with common.connect(args.database) as conn:
            digest = conn.execute(DIGEST).fetchone()
        inner = _inner_seconds(units_run.output)
        floor_copy, floor_checks = _server_floor(args.database)

        history_seconds = None
        if not args.no_history_run:
            with common.connect(args.database, autocommit=True) as conn:
                conn.execute("DELETE FROM spatial_unit")
                conn.execute("VACUUM ANALYZE spatial_unit")
            history_run = common.manage(
                "import_layer", "units", str(exports["units"]), database=args.database
            )
            history_seconds = history_run.seconds

        print(f"transfer: ogr2ogr into {args.scratch} …", flush=True)
        common.recreate_database(args.scratch)
        target, env = _pg_target(args.scratch)
        runs = []
        for _ in range(OGR_RUNS):  # it is quick, and its time varies: the median of three
            started = time.perf_counter()
            subprocess.run(
                ["ogr2ogr", "-f", "PostgreSQL", target, str(exports["units"]),
                 "-nln", "scratch_units", "-overwrite"],
                check=True, env=env, capture_output=True,
            )  # fmt: skip
            runs.append(time.perf_counter() - started)
        ogr_seconds = statistics.median(runs)
        with common.connect(args.scratch) as conn:
            ogr_rows = conn.execute("SELECT count(*) FROM scratch_units").fetchone()[0]
    except subprocess.CalledProcessError as exc:
        print(f"transfer: FAILED\n{exc.output or ''}{getattr(exc, 'stderr', '') or ''}")
        return 1
    finally:
        if args.keep:
            print(f"  files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    rate = units / units_run.seconds
    ogr_rate = ogr_rows / ogr_seconds
    ratio = ogr_rate / rate
    same = digest == source_digest
    print(units_run.output.strip())
    print(f"  GeoPackage: {size_mb:.1f} MB; import child {units_run.seconds:.1f} s"
          + (f" (inside the command {inner:.1f} s)" if inner else "")
          + f", peak RSS {units_run.peak_rss_mb:,.0f} MB; ogr2ogr {ogr_seconds:.1f} s "
          f"(median of {', '.join(f'{r:.1f}' for r in runs)})")  # fmt: skip
    floor = floor_copy + floor_checks
    print(
        f"  PostgreSQL alone storing these rows in spatial_unit: {floor:.1f} s (COPY "
        f"{floor_copy:.1f} s, deferred foreign-key checks {floor_checks:.1f} s): the import "
        f"cannot go below a ratio of {floor / ogr_seconds:.2f} on this run"
    )
    if history_seconds:
        print(
            f"  with history rows: {history_seconds:.1f} s ({units / history_seconds:,.0f} rows/s)"
        )
    print(f"  check: imported units equal the source's, field by field: {'yes' if same else 'NO'}")
    ok = same and ratio <= TARGET_RATIO and ogr_rows == units
    print(
        f"import 100k units: {rate:,.0f} rows/s (ogr2ogr {ogr_rate:,.0f} rows/s, "
        f"ratio {ratio:.2f}, target {TARGET_RATIO:.1f})" + ("" if ok else "  ** FAILED **")
    )
    common.record(
        "transfer", units=units, seconds=round(units_run.seconds, 2),
        inner_seconds=inner, rows_per_s=round(rate), ogr2ogr_seconds=round(ogr_seconds, 2),
        ogr2ogr_rows_per_s=round(ogr_rate), ratio=round(ratio, 3), target=TARGET_RATIO,
        with_history_seconds=round(history_seconds, 2) if history_seconds else None,
        peak_rss_mb=round(units_run.peak_rss_mb), identical=same,
        server_floor_seconds=round(floor, 2),
    )  # fmt: skip
    if not args.keep:
        with common.connect("postgres", autocommit=True) as conn:
            for name in (args.database, args.scratch):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
