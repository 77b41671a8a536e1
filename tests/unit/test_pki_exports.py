"""pki/: fingerprints (SHA-256 and Tasmota's), PKCS#12 and Tasmota TLSKey exports, and the CRL."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.ca import CertificateAuthority, create_ca
from mqttdesk.pki.choices import KeyType
from mqttdesk.pki.crl import Revoked, build_crl, crl_pem, load_crl, revoked_serials
from mqttdesk.pki.export import TASMOTA_MAX_CERTIFICATE_BYTES, file_stem, pkcs12_bundle, tasmota_key_commands
from mqttdesk.pki.fingerprints import (
    sha256_fingerprint,
    tasmota_fingerprint,
    tasmota_fingerprint_command,
)
from mqttdesk.pki.issue import issue_client_certificate, issue_server_certificate


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_ca("lab CA", days=30)


def _openssh_parts(public_key: rsa.RSAPublicKey) -> list[bytes]:
    """The fields of the key's real SSH wire form (RFC 4253: string "ssh-rsa", mpint e, mpint n)."""
    blob = base64.b64decode(public_key.public_bytes(serialization.Encoding.OpenSSH,
                                                    serialization.PublicFormat.OpenSSH).split()[1])
    parts, offset = [], 0
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        parts.append(blob[offset + 4:offset + 4 + length])
        offset += 4 + length
    return parts


def test_tasmota_fingerprint_matches_an_independent_computation(ca: CertificateAuthority) -> None:
    certificate = issue_server_certificate(ca, ["localhost"]).certificate
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    tag, e_mpint, n_mpint = _openssh_parts(public_key)
    # an SSH mpint puts 0x00 before a value whose top bit is set (every RSA modulus); BearSSL, whose decoded key
    # Tasmota hashes, strips leading zeros: so the SSH fields, minus that byte
    assert tag == b"ssh-rsa"
    assert n_mpint[0] == 0
    assert n_mpint[1] & 0x80
    e, n = e_mpint.lstrip(b"\0"), n_mpint.lstrip(b"\0")
    numbers = public_key.public_numbers()
    assert int.from_bytes(n, "big") == numbers.n
    assert int.from_bytes(e, "big") == numbers.e == 65537
    expected = hashlib.sha1(b"".join(struct.pack(">I", len(p)) + p for p in (tag, e, n))).hexdigest().upper()
    fingerprint = tasmota_fingerprint(certificate)
    assert fingerprint == " ".join(expected[i:i + 2] for i in range(0, 40, 2))
    assert len(fingerprint.split(" ")) == 20
    # and it is not what the mpint form (ssh-keygen's) would give
    with_mpint = hashlib.sha1(b"".join(struct.pack(">I", len(p)) + p for p in (tag, e_mpint, n_mpint))).hexdigest()
    assert fingerprint.replace(" ", "") != with_mpint.upper()
    assert tasmota_fingerprint_command(fingerprint) == f"Backlog SetOption132 1; MqttFingerprint1 {fingerprint}"


def test_reissued_with_the_same_key_the_tasmota_fingerprint_stays(ca: CertificateAuthority) -> None:
    first = issue_server_certificate(ca, ["localhost"])
    again = issue_server_certificate(ca, ["localhost", "192.168.0.2"], key=first.key)
    assert tasmota_fingerprint(again.certificate) == tasmota_fingerprint(first.certificate)
    assert sha256_fingerprint(again.certificate) != sha256_fingerprint(first.certificate)
    fresh = issue_server_certificate(ca, ["localhost"])
    assert tasmota_fingerprint(fresh.certificate) != tasmota_fingerprint(first.certificate)


def test_an_ec_server_key_has_no_tasmota_fingerprint(ca: CertificateAuthority) -> None:
    certificate = issue_server_certificate(ca, ["localhost"], key_type=KeyType.EC_P256).certificate
    with pytest.raises(ValidationError, match="Tasmota pins RSA server keys only; this certificate has an EC P-256"):
        tasmota_fingerprint(certificate)


def test_sha256_fingerprint_is_the_certificates(ca: CertificateAuthority) -> None:
    digest = ca.certificate.fingerprint(hashes.SHA256())
    assert sha256_fingerprint(ca.certificate) == ":".join(f"{b:02X}" for b in digest)


