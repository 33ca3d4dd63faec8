"""Tracking benchmark: MQTT publish → stored position with geofence evaluation.

    python -m bench tracking                     # 10,000 devices, 1,000 geofences, 20 s
    python -m bench tracking --seconds 30 --workers 2 --publishers 1 --rate 0 --qos 0

A scratch database (geoasset_bench_tracking) is created and migrated, then seeded with
10,000 GNSS devices in one company and 1,000 square geofences (200 m) around Hefei, each
with a must-stay-inside rule for its 10 devices (debounce 1 fix). Ingest workers
(`manage.py track_ingest`, separate processes, one MQTT v5 shared subscription) and
publisher processes run on this machine beside Mosquitto and PostgreSQL: on 2 cores they
all share the CPU, so the figure is for the whole pipeline on one small box.

Each device reports about once a second, jittering inside its fence; every 200th message
is a device leaving its fence (a crossing), which must open one alert. Figures:
  - published and stored messages per second (stored = rows in the position history,
    over the time from the first publish until the history stops growing),
  - publish-to-alert delay for crossing messages: alert rows are polled every 50 ms, the
    delay is (seen − the crossing message's own timestamp, taken when it was published),
  - the ratios to the 10,000 msg/s target and the 1,111 msg/s reference platform.
"""

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time

from bench import common

SUMMARY = "tracking: MQTT → stored positions + geofences, msg/s and publish-to-alert delay"
ORDER = 60
DATABASE = "geoasset_bench_tracking"
CHILD = "GEOASSET_BENCH_TRACKING_CHILD"
TARGET, REFERENCE = 10_000, 1_111
ROOT_TOPIC = "bench"
COMPANY = "BENCH"
CROSS_EVERY = 200


def parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m bench tracking",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--geofences", type=int, default=1_000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--publishers", type=int, default=1)
    p.add_argument("--rate", type=float, default=0, help="msg/s over all publishers; 0: max")
    p.add_argument("--qos", type=int, default=0, choices=(0, 1))
    p.add_argument("--batch-size", type=int, default=5000)
    p.add_argument("--flush-ms", type=int, default=100)
    p.add_argument("--keep", action="store_true", help="reuse the seeded database")
    p.add_argument(
        "--publisher",
        choices=("raw", "paho"),
        default="raw",
        help="raw: pre-encoded MQTT 5 PUBLISH packets written straight to a socket (QoS 0 "
        "only; the devices are not on this box in reality, so the load generator should "
        "take as little of its 2 cores as possible); paho: paho-mqtt client.publish",
    )
    p.add_argument(
        "--publish-only",
        action="store_true",
        help="measure the publisher alone: publish to a topic no worker reads",
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if os.environ.get(CHILD):
        return child(args)
    if not args.keep and not args.publish_only:
        common.recreate_database(DATABASE)
        common.manage("migrate", "--verbosity", "0", database=DATABASE)
    env = {
        **os.environ,
        CHILD: "1",
        "DATABASE_URL": common.database_url(DATABASE),
        "DJANGO_SETTINGS_MODULE": "web.settings",
    }
    return subprocess.call(
        [sys.executable, "-m", "bench", "tracking", *argv], cwd=common.ROOT, env=env
    )


# -- child: runs against the scratch database -----------------------------------------------


def fence_centre(i: int) -> tuple[float, float]:
    """Fences on a 40-wide grid, 500 m apart, from (117.15 E, 31.75 N)."""
    return 117.15 + (i % 40) * 0.0053, 31.75 + (i // 40) * 0.0045


def seed(args) -> None:
    import django

    django.setup()
    from django.contrib.gis.geos import MultiPolygon, Polygon
    from django.db import connection, transaction

    from spatial.choices import CompanyKind
    from spatial.services import company_create
    from tracking.models import Device, Geofence, Rule

    with transaction.atomic():
        if Device.objects.filter(code="B00000").exists():
            return
        company = company_create(code=COMPANY, name="基准测试公司", kind=CompanyKind.GROUP)
        d = 0.0009  # ~100 m in latitude, ~85 m in longitude: a ~170 x 200 m square
        fences = []
        for i in range(args.geofences):
            x, y = fence_centre(i)
            ring = ((x - d, y - d), (x + d, y - d), (x + d, y + d), (x - d, y + d), (x - d, y - d))
            fences.append(
                Geofence(
                    company=company,
                    name=f"F{i:04d}",
                    kind="polygon",
                    geom=MultiPolygon(Polygon(ring), srid=4326),
                )
            )
        Geofence.objects.bulk_create(fences, batch_size=500)
        Device.objects.bulk_create(
            [
                Device(company=company, code=f"B{n:05d}", kind="gnss", max_speed_kmh=1200)
                for n in range(args.devices)
            ],
            batch_size=2000,
        )
        rules = Rule.objects.bulk_create(
            [
                Rule(
                    company=company,
                    name=f"R{i:04d}",
                    kind="exit",
                    level="warning",
                    geofence=f,
                    debounce_points=1,
                )
                for i, f in enumerate(fences)
            ],
            batch_size=500,
        )
        devices = list(Device.objects.order_by("code").values_list("pk", flat=True))
        through = Rule.devices.through
        through.objects.bulk_create(
            [
                through(rule_id=rules[n % len(rules)].pk, device_id=pk)
                for n, pk in enumerate(devices)
            ],
            batch_size=5000,
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _gateway_url() -> str:
    """The account the load generators publish with (a gateway's: any device's topics)."""
    from django.conf import settings

    return settings.MQTT_GATEWAY_URL


def publisher(
    index: int, count: int, args, devices: int, fences: int, stop_at: float, start_at: float, out
) -> None:
    from tracking.mqtt import BrokerURL

    broker = BrokerURL.parse(_gateway_url())
    client = broker.client(client_id=f"bench-pub-{index}-{os.getpid()}")
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    rng = random.Random(index)
    mine = list(range(index, devices, count))
    rate = args.rate / count if args.rate else 0
    sent = crossings = 0
    outside: set[int] = set()
    while time.time() < start_at:
        time.sleep(0.001)
    begin = time.time()
    while True:
        now = time.time()
        if now >= stop_at:
            break
        if rate and sent > (now - begin) * rate:
            time.sleep(0.0005)
            continue
        n = mine[sent % len(mine)]
        x, y = fence_centre(n % fences)
        if n in outside:  # come back in
            outside.discard(n)
        elif sent % CROSS_EVERY == 0:
            outside.add(n)
        if n in outside:
            x += 0.0015  # ~140 m east of the centre: outside the square
            crossings += 1
        else:
            x += rng.uniform(-0.0003, 0.0003)
            y += rng.uniform(-0.0003, 0.0003)
        body = json.dumps(
            {"ts": round(now, 4), "lon": round(x, 7), "lat": round(y, 7), "speed": 20.0}
        )
        client.publish(f"{args.topic_root}/{COMPANY}/B{n:05d}/position", body, qos=args.qos)
        sent += 1
    client.loop_stop()
    client.disconnect()
    out.put((sent, crossings, time.time() - begin, os.times()))


def raw_publisher(
    index: int, count: int, args, devices: int, fences: int, stop_at: float, start_at: float, out
) -> None:
    """The same traffic as `publisher`, but each message formatted with one %-format and
    sent as a ready MQTT 5 PUBLISH packet, written in chunks of about 1 ms."""
    import socket

    from tracking.mqtt import BrokerURL, connect_packet, varint

    broker = BrokerURL.parse(_gateway_url())
    if broker.tls:
        raise SystemExit("the raw publisher speaks plain MQTT only: use --publisher paho")
    sock = socket.create_connection((broker.host, broker.port))
    sock.sendall(
        connect_packet(
            f"bench-raw-{index}-{os.getpid()}", 60, True, 0, 100, broker.username, broker.password
        )
    )
    if sock.recv(64)[:1] != b"\x20":
        raise RuntimeError("no CONNACK")
    root = args.topic_root
    rng = random.Random(index)
    mine = list(range(index, devices, count))
    # per device: the fixed head of its PUBLISH packet up to the payload, and its fence
    heads = {}
    for n in mine:
        topic = f"{root}/{COMPANY}/B{n:05d}/position".encode()
        heads[n] = (len(topic).to_bytes(2, "big") + topic + b"\x00", fence_centre(n % fences))
    rate = args.rate / count if args.rate else 0
    sent = crossings = 0
    outside: set[int] = set()
    chunk: list[bytes] = []
    while time.time() < start_at:
        time.sleep(0.001)
    begin = time.time()
    now = begin
    while now < stop_at:
        if rate and sent > (now - begin) * rate:
            if chunk:
                sock.sendall(b"".join(chunk))
                chunk.clear()
            time.sleep(0.0005)
            now = time.time()
            continue
        for _ in range(64):
            n = mine[sent % len(mine)]
            head, (x, y) = heads[n]
            if n in outside:  # come back in
                outside.discard(n)
            elif sent % CROSS_EVERY == 0:
                outside.add(n)
            if n in outside:
                x += 0.0015
                crossings += 1
            else:
                x += rng.uniform(-0.0003, 0.0003)
                y += rng.uniform(-0.0003, 0.0003)
            body = head + b'{"ts":%.4f,"lon":%.7f,"lat":%.7f,"speed":20.0}' % (now, x, y)
            chunk.append(b"\x30" + varint(len(body)) + body)
            sent += 1
        sock.sendall(b"".join(chunk))
        chunk.clear()
        now = time.time()
    sock.sendall(b"\xe0\x00")
    sock.close()
    out.put((sent, crossings, time.time() - begin, os.times()))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def mosquitto_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() == "mosquitto":
                        found.append(int(entry))
            except OSError:
                pass
    return found


def machine_busy() -> float:
    """CPU seconds (all cores, all processes) spent non-idle so far."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def publish_only(args) -> int:
    """The publisher alone, to a topic no worker reads (the broker drops the messages)."""
    args.topic_root = "benchnull"
    out = multiprocessing.Queue()
    start_at = time.time() + 0.5
    stop_at = start_at + args.seconds
    target = raw_publisher if args.publisher == "raw" else publisher
    broker = mosquitto_pids()
    broker_before = sum(cpu_seconds(p) for p in broker)
    pubs = [
        multiprocessing.Process(
            target=target,
            args=(i, args.publishers, args, args.devices, args.geofences, stop_at, start_at, out),
        )
        for i in range(args.publishers)
    ]
    for p in pubs:
        p.start()
    results = [out.get() for _ in pubs]
    for p in pubs:
        p.join()
    sent = sum(r[0] for r in results)
    seconds = max(r[2] for r in results)
    cpu = sum(r[3].user + r[3].system for r in results)
    broker_cpu = sum(cpu_seconds(p) for p in broker) - broker_before
    print(
        f"publisher only ({args.publisher}, {args.publishers} process(es), qos {args.qos}): "
        f"{sent} in {seconds:.1f} s = {sent / seconds:,.0f} msg/s; publisher CPU "
        f"{cpu / seconds:.2f} cores ({cpu / sent * 1e6:.0f} us/msg), broker CPU "
        f"{broker_cpu / seconds:.2f} cores"
    )
    return 0


def child(args) -> int:
    import django

    if args.publish_only:
        django.setup()
        return publish_only(args)
    args.topic_root = ROOT_TOPIC
    if args.publisher == "raw" and args.qos != 0:
        args.publisher = "paho"  # the raw publisher does no QoS 1 flow control
    seed(args)
    from django.db import connection

    django.setup()

    def scalar(sql, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE tracking_position, tracking_alert, tracking_rejectedmessage, "
            "tracking_devicestate CASCADE"
        )
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(common.ROOT / "manage.py"),
                "track_ingest",
                "--root",
                ROOT_TOPIC,
                "--group",
                "bench",
                "--client-id",
                f"bench-worker-{w}",
                "--qos",
                str(args.qos),
                "--batch-size",
                str(args.batch_size),
                "--flush-ms",
                str(args.flush_ms),
                "--session-expiry",
                "0",
            ],
            cwd=common.ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for w in range(args.workers)
    ]
    for w in workers:  # wait for "subscribed"
        for line in w.stdout:
            if "subscribed to" in line:
                break
    time.sleep(1)
    out = multiprocessing.Queue()
    start_at = time.time() + 1.0
    stop_at = start_at + args.seconds

    def session_pids() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            return [row[0] for row in cursor.fetchall()]

    pg_pids = session_pids()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type IN"
            " ('walwriter', 'checkpointer', 'background writer', 'autovacuum launcher')"
        )
        pg_aux = [row[0] for row in cursor.fetchall()]
    broker = mosquitto_pids()
    watched = {
        "worker": [w.pid for w in workers],
        "postgres (worker sessions)": pg_pids,
        "postgres (wal, checkpoints)": pg_aux,
        "mosquitto": broker,
    }
    cpu_before = {k: sum(cpu_seconds(p) for p in v) for k, v in watched.items()}
    busy_before, wall_before = machine_busy(), time.time()
    target = raw_publisher if args.publisher == "raw" else publisher
    pubs = [
        multiprocessing.Process(
            target=target,
            args=(i, args.publishers, args, args.devices, args.geofences, stop_at, start_at, out),
        )
        for i in range(args.publishers)
    ]
    for p in pubs:
        p.start()
    delays: list[float] = []
    seen_alert = 0
    last_count, last_change = -1, time.time()
    while True:
        time.sleep(0.05)
        now = time.time()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, extract(epoch FROM triggered_at) FROM tracking_alert "
                "WHERE id > %s ORDER BY id",
                [seen_alert],
            )
            for alert_id, triggered in cursor.fetchall():
                delays.append(now - float(triggered))
                seen_alert = alert_id
        if now > stop_at:
            count = scalar("SELECT count(*) FROM tracking_position")
            if count != last_count:
                last_count, last_change = count, now
            elif now - last_change > 3:
                break
    results = [out.get() for _ in pubs]
    for p in pubs:
        p.join()
    # the workers' writer threads open their database sessions at their first batch
    watched["postgres (worker sessions)"] = sorted(set(pg_pids) | set(session_pids()))
    cpu_used = {k: sum(cpu_seconds(p) for p in v) - cpu_before[k] for k, v in watched.items()}
    cpu_used["publisher"] = sum(r[3].user + r[3].system for r in results)
    busy, busy_wall = machine_busy() - busy_before, time.time() - wall_before
    for w in workers:
        w.terminate()
    outputs = [w.communicate(timeout=30)[0] for w in workers]
    stored = scalar("SELECT count(*) FROM tracking_position")
    rejected = scalar("SELECT count(*) FROM tracking_rejectedmessage")
    alerts = scalar("SELECT count(*) FROM tracking_alert")
    first, last = (
        scalar("SELECT extract(epoch FROM min(received_at)) FROM tracking_position"),
        scalar("SELECT extract(epoch FROM max(received_at)) FROM tracking_position"),
    )
    sent = sum(r[0] for r in results)
    crossings = sum(r[1] for r in results)
    pub_seconds = max(r[2] for r in results)
    # first publish to the moment the history stopped growing (seen by the 50 ms poll)
    ingest_seconds = last_change - start_at
    stored_rate = stored / max(ingest_seconds, 1e-9)
    p50 = statistics.median(delays) if delays else float("nan")
    p95 = statistics.quantiles(delays, n=20)[-1] if len(delays) >= 20 else max(delays or [0])
    print(
        f"devices={args.devices} geofences={args.geofences} rules={args.geofences} "
        f"workers={args.workers} publishers={args.publishers} qos={args.qos} "
        f"cpus={os.cpu_count()}"
    )
    print(
        f"published {sent} in {pub_seconds:.1f} s = {sent / pub_seconds:,.0f} msg/s; "
        f"crossings published {crossings}"
    )
    print(
        f"stored {stored} positions ({stored / max(sent, 1):.1%} of published), rejected "
        f"{rejected}; received_at span {float(last) - float(first):.1f} s"
    )
    print(
        f"sustained stored rate: {stored_rate:,.0f} msg/s "
        f"({stored_rate / TARGET:.2f}x the {TARGET:,} target, "
        f"{stored_rate / REFERENCE:.1f}x the {REFERENCE:,} reference)"
    )
    print(
        f"alerts opened {alerts}; publish-to-alert delay p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {max(delays or [0]) * 1000:.0f} ms"
    )
    for o in outputs:
        print("worker:", o.strip().splitlines()[-1] if o.strip() else "(no output)")
    print(f"CPU over {busy_wall:.1f} s (cores busy on average; the machine has {os.cpu_count()}):")
    for name, seconds in sorted(cpu_used.items(), key=lambda item: -item[1]):
        print(f"  {name:<30} {seconds / busy_wall:5.2f}  ({seconds:6.1f} s)")
    others = busy - sum(cpu_used.values())
    print(f"  {'everything else on the machine':<30} {others / busy_wall:5.2f}  ({others:6.1f} s)")
    common.record(
        "tracking",
        devices=args.devices,
        geofences=args.geofences,
        workers=args.workers,
        publishers=args.publishers,
        qos=args.qos,
        published=sent,
        stored=stored,
        stored_per_s=round(stored_rate),
        alerts=alerts,
        alert_p50_ms=round(p50 * 1000) if delays else None,  # no alert: no delay to tell
        alert_p95_ms=round(p95 * 1000) if delays else None,
        publisher=args.publisher,
        cpu_cores={k: round(v / busy_wall, 2) for k, v in cpu_used.items()},
        machine_cores_busy=round(busy / busy_wall, 2),
    )
    return 0
