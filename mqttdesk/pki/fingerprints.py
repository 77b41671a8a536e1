"""Fingerprints: SHA-256 of a certificate, and the one Tasmota pins a server by (`MqttFingerprint1`).

Tasmota (lib_ssl, WiFiClientSecureLightBearSSL.cpp) hashes the server's RSA public key, not the certificate:
SHA-1 over u32be(7) "ssh-rsa" u32be(len e) e u32be(len n) n — the SSH wire layout, but with e and n as BearSSL's
decoder leaves them: unsigned big-endian with leading zero bytes stripped. (A real SSH mpint adds a 0x00 byte when
the top bit is set, which every RSA modulus has; Tasmota does not, so an `ssh-keygen` fingerprint is different.)
Because only the key counts, a certificate reissued with the same key keeps its Tasmota fingerprint.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.keys import describe_key


def sha256_fingerprint(certificate: x509.Certificate) -> str:
    """ "AB:CD:..." (32 bytes), as browsers and `openssl x509 -fingerprint -sha256` show it."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def _unsigned(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _with_length(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def tasmota_fingerprint_bytes(public_key: rsa.RSAPublicKey) -> bytes:
    numbers = public_key.public_numbers()
    return hashlib.sha1(_with_length(b"ssh-rsa") + _with_length(_unsigned(numbers.e))
                        + _with_length(_unsigned(numbers.n)), usedforsecurity=False).digest()


def tasmota_fingerprint(certificate: x509.Certificate) -> str:
    """20 upper-case hex bytes separated by spaces; a ValidationError for a key Tasmota cannot pin (not RSA)."""
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValidationError(f"Tasmota pins RSA server keys only; this certificate has an {describe_key(public_key)} "
                              "key")
    return tasmota_fingerprint_bytes(public_key).hex(" ").upper()


def tasmota_fingerprint_command(fingerprint: str) -> str:
    """The line to paste into the Tasmota console: fingerprint checking on (SetOption132 1) and the fingerprint."""
    return f"Backlog SetOption132 1; MqttFingerprint1 {fingerprint}"
