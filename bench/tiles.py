"""Vector tile benchmark: tiles through the Django view against the same SQL run directly.

    python -m bench tiles                          # z12, z14, z15, z16; units and buildings
    python -m bench tiles --zooms 16 --layers units --tiles 20 --repeat 3 --user admin

It reads the 100k-unit demo in geoasset_bench (`python -m bench seed` builds it). The tiles
are those holding a sample of building centroids in Hefei, up to --tiles per zoom. Each
tile is fetched by a signed-in user (the group administrator `demo` unless --user says
otherwise; the demo logins are created when missing) through Django's WSGI handler, called
the way gunicorn calls it (an environ with the session cookie in, the body out), so the
request and response objects, the request signals, the middleware, session authentication,
the scoping from `restrict()` and the ETag all count; the first fetch of each tile goes
through URL routing and DRF and fills the session's cache, the timed ones take the tile
fast path (`spatial.tiles.TileFastPathMiddleware`) as a map's tiles after its first do.
The same fetch through Django's test client, which adds work of its own that no server does
(a cookie jar, template-signal hooks, decorating the response), is shown beside it. It is
set against the statement the view runs (`spatial.tiles.tile_sql` for the same user and
tile) executed directly with psycopg on a connection of its own, the way the view runs it:
bound on the server and prepared. The same statement bound on the client and unprepared,
as Django sends its own queries, is timed too. Fetches of the kinds alternate tile by tile,
so load from elsewhere hits them alike.

Per zoom and layer it prints the median and 95th percentile in milliseconds, the mean tile
size and the ratio of the medians, view over raw, against a 1.5x target. Below a layer's
minimum zoom the view answers with an empty tile and runs no tile SQL: that time is the
request's fixed cost (handler, middleware and the cached session user), shown without a
ratio.
"""

import argparse
import io
import math
import os
import statistics
import subprocess
import sys
import time

import psycopg

from bench import common

SUMMARY = "vector tiles: view vs raw ST_AsMVT SQL per zoom (median, p95, bytes, ratio)"
ORDER = 20  # after `seed`, which builds the database
TARGET_RATIO = 1.5
CHILD = "GEOASSET_BENCH_TILES_CHILD"  # set in the child process that runs against the bench DB


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench tiles",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--zooms", default="12,14,15,16", help="comma-separated zoom levels")
    parser.add_argument("--layers", default="units,buildings", help="comma-separated layers")
    parser.add_argument("--tiles", type=int, default=40, help="tiles per zoom, at most")
    parser.add_argument("--repeat", type=int, default=5, help="timed fetches of each tile")
    parser.add_argument("--user", default="demo", help="a demo login, e.g. demo or admin")
    parser.add_argument("--database", default=common.BENCH_DATABASE)
    args = parser.parse_args(argv)

    if os.environ.get(CHILD) != "1":
        problem = _bench_database_problem(args.database)
        if problem:
            print(f"tiles: {problem}; build it first with `python -m bench seed`.", file=sys.stderr)
            return 1
        # Django reads DATABASE_URL when its settings load: a child process with the bench
        # database in its environment, as `common.manage` runs manage.py.
        env = {**os.environ, CHILD: "1", "DATABASE_URL": common.database_url(args.database)}
        command = [sys.executable, "-m", "bench", "tiles", *argv]
        return subprocess.run(command, cwd=common.ROOT, env=env, check=False).returncode
    return _run(args)


