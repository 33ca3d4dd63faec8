"""The platform's MQTT clients over TLS (`mqtts://`): a Mosquitto of the test's own with a TLS
listener and a certificate from a CA made here with openssl; a real `track_ingest` worker
stores what a device published over TLS, and a broker whose certificate is not trusted is
refused."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.tracking_support import (  # noqa: F401 - clean_history is an autouse fixture
    WorkerProcess,
    clean_history,
    unique_root,
    wait_for,
)
from tracking import services
from tracking.choices import DeviceKind
from tracking.mqtt import BrokerURL

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command"),
]

USER, PASSWORD = "tls-user", "tls-secret"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    """(port, CA file, a CA that did not sign the broker's certificate)."""
    here = tmp_path_factory.mktemp("tls")
    for name in ("ca", "other"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", f"/CN=GeoAsset test {name} CA", "-keyout", f"{name}.key",
                 "-out", f"{name}.crt", cwd=here)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "broker.key", "-out", "broker.csr", cwd=here)  # fmt: skip
    (here / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "broker.crt",
             cwd=here)  # fmt: skip
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(here / "passwd"), USER, PASSWORD],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    conf = [
        f"listener {port} 127.0.0.1",
        f"certfile {here / 'broker.crt'}",
        f"keyfile {here / 'broker.key'}",
        "allow_anonymous false",
        f"password_file {here / 'passwd'}",
        "persistence false",
    ]
    if os.geteuid() == 0:
        conf.append("user root")
    (here / "mosquitto.conf").write_text("\n".join(conf) + "\n")
    broker = subprocess.Popen(
        ["mosquitto", "-c", str(here / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port, here / "ca.crt", here / "other.crt"
    broker.terminate()
    broker.wait(10)


def _url(port: int, ca: Path) -> str:
    return f"mqtts://{USER}:{PASSWORD}@127.0.0.1:{port}?ca={ca}"


def test_url_names_tls_its_ca_and_the_default_port(monkeypatch):
    monkeypatch.setenv("MQTT_CA_FILE", "/etc/ssl/our-ca.crt")
    url = BrokerURL.parse("mqtts://dev%2F1:p%40ss@broker.example")
    assert (url.tls, url.port, url.ca_file) == (True, 8883, "/etc/ssl/our-ca.crt")
    assert (url.username, url.password) == ("dev/1", "p@ss")
    given = BrokerURL.parse("mqtts://broker.example:9883?ca=/srv/ca.pem")
    assert (given.port, given.ca_file) == (9883, "/srv/ca.pem")
    plain = BrokerURL.parse("mqtt://broker.example")
    assert (plain.tls, plain.port, plain.ca_file) == (False, 1883, None)
    with pytest.raises(ValueError, match="scheme 'http'"):
        BrokerURL.parse("http://broker.example")


def test_worker_stores_what_a_device_published_over_tls(tree, tls_broker, monkeypatch, settings):
    port, ca, _ = tls_broker
    url = _url(port, ca)
    monkeypatch.setenv("MQTT_URL", url)  # the worker's account, in its process
    root = unique_root()
    settings.TRACKING_TOPIC_ROOT = root
    device = services.device_create(company=tree.sub_a, code="TRK-TLS", kind=DeviceKind.GNSS)
    worker = WorkerProcess(root, client_id=f"{root}-tls")
    publisher = BrokerURL.parse(url).client()
    try:
        publisher.connect("127.0.0.1", port)
        publisher.loop_start()
        body = json.dumps({"ts": time.time() - 1, "lon": 117.2, "lat": 31.8, "speed": 5})
        topic = f"{root}/{tree.sub_a.code}/{device.code}/position"
        publisher.publish(topic, body, qos=1).wait_for_publish(10)
        stored = wait_for(
            "SELECT count(*) FROM tracking_position WHERE device_id = %s", [device.pk], 1
        )
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        output = worker.stop()
    assert stored == 1, output


def test_a_broker_signed_by_another_ca_is_refused(tls_broker):
    port, _, other = tls_broker
    client = BrokerURL.parse(_url(port, other)).client()
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        client.connect("127.0.0.1", port)
