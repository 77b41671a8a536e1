"""pki/: keys, the CA (created and imported), server and client certificates, CSR signing and its refusals."""

from __future__ import annotations

import datetime
import ipaddress
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.ca import CertificateAuthority, create_ca, import_ca
from mqttdesk.pki.certificate_states import CertificateState, certificate_state
from mqttdesk.pki.certificates import (
    certificate_pem,
    common_name,
    parse_serial,
    serial_hex,
)
from mqttdesk.pki.choices import KeyType
from mqttdesk.pki.issue import check_csr, issue_client_certificate, issue_server_certificate, load_csr, sign_csr
from mqttdesk.pki.keys import describe_key, generate_key, load_private_key, private_key_pem
from mqttdesk.pki.sans import default_sans, normalize_sans, parse_san, sans_of


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return create_ca("lab CA", days=30)


@pytest.mark.parametrize(("key_type", "words"), [(KeyType.EC_P256, "EC P-256"), (KeyType.RSA2048, "RSA 2048"),
                                                 (KeyType.RSA3072, "RSA 3072"), (KeyType.RSA4096, "RSA 4096")])
def test_every_key_type_is_generated_as_named(key_type: KeyType, words: str) -> None:
    key = generate_key(key_type)
    assert describe_key(key) == describe_key(key.public_key()) == words


def test_an_unknown_key_type_is_refused_in_words() -> None:
    with pytest.raises(ValidationError, match="unknown key type 'dsa' \\(one of ec-p256, rsa2048, rsa3072, rsa4096\\)"):
        KeyType.parse("dsa")


def test_an_encrypted_key_needs_its_passphrase_and_refuses_a_wrong_one() -> None:
    key = generate_key(KeyType.EC_P256)
    pem = private_key_pem(key, "correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    with pytest.raises(ValidationError, match="the key is encrypted: give its passphrase"):
        load_private_key(pem)
    with pytest.raises(ValidationError, match="wrong passphrase for the key"):
        load_private_key(pem, "wrong")
    loaded = load_private_key(pem, "correct horse")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()
    with pytest.raises(ValidationError, match="an empty passphrase is not allowed"):
        private_key_pem(key, "")


def test_a_new_ca_is_ec_p256_self_signed_and_may_sign_certificates_and_crls() -> None:
    made = create_ca("Home lab", days=365)
    certificate = made.certificate
    assert isinstance(made.key, ec.EllipticCurvePrivateKey)
    assert made.key.curve.name == "secp256r1"
    assert common_name(certificate.subject) == "Home lab"
    assert certificate.subject == certificate.issuer
    certificate.verify_directly_issued_by(certificate)
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(days=365) <= lifetime <= datetime.timedelta(days=365, minutes=10)


def test_a_ca_with_an_rsa_key_on_request() -> None:
    assert describe_key(create_ca(key_type=KeyType.RSA3072).key) == "RSA 3072"


def test_import_takes_an_encrypted_key_with_its_passphrase(ca: CertificateAuthority) -> None:
    imported = import_ca(certificate_pem(ca.certificate), private_key_pem(ca.key, "s3cret"), "s3cret")
    assert imported.certificate == ca.certificate
    with pytest.raises(ValidationError, match="wrong passphrase for the CA key"):
        import_ca(certificate_pem(ca.certificate), private_key_pem(ca.key, "s3cret"), "nope")
    with pytest.raises(ValidationError, match="the CA key is encrypted: give its passphrase"):
        import_ca(certificate_pem(ca.certificate), private_key_pem(ca.key, "s3cret"))


def test_import_refuses_a_key_of_another_certificate(ca: CertificateAuthority) -> None:
    other = generate_key(KeyType.EC_P256)
    with pytest.raises(ValidationError, match="the key \\(EC P-256\\) does not belong to the CA certificate "
                                              "CN=lab CA,O=mqttdesk"):
        import_ca(certificate_pem(ca.certificate), private_key_pem(other))


def test_import_refuses_a_certificate_that_is_not_a_ca(ca: CertificateAuthority) -> None:
    client = issue_client_certificate(ca, "lamp")
    assert client.key is not None
    with pytest.raises(ValidationError, match="is not a CA certificate \\(its basic constraints do not say CA\\)"):
        import_ca(certificate_pem(client.certificate), private_key_pem(client.key))


def test_import_refuses_what_is_not_pem(ca: CertificateAuthority) -> None:
    with pytest.raises(ValidationError, match="the CA certificate holds no PEM certificate"):
        import_ca(b"-----BEGIN NOTHING-----\nAA==\n-----END NOTHING-----\n", private_key_pem(ca.key))
    with pytest.raises(ValidationError, match="the CA key is not a PEM private key"):
        import_ca(certificate_pem(ca.certificate), certificate_pem(ca.certificate))


def test_the_server_certificate_is_rsa_2048_with_its_names(ca: CertificateAuthority) -> None:
    issued = issue_server_certificate(ca, ["localhost", "127.0.0.1", "::1", "Broker.Lan", "192.168.1.20"])
    certificate = issued.certificate
    assert describe_key(certificate.public_key()) == "RSA 2048"
    assert sans_of(certificate) == ("localhost", "127.0.0.1", "::1", "broker.lan", "192.168.1.20")
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509.IPAddress(ipaddress.ip_address("::1")) in san
    purposes = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(purposes) == [ExtendedKeyUsageOID.SERVER_AUTH]
    certificate.verify_directly_issued_by(ca.certificate)
    # it never outlives the CA (30 days here) whatever validity was asked for
    assert certificate.not_valid_after_utc <= ca.certificate.not_valid_after_utc


def test_reissuing_keeps_the_key(ca: CertificateAuthority) -> None:
    first = issue_server_certificate(ca, ["localhost"])
    again = issue_server_certificate(ca, ["localhost", "10.0.0.5"], key=first.key)
    assert first.key is again.key
    assert first.certificate.public_key() == again.certificate.public_key()
    assert first.certificate.serial_number != again.certificate.serial_number
    assert sans_of(again.certificate) == ("localhost", "10.0.0.5")


def test_sans_are_checked_and_normalised() -> None:
    assert normalize_sans(["LocalHost", "127.0.0.1", "localhost", "[::1]", "*.lan"]) == \
        ("localhost", "127.0.0.1", "::1", "*.lan")
    for bad in ("", "bad name", "-x.lan", "a..b"):
        with pytest.raises(ValidationError):
            parse_san(bad)
    with pytest.raises(ValidationError, match="at least one name"):
        normalize_sans([])


def test_the_default_names_start_with_loopback_and_hold_this_host() -> None:
    names = default_sans()
    assert names[:3] == ("localhost", "127.0.0.1", "::1")
    assert len(set(names)) == len(names)
    for entry in names:
        parse_san(entry)  # every default is a valid SAN


def test_a_client_certificate_names_the_user_and_is_ec_by_default(ca: CertificateAuthority) -> None:
    issued = issue_client_certificate(ca, "lamp@home")
    assert common_name(issued.certificate.subject) == "lamp@home"
    assert describe_key(issued.certificate.public_key()) == "EC P-256"
    purposes = issued.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(purposes) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not issued.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    rsa_issued = issue_client_certificate(ca, "fridge", key_type=KeyType.RSA2048)
    assert describe_key(rsa_issued.certificate.public_key()) == "RSA 2048"


def _csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cn: str | None = "sensor") -> \
        x509.CertificateSigningRequest:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else \
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nobody")]
    return x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())


