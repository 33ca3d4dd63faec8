"""Benchmarks: `python -m bench` runs them all, `python -m bench NAME [ARGS]` one of them.

Each benchmark is a module of this package with `main(argv) -> int`, a one-line `SUMMARY`
and an `ORDER` (lower runs first; `seed` builds the database the others read). They run
against their own database (`geoasset_bench` unless BENCH_DATABASE_NAME says otherwise) on
the project's PostgreSQL server, never the development database, and append their figures
to var/bench/results.jsonl. Speed is measured here, never asserted in the test suite.
"""
