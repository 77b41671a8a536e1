"""The certificate authority: create one (EC P-256 by default), or import an existing CA certificate and its key,
after checking that the key belongs to the certificate and that the certificate may sign others."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.certificates import Validity, is_ca, load_certificate, name, utc
from mqttdesk.pki.choices import DEFAULT_CA_DAYS, DEFAULT_CA_NAME, KeyType
from mqttdesk.pki.keys import PrivateKey, describe_key, generate_key, load_private_key, same_public_key

ORGANIZATION = "mqttdesk"


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def signing_hash(self) -> hashes.SHA256:
        return hashes.SHA256()


def create_ca(common_name: str = DEFAULT_CA_NAME, *, days: int = DEFAULT_CA_DAYS,
              key_type: KeyType = KeyType.EC_P256, now: float | None = None) -> CertificateAuthority:
    """A new self-signed CA that may sign end-entity certificates only (path length 0) and CRLs."""
    key = generate_key(key_type)
    subject = name(common_name, ORGANIZATION)
    validity = Validity.starting(time.time() if now is None else now, days)
    identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utc(validity.not_before)).not_valid_after(utc(validity.not_after))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(identifier, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)


def check_ca_certificate(certificate: x509.Certificate, *, what: str = "the certificate",
                         now: float | None = None) -> None:
    """A certificate that can act as a CA: marked as one, and not expired."""
    if not is_ca(certificate):
        raise ValidationError(f"{what} ({certificate.subject.rfc4514_string()}) is not a CA certificate "
                              "(its basic constraints do not say CA)")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise ValidationError(f"{what} ({certificate.subject.rfc4514_string()}) may not sign certificates "
                              "(its key usage lacks keyCertSign)")
    moment = time.time() if now is None else now
    if Validity.of(certificate).not_after <= moment:
        raise ValidationError(f"{what} ({certificate.subject.rfc4514_string()}) expired on "
                              f"{certificate.not_valid_after_utc:%Y-%m-%d}")


def import_ca(certificate_pem: bytes, key_pem: bytes, passphrase: str | None = None, *,
              now: float | None = None, certificate_name: str = "the CA certificate",
              key_name: str = "the CA key") -> CertificateAuthority:
    """An existing CA: its certificate (PEM) and private key (PEM, encrypted with `passphrase` or not); the names
    say which file is which in a refusal (e.g. "the CA certificate ca.pem")."""
    certificate = load_certificate(certificate_pem, what=certificate_name)
    key = load_private_key(key_pem, passphrase, what=key_name)
    if not same_public_key(certificate.public_key(), key.public_key()):
        raise ValidationError(f"the key ({describe_key(key)}) does not belong to the CA certificate "
                              f"{certificate.subject.rfc4514_string()}")
    check_ca_certificate(certificate, what="the CA certificate", now=now)
    return CertificateAuthority(certificate, key)
