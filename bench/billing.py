"""Billing benchmark: `run_billing` for one month over 100,000 leases, against plain COPY.

    python -m bench billing                      # July 2026 (the month after the demo's AS_OF)
    python -m bench billing --period 2026-08 --leases 50000

It reads the 100k-unit demo in geoasset_bench (`python -m bench seed` builds it; this
benchmark migrates `finance` there if needed). The demo has about 73,000 active leases in
the billing month; the rest up to --leases are clones of them (same terms, copied with
`remarks = 'bench-clone'`, their lines not holding the units so the exclusion constraint
is untouched). The month must not be billed yet: the demo bills twelve months up to
June 2026. Everything this benchmark adds — the clones, the run's bills and lines, the
estimated meter readings it made, the run itself — is removed at the end and, should a
previous run have died, at the start; the database is left as the seed left it.

Figures: the child `manage.py run_billing` wall time (Django start-up included) and the
run's own time (its BillingRun), leases per second, bills and lines written; then the same
bill and line rows COPYed from memory into empty copies of the two tables with their
indexes (the reference for the ratio), and, for information, deleted and COPYed back into
the tables themselves, foreign keys checked, in a transaction rolled back. Targets: under
60 s wall, and at most 5x the COPY.
"""

import argparse
import re
import subprocess
import sys
import time

import psycopg
from psycopg.types.json import Jsonb

from bench import common

