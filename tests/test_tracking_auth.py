"""Devices sign in to the broker (the project's Mosquitto, dynamic security plugin) with their
code and access token, and may publish only their own topics: against the real broker and a
real `track_ingest` worker. Accounts follow the device (token rotated, deactivated, deleted),
`mqtt_sync` repairs what was missed, and a broker out of reach never loses a device."""

import json
import logging
import time
import uuid
from dataclasses import replace

import paho.mqtt.client as paho
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.tracking_support import (  # noqa: F401 - clean_history is an autouse fixture
    WorkerProcess,
    clean_history,
    unique_root,
    wait_for,
)
from tracking import broker, services
from tracking.choices import DeviceKind, DeviceStatus
from tracking.models import Device, DeviceState, RejectedMessage
from tracking.mqtt import BrokerURL

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

HERE = (117.2005, 31.8005)


@pytest.fixture
def root(settings):
    """A topic root of this test's own, which device accounts are made for too."""
    settings.TRACKING_TOPIC_ROOT = unique_root()
    return settings.TRACKING_TOPIC_ROOT


@pytest.fixture
def code():
    """A device code of this test's own (the broker's accounts outlive the test database);
    its account is removed afterwards."""
    value = f"T-{uuid.uuid4().hex[:10].upper()}"
    yield value
    broker.run(broker.removal_commands([value]))


