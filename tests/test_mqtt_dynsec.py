"""The local broker's account file (web/bin/mqtt_dynsec.py): the service accounts written
with hashes the plugin checks, the devices' accounts kept, a password's hash kept while the
password is the same."""

import base64
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parent.parent / "web" / "bin" / "mqtt_dynsec.py"
spec = importlib.util.spec_from_file_location("mqtt_dynsec", PATH)
dynsec = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dynsec)

PASSWORDS = {"admin": "a-secret", "ingest": "i-secret", "gateway": "g-secret"}


def _checks(client: dict, password: str) -> bool:
    """The plugin's check: PBKDF2-HMAC-SHA512 of the password with the stored salt."""
    salt = base64.b64decode(client["salt"])
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, client["iterations"], 64)
    return base64.b64encode(digest).decode() == client["password"]


def test_service_accounts_are_written_with_their_roles_and_checkable_hashes():
    config = dynsec.build({}, PASSWORDS)
    clients = {c["username"]: c for c in config["clients"]}
    assert set(clients) == {"geoasset-admin", "geoasset-ingest", "geoasset-gateway"}
    for kind, password in PASSWORDS.items():
        client = clients[f"geoasset-{kind}"]
        assert _checks(client, password) and not _checks(client, "wrong")
        assert client["roles"] == [{"rolename": f"geoasset-{kind}"}]
    roles = {r["rolename"]: r["acls"] for r in config["roles"]}
    assert {a["topic"] for a in roles["geoasset-admin"]} == {"$CONTROL/dynamic-security/#"}
    assert [a["acltype"] for a in roles["geoasset-gateway"]] == ["publishClientSend"]
    assert config["defaultACLAccess"]["publishClientSend"] is False


def test_devices_accounts_are_kept_and_unchanged_passwords_keep_their_hash():
    first = dynsec.build({}, PASSWORDS)
    device = {"username": "TRK-1", "roles": [{"rolename": "device:TRK-1"}], "password": "x"}
    first["clients"].append(device)
    first["roles"].append({"rolename": "device:TRK-1", "acls": []})
    again = dynsec.build(json.loads(json.dumps(first)), {**PASSWORDS, "gateway": "new-secret"})
    before = {c["username"]: c for c in first["clients"]}
    after = {c["username"]: c for c in again["clients"]}
    assert after["TRK-1"] == device
    assert "device:TRK-1" in {r["rolename"] for r in again["roles"]}
    assert after["geoasset-admin"]["password"] == before["geoasset-admin"]["password"]
    assert _checks(after["geoasset-gateway"], "new-secret")
    assert len([r for r in again["roles"] if r["rolename"] == "geoasset-admin"]) == 1


def test_missing_passwords_are_refused(tmp_path, monkeypatch, capsys):
    for kind in PASSWORDS:
        monkeypatch.delenv(f"LOCAL_MQTT_{kind.upper()}_PASSWORD", raising=False)
    monkeypatch.setenv("LOCAL_MQTT_ADMIN_PASSWORD", "a")
    assert dynsec.main([str(tmp_path / "dynsec.json")]) == 2
    assert "ingest, gateway" in capsys.readouterr().err
    assert not (tmp_path / "dynsec.json").exists()


@pytest.mark.parametrize("argv", [[], ["a", "b"]])
def test_usage_is_shown_for_wrong_arguments(argv, capsys):
    assert dynsec.main(argv) == 2
    assert "mqtt_dynsec.py FILE" in capsys.readouterr().err