def test_a_good_csr_is_shown_then_signed_for_its_key_and_cn(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    csr = load_csr(_csr(key).public_bytes(serialization.Encoding.PEM))
    summary = check_csr(csr)
    assert (summary.subject, summary.common_name, summary.key) == ("CN=sensor", "sensor", "EC P-384")
    issued = sign_csr(ca, csr)
    assert issued.key is None
    assert issued.certificate.public_key() == key.public_key()
    assert common_name(issued.certificate.subject) == "sensor"
    issued.certificate.verify_directly_issued_by(ca.certificate)


def test_weak_or_unusual_csr_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValidationError, match="the CSR's key is RSA 1024: too weak \\(RSA needs at least 2048"):
        check_csr(_csr(weak))
    odd_curve = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(ValidationError, match="the CSR's key is EC P-521: only the curves P-256 and P-384"):
        check_csr(_csr(odd_curve))
    koblitz = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(ValidationError, match="only the curves P-256 and P-384"):
        check_csr(_csr(koblitz))


def test_a_csr_with_a_bad_self_signature_is_refused() -> None:
    der = bytearray(_csr(ec.generate_private_key(ec.SECP256R1())).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature value
    with pytest.raises(ValidationError, match="the CSR's signature does not match its key"):
        check_csr(load_csr(bytes(der)))


def test_a_csr_without_a_cn_or_that_is_no_csr_is_refused() -> None:
    with pytest.raises(ValidationError, match="the CSR has no CN in its subject \\(O=nobody\\)"):
        check_csr(_csr(ec.generate_private_key(ec.SECP256R1()), cn=None))
    with pytest.raises(ValidationError, match="this is not a certificate signing request"):
        load_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")


def test_states_and_serials() -> None:
    now = time.time()
    day = 86400.0
    assert certificate_state(now - day, now + 90 * day, None, now) is CertificateState.VALID
    assert certificate_state(now - day, now + 10 * day, None, now) is CertificateState.EXPIRING
    assert certificate_state(now - 9 * day, now - day, None, now) is CertificateState.EXPIRED
    assert certificate_state(now - day, now + 90 * day, now, now) is CertificateState.REVOKED
    assert serial_hex(0x1BE6) == "1be6"
    assert parse_serial("1B:E6") == parse_serial("0x1be6") == 0x1BE6
    with pytest.raises(ValidationError, match="is not a certificate serial"):
        parse_serial("xyz")