def _sign_in(username: str | None, password: str | None) -> tuple[paho.Client, str]:
    """A connected client and the broker's answer to its CONNECT."""
    url = replace(BrokerURL.parse(settings.MQTT_URL), username=username, password=password)
    client = url.client()
    answer = []
    client.on_connect = lambda c, u, f, reason, p: answer.append(str(reason))
    client.connect(url.host, url.port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not answer and time.monotonic() < deadline:
        time.sleep(0.02)
    return client, answer[0] if answer else "no answer"


def _closed(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def _fix(t: float) -> str:
    return json.dumps({"ts": t, "lon": HERE[0], "lat": HERE[1], "speed": 10})


def test_nobody_signs_in_without_an_account():
    for username, password in ((None, None), ("geoasset-ingest", "wrong"), ("nobody", "x")):
        client, answer = _sign_in(username, password)
        _closed(client)
        assert answer == "Not authorized", (username, answer)


def test_device_publishes_its_own_positions_and_nobody_elses(tree, root, code):
    # given a device made through the service (its account follows the commit), and a worker
    device = services.device_create(company=tree.sub_a, code=code, kind=DeviceKind.GNSS)
    other = services.device_create(company=tree.sub_a, code=f"{code}-B", kind=DeviceKind.GNSS)
    assert len(device.token) >= 32 and device.token != other.token
    worker = WorkerProcess(root, client_id=f"{root}-w")
    client, answer = _sign_in(device.code, device.token)
    try:
        assert answer == "Success"
        # when it reports for itself, and pretends to be the other device
        now = time.time()
        own = f"{root}/{tree.sub_a.code}/{device.code}/position"
        client.publish(own, _fix(now - 5), qos=1).wait_for_publish(5)
        client.publish(f"{root}/{tree.sub_a.code}/{other.code}/position", _fix(now), qos=1)
        client.publish(own, _fix(now - 1), qos=1).wait_for_publish(5)
        # then its own fixes are stored; the broker dropped the other (never reached the worker)
        stored = wait_for(
            "SELECT count(*) FROM tracking_position WHERE device_id = %s", [device.pk], 2
        )
        time.sleep(0.3)
    finally:
        _closed(client)
        output = worker.stop()
        broker.run(broker.removal_commands([other.code]))
    assert stored == 2, output
    assert not DeviceState.objects.filter(device=other).exists()
    assert not RejectedMessage.objects.exists()


def test_account_follows_the_token_the_status_and_the_device(tree, root, code):
    device = services.device_create(company=tree.sub_a, code=code, kind=DeviceKind.GNSS)
    old = device.token
    # a new token: the old one no longer signs in
    device = services.device_token_rotate(device)
    assert device.token != old
    for password, expected in ((old, "Not authorized"), (device.token, "Success")):
        client, answer = _sign_in(code, password)
        _closed(client)
        assert answer == expected
    # inactive: no account
    services.device_update(device, status=DeviceStatus.INACTIVE)
    client, answer = _sign_in(code, device.token)
    _closed(client)
    assert answer == "Not authorized" and code not in broker.device_accounts()
    # active again, then deleted
    services.device_update(device, status=DeviceStatus.ACTIVE)
    assert code in broker.device_accounts()
    services.device_delete(device)
    assert code not in broker.device_accounts()


def test_a_new_code_moves_the_account(tree, root, code):
    device = services.device_create(company=tree.sub_a, code=code, kind=DeviceKind.GNSS)
    renamed = f"{code}-N"
    try:
        services.device_update(device, code=renamed)
        accounts = broker.device_accounts()
        assert renamed in accounts and code not in accounts
        client, answer = _sign_in(renamed, device.token)
        _closed(client)
        assert answer == "Success"
    finally:
        broker.run(broker.removal_commands([renamed]))


def test_sync_makes_missing_accounts_mends_changed_ones_and_removes_strays(tree, root, code):
    # given devices written without the service (as bulk loads do), and a stray account
    made = Device.objects.bulk_create(
        [Device(company=tree.sub_a, code=f"{code}-{n}", kind="gnss", token=f"tok-{n}-{code}")
         for n in range(3)]
    )  # fmt: skip
    Device.objects.bulk_create([Device(company=tree.sub_a, code=f"{code}-X", kind="gnss")])
    stray = Device(code=f"{code}-GONE", token="t", status=DeviceStatus.ACTIVE)
    broker.run(broker.account_commands(stray))
    try:
        # when synced
        call_command("mqtt_sync")
        accounts = broker.device_accounts()
        # then every device with a token has its account, the tokenless and the stray none
        assert {d.code for d in made} <= set(accounts)
        assert f"{code}-X" not in accounts and stray.code not in accounts
        client, answer = _sign_in(made[0].code, made[0].token)
        _closed(client)
        assert answer == "Success"
        # a token changed behind the platform's back is mended; the rest left alone
        Device.objects.filter(pk=made[1].pk).update(token="changed-" + code)
        counts = broker.sync(Device.objects.all())
        assert counts["made"] == 1 and counts["removed"] == 0
        client, answer = _sign_in(made[1].code, "changed-" + code)
        _closed(client)
        assert answer == "Success"
    finally:
        broker.run(broker.removal_commands([d.code for d in made]))


def test_broker_out_of_reach_keeps_the_device_and_the_sync_says_why(tree, root, settings, caplog):
    code = f"T-{uuid.uuid4().hex[:10].upper()}"  # no account is made: nothing to clean up
    settings.MQTT_ADMIN_URL = "mqtt://geoasset-admin:x@127.0.0.1:9"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="tracking.broker"):
        device = services.device_create(company=tree.sub_a, code=code, kind=DeviceKind.GNSS)
    assert Device.objects.filter(pk=device.pk).exists()
    assert "mqtt_sync will" in caplog.text
    with pytest.raises(CommandError, match="cannot reach the broker at 127.0.0.1:9"):
        call_command("mqtt_sync")


def test_api_shows_the_token_on_creation_and_rotation_only(tree, root, code, field_a, readonly_a):
    api = APIClient()
    api.force_authenticate(field_a)
    created = api.post(
        "/api/tracking/devices/",
        {"code": code, "kind": "gnss", "company": tree.sub_a.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.data["username"] == code and len(created.data["token"]) >= 32
    read = api.get(f"/api/tracking/devices/{created.data['id']}/")
    assert "token" not in read.data
    rotated = api.post(f"/api/tracking/devices/{created.data['id']}/token/")
    assert rotated.status_code == 200
    assert rotated.data["token"] != created.data["token"]
    client, answer = _sign_in(code, created.data["token"])
    _closed(client)
    assert answer == "Not authorized"
    client, answer = _sign_in(code, rotated.data["token"])
    _closed(client)
    assert answer == "Success"
    # who may only read gets no new token
    api.force_authenticate(readonly_a)
    refused = api.post(f"/api/tracking/devices/{created.data['id']}/token/")
    assert refused.status_code == 403
    assert Device.objects.get(pk=created.data["id"]).token == rotated.data["token"]