SUMMARY = "run_billing for a month over 100k leases: seconds, leases/s, ratio to COPY"
ORDER = 30
TARGET_SECONDS = 60.0
TARGET_RATIO = 5.0
SCOPE = """
    status IN ('active', 'expired', 'terminated') AND start_date < %(end)s
    AND COALESCE(move_out_date, end_date) >= %(start)s
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench billing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--period", default="2026-07", help="the month to bill, YYYY-MM")
    parser.add_argument("--leases", type=int, default=100_000, help="leases in the month")
    parser.add_argument("--database", default=common.BENCH_DATABASE)
    parser.add_argument("--keep", action="store_true", help="leave the bills and clones")
    args = parser.parse_args(argv)
    year, month = map(int, args.period.split("-"))
    start = f"{year:04d}-{month:02d}-01"
    end = f"{year + month // 12:04d}-{month % 12 + 1:02d}-01"
    window = {"start": start, "end": end}

    try:
        with common.connect(args.database) as conn:
            units = conn.execute("SELECT count(*) FROM spatial_unit").fetchone()[0]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        units = 0
    if not units:
        print("billing: no seeded bench database; run `python -m bench seed` first.",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        common.manage("migrate", "finance", "--noinput", "-v0", database=args.database)
    except subprocess.CalledProcessError as exc:
        print(f"billing: migrate failed\n{exc.output}", file=sys.stderr)
        return 1

    with common.connect(args.database, autocommit=True) as conn:
        _cleanup(conn, start)
        existing = conn.execute(
            f"SELECT count(*) FROM leasing_lease WHERE {SCOPE}", window
        ).fetchone()[0]
        clones = max(0, args.leases - existing)
        _clone(conn, clones, window)
        conn.execute("ANALYZE leasing_lease; ANALYZE leasing_leaseversion; ANALYZE finance_bill")
        total = conn.execute(f"SELECT count(*) FROM leasing_lease WHERE {SCOPE}",
                             window).fetchone()[0]  # fmt: skip
    print(f"billing {args.period}: {existing:,} leases in the month, {clones:,} cloned → "
          f"{total:,}", flush=True)  # fmt: skip

    try:
        run = common.manage("run_billing", "--period", args.period, database=args.database)
    except subprocess.CalledProcessError as exc:
        print(f"billing: run_billing FAILED\n{exc.output}", file=sys.stderr)
        return 1
    print(run.output.strip())
    try:
        with common.connect(args.database) as conn:
            run_id, inner, bills, lines = conn.execute(
                "SELECT id, extract(epoch FROM finished_at - started_at), bills_posted,"
                " lines_posted FROM finance_billingrun WHERE period = %s ORDER BY id DESC"
                " LIMIT 1",
                [start],
            ).fetchone()
            inner = float(inner)
            copy_s, copy_same = _copy_reference(conn, run_id)
            rerun = common.manage("run_billing", "--period", args.period, database=args.database)
            again = re.search(r"(\d+) bills and", rerun.output)
    finally:
        if not args.keep:
            with common.connect(args.database, autocommit=True) as conn:
                _cleanup(conn, start)

    rate = total / run.seconds
    ratio, inner_ratio = run.seconds / copy_s, inner / copy_s
    ok = run.seconds <= TARGET_SECONDS and ratio <= TARGET_RATIO
    print(f"  leases: {total:,}; bills: {bills:,}; lines: {lines:,}; peak RSS "
          f"{run.peak_rss_mb:,.0f} MB")  # fmt: skip
    print(f"  run_billing: {run.seconds:.1f} s wall ({rate:,.0f} leases/s), {inner:.1f} s "
          f"inside the run ({total / inner:,.0f} leases/s)")  # fmt: skip
    print(f"  COPY of the same {bills + lines:,} rows into empty tables with the same indexes:"
          f" {copy_s:.2f} s; ratio {ratio:.2f} (wall) / {inner_ratio:.2f} (run)")  # fmt: skip
    print(f"  (COPY back into finance_bill/billline, FKs checked, rolled back: {copy_same:.2f} s;"
          f" ratio {run.seconds / copy_same:.2f})")  # fmt: skip
    print(f"  rerun posted {again.group(1) if again else '?'} bills in {rerun.seconds:.1f} s")
    print(
        f"billing {args.period}: {run.seconds:.1f} s (target {TARGET_SECONDS:.0f} s), "
        f"{ratio:.2f}x COPY (target {TARGET_RATIO:.0f}x)" + ("" if ok else "  ** FAILED **")
    )
    common.record(
        "billing", period=args.period, leases=total, cloned=clones, bills=bills, lines=lines,
        seconds=round(run.seconds, 2), run_seconds=round(inner, 2),
        leases_per_s=round(rate), copy_seconds=round(copy_s, 3), ratio=round(ratio, 2),
        copy_same_tables_seconds=round(copy_same, 3),
        run_ratio=round(inner_ratio, 2), rerun_seconds=round(rerun.seconds, 2),
        target_seconds=TARGET_SECONDS, target_ratio=TARGET_RATIO,
        peak_rss_mb=round(run.peak_rss_mb),
    )  # fmt: skip
    return 0 if ok else 1


def _clone(conn, count: int, window: dict) -> None:
    """`count` copies of active leases of the month (terms, steps, charges, free periods and
    non-blocking lines), numbered BENCH-…, marked `remarks = 'bench-clone'`."""
    if count <= 0:
        return
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(
            f"""CREATE TEMP TABLE bench_src ON COMMIT DROP AS
                SELECT id AS src, nextval(pg_get_serial_sequence('leasing_lease', 'id')) AS dst,
                       row_number() OVER () AS n
                  FROM (SELECT id FROM leasing_lease WHERE status = 'active' AND {SCOPE}
                         ORDER BY id) s,
                       generate_series(1, ceil(%(count)s::numeric / GREATEST(1,
                           (SELECT count(*) FROM leasing_lease WHERE status = 'active'
                              AND {SCOPE})))::int) g
                 LIMIT %(count)s""",
            {**window, "count": count},
        )
        conn.execute(
            """INSERT INTO leasing_lease (id, company_id, number, tenant_id, use, status,
                   signed_on, start_date, end_date, deposit_amount, deposit_received,
                   deposit_received_on, renewal_of_id, approved_at, move_out_date,
                   termination_kind, closed_through, remarks, created_at, updated_at)
               SELECT m.dst, l.company_id, 'BENCH-' || m.n, l.tenant_id, l.use, l.status,
                   l.signed_on, l.start_date, l.end_date, l.deposit_amount, l.deposit_received,
                   l.deposit_received_on, NULL, l.approved_at, l.move_out_date,
                   l.termination_kind, l.closed_through, 'bench-clone', now(), now()
                 FROM bench_src m JOIN leasing_lease l ON l.id = m.src"""
        )
        conn.execute(
            """CREATE TEMP TABLE bench_ver ON COMMIT DROP AS
               SELECT v.id AS src, nextval(pg_get_serial_sequence('leasing_leaseversion', 'id'))
                      AS dst, m.dst AS lease
                 FROM bench_src m JOIN leasing_leaseversion v ON v.lease_id = m.src"""
        )
        conn.execute(
            """INSERT INTO leasing_leaseversion (id, lease_id, number, effective_from,
                   start_date, end_date, payment_cycle, bill_lead_days, due_offset_days,
                   monthly_basis, prices_include_tax, rent_vat_rate, escalation_rate,
                   escalation_every_months, turnover_rate, early_termination_penalty_months,
                   breach_penalty_months, deposit_forfeited_on_breach, reason, created_at)
               SELECT b.dst, b.lease, v.number, v.effective_from, v.start_date, v.end_date,
                   v.payment_cycle, v.bill_lead_days, v.due_offset_days, v.monthly_basis,
                   v.prices_include_tax, v.rent_vat_rate, v.escalation_rate,
                   v.escalation_every_months, v.turnover_rate,
                   v.early_termination_penalty_months, v.breach_penalty_months,
                   v.deposit_forfeited_on_breach, v.reason, now()
                 FROM bench_ver b JOIN leasing_leaseversion v ON v.id = b.src"""
        )
        for table, columns in (
            ("leasing_rentstep", "start_date, price, basis"),
            ("leasing_freeperiod", "start_date, end_date, covers_charges"),
            ("leasing_leasecharge", "item, name, price, basis, quantity, vat_rate"),
        ):
            conn.execute(
                f"""INSERT INTO {table} (version_id, {columns})
                    SELECT b.dst, {", ".join("t." + c.strip() for c in columns.split(","))}
                      FROM bench_ver b JOIN {table} t ON t.version_id = b.src"""
            )
        conn.execute(
            """INSERT INTO leasing_leaseunit (version_id, lease_id, unit_id, area,
                   rent_per_sqm_month, period, blocking, current)
               SELECT b.dst, b.lease, u.unit_id, u.area, u.rent_per_sqm_month, u.period,
                   false, u.current
                 FROM bench_ver b JOIN leasing_leaseunit u ON u.version_id = b.src"""
        )
    print(f"  cloned {count:,} leases in {time.perf_counter() - started:.1f} s", flush=True)


def _copy_reference(conn, run_id: int) -> tuple[float, float]:
    """Seconds to COPY the run's own bill and line rows (already in memory): into empty
    copies of finance_bill and finance_billline with their indexes and check constraints
    (no foreign keys: the strict reference), and back into the tables themselves — foreign
    keys included — after deleting them, in a transaction that is rolled back."""
    bills = conn.execute("SELECT * FROM finance_bill WHERE run_id = %s", [run_id]).fetchall()
    lines = conn.execute(
        "SELECT l.* FROM finance_billline l JOIN finance_bill b ON b.id = l.bill_id"
        " WHERE b.run_id = %s",
        [run_id],
    ).fetchall()
    lines = [tuple(Jsonb(v) if isinstance(v, dict) else v for v in row) for row in lines]
    conn.commit()
    mine = "SELECT id FROM finance_bill WHERE run_id = %(run)s"
    with conn.transaction(force_rollback=True):
        conn.execute(f"UPDATE finance_meterreading SET bill_id = NULL WHERE bill_id IN ({mine})",
                     {"run": run_id})  # fmt: skip
        conn.execute(f"UPDATE finance_abatement SET bill_id = NULL WHERE bill_id IN ({mine})",
                     {"run": run_id})  # fmt: skip
        conn.execute(f"DELETE FROM finance_billline WHERE bill_id IN ({mine})", {"run": run_id})
        conn.execute(f"DELETE FROM finance_bill WHERE id IN ({mine})", {"run": run_id})
        started = time.perf_counter()
        with conn.cursor() as cursor:
            with cursor.copy("COPY finance_bill FROM STDIN") as copy:
                for row in bills:
                    copy.write_row(row)
            with cursor.copy("COPY finance_billline FROM STDIN") as copy:
                for row in lines:
                    copy.write_row(row)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks count too
        same_tables = time.perf_counter() - started
    conn.execute("DROP TABLE IF EXISTS bench_bill, bench_billline")
    for table in ("bill", "billline"):
        conn.execute(f"CREATE TABLE bench_{table} (LIKE finance_{table} INCLUDING DEFAULTS"
                     " INCLUDING CONSTRAINTS INCLUDING INDEXES)")  # fmt: skip
    conn.commit()
    started = time.perf_counter()
    with conn.cursor() as cursor:
        with cursor.copy("COPY bench_bill FROM STDIN") as copy:
            for row in bills:
                copy.write_row(row)
        with cursor.copy("COPY bench_billline FROM STDIN") as copy:
            for row in lines:
                copy.write_row(row)
    conn.commit()
    scratch = time.perf_counter() - started
    conn.execute("DROP TABLE bench_bill, bench_billline")
    conn.commit()
    return scratch, same_tables


def _cleanup(conn, start: str) -> None:
    """Remove what a bench run added (its bills, estimates, runs and the clones)."""
    runs = "SELECT id FROM finance_billingrun WHERE period = %(start)s"
    bills = f"SELECT id FROM finance_bill WHERE run_id IN ({runs})"
    with conn.transaction():
        conn.execute(f"UPDATE finance_abatement SET bill_id = NULL WHERE bill_id IN ({bills})",
                     {"start": start})  # fmt: skip
        conn.execute(
            f"DELETE FROM finance_meterreading WHERE source = 'estimated' AND bill_id IN ({bills})",
            {"start": start},
        )
        conn.execute(f"UPDATE finance_meterreading SET bill_id = NULL WHERE bill_id IN ({bills})",
                     {"start": start})  # fmt: skip
        conn.execute(f"DELETE FROM finance_billline WHERE bill_id IN ({bills})", {"start": start})
        conn.execute(f"DELETE FROM finance_bill WHERE id IN ({bills})", {"start": start})
        conn.execute(f"DELETE FROM finance_billingrun WHERE id IN ({runs})", {"start": start})
        clones = "SELECT id FROM leasing_lease WHERE remarks = 'bench-clone'"
        conn.execute(f"DELETE FROM leasing_leaseunit WHERE lease_id IN ({clones})")
        for table in ("leasing_rentstep", "leasing_freeperiod", "leasing_leasecharge"):
            conn.execute(
                f"DELETE FROM {table} WHERE version_id IN (SELECT id FROM leasing_leaseversion"
                f" WHERE lease_id IN ({clones}))"
            )
        conn.execute(f"DELETE FROM leasing_leaseversion WHERE lease_id IN ({clones})")
        conn.execute(f"DELETE FROM leasing_lease WHERE id IN ({clones})")
