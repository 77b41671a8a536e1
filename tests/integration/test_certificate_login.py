"""Mutual TLS as a login, over real TLS sockets on mqttdesk's own CA: a certificate user connects with no username
and no password and is bound by its roles; the refusals say why; revoking the certificate of a connected client
disconnects it at once, and a session ends when its certificate expires."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from mqttdesk.core.acl import Permission
from mqttdesk.core.model import AuthMode
from mqttdesk.pki.ca import create_ca
from mqttdesk.pki.certificates import certificate_pem
from mqttdesk.pki.issue import issue_client_certificate
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance, run_cli, running_tls
from tests.integration.mqtt_client import TestClient


def _ok(data_dir: Path, *args: str) -> str:
    result = run_cli(data_dir, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def out(admin: Store, tmp_path: Path) -> Path:
    """A CA; role 'plugs' (readwrite plugs/%u/#); users 'plug-1' (certificate), 'lamp' (password, s3cret) and
    'meter' (both, m3ter); certificates issued for all three and the CA certificate, as files in the folder.
    Made through the store, as the CLI makes them (tests/integration/test_cli_certificates.py covers the CLI and
    the last tests here use it): seven CLI processes per test cost more than the tests themselves."""
    admin.roles.add("plugs")
    admin.roles.allow("plugs", "plugs/%u/#", Permission.READWRITE)
    admin.users.add("lamp", fast_hash("s3cret"), ("plugs",))
    admin.users.add("meter", fast_hash("m3ter"), ("plugs",), auth=AuthMode.BOTH)
    admin.users.add("plug-1", fast_hash("not a login"), ("plugs",), auth=AuthMode.CERTIFICATE)
    admin.pki.install(create_ca())
    folder = tmp_path / "out"
    folder.mkdir()
    for name in ("plug-1", "lamp", "meter"):
        _write_pair(folder, name, admin.pki.issue_client(name), None)
    (folder / "ca.crt").write_bytes(certificate_pem(admin.pki.ca_certificate()))
    return folder


@pytest.fixture
def tls(out: Path, data_dir: Path) -> Iterator[Instance]:
    with running_tls(data_dir) as running:
        yield running


def _context(out: Path, name: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(out / "ca.crt"))
    if name is not None:
        context.load_cert_chain(str(out / f"{name}.crt"), str(out / f"{name}.key"))
    return context


def _log(instance: Instance, client_id: str, kind: str = "CONNECT") -> dict[str, object]:
    return instance.last_entry(client_id, kind).to_json()


def test_a_certificate_user_connects_with_no_username_and_is_bound_by_its_roles(tls: Instance, out: Path) -> None:
    client = TestClient("DVES_1A2B3C", tls.ports["tls"], tls=_context(out, "plug-1"))
    try:
        assert client.connect() == 0
        assert client.subscribe("plugs/plug-1/#", 1) == 1
        assert client.subscribe("plugs/lamp/#", 1) == 0x80  # its roles apply as to any session of plug-1
        client.publish("plugs/plug-1/state", b"ON", qos=1)
        assert client.expect_message().payload == b"ON"
        entry = _log(tls, "DVES_1A2B3C")
        assert entry["allowed"] is True
        assert entry["method"] == "certificate"
        assert str(entry["reason"]).startswith("user 'plug-1' authenticated by client certificate (serial ")
        sessions = tls.call(lambda: [s.to_json() for s in tls.service.registry.snapshot()])
        assert [(s["username"], s["method"]) for s in sessions] == [("plug-1", "certificate")]
    finally:
        client.close()


@pytest.mark.parametrize(("name", "username", "password", "connack", "code", "words"), [
    (None, "plug-1", "x", 5, "cert-required", "user 'plug-1' logs in with a client certificate, and the client "
                                              "presented none"),
    ("lamp", None, None, 5, "cert-not-allowed", "user 'lamp' logs in with a password only"),
    ("plug-1", "lamp", "s3cret", 5, "cert-username-mismatch", "the client sent username 'lamp', but its "
                                                              "certificate names user 'plug-1'"),
    ("meter", "meter", None, 4, "missing-password", "user 'meter' sent no password (it logs in with its "
                                                    "certificate and its password)"),
])
def test_refusals_name_the_reason(tls: Instance, out: Path, name: str | None, username: str | None,
                                  password: str | None, connack: int, code: str, words: str) -> None:
    client = TestClient("refused-1", tls.ports["tls"], username=username, password=password, tls=_context(out, name))
    try:
        assert client.connect() == connack
    finally:
        client.close()
    entry = _log(tls, "refused-1")
    assert entry["reason_code"] == code
    assert words in str(entry["reason"])


def test_both_logs_in_with_certificate_and_password_and_a_password_user_keeps_its_password(tls: Instance,
                                                                                           out: Path) -> None:
    meter = TestClient("meter-1", tls.ports["tls"], username="meter", password="m3ter", tls=_context(out, "meter"))
    lamp = TestClient("lamp-1", tls.ports["tls"], username="lamp", password="s3cret", tls=_context(out, "lamp"))
    try:
        assert meter.connect() == 0
        assert lamp.connect() == 0
    finally:
        meter.close()
        lamp.close()
    assert _log(tls, "meter-1")["reason"] is not None
    assert str(_log(tls, "meter-1")["reason"]).startswith("user 'meter' authenticated by client certificate and "
                                                          "password")
    assert _log(tls, "lamp-1")["method"] == "password"


def test_revoking_a_connected_clients_certificate_disconnects_it_at_once(tls: Instance, out: Path,
                                                                       data_dir: Path) -> None:
    client = TestClient("DVES_1A2B3C", tls.ports["tls"], tls=_context(out, "plug-1"))
    try:
        assert client.connect() == 0
        serial = next(c["serial"] for c in json.loads(_ok(data_dir, "cert", "list", "--json")) if c["cn"] == "plug-1")
        _ok(data_dir, "cert", "revoke", serial)
        assert client.wait_disconnected(timeout=5)  # the store's change feed reaches the broker within a second
    finally:
        client.close()
    entry = _log(tls, "DVES_1A2B3C", kind="DISCONNECT")
    assert entry["allowed"] is False
    assert entry["reason_code"] == "credential-changed"
    assert f"the client certificate of user 'plug-1' (serial {serial}) was revoked" in str(entry["reason"])


def _write_pair(folder: Path, stem: str, issued: object, ca_file: Path | None) -> ssl.SSLContext | None:
    """The issued certificate and key as files, and (with `ca_file`) a client context that trusts it and presents
    them."""
    from mqttdesk.pki.issue import Issued
    assert isinstance(issued, Issued)
    assert issued.key is not None
    (folder / f"{stem}.crt").write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{stem}.key").write_bytes(issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    if ca_file is None:
        return None
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(folder / f"{stem}.crt"), str(folder / f"{stem}.key"))
    return context


def test_an_expired_certificate_is_refused_in_the_handshake_with_a_hint(tls: Instance, out: Path,
                                                                        tmp_path: Path) -> None:
    from tests.integration.test_tls_listener import TlsRefusals, tls_handshake
    ca = tls.call(tls.store.pki.load)
    context = _write_pair(tmp_path, "old", issue_client_certificate(ca, "plug-1", days=1, now=time.time() - 3 * 86400),
                          out / "ca.crt")
    refusals = TlsRefusals(tls)
    tls_handshake(tls.ports["tls"], context)
    entry = refusals.wait()[0]
    assert entry.reason == "the client's certificate is not trusted: certificate verify failed: certificate has expired"
    assert entry.steps[-1] == "hint: issue the device a new certificate (mqttdesk cert issue CN --out DIR)"


def test_a_session_ends_when_its_certificate_expires(tls: Instance, out: Path, data_dir: Path,
                                                     tmp_path: Path) -> None:
    # a certificate with three seconds left: the handshake accepts it, the session ends when it runs out
    ca = tls.call(tls.store.pki.load)
    context = _write_pair(tmp_path, "short", issue_client_certificate(ca, "plug-1", days=1,
                                                                       now=time.time() - 86400 + 3),
                          out / "ca.crt")
    client = TestClient("DVES_SHORT", tls.ports["tls"], tls=context)
    try:
        assert client.connect() == 0
        assert client.wait_disconnected(timeout=10)
    finally:
        client.close()
    entry = _log(tls, "DVES_SHORT", kind="DISCONNECT")
    assert entry["reason_code"] == "cert-expired"
    assert "the client certificate of user 'plug-1'" in str(entry["reason"])


def test_the_explainer_says_what_a_client_presenting_a_certificate_would_get(out: Path, data_dir: Path,
                                                                             tmp_path: Path) -> None:
    allowed = run_cli(data_dir, "explain", "--client-id", "DVES_1A2B3C", "--cert", str(out / "plug-1.crt"),
                      "--topic", "plugs/plug-1/state", "--json")
    assert allowed.returncode == 0, allowed.stderr
    result = json.loads(allowed.stdout)
    assert result["connect"]["method"] == "certificate"
    assert result["topic"]["allowed"] is True
    refused = run_cli(data_dir, "explain", "--client-id", "x", "--cert", str(out / "lamp.crt"), "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["connect"]["reason_code"] == "cert-not-allowed"
    # a certificate of no CA we trust: the handshake would refuse it before any CONNECT rule
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from mqttdesk.pki.certificates import certificate_pem, name, utc
    key = ec.generate_private_key(ec.SECP256R1())
    self_signed = (x509.CertificateBuilder().subject_name(name("plug-1")).issuer_name(name("plug-1"))
                   .public_key(key.public_key()).serial_number(1).not_valid_before(utc(time.time() - 60))
                   .not_valid_after(utc(time.time() + 3600)).sign(key, hashes.SHA256()))
    (tmp_path / "self.crt").write_bytes(certificate_pem(self_signed))
    untrusted = run_cli(data_dir, "explain", "--client-id", "x", "--cert", str(tmp_path / "self.crt"))
    assert untrusted.returncode == 1
    assert untrusted.stderr.strip().splitlines() == [
        f"mqttdesk: error: the TLS handshake would refuse {tmp_path / 'self.crt'}: it was issued by CN=plug-1, "
        "neither mqttdesk's CA nor a trusted CA (tls-handshake-failed)"]


def test_suspending_the_user_ends_its_certificate_session(tls: Instance, out: Path, data_dir: Path) -> None:
    client = TestClient("DVES_1A2B3C", tls.ports["tls"], tls=_context(out, "plug-1"))
    try:
        assert client.connect() == 0
        _ok(data_dir, "user", "suspend", "plug-1")
        assert client.wait_disconnected(timeout=5)
    finally:
        client.close()
    assert "user 'plug-1' was suspended" in str(_log(tls, "DVES_1A2B3C", kind="DISCONNECT")["reason"])


def test_the_cli_says_how_users_log_in_and_refuses_an_unknown_trusted_ca(out: Path, data_dir: Path) -> None:
    added = _ok(data_dir, "user", "add", "sensor-9", "--auth", "certificate")
    assert added.splitlines() == ["added user 'sensor-9' (logs in by client certificate)",
                                  "issue its certificate: mqttdesk cert issue sensor-9 --out DIR"]  # no password
    _ok(data_dir, "user", "auth", "meter", "both")
    users = {u["name"]: u for u in json.loads(_ok(data_dir, "user", "list", "--json"))}
    assert (users["plug-1"]["auth"], users["meter"]["auth"], users["lamp"]["auth"], users["sensor-9"]["auth"]) == \
        ("certificate", "both", "password", "certificate")
    refused = run_cli(data_dir, "user", "auth", "lamp", "certificate", "--ca", "nope")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "mqttdesk: error: no trusted CA named 'nope' (mqttdesk trust list)"
    assert json.loads(_ok(data_dir, "user", "show", "lamp", "--json"))["auth"] == "password"  # nothing changed


def test_a_device_that_made_its_own_key_logs_in_with_the_signed_csr(tls: Instance, out: Path, data_dir: Path,
                                                                    tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # the device's key never leaves it: only the CSR does
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plug-1")])).sign(key, hashes.SHA256()))
    (tmp_path / "plug.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "plug.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    signed = _ok(data_dir, "cert", "sign", str(tmp_path / "plug.csr"), "--out", str(tmp_path / "plug.crt"))
    assert "subject  CN=plug-1" in signed
    tls.sync()
    context = ssl.create_default_context(cafile=str(out / "ca.crt"))
    context.load_cert_chain(str(tmp_path / "plug.crt"), str(tmp_path / "plug.key"))
    client = TestClient("DVES_CSR", tls.ports["tls"], tls=context)
    try:
        assert client.connect() == 0
    finally:
        client.close()
    assert _log(tls, "DVES_CSR")["method"] == "certificate"