def _bench_database_problem(name: str) -> str | None:
    try:
        with common.connect(name) as conn:
            units = conn.execute("SELECT count(*) FROM spatial_unit").fetchone()[0]
    except psycopg.OperationalError:
        return f"database {name} is missing"
    except psycopg.errors.UndefinedTable:
        return f"database {name} is not migrated"
    return None if units else f"database {name} holds no units"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding (lon, lat) at zoom z (Web Mercator)."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def sample_tiles(points: list[tuple[float, float]], z: int, count: int) -> list[tuple[int, int]]:
    """Up to `count` distinct tiles holding the points, spread evenly over them."""
    distinct = list(dict.fromkeys(tile_of(lon, lat, z) for lon, lat in points))
    if len(distinct) <= count:
        return distinct
    step = len(distinct) / count
    return [distinct[int(i * step)] for i in range(count)]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _run(args) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import Client

    from spatial import tiles
    from web.demo import DEFAULT_DEMO_PASSWORD, demo_users_ensure

    user_model = get_user_model()
    if not user_model.objects.filter(username=args.user).exists():
        demo_users_ensure(password=os.environ.get("DEMO_PASSWORD", DEFAULT_DEMO_PASSWORD))
    user = user_model.objects.get(username=args.user)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    server = _Server(WSGIHandler(), f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM "
            "(SELECT ST_PointOnSurface(geom) AS p, code FROM spatial_building) AS b ORDER BY code"
        )
        points = cursor.fetchall()
    zooms = [int(z) for z in args.zooms.split(",")]
    layers = [tiles.layer_get(name) for name in args.layers.split(",")]
    print(
        f"tiles: {len(points):,} buildings in {args.database}; user {args.user}; "
        f"up to {args.tiles} tiles per zoom, {args.repeat} timed fetches each",
        flush=True,
    )

    raw = common.connect(args.database, autocommit=True)
    unprepared = common.connect(args.database, cursor_factory=psycopg.ClientCursor, autocommit=True)
    failed = False
    results = []
    with raw, unprepared:
        for z in zooms:
            sample = sample_tiles(points, z, args.tiles)
            for layer in layers:
                fetchers, conns = (server, client), (raw, unprepared)
                figures = _measure(fetchers, conns, tiles, layer, user, z, sample, args)
                results.append({"zoom": z, "layer": layer.name, "tiles": len(sample), **figures})
                line = f"tiles z{z} {layer.name}: {figures['view_ms']:.2f} ms"
                if figures["raw_ms"] is None:
                    line += f" (below min zoom {layer.min_zoom}: empty tile, no tile SQL)"
                else:
                    ok = figures["ratio"] <= TARGET_RATIO
                    failed |= not ok
                    line += (
                        f" (raw {figures['raw_ms']:.2f} ms, ratio {figures['ratio']:.2f}, "
                        f"target {TARGET_RATIO}) {figures['mean_kb']:.1f} KB"
                        f"  [p95 {figures['view_p95_ms']:.1f} ms, raw p95 "
                        f"{figures['raw_p95_ms']:.1f} ms; raw unprepared "
                        f"{figures['unprepared_ms']:.2f} ms; test client "
                        f"{figures['client_ms']:.2f} ms; {len(sample)} tiles]"
                        + ("" if ok else "  ** ABOVE TARGET **")
                    )
                print(line, flush=True)
    common.record("tiles", user=args.user, target_ratio=TARGET_RATIO, results=results)
    return 1 if failed else 0


class _Server:
    """Django's WSGI handler called the way a WSGI server calls it, with a session cookie."""

    def __init__(self, handler, cookie: str):
        self.handler, self.cookie = handler, cookie

    def get(self, path: str) -> tuple[int, bytes]:
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "localhost",
            "HTTP_COOKIE": self.cookie,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        status = []
        result = self.handler(environ, lambda line, headers: status.append(line))
        try:
            body = b"".join(result)
        finally:
            result.close()  # as servers do: the request_finished signal
        return int(status[0].split()[0]), body


def _measure(fetchers, connections, tiles, layer, user, z, sample, args) -> dict:
    server, client = fetchers
    raw, unprepared = connections
    statements = {xy: tiles.tile_sql(layer, user=user, z=z, x=xy[0], y=xy[1]) for xy in sample}
    below_min_zoom = z < layer.min_zoom
    view_ms, client_ms, raw_ms, unprepared_ms, sizes = [], [], [], [], []
    # The first round warms caches, prepares the statements on both sides and checks that
    # the view and the SQL give the same bytes.
    for round_ in range(args.repeat + 1):
        for (x, y), statement in statements.items():
            path = f"/tiles/{layer.name}/{z}/{x}/{y}.pbf"
            started = time.perf_counter()
            status, content = server.get(path)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise RuntimeError(f"{status} for {layer.name} {z}/{x}/{y}")
            started = time.perf_counter()
            response = client.get(path)
            elapsed_client = time.perf_counter() - started
            if response.content != content:
                raise RuntimeError(f"handler and test client differ for {path}")
            if round_:
                view_ms.append(elapsed * 1000)
                client_ms.append(elapsed_client * 1000)
            if below_min_zoom:
                continue
            started = time.perf_counter()
            tile = raw.execute(*statement, prepare=True).fetchone()[0] or b""
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            unprepared.execute(*statement).fetchone()
            elapsed_unprepared = time.perf_counter() - started
            if round_:
                raw_ms.append(elapsed * 1000)
                unprepared_ms.append(elapsed_unprepared * 1000)
            elif bytes(tile) != content:
                raise RuntimeError(f"view and SQL differ for {layer.name} {z}/{x}/{y}")
            else:
                sizes.append(len(tile))
    if below_min_zoom:
        return {
            "view_ms": round(statistics.median(view_ms), 3),
            "client_ms": round(statistics.median(client_ms), 3),
            "raw_ms": None,
        }
    view, direct = statistics.median(view_ms), statistics.median(raw_ms)
    return {
        "view_ms": round(view, 3),
        "view_p95_ms": round(p95(view_ms), 3),
        "client_ms": round(statistics.median(client_ms), 3),
        "raw_ms": round(direct, 3),
        "raw_p95_ms": round(p95(raw_ms), 3),
        "unprepared_ms": round(statistics.median(unprepared_ms), 3),
        "ratio": round(view / direct, 3),
        "mean_kb": round(statistics.mean(sizes) / 1024, 2),
    }
