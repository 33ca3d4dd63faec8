"""What the benchmarks share: the benchmark database, manage.py runs, and result records."""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dj_database_url
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = os.environ.get("BENCH_DATABASE_NAME", "geoasset_bench")


def _server_url() -> str:
    """The development DATABASE_URL, read the way the settings read it (var/local.env)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
    from django.conf import settings

    settings.DATABASES  # noqa: B018 - importing the settings loads var/local.env
    return os.environ.get("DATABASE_URL", "postgis://geoasset@127.0.0.1:54329/geoasset")


def database_url(name: str = BENCH_DATABASE) -> str:
    """The development DATABASE_URL with its database name replaced by `name`."""
    url = _server_url()
    base, _, tail = url.rpartition("/")
    query = tail.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def connect(name: str = BENCH_DATABASE, **kwargs) -> psycopg.Connection:
    params = dj_database_url.parse(database_url(name))
    return psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        **kwargs,
    )


def recreate_database(name: str = BENCH_DATABASE) -> None:
    """Drop and create `name`, with the extensions the migrations expect."""
    with connect("postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with connect(name, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    output: str


def manage(*args: str, database: str = BENCH_DATABASE) -> Run:
    """Run `manage.py ARGS` against `database` in a child process; its wall time and peak
    resident memory. Raises CalledProcessError (output included) if it fails."""
    env = {**os.environ, "DATABASE_URL": database_url(database)}
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, output)
    return Run(seconds=seconds, peak_rss_mb=usage.ru_maxrss / 1024, output=output)


def record(bench: str, **figures) -> None:
    """Append one result to var/bench/results.jsonl, for comparing runs over time."""
    folder = Path(os.environ.get("GEOASSET_VAR", ROOT / "var")) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    row = {"bench": bench, "at": datetime.now(UTC).isoformat(timespec="seconds"), **figures}
    with (folder / "results.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
