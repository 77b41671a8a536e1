"""Tokens (JWT) end to end: issuers made with the CLI, paho clients on loopback, refusals in `log --json`, a token
that expires during its session, and the token string in no file the run wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mqttdesk.core.acl import Permission
from tests.integration.harness import run_cli
from tests.integration.mqtt5_client import V5Client

SECRET = "integration-secret-that-is-long-enough"


def _hmac_issuer(data_dir: Path, name: str = "lab", *extra: str) -> None:
    result = run_cli(data_dir, "token", "issuer", "add", name, "--secret-stdin", "--iss", "lab", "--aud", "mqtt",
                     "--role", "sensors", *extra, stdin=SECRET + "\n")
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout


def _mint(data_dir: Path, *args: str) -> str:
    result = run_cli(data_dir, "token", "mint", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _log(data_dir: Path, limit: int = 20) -> list[dict[str, object]]:
    result = run_cli(data_dir, "log", "--json", "--limit", str(limit))
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _sensors(admin) -> None:  # type: ignore[no-untyped-def]
    admin.roles.add("sensors")
    admin.roles.allow("sensors", "sensors/%u/#", Permission.READWRITE)


def _lab_token(**claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "s-1", "iss": "lab", "aud": "mqtt", "iat": now, "exp": now + 600, **claims}, SECRET,
                      algorithm="HS256")


def test_hs256_and_rs256_tokens_connect_and_the_clients_view_shows_method_and_expiry(
        admin, instance, client, data_dir, tmp_path):  # type: ignore[no-untyped-def]
    _sensors(admin)
    _hmac_issuer(data_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "idp.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    assert run_cli(data_dir, "token", "issuer", "add", "idp", "--public-key", str(pem), "--iss", "idp",
                   "--role", "sensors").returncode == 0
    instance.sync()
    hs = client("hs-1", username="whoever", password=_mint(data_dir, "lab", "--sub", "s-1", "--ttl", "1h"))
    assert hs.connect() == 0
    rs_token = jwt.encode({"sub": "s-2", "iss": "idp", "exp": int(time.time()) + 600}, key, algorithm="RS256")
    rs = client("rs-1", username="s-2", password=rs_token)
    assert rs.connect() == 0
    assert rs.subscribe("sensors/s-2/#") == 0  # %u is the token's subject
    assert rs.subscribe("sensors/s-1/#") == 0x80
    listed = {c["client_id"]: c for c in json.loads(run_cli(data_dir, "clients", "--json").stdout)}
    assert listed["hs-1"]["method"] == "token"
    assert listed["hs-1"]["username"] == "s-1"
    assert listed["hs-1"]["expires_at"] is not None
    assert listed["rs-1"]["credential"] == {"kind": "token", "name": "idp:s-2"}
    issuers = json.loads(run_cli(data_dir, "token", "issuer", "list", "--json").stdout)
    assert [i["name"] for i in issuers] == ["idp", "lab"]
    assert SECRET not in json.dumps(issuers)


def test_refused_tokens_carry_their_reason_in_the_log(admin, instance, client, data_dir):  # type: ignore[no-untyped-def]
    _sensors(admin)
    _hmac_issuer(data_dir)
    instance.sync()
    cases = {
        "expired": (_lab_token(exp=int(time.time()) - 10), 5, "token-expired"),
        "signature": (jwt.encode({"sub": "s-1", "iss": "lab", "aud": "mqtt"}, SECRET + "-other", algorithm="HS256"),
                      4, "token-bad-signature"),
        "audience": (_lab_token(aud="elsewhere"), 5, "token-wrong-audience"),
        "issuer": (jwt.encode({"sub": "s-1", "iss": "stranger"}, SECRET, algorithm="HS256"), 4,
                   "token-unknown-issuer"),
    }
    for client_id, (token, connack, _code) in cases.items():
        assert client(client_id, username="s-1", password=token).connect() == connack, client_id
    instance.flush_log()
    refused = {e["client_id"]: e for e in _log(data_dir) if e["kind"] == "CONNECT"}
    for client_id, (_token, _connack, code) in cases.items():
        assert refused[client_id]["reason_code"] == code, refused[client_id]
        assert refused[client_id]["method"] == "token"
    assert "expired at" in str(refused["expired"]["reason"])


def test_a_token_in_the_username_field_connects(admin, instance, client, data_dir):  # type: ignore[no-untyped-def]
    _sensors(admin)
    _hmac_issuer(data_dir, "badge", "--field", "username")
    instance.sync()
    token = _mint(data_dir, "badge", "--sub", "door-3", "--acl", "doors/door-3/#=readwrite")
    door = client("door-3", username=token)
    assert door.connect() == 0
    assert door.subscribe("doors/door-3/#") == 0  # its acl claim
    instance.flush_log()
    accepted = [e for e in _log(data_dir) if e["kind"] == "CONNECT"][-1]
    assert accepted["username"] == "door-3"
    assert accepted["reason_code"] == "authenticated"


def test_a_session_ends_when_its_token_expires_and_no_file_holds_the_token(
        admin, instance, client, data_dir):  # type: ignore[no-untyped-def]
    _sensors(admin)
    _hmac_issuer(data_dir)
    instance.sync()
    token = _mint(data_dir, "lab", "--sub", "s-1", "--ttl", "2s")
    legacy = client("old-1", username="s-1", password=token)
    assert legacy.connect() == 0
    v5 = V5Client("new-1", instance.port, username="s-1", password=token)
    try:
        assert v5.connect() == 0
        assert v5.wait_disconnected(10)
        assert v5.disconnect_code == 0xA0  # Maximum connect time: it was admitted until then
        assert "expired at" in (v5.disconnect_reason_string or "")
    finally:
        v5.close()
    assert legacy.wait_disconnected(10)
    assert client("late-1", username="s-1", password=token).connect() == 5  # expired now
    instance.flush_log()
    ends = [e for e in _log(data_dir) if e["kind"] == "DISCONNECT" and e["reason_code"] == "token-expired"]
    assert {e["client_id"] for e in ends} == {"old-1", "new-1"}
    instance.call(instance.store.connection.execute, "PRAGMA wal_checkpoint(PASSIVE)")  # the WAL is scanned too
    signature = token.rsplit(".", 1)[1]
    written = [path for path in data_dir.rglob("*") if path.is_file()]
    assert written
    for path in written:
        data = path.read_bytes()
        assert token.encode() not in data, path
        assert signature.encode() not in data, path
        assert SECRET.encode() not in data or path.name.startswith("mqttdesk.sqlite3"), path


def test_deleting_the_issuer_disconnects_its_sessions(admin, instance, client, data_dir):  # type: ignore[no-untyped-def]
    _sensors(admin)
    _hmac_issuer(data_dir)
    instance.sync()
    holder = client("s-1", username="s-1", password=_mint(data_dir, "lab", "--sub", "s-1"))
    assert holder.connect() == 0
    assert run_cli(data_dir, "token", "issuer", "delete", "lab").returncode == 0
    assert holder.wait_disconnected(5)
    instance.flush_log()
    ends = [e for e in _log(data_dir) if e["kind"] == "DISCONNECT"]
    assert ends[-1]["reason_code"] == "credential-changed"
    assert "token issuer 'lab' was deleted" in str(ends[-1]["reason"])


def test_token_commands_refuse_what_they_cannot_do(admin, data_dir, tmp_path):  # type: ignore[no-untyped-def]
    short = run_cli(data_dir, "token", "issuer", "add", "lab", "--secret-stdin", stdin="short\n")
    assert short.returncode == 1
    assert "at least 32 bytes" in short.stderr
    assert run_cli(data_dir, "token", "issuer", "add", "lab").returncode == 2  # a key is required
    pem = tmp_path / "not.pem"
    pem.write_text("not a key")
    assert run_cli(data_dir, "token", "issuer", "add", "idp", "--public-key", str(pem)).returncode == 1
    _sensors(admin)
    _hmac_issuer(data_dir)
    assert run_cli(data_dir, "token", "mint", "lab", "--sub", "s", "--ttl", "soon").returncode == 1
    assert run_cli(data_dir, "token", "mint", "lab", "--sub", "s", "--acl", "x/#=all").returncode == 1
    assert run_cli(data_dir, "token", "mint", "nobody", "--sub", "s").returncode == 1
    listed = run_cli(data_dir, "token", "issuer", "list")
    assert "lab" in listed.stdout
    assert SECRET not in listed.stdout


def test_an_issuer_can_want_the_username_to_be_the_tokens_subject(admin, instance, client, data_dir):  # type: ignore[no-untyped-def]
    _sensors(admin)
    _hmac_issuer(data_dir, "lab", "--username-must-match")
    listed = json.loads(run_cli(data_dir, "token", "issuer", "list", "--json").stdout)
    assert listed[0]["username_must_match"] is True
    instance.sync()
    token = _mint(data_dir, "lab", "--sub", "s-1")
    assert client("same-1", username="s-1", password=token).connect() == 0
    assert client("other-1", username="whoever", password=token).connect() == 4
    instance.flush_log()  # (written in timed batches: the CLI may otherwise read before the refusal is)
    entry = next(e for e in _log(data_dir) if e["client_id"] == "other-1")
    assert "the username is not the token's subject 's-1'" in str(entry["reason"])
    assert token not in json.dumps(_log(data_dir))
