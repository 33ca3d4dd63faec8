"""The devices' own accounts at the broker, kept by Mosquitto's dynamic security plugin.

An active device with an access token may sign in with its code as the username and its token
as the password, and may then publish only under its own topics (`ROOT/+/CODE/+`: one role
per device, `device:CODE`, as the plugin's ACLs in Mosquitto 2.0 take no username patterns).
An inactive device, or one without a token, has no account; a device's account is made anew
when its token, status or code change, which also disconnects it.

The platform sends the plugin's commands to `$CONTROL/dynamic-security/v1` with the admin
account of `MQTT_ADMIN_URL` (web/bin/mqtt_dynsec.py makes it for the project-local broker).
Without that setting nothing is sent: the broker's own administrator keeps the accounts.
Changes go out after the transaction that made them commits; `manage.py mqtt_sync` (also on
the job schedule) makes the broker's device accounts match the devices, whatever was missed.
"""

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from tracking import conf
from tracking.choices import DeviceStatus
from tracking.mqtt import BrokerURL

log = logging.getLogger("tracking.broker")

CONTROL = "$CONTROL/dynamic-security/v1"
ROLE_PREFIX = "device:"
#: Commands per control message (the plugin saves its file once per message).
CHUNK = 500


class BrokerError(Exception):
    """The broker could not be reached, or refused a command."""


def enabled() -> bool:
    return bool(settings.MQTT_ADMIN_URL)


def role_of(code: str) -> str:
    return f"{ROLE_PREFIX}{code}"


def account_commands(device, *, previous_code: str | None = None) -> list[dict]:
    """The commands that make `device`'s account what the device is: the old one removed
    (under `previous_code` too, after a change of code), a new one made for an active device
    with a token."""
    commands = removal_commands(sorted({device.code, previous_code or device.code}))
    if device.status == DeviceStatus.ACTIVE and device.token:
        topic = f"{conf.topic_root()}/+/{device.code}/+"
        commands += [
            {
                "command": "createRole",
                "rolename": role_of(device.code),
                "acls": [
                    {"acltype": "publishClientSend", "topic": topic, "priority": 0, "allow": True}
                ],
            },
            {
                "command": "createClient",
                "username": device.code,
                "password": device.token,
                "textname": device.name or device.code,
                "textdescription": fingerprint(device.token),
                "roles": [{"rolename": role_of(device.code)}],
            },
        ]
    return commands


def fingerprint(token: str) -> str:
    """What the account records of its password, so that `sync` can tell a changed token
    without the broker giving passwords back."""
    return f"token {hashlib.sha256(token.encode()).hexdigest()[:16]}"


def removal_commands(codes: Iterable[str]) -> list[dict]:
    commands = []
    for code in codes:
        commands += [
            {"command": "deleteClient", "username": code},
            {"command": "deleteRole", "rolename": role_of(code)},
        ]
    return commands


def after_commit(commands: list[dict]) -> None:
    """Send `commands` once the current transaction commits (now, outside one). A broker that
    cannot be reached is logged, not raised: the device is saved, and `mqtt_sync` makes
    up for it."""
    if not enabled() or not commands:
        return

    def send() -> None:
        try:
            run(commands)
        except BrokerError as exc:
            log.warning("device accounts not updated at the broker (mqtt_sync will): %s", exc)

    transaction.on_commit(send)


def run(commands: list[dict], *, timeout: float = 10.0) -> list[dict]:
    """Send the plugin's commands (in messages of `CHUNK`) and return its responses, in order.
    Raises BrokerError when the broker cannot be reached or answers an error, except that
    what is to be deleted is missing, which is what was wanted."""
    if not commands:
        return []
    broker = BrokerURL.parse(settings.MQTT_ADMIN_URL)
    client = broker.client(client_id=f"geoasset-admin-{uuid.uuid4().hex[:8]}")
    answers: dict[str, list[dict]] = {}
    arrived = threading.Condition()
    subscribed = threading.Event()
    refused: list[str] = []

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            refused.append(str(reason_code))
            subscribed.set()
            return
        client.subscribe(f"{CONTROL}/response", qos=1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if any(code.is_failure for code in reason_codes):
            refused.append(f"subscription refused: {reason_codes}")
        subscribed.set()

    def on_message(client, userdata, message):
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        with arrived:
            for response in body.get("responses", []):
                answers.setdefault(response.get("correlationData", ""), []).append(response)
            arrived.notify_all()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_message = on_message
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as exc:
        raise BrokerError(f"cannot reach the broker at {broker.host}:{broker.port}: {exc}") from exc
    client.loop_start()
    try:
        if not subscribed.wait(timeout) or refused:
            raise BrokerError(f"the broker refused the admin account: {refused or 'no answer'}")
        responses = []
        for start in range(0, len(commands), CHUNK):
            tag = uuid.uuid4().hex
            chunk = [{**c, "correlationData": tag} for c in commands[start : start + CHUNK]]
            client.publish(CONTROL, json.dumps({"commands": chunk}), qos=1)
            with arrived:
                answered = arrived.wait_for(_all_of(answers, tag, len(chunk)), timeout)
                if not answered:
                    raise BrokerError("the broker did not answer the account commands")
                responses += answers.pop(tag)
    finally:
        client.disconnect()
        client.loop_stop()
    errors = [
        f"{r.get('command')}: {r['error']}"
        for r in responses
        if r.get("error") and not (r.get("command", "").startswith("delete") and
                                   "not found" in r["error"].lower())
    ]  # fmt: skip
    if errors:
        raise BrokerError("; ".join(errors))
    return responses


def _all_of(answers: dict, tag: str, count: int):
    return lambda: len(answers.get(tag, ())) >= count


def device_accounts() -> dict[str, str]:
    """The devices' accounts the broker has (those with their device role): username →
    token fingerprint."""
    [response] = run([{"command": "listClients", "verbose": True, "count": -1, "offset": 0}])
    return {
        c["username"]: c.get("textdescription", "")
        for c in response.get("data", {}).get("clients", [])
        if {"rolename": role_of(c["username"])} in c.get("roles", [])
    }


def sync(devices, *, rebuild: bool = False) -> dict[str, int]:
    """Make the broker's device accounts match `devices` (every device of the platform):
    an account for each active device with a token, made when it is missing or its token
    changed (all of them with `rebuild`), and none for the rest or for codes no device has.
    Accounts that are right are left alone (remaking one disconnects the device). Returns how
    many accounts there are, were made and were removed."""
    wanted = {d.code: d for d in devices if d.status == DeviceStatus.ACTIVE and d.token}
    have = device_accounts()
    stale = sorted(set(have) - set(wanted))
    made = [
        d for code, d in sorted(wanted.items())
        if rebuild or have.get(code) != fingerprint(d.token)
    ]  # fmt: skip
    commands = removal_commands(stale)
    for device in made:
        commands += account_commands(device)
    run(commands)
    return {"accounts": len(wanted), "made": len(made), "removed": len(stale)}
