"""`ca`, `server-cert`, `trust` and `cert` as a user types them: outputs, JSON keys, files and their modes, errors
(one line on stderr, exit 1; usage errors exit 2), and the CA key never leaving its file."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from mqttdesk.pki.ca import create_ca
from mqttdesk.pki.certificates import certificate_pem
from mqttdesk.pki.keys import private_key_pem
from tests.integration.harness import run_cli


def _ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = run_cli(data_dir, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _error(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = run_cli(data_dir, *args, stdin=stdin)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mqttdesk: error: ")
    return lines[0].removeprefix("mqttdesk: error: ")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def with_user(data_dir: Path) -> Path:
    _ok(data_dir, "user", "add", "lamp", "--password-stdin", stdin="pw\n")
    return data_dir


def test_ca_init_with_a_passphrase_and_what_then_needs_it(with_user: Path, tmp_path: Path) -> None:
    data_dir = with_user
    out = _ok(data_dir, "ca", "init", "--cn", "Home CA", "--days", "400", "--key", "rsa3072", "--passphrase-stdin",
              stdin="pass phrase\n")
    assert out.startswith("created CA 'CN=Home CA,O=mqttdesk' (RSA 3072, valid until ")
    assert "(encrypted, mode 0600)" in out
    assert "Tasmota: Backlog SetOption132 1; MqttFingerprint1 " in out
    shown = json.loads(_ok(data_dir, "ca", "show", "--json"))
    assert {"subject", "serial", "key_type", "not_before", "not_after", "fingerprint_sha256",
            "key_encrypted"} <= set(shown)
    assert (shown["subject"], shown["key_type"], shown["key_encrypted"]) == ("CN=Home CA,O=mqttdesk", "RSA 3072",
                                                                              True)
    assert _mode(data_dir / "pki" / "ca.key") == 0o600

    assert _error(data_dir, "cert", "issue", "lamp", "--out", str(tmp_path)) == \
        "the CA key is encrypted: give its passphrase (--passphrase-stdin)"
    assert _error(data_dir, "cert", "issue", "lamp", "--out", str(tmp_path), "--passphrase-stdin",
                  stdin="wrong\n") == "wrong passphrase for the CA key"
    # first line: the CA passphrase, second: the PKCS#12 password
    out = _ok(data_dir, "cert", "issue", "lamp", "--out", str(tmp_path), "--p12", "--password-stdin",
              "--passphrase-stdin", stdin="pass phrase\np12 secret\n")
    assert "p12 secret" not in out
    key, certificate, cas = pkcs12.load_key_and_certificates((tmp_path / "lamp.p12").read_bytes(), b"p12 secret")
    assert certificate is not None
    assert certificate.subject.rfc4514_string() == "CN=lamp"
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert [c.subject.rfc4514_string() for c in cas] == ["CN=Home CA,O=mqttdesk"]
    assert _mode(tmp_path / "lamp.p12") == 0o600


def test_cert_issue_writes_the_pair_and_the_tasmota_commands(with_user: Path, tmp_path: Path) -> None:
    data_dir = with_user
    _ok(data_dir, "ca", "init")
    out_dir = tmp_path / "plug"
    out = _ok(data_dir, "cert", "issue", "lamp", "--out", str(out_dir), "--days", "90", "--tasmota")
    assert _mode(out_dir / "lamp.key") == 0o600
    certificate = x509.load_pem_x509_certificate((out_dir / "lamp.crt").read_bytes())
    key = serialization.load_pem_private_key((out_dir / "lamp.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert certificate.public_key() == key.public_key()
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("TLSKey")}
    assert int.from_bytes(base64.b64decode(lines["TLSKey1"]), "big") == key.private_numbers().private_value
    assert base64.b64decode(lines["TLSKey2"]) == certificate.public_bytes(serialization.Encoding.DER)

    assert _error(data_dir, "cert", "issue", "lamp", "--out", str(out_dir)) == \
        f"{out_dir / 'lamp.crt'} exists already; mqttdesk does not overwrite a certificate or key"
    assert _error(data_dir, "cert", "issue", "nobody", "--out", str(tmp_path / "x")) == \
        "no user named 'nobody': a client certificate's CN must be an existing user (user add first)"
    assert _error(data_dir, "cert", "issue", "lamp", "--out", str(tmp_path / "y"), "--key", "rsa2048",
                  "--tasmota") == "Tasmota takes EC P-256 client keys only: leave out --key rsa2048 with --tasmota"
    assert run_cli(data_dir, "cert", "issue", "lamp").returncode == 2  # --out is required
    assert run_cli(data_dir, "cert", "issue", "lamp", "--out", "z", "--key", "rsa4096").returncode == 2

    listed = json.loads(_ok(data_dir, "cert", "list", "--json"))
    assert len(listed) == 1
    row = listed[0]
    assert {"serial", "cn", "issued", "expires", "state", "fingerprint_sha256", "user", "key_type",
            "issuer"} <= set(row)
    assert (row["serial"], row["cn"], row["user"], row["key_type"], row["state"]) == \
        (format(certificate.serial_number, "x"), "lamp", "lamp", "EC P-256", "valid")
    assert row["fingerprint_sha256"] == certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert "lamp" in _ok(data_dir, "cert", "list")


def _csr_file(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cn: str) -> Path:
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def test_cert_sign_shows_the_request_then_signs_or_refuses(with_user: Path, tmp_path: Path) -> None:
    data_dir = with_user
    _ok(data_dir, "ca", "init")
    device_key = ec.generate_private_key(ec.SECP256R1())
    out = _ok(data_dir, "cert", "sign", str(_csr_file(tmp_path / "good.csr", device_key, "lamp")),
              "--out", str(tmp_path / "lamp.crt"))
    assert out.splitlines()[:2] == ["subject  CN=lamp", "key      EC P-256"]
    signed = x509.load_pem_x509_certificate((tmp_path / "lamp.crt").read_bytes())
    assert signed.public_key() == device_key.public_key()
    assert [r["cn"] for r in json.loads(_ok(data_dir, "cert", "list", "--json"))] == ["lamp"]

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    result = run_cli(data_dir, "cert", "sign", str(_csr_file(tmp_path / "weak.csr", weak, "lamp")),
                     "--out", str(tmp_path / "weak.crt"))
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["subject  CN=lamp", "key      RSA 1024"]
    assert result.stderr.strip() == "mqttdesk: error: the CSR's key is RSA 1024: too weak (RSA needs at least " \
                                    "2048 bits)"
    assert _error(data_dir, "cert", "sign", str(_csr_file(tmp_path / "who.csr", device_key, "stranger")),
                  "--out", str(tmp_path / "who.crt")).startswith("no user named 'stranger'")
    assert not (tmp_path / "weak.crt").exists()
    assert not (tmp_path / "who.crt").exists()


def test_revoke_updates_the_crl_and_the_state(with_user: Path, tmp_path: Path) -> None:
    data_dir = with_user
    _ok(data_dir, "ca", "init")
    _ok(data_dir, "cert", "issue", "lamp", "--out", str(tmp_path / "a"))
    serial = json.loads(_ok(data_dir, "cert", "list", "--json"))[0]["serial"]
    _ok(data_dir, "cert", "export-crl", str(tmp_path / "before.crl"))
    before = x509.load_pem_x509_crl((tmp_path / "before.crl").read_bytes())
    assert len(list(before)) == 0
    assert _ok(data_dir, "cert", "revoke", serial.upper()).startswith(f"revoked certificate {serial} (lamp)")
    _ok(data_dir, "cert", "export-crl", str(tmp_path / "after.crl"))
    after = x509.load_pem_x509_crl((tmp_path / "after.crl").read_bytes())
    assert [format(entry.serial_number, "x") for entry in after] == [serial]
    ca = x509.load_pem_x509_certificate((data_dir / "pki" / "ca.crt").read_bytes())
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert after.is_signature_valid(ca_key)
    assert json.loads(_ok(data_dir, "cert", "list", "--json"))[0]["state"] == "revoked"
    assert _error(data_dir, "cert", "revoke", serial) == f"certificate {serial} (lamp) is already revoked"
    assert _error(data_dir, "cert", "revoke", "nothex").startswith("'nothex' is not a certificate serial")
    assert _error(data_dir, "cert", "delete", serial) == (f"certificate {serial} (lamp) is revoked: it stays listed, "
                                                          "and in the CRL, until it expires")


def test_server_cert_show_and_reissue_with_names(data_dir: Path) -> None:
    _ok(data_dir, "ca", "init")
    shown = json.loads(_ok(data_dir, "server-cert", "show", "--json"))
    assert {"subject", "sans", "key_type", "not_after", "fingerprint_sha256", "tasmota_fingerprint"} <= set(shown)
    assert shown["key_type"] == "RSA 2048"
    assert shown["sans"][:3] == ["localhost", "127.0.0.1", "::1"]
    assert len(shown["tasmota_fingerprint"].split(" ")) == 20
    text = _ok(data_dir, "server-cert", "show")
    assert f"Backlog SetOption132 1; MqttFingerprint1 {shown['tasmota_fingerprint']}" in text
    _ok(data_dir, "server-cert", "reissue", "--san", "broker.lan", "--san", "192.168.1.10")
    again = json.loads(_ok(data_dir, "server-cert", "show", "--json"))
    assert again["sans"] == ["broker.lan", "192.168.1.10"]
    assert again["tasmota_fingerprint"] == shown["tasmota_fingerprint"]
    assert again["fingerprint_sha256"] != shown["fingerprint_sha256"]
    assert _error(data_dir, "server-cert", "reissue", "--san", "not a name") == \
        "'not a name' is neither an IP address nor a host name"


def test_without_a_ca_each_command_says_so(data_dir: Path, tmp_path: Path) -> None:
    words = "mqttdesk has no CA yet (mqttdesk ca init, or ca import --cert F --key F)"
    assert _error(data_dir, "ca", "show") == words
    assert _error(data_dir, "server-cert", "show") == words
    assert _error(data_dir, "cert", "export-crl", str(tmp_path / "x.crl")) == words


def test_ca_import_of_an_encrypted_key(data_dir: Path, tmp_path: Path) -> None:
    existing = create_ca("Workshop CA")
    (tmp_path / "ca.pem").write_bytes(certificate_pem(existing.certificate))
    (tmp_path / "ca.key").write_bytes(private_key_pem(existing.key, "old secret"))
    assert _error(data_dir, "ca", "import", "--cert", str(tmp_path / "ca.pem"), "--key", str(tmp_path / "ca.key"),
                  "--passphrase-stdin", stdin="nope\n") == f"wrong passphrase for the CA key {tmp_path / 'ca.key'}"
    other = create_ca("Other CA")
    (tmp_path / "other.key").write_bytes(private_key_pem(other.key))
    assert _error(data_dir, "ca", "import", "--cert", str(tmp_path / "ca.pem"), "--key",
                  str(tmp_path / "other.key")).startswith("the key (EC P-256) does not belong to the CA certificate")
    out = _ok(data_dir, "ca", "import", "--cert", str(tmp_path / "ca.pem"), "--key", str(tmp_path / "ca.key"),
              "--passphrase-stdin", stdin="old secret\n")
    assert out.startswith("imported CA 'CN=Workshop CA,O=mqttdesk'")
    assert json.loads(_ok(data_dir, "ca", "show", "--json"))["key_encrypted"] is True
    _ok(data_dir, "ca", "export", str(tmp_path / "exported.crt"))
    assert (tmp_path / "exported.crt").read_bytes() == certificate_pem(existing.certificate)
    assert _error(data_dir, "ca", "init").startswith("mqttdesk has a CA already (CN=Workshop CA,O=mqttdesk)")


def test_trust_add_list_remove(data_dir: Path, tmp_path: Path) -> None:
    _ok(data_dir, "ca", "init")
    partner = create_ca("Partner CA")
    (tmp_path / "partner.pem").write_bytes(certificate_pem(partner.certificate))
    (tmp_path / "with-key.pem").write_bytes(certificate_pem(partner.certificate) + private_key_pem(partner.key))
    assert _error(data_dir, "trust", "add", str(tmp_path / "with-key.pem"), "--name", "p").startswith(
        f"{tmp_path / 'with-key.pem'} holds a private key")
    assert "came without a CRL" in _ok(data_dir, "trust", "add", str(tmp_path / "partner.pem"), "--name", "partner")
    listed = json.loads(_ok(data_dir, "trust", "list", "--json"))
    assert [(t["name"], t["subject"], t["crl"]) for t in listed] == [("partner", "CN=Partner CA,O=mqttdesk", False)]
    assert _error(data_dir, "trust", "add", str(tmp_path / "partner.pem"), "--name", "again") == \
        "this CA is trusted already, as 'partner'"
    _ok(data_dir, "trust", "remove", "partner")
    assert json.loads(_ok(data_dir, "trust", "list", "--json")) == []
    assert _error(data_dir, "trust", "remove", "partner") == "no trusted CA named 'partner' (see trust list)"


def test_the_ca_key_appears_in_no_export(with_user: Path, tmp_path: Path) -> None:
    data_dir = with_user
    _ok(data_dir, "ca", "init")
    key_pem = (data_dir / "pki" / "ca.key").read_bytes()
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    secrets = [key_pem.split(b"\n")[1], key.private_numbers().private_value.to_bytes(32, "big"),
               base64.b64encode(key.private_numbers().private_value.to_bytes(32, "big"))]
    exports = tmp_path / "exports"
    outputs = [_ok(data_dir, "ca", "export", str(tmp_path / "ca.crt")),
               _ok(data_dir, "cert", "issue", "lamp", "--out", str(exports), "--p12", "--tasmota"),
               _ok(data_dir, "cert", "export-crl", str(tmp_path / "ca.crl")),
               _ok(data_dir, "ca", "show", "--json"), _ok(data_dir, "server-cert", "show", "--json"),
               _ok(data_dir, "cert", "list", "--json"), _ok(data_dir, "trust", "list", "--json")]
    written = [tmp_path / "ca.crt", tmp_path / "ca.crl", *exports.iterdir(), data_dir / "pki" / "ca.crt",
               data_dir / "pki" / "server.crt", data_dir / "pki" / "ca.crl",
               *data_dir.glob("mqttdesk.sqlite3*")]
    assert b"PRIVATE KEY" not in (tmp_path / "ca.crt").read_bytes()
    for blob in [output.encode() for output in outputs] + [path.read_bytes() for path in written]:
        for secret in secrets:
            assert secret not in blob
