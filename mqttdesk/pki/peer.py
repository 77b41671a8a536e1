"""A client certificate as the CONNECT rules see it (`core.decision.PeerCertificate`): a TLS connection's, or one
given to the explainer.

The handshake has verified it already (chain to a CA we trust, validity, and the CRL where one is loaded), so
this only reads what the rules need: the CN that names the user, the serial revocation is keyed by, the issuer
an imported CA is recognised by, and the end of its validity, at which a session it admitted is ended.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from mqttdesk.core.decision import PeerCertificate


def peer_certificate(der: bytes) -> PeerCertificate | None:
    """None when the bytes are not a certificate (the handshake would not have let it through)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return presented(certificate)


def presented(certificate: x509.Certificate) -> PeerCertificate:
    """The certificate as a client presenting it shows it to the CONNECT rules."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = names[0].value if names else None
    return PeerCertificate(
        cn=cn if isinstance(cn, str) else None,
        serial=format(certificate.serial_number, "x"),  # as `cert list` shows it
        issuer=certificate.issuer.rfc4514_string(),
        not_after=certificate.not_valid_after_utc.timestamp(),
        fingerprint_sha256=hashlib.sha256(der).hexdigest().upper(),
    )


def issued_by_one_of(certificate: x509.Certificate, issuers: list[x509.Certificate]) -> bool:
    """Whether one of `issuers` signed it: what the handshake checks before the CONNECT rules see it."""
    for issuer in issuers:
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False
