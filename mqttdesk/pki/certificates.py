"""What every part of the CA needs about a certificate: reading PEM, its subject and CN, serial as hex, validity as
timestamps, and its state (valid, expiring, expired, revoked) for lists and the Certificates tab."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.parse_errors import parse_problem

CLOCK_SKEW = datetime.timedelta(minutes=5)  # certificates start a little in the past: devices' clocks differ
MAX_DAYS = 36500
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----\r?\n?", re.DOTALL)


def utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"the validity must be between 1 and {MAX_DAYS} days, not {days}")
    return days


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """The PEM blocks of a file, as (label, block): ("CERTIFICATE", b"-----BEGIN ..."), ("X509 CRL", ...), ..."""
    return [(match.group(1).decode("ascii"), match.group(0)) for match in _PEM_BLOCK.finditer(data)]


def load_certificate(pem: bytes, *, what: str = "the certificate") -> x509.Certificate:
    """The first certificate of a PEM file (DER is accepted too: that is how some devices export them)."""
    try:
        if b"-----BEGIN" not in pem:
            return x509.load_der_x509_certificate(pem)
        blocks = [block for label, block in pem_blocks(pem) if label == "CERTIFICATE"]
        if not blocks:
            raise ValidationError(f"{what} holds no PEM certificate")
        return x509.load_pem_x509_certificate(blocks[0])
    except ValueError as exc:
        raise ValidationError(f"{what} cannot be read: {parse_problem(exc)}") from None


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def name(common_name: str, organization: str | None = None) -> x509.Name:
    common_name = common_name.strip()
    if not common_name:
        raise ValidationError("a certificate needs a name (its CN)")
    if len(common_name) > 64:  # the upper bound of X.520 for a common name
        raise ValidationError(f"a certificate's CN is at most 64 characters ({len(common_name)} given)")
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def common_name(subject: x509.Name) -> str | None:
    values = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def parse_serial(text: str) -> int:
    """A serial as the user types it: hex, with or without colons or 0x, any case."""
    cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        return int(cleaned, 16)
    except ValueError:
        raise ValidationError(f"{text!r} is not a certificate serial (hex digits, as `cert list` shows)") from None


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True, slots=True)
class Validity:
    not_before: float
    not_after: float

    @classmethod
    def of(cls, certificate: x509.Certificate) -> Validity:
        return cls(certificate.not_valid_before_utc.timestamp(), certificate.not_valid_after_utc.timestamp())

    @classmethod
    def starting(cls, now: float, days: int) -> Validity:
        start = utc(now) - CLOCK_SKEW
        return cls(start.timestamp(), (utc(now) + datetime.timedelta(days=check_days(days))).timestamp())
