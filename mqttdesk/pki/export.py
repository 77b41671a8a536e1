"""Exports of an issued certificate: the PEM pair, PKCS#12 with a password, and Tasmota's `TLSKey1`/`TLSKey2`
console commands when the key and certificate fit Tasmota's 1 KB block."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.certificates import certificate_pem
from mqttdesk.pki.keys import PrivateKey, describe_key, private_key_pem

# Tasmota keeps the client key and certificate in one 1 KB flash block, next to its own bookkeeping
TASMOTA_MAX_CERTIFICATE_BYTES = 900


@dataclass(frozen=True, slots=True)
class PemPair:
    certificate: bytes
    key: bytes


def pem_pair(certificate: x509.Certificate, key: PrivateKey, passphrase: str | None = None) -> PemPair:
    return PemPair(certificate_pem(certificate), private_key_pem(key, passphrase))


def pkcs12_bundle(certificate: x509.Certificate, key: PrivateKey, password: str, *,
                  ca: x509.Certificate | None = None, friendly_name: str | None = None) -> bytes:
    """A PKCS#12 file (key, certificate and the CA's certificate) protected by `password` (not empty)."""
    if not password:
        raise ValidationError("a PKCS#12 file needs a password (an empty one is not allowed)")
    label = (friendly_name or "").encode("utf-8") or None
    return pkcs12.serialize_key_and_certificates(label, key, certificate, [ca] if ca is not None else None,
                                                 serialization.BestAvailableEncryption(password.encode("utf-8")))


@dataclass(frozen=True, slots=True)
class TasmotaKeyCommands:
    key_command: str  # TLSKey1 <base64 of the raw 32-byte private scalar>
    certificate_command: str  # TLSKey2 <base64 of the DER certificate>


def tasmota_key_commands(certificate: x509.Certificate, key: PrivateKey) -> TasmotaKeyCommands:
    """The two console commands that install a client key and certificate on Tasmota, or a ValidationError that
    says why they cannot (Tasmota takes EC P-256 keys only, and a certificate of at most 900 bytes)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValidationError(f"Tasmota takes EC P-256 client keys only; this one is {describe_key(key)}")
    der = certificate.public_bytes(serialization.Encoding.DER)
    if len(der) > TASMOTA_MAX_CERTIFICATE_BYTES:
        raise ValidationError(f"the certificate is {len(der)} bytes; Tasmota's 1 KB key block holds a certificate "
                              f"of at most {TASMOTA_MAX_CERTIFICATE_BYTES} bytes (a shorter CN makes it smaller)")
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return TasmotaKeyCommands(f"TLSKey1 {base64.b64encode(scalar).decode('ascii')}",
                              f"TLSKey2 {base64.b64encode(der).decode('ascii')}")
