"""The CA's certificate revocation list: signed by the CA, empty from the start and rebuilt on every revocation.

It must exist from day one: a TLS server that checks CRLs (`ssl.VERIFY_CRL_CHECK_LEAF`) refuses every client
certificate whose issuer has no CRL loaded. Its next update is the CA's own end, so it never goes stale between
revocations (an expired CRL would refuse every client too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.ca import CertificateAuthority
from mqttdesk.pki.certificates import CLOCK_SKEW, utc
from mqttdesk.pki.parse_errors import parse_problem


@dataclass(frozen=True, slots=True)
class Revoked:
    serial: int
    revoked_at: float


def build_crl(ca: CertificateAuthority, revoked: list[Revoked] | tuple[Revoked, ...], *,
              now: float | None = None) -> x509.CertificateRevocationList:
    moment = utc(time.time() if now is None else now)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.certificate.subject)
               .last_update(moment - CLOCK_SKEW).next_update(ca.certificate.not_valid_after_utc)
               .add_extension(x509.CRLNumber(int(moment.timestamp())), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    for entry in sorted(revoked, key=lambda r: r.serial):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(utc(entry.revoked_at))
            .build())
    return builder.sign(ca.key, ca.signing_hash())


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def load_crl(pem: bytes, *, issuer: x509.Certificate | None = None, what: str = "the CRL") -> \
        x509.CertificateRevocationList:
    """A PEM CRL; with `issuer`, it must be that CA's (name and signature)."""
    try:
        crl = x509.load_pem_x509_crl(pem)
    except ValueError as exc:
        raise ValidationError(f"{what} cannot be read: {parse_problem(exc)}") from None
    if issuer is None:
        return crl
    key = issuer.public_key()
    if crl.issuer != issuer.subject or not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) \
            or not crl.is_signature_valid(key):
        raise ValidationError(f"{what} was not issued by {issuer.subject.rfc4514_string()}")
    return crl


def revoked_serials(crl: x509.CertificateRevocationList) -> set[int]:
    return {entry.serial_number for entry in crl}