def test_pkcs12_round_trips_with_cryptography(ca: CertificateAuthority) -> None:
    issued = issue_client_certificate(ca, "lamp")
    assert issued.key is not None
    bundle = pkcs12_bundle(issued.certificate, issued.key, "p12-pass", ca=ca.certificate, friendly_name="lamp")
    key, certificate, extra = pkcs12.load_key_and_certificates(bundle, b"p12-pass")
    assert certificate == issued.certificate
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.private_numbers() == issued.key.private_numbers()
    assert extra == [ca.certificate]
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_key_and_certificates(bundle, b"wrong")
    with pytest.raises(ValidationError, match="needs a password"):
        pkcs12_bundle(issued.certificate, issued.key, "")


def test_tasmota_tlskey_commands_hold_the_raw_scalar_and_the_der_certificate(ca: CertificateAuthority) -> None:
    issued = issue_client_certificate(ca, "tasmota-plug")
    key = issued.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    commands = tasmota_key_commands(issued.certificate, key)
    verb, scalar = commands.key_command.split(" ")
    assert verb == "TLSKey1"
    raw = base64.b64decode(scalar)
    assert len(raw) == 32
    assert int.from_bytes(raw, "big") == key.private_numbers().private_value
    verb, der = commands.certificate_command.split(" ")
    assert verb == "TLSKey2"
    assert x509.load_der_x509_certificate(base64.b64decode(der)) == issued.certificate


def test_tasmota_export_refuses_rsa_and_certificates_too_big_for_its_block(ca: CertificateAuthority) -> None:
    rsa_issued = issue_client_certificate(ca, "plug", key_type=KeyType.RSA2048)
    assert rsa_issued.key is not None
    with pytest.raises(ValidationError, match="Tasmota takes EC P-256 client keys only; this one is RSA 2048"):
        tasmota_key_commands(rsa_issued.certificate, rsa_issued.key)
    # an RSA CA's signature alone is 256 bytes; with its long name the certificate no longer fits
    big_ca = create_ca("a CA whose name takes room in every certificate it signs",
                       key_type=KeyType.RSA4096)
    big = issue_client_certificate(big_ca, "x" * 64)
    assert big.key is not None
    size = len(big.certificate.public_bytes(serialization.Encoding.DER))
    assert size > TASMOTA_MAX_CERTIFICATE_BYTES
    with pytest.raises(ValidationError, match=f"the certificate is {size} bytes; Tasmota's 1 KB key block holds "
                                              f"a certificate of at most {TASMOTA_MAX_CERTIFICATE_BYTES} bytes"):
        tasmota_key_commands(big.certificate, big.key)


def test_the_crl_is_empty_at_first_then_lists_what_was_revoked(ca: CertificateAuthority) -> None:
    empty = load_crl(crl_pem(build_crl(ca, [])), issuer=ca.certificate)
    assert revoked_serials(empty) == set()
    assert empty.next_update_utc == ca.certificate.not_valid_after_utc
    one = issue_client_certificate(ca, "lamp").certificate
    two = issue_client_certificate(ca, "fridge").certificate
    crl = load_crl(crl_pem(build_crl(ca, [Revoked(one.serial_number, 1_800_000_000.0)])), issuer=ca.certificate)
    assert revoked_serials(crl) == {one.serial_number}
    entry = crl.get_revoked_certificate_by_serial_number(one.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc.timestamp() == 1_800_000_000.0
    assert crl.get_revoked_certificate_by_serial_number(two.serial_number) is None
    other = create_ca("another CA")
    with pytest.raises(ValidationError, match="the CRL was not issued by CN=another CA,O=mqttdesk"):
        load_crl(crl_pem(crl), issuer=other.certificate)


def test_file_stem_keeps_the_files_in_the_folder_chosen() -> None:
    assert file_stem("lamp@acme") == "lamp@acme"
    assert file_stem("../etc/passwd") == "_etc_passwd"
    assert file_stem("a\\b") == "a_b"
    assert file_stem("...") == "certificate"
