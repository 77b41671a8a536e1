"""A certificate's state (valid, expiring, expired, revoked) from its dates: no `cryptography` here, so that the
window's state badges and tables load without it (the library is ~70 ms of a start)."""

from __future__ import annotations

from enum import StrEnum

EXPIRING_DAYS = 30  # "expiring soon": also when the server certificate is reissued


class CertificateState(StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"  # valid, but for less than EXPIRING_DAYS
    EXPIRED = "expired"
    REVOKED = "revoked"


def certificate_state(not_before: float, not_after: float, revoked_at: float | None, now: float) -> CertificateState:
    if revoked_at is not None:
        return CertificateState.REVOKED
    if now >= not_after or now < not_before:
        return CertificateState.EXPIRED
    if not_after - now < EXPIRING_DAYS * 86400:
        return CertificateState.EXPIRING
    return CertificateState.VALID
