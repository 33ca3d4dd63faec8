"""Write the project-local Mosquitto's dynamic-security file (its accounts and roles) with the
platform's three service accounts, keeping whatever else the file holds (the devices'
accounts, which the platform adds over MQTT: tracking/broker.py).

    LOCAL_MQTT_ADMIN_PASSWORD=… LOCAL_MQTT_INGEST_PASSWORD=… LOCAL_MQTT_GATEWAY_PASSWORD=… \
        python3 web/bin/mqtt_dynsec.py FILE

Run by web/bin/services.sh while the broker is stopped (the plugin rewrites the file on every
change); the passwords come from the environment (var/local.env), not the command line,
which other users can see. Standard library only: it runs before the virtual environment
exists. Passwords are stored as the plugin stores them: PBKDF2-HMAC-SHA512, 101 iterations,
a 12-byte salt.

The accounts (usernames `geoasset-admin`, `geoasset-ingest`, `geoasset-gateway`):
- admin: the dynamic-security control topics only (to manage the devices' accounts);
- ingest: subscribe to any topic (also as a shared subscription), the ingest workers;
- gateway: publish to any topic, for gateways that forward many devices' messages (and the
  simulator and load generators).
Neither reaches the `$CONTROL/…` topics (`#` does not match topics that start with `$`). They
are not tied to a topic root, which a deployment and the tests choose
(TRACKING_TOPIC_ROOT); a device's own account is (tracking/broker.py).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

ITERATIONS = 101
CONTROL = "$CONTROL/dynamic-security/#"


def _hash(password: str, salt: bytes) -> str:
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    return base64.b64encode(digest).decode()


def _client(existing: dict | None, username: str, password: str, role: str) -> dict:
    """The account, its stored hash kept when the password is unchanged."""
    if existing and existing.get("salt") and existing.get("iterations") == ITERATIONS:
        salt = base64.b64decode(existing["salt"])
        if hmac.compare_digest(_hash(password, salt), existing.get("password", "")):
            return {**existing, "roles": [{"rolename": role}]}
    salt = os.urandom(12)
    return {
        "username": username,
        "textname": f"GeoAsset {role}",
        "roles": [{"rolename": role}],
        "password": _hash(password, salt),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
    }


def _acl(kind: str, topic: str) -> dict:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}


def build(config: dict, passwords: dict[str, str]) -> dict:
    roles = {
        "geoasset-admin": [
            _acl("publishClientSend", CONTROL),
            _acl("publishClientReceive", CONTROL),
            _acl("subscribePattern", CONTROL),
            _acl("unsubscribePattern", CONTROL),
        ],
        "geoasset-ingest": [
            _acl("subscribePattern", "#"),
            _acl("subscribePattern", "$share/+/#"),
            _acl("publishClientReceive", "#"),
        ],
        "geoasset-gateway": [_acl("publishClientSend", "#")],
    }
    ours = set(roles)
    clients = {c["username"]: c for c in config.get("clients", [])}
    for kind, password in passwords.items():
        name = f"geoasset-{kind}"
        clients[name] = _client(clients.get(name), name, password, name)
    kept_roles = [r for r in config.get("roles", []) if r.get("rolename") not in ours]
    return {
        # Nothing is allowed that a role does not allow; a client receives what it may
        # subscribe to.
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": list(clients.values()),
        "groups": config.get("groups", []),
        "roles": kept_roles + [{"rolename": n, "acls": acls} for n, acls in roles.items()],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[0])
    kinds = ("admin", "ingest", "gateway")
    passwords = {k: os.environ.get(f"LOCAL_MQTT_{k.upper()}_PASSWORD", "") for k in kinds}
    missing = [k for k, v in passwords.items() if not v]
    if missing:
        print(f"no password for: {', '.join(missing)}", file=sys.stderr)
        return 2
    config = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(build(config, passwords), indent=1))
    path.chmod(0o600)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
