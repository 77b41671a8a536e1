"""The TLS listener on mqttdesk's own CA, over real sockets: it serves the CA-issued server certificate, verifies
client certificates against the CA and its CRL, and takes up a revocation or a reissued certificate for new
handshakes while connected clients stay connected."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from mqttdesk.broker.service import ListenerOverrides
from mqttdesk.core.acl import Permission
from mqttdesk.pki.sans import sans_of
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import TIMEOUT, Instance, run_cli, running_instance, running_tls
from tests.integration.mqtt_client import TestClient
from tests.integration.test_tls_listener import TlsRefusals, tls_handshake
from tests.integration.tls_certs import TlsFiles


def _ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = run_cli(data_dir, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def issued(admin: Store, data_dir: Path, tmp_path: Path) -> Path:
    """`ca init`, user 'lamp' (password s3cret, home/#) and `cert issue lamp`; returns the output directory, which
    also holds the exported CA certificate (ca.crt)."""
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/#", Permission.READWRITE)
    admin.users.add("lamp", fast_hash("s3cret"), ("lamps",))
    out = tmp_path / "out"
    _ok(data_dir, "ca", "init")
    _ok(data_dir, "cert", "issue", "lamp", "--out", str(out))
    _ok(data_dir, "ca", "export", str(out / "ca.crt"))
    return out


@pytest.fixture
def tls_instance(issued: Path, data_dir: Path) -> Iterator[Instance]:
    with running_tls(data_dir) as running:
        yield running


def _trusting(out: Path, *, with_certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(out / "ca.crt"))  # verifies the server name, too
    if with_certificate:
        context.load_cert_chain(str(out / "lamp.crt"), str(out / "lamp.key"))
    return context


def _served_certificate(port: int, context: ssl.SSLContext) -> x509.Certificate:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _round_trip(client: TestClient, payload: bytes) -> None:
    client.publish("home/x", payload, qos=1)
    assert client.expect_message().payload == payload


def test_revoked_client_certificate_is_refused_at_the_next_handshake(tls_instance: Instance, issued: Path,
                                                                     data_dir: Path) -> None:
    port = tls_instance.ports["tls"]
    served = _served_certificate(port, _trusting(issued))
    assert served == x509.load_pem_x509_certificate((data_dir / "pki" / "server.crt").read_bytes())

    # paho trusts the exported CA, checks the name 127.0.0.1 and presents lamp's certificate (a password is still
    # what logs it in)
    with_cert = TestClient("lamp-cert", port, username="lamp", password="s3cret",
                           tls=_trusting(issued, with_certificate=True))
    plain = TestClient("lamp-plain", port, username="lamp", password="s3cret", tls=_trusting(issued))
    try:
        assert with_cert.connect() == 0
        assert plain.connect() == 0
        assert plain.subscribe("home/x", 1) == 1
        tls_instance.flush_log()
        entry = next(e for e in tls_instance.call(tls_instance.store.auth_log.recent, 50)
                     if e.kind == "CONNECT" and e.client_id == "lamp-cert")
        assert entry.allowed
        assert "client certificate CN=lamp" in entry.steps[0]

        serial = json.loads(_ok(data_dir, "cert", "list", "--json"))[0]["serial"]
        refusals = TlsRefusals(tls_instance)
        _ok(data_dir, "cert", "revoke", serial)
        tls_instance.sync()

        seen = tls_handshake(port, _trusting(issued, with_certificate=True))
        assert seen == b"" or isinstance(seen, ssl.SSLError | ConnectionError), seen
        entry = refusals.wait()[0]
        assert not entry.allowed
        assert entry.reason == "the client's certificate is not trusted: certificate verify failed: certificate revoked"

        # the server keeps running: a connection made before still works, and new ones without that certificate too
        _round_trip(plain, b"still here")
        late = TestClient("lamp-late", port, username="lamp", password="s3cret", tls=_trusting(issued))
        try:
            assert late.connect() == 0
        finally:
            late.close()
    finally:
        with_cert.close()
        plain.close()


def test_reissued_server_certificate_keeps_its_key_and_connected_clients(tls_instance: Instance, issued: Path,
                                                                         data_dir: Path) -> None:
    port = tls_instance.ports["tls"]
    before = json.loads(_ok(data_dir, "server-cert", "show", "--json"))
    client = TestClient("lamp-stays", port, username="lamp", password="s3cret", tls=_trusting(issued))
    try:
        assert client.connect() == 0
        assert client.subscribe("home/x", 1) == 1
        _ok(data_dir, "server-cert", "reissue", "--san", "localhost", "--san", "127.0.0.1", "--san", "127.0.0.9")
        tls_instance.sync()
        served = _served_certificate(port, _trusting(issued))
        after = json.loads(_ok(data_dir, "server-cert", "show", "--json"))
        assert after["sans"] == ["localhost", "127.0.0.1", "127.0.0.9"]
        assert served.serial_number == int(after["serial"], 16) != int(before["serial"], 16)
        assert after["tasmota_fingerprint"] == before["tasmota_fingerprint"]
        _round_trip(client, b"not dropped")
    finally:
        client.close()


def test_client_certificates_of_a_trusted_ca_pass_the_handshake(issued: Path, data_dir: Path,
                                                                 certs: TlsFiles) -> None:
    _ok(data_dir, "trust", "add", str(certs.client_ca), "--name", "partner")
    with running_tls(data_dir) as running:
        context = _trusting(issued)
        context.load_cert_chain(str(certs.trusted_client_cert), str(certs.trusted_client_key))
        client = TestClient("partner-device", running.ports["tls"], username="lamp", password="s3cret", tls=context)
        try:
            assert client.connect() == 0
        finally:
            client.close()
        entry = running.last_entry("partner-device", "CONNECT")
        assert "client certificate CN=lamp-device,O=mqttdesk tests" in entry.steps[0]
        assert running.service.status.warnings == (
            "client certificates are not checked against CRLs: the trusted CA partner came without one",)


def test_tls_files_in_the_settings_win_over_the_built_in_ca(admin: Store, issued: Path, data_dir: Path,
                                                            certs: TlsFiles) -> None:
    admin.settings.set_tls_file("cert_file", str(certs.cert))
    admin.settings.set_tls_file("key_file", str(certs.key))
    with running_tls(data_dir) as running:
        served = _served_certificate(running.ports["tls"], certs.trusting_client())
        assert served == x509.load_pem_x509_certificate(certs.cert.read_bytes())


def test_a_missing_server_certificate_is_issued_at_start(issued: Path, data_dir: Path) -> None:
    (data_dir / "pki" / "server.crt").unlink()
    with running_tls(data_dir) as running:
        served = _served_certificate(running.ports["tls"], _trusting(issued))
        assert served == x509.load_pem_x509_certificate((data_dir / "pki" / "server.crt").read_bytes())


def test_with_an_encrypted_ca_key_the_broker_keeps_its_certificate_and_says_why(admin: Store, data_dir: Path,
                                                                                tmp_path: Path) -> None:
    _ok(data_dir, "ca", "init", "--passphrase-stdin", stdin="pass phrase\n")
    admin.pki.repo.set_server_sans(("localhost", "127.0.0.1", "127.0.0.3"))
    _ok(data_dir, "ca", "export", str(tmp_path / "ca.crt"))
    with running_tls(data_dir) as running:
        assert running.service.status.warnings == (
            "the server certificate should be reissued (the list of server names changed) but cannot be here: the CA "
            "key is encrypted: give its passphrase (--passphrase-stdin); use mqttdesk server-cert reissue",)
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
        assert "127.0.0.3" not in sans_of(_served_certificate(running.ports["tls"], context))
    (data_dir / "pki" / "server.crt").unlink()
    again = Instance(data_dir)
    again.start(overrides=ListenerOverrides(tls_port=0))
    try:
        assert "tls" not in again.ports
        assert again.service.status.warnings == (
            "the TLS listener did not start: the server certificate cannot be issued here: the CA key is encrypted: "
            "give its passphrase (--passphrase-stdin); use mqttdesk server-cert reissue",)
    finally:
        again.stop()


def test_websocket_over_tls_serves_the_built_in_certificate_and_takes_up_a_reissue(issued: Path,
                                                                                   data_dir: Path) -> None:
    with running_instance(data_dir, ListenerOverrides(wss_port=0)) as running:
        port = running.ports["wss"]
        client = TestClient("lamp-wss", port, username="lamp", password="s3cret", transport="websockets",
                            tls=_trusting(issued))
        try:
            assert client.connect() == 0
            assert client.subscribe("home/x", 1) == 1
            _ok(data_dir, "server-cert", "reissue", "--san", "127.0.0.1", "--san", "127.0.0.8")
            running.sync()
            assert sans_of(_served_certificate(port, _trusting(issued))) == ("127.0.0.1", "127.0.0.8")
            _round_trip(client, b"over wss still")
        finally:
            client.close()
