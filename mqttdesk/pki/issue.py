"""Certificates the CA issues: the server's (with its SANs, reissued keeping its key) and clients' (CN = the user
name), from a key made here or from a device's CSR after checking it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.ca import ORGANIZATION, CertificateAuthority
from mqttdesk.pki.certificates import Validity, common_name, name, pem_blocks, utc
from mqttdesk.pki.choices import DEFAULT_CLIENT_DAYS, DEFAULT_CLIENT_KEY, KeyType
from mqttdesk.pki.keys import PrivateKey, PublicKey, describe_key, generate_key
from mqttdesk.pki.parse_errors import parse_problem
from mqttdesk.pki.sans import normalize_sans, parse_san

# ESP8266 Tasmota negotiates only ECDHE-RSA and runs out of memory on keys above 2048 bits
DEFAULT_SERVER_KEY = KeyType.RSA2048
DEFAULT_SERVER_DAYS = 825  # what Apple's clients accept for a TLS server certificate
MIN_RSA_BITS = 2048
ALLOWED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}


@dataclass(frozen=True, slots=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey | None  # None when the CA signed a CSR: the device keeps its key


def _usage(*, key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=key_encipherment,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def _builder(ca: CertificateAuthority, subject: x509.Name, public_key: PublicKey, days: int,
             now: float | None, purpose: x509.ObjectIdentifier) -> x509.CertificateBuilder:
    validity = Validity.starting(time.time() if now is None else now, days)
    ca_end = ca.certificate.not_valid_after_utc.timestamp()
    not_after = min(validity.not_after, ca_end)  # nothing outlives the CA that vouches for it
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca.certificate.subject).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(utc(validity.not_before)).not_valid_after(utc(not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )


def issue_server_certificate(ca: CertificateAuthority, sans: list[str] | tuple[str, ...], *,
                             key: PrivateKey | None = None, key_type: KeyType = DEFAULT_SERVER_KEY,
                             days: int = DEFAULT_SERVER_DAYS, common_name_text: str = "mqttdesk broker",
                             now: float | None = None) -> Issued:
    """The TLS server's certificate for `sans`; pass `key` to reissue it with the key it had (the Tasmota
    fingerprint, which hashes the public key, stays the same then)."""
    names = normalize_sans(sans)
    key = key or generate_key(key_type)
    builder = _builder(ca, name(common_name_text, ORGANIZATION), key.public_key(), days, now,
                       ExtendedKeyUsageOID.SERVER_AUTH)
    builder = builder.add_extension(x509.SubjectAlternativeName([parse_san(n) for n in names]), critical=False)
    return Issued(builder.sign(ca.key, ca.signing_hash()), key)


def issue_client_certificate(ca: CertificateAuthority, username: str, *, key_type: KeyType = DEFAULT_CLIENT_KEY,
                             days: int = DEFAULT_CLIENT_DAYS, now: float | None = None) -> Issued:
    """A client certificate whose CN is `username`, with a key made here (the caller checks the user exists)."""
    key = generate_key(key_type)
    builder = _builder(ca, name(username), key.public_key(), days, now, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Issued(builder.sign(ca.key, ca.signing_hash()), key)


@dataclass(frozen=True, slots=True)
class CsrSummary:
    """What a person should see before a CSR is signed."""

    subject: str
    common_name: str | None
    key: str  # "EC P-256", "RSA 2048"

    def describe(self) -> str:
        return f"subject {self.subject}, key {self.key}"


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    if b"-----BEGIN" in pem and b"CERTIFICATE REQUEST-----" not in pem:
        found = sorted({label for label, _ in pem_blocks(pem)})
        raise ValidationError("this is not a certificate signing request (CSR): it holds no PEM block 'CERTIFICATE "
                              "REQUEST'" + (f" (it holds {', '.join(found)})" if found else ""))
    try:
        if b"-----BEGIN" in pem:
            return x509.load_pem_x509_csr(pem)
        return x509.load_der_x509_csr(pem)
    except ValueError as exc:
        raise ValidationError(f"this is not a certificate signing request (CSR): {parse_problem(exc)}") from None


def check_csr(csr: x509.CertificateSigningRequest) -> CsrSummary:
    """The CSR's subject and key, once it passed the checks: a good self-signature, a CN, and a strong key
    (RSA of at least 2048 bits, or EC on P-256 or P-384)."""
    subject = csr.subject.rfc4514_string()
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"the CSR's key cannot be read: {parse_problem(exc)}") from None
    words = describe_key(public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise ValidationError(f"the CSR's key is {words}: too weak (RSA needs at least {MIN_RSA_BITS} bits)")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ALLOWED_CURVES:
            raise ValidationError(f"the CSR's key is {words}: only the curves P-256 and P-384 are accepted")
    else:
        raise ValidationError(f"the CSR's key is {words}: only RSA and EC (P-256, P-384) keys are accepted")
    if not csr.is_signature_valid:
        raise ValidationError("the CSR's signature does not match its key (it was altered, or made wrongly)")
    cn = common_name(csr.subject)
    if not cn:
        raise ValidationError(f"the CSR has no CN in its subject ({subject or 'empty'}); the CN names the user")
    return CsrSummary(subject, cn, words)


def sign_csr(ca: CertificateAuthority, csr: x509.CertificateSigningRequest, *, days: int = DEFAULT_CLIENT_DAYS,
             now: float | None = None) -> Issued:
    """A client certificate for the CSR's key and CN (checked with `check_csr` first; other subject fields and
    requested extensions are not copied: the CA decides what the certificate says)."""
    summary = check_csr(csr)
    assert summary.common_name is not None
    public_key = csr.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    builder = _builder(ca, name(summary.common_name), public_key, days, now, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Issued(builder.sign(ca.key, ca.signing_hash()), None)
