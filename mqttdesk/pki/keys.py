"""Private keys: generate the kinds mqttdesk offers, describe any key in words, and read/write PEM (optionally
encrypted with a passphrase)."""

from __future__ import annotations

from typing import TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mqttdesk.core.errors import ValidationError
from mqttdesk.pki.choices import KeyType
from mqttdesk.pki.parse_errors import parse_problem

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
RSA_PUBLIC_EXPONENT = 65537
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def generate_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=int(key_type.value[3:]))


def describe_key(key: PrivateKey | PublicKey | object) -> str:
    """ "EC P-256", "RSA 2048", ... ; anything else by its class name."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey").removesuffix("PrivateKey") or "unknown"


def same_public_key(a: object, b: object) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if not isinstance(a, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) or type(a) is not type(b):
        return False
    assert isinstance(b, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return a.public_bytes(serialization.Encoding.DER, spki) == b.public_bytes(serialization.Encoding.DER, spki)


def private_key_pem(key: PrivateKey, passphrase: str | None = None) -> bytes:
    """PKCS#8 PEM; encrypted with the passphrase when one is given (an empty one is refused, not ignored)."""
    if passphrase is not None and not passphrase:
        raise ValidationError("an empty passphrase is not allowed")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")) if passphrase
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def is_encrypted_pem(pem: bytes) -> bool:
    return b"ENCRYPTED" in pem.split(b"-----END", 1)[0]


def load_private_key(pem: bytes, passphrase: str | None = None, *, what: str = "the key") -> PrivateKey:
    """A PEM private key (EC or RSA), decrypted with `passphrase` when it is encrypted."""
    if b"PRIVATE KEY" not in pem:
        raise ValidationError(f"{what} is not a PEM private key")
    encrypted = is_encrypted_pem(pem)
    if encrypted and not passphrase:
        raise ValidationError(f"{what} is encrypted: give its passphrase (--passphrase-stdin)")
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode("utf-8") if encrypted and passphrase
                                                 else None)
    except ValueError as exc:
        if encrypted:
            raise ValidationError(f"wrong passphrase for {what}") from None
        raise ValidationError(f"{what} cannot be read: {parse_problem(exc)}") from None
    except TypeError as exc:
        raise ValidationError(f"{what} cannot be read: {parse_problem(exc)}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValidationError(f"{what} is a {describe_key(key)} key; mqttdesk uses EC and RSA keys only")
    return key
