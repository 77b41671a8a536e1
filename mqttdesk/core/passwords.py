"""Password hashing in Mosquitto's `$7$` format (PBKDF2-HMAC-SHA512), so password files round-trip losslessly.

Format: ``$7$<iterations>$<base64 salt>$<base64 hash>`` with a 12-byte salt and a 64-byte SHA-512 derived key,
exactly as `mosquitto_passwd` writes it. Iterations are stored in the string, so old hashes keep verifying after
the default changes. Hashing is deliberately slow: callers on an event loop must run it in a thread.

The salt mqttdesk makes is 12 characters of the base64 alphabet (72 random bits), not 12 arbitrary bytes: EMQX's
built-in database hashes with the raw bytes of a salt *string*, so such a salt gives one PBKDF2 value that is valid
for Mosquitto and EMQX alike (`text_salt`; an imported hash with a binary salt cannot be given to EMQX).

Imported hashes keep working without a reset (`verify_password` takes all three, `validate_hash` admits them):
Mosquitto's older ``$6$<base64 salt>$<base64 SHA-512(password + salt)>`` and the PHC string
``$argon2id$v=19$m=…,t=…,p=…$salt$hash`` of Mosquitto 2.1, verified with argon2-cffi.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

import argon2

from mqttdesk.core.errors import ValidationError

DEFAULT_ITERATIONS = 210_000  # OWASP 2023+ advice for PBKDF2-HMAC-SHA512
SALT_BYTES = 12
KEY_BYTES = 64
_PREFIX = "$7$"
SHA512_PREFIX = "$6$"
ARGON2ID_PREFIX = "$argon2id$"
_GENERATED_ALPHABET = string.ascii_letters + string.digits
_SALT_ALPHABET = string.ascii_letters + string.digits + "+/"
_ARGON2 = argon2.PasswordHasher()


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    if not password:
        raise ValidationError("the password must not be empty")
    if iterations < 1:
        raise ValidationError("iterations must be positive")
    salt = new_salt() if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, KEY_BYTES)
    return f"{_PREFIX}{iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    """Split a `$7$` string into (iterations, salt, key); raise `ValidationError` when it is not one."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        raise ValidationError("not a Mosquitto $7$ (PBKDF2-SHA512) password hash")
    if not (parts[2].isascii() and parts[2].isdigit()):  # int() would also take " 1", "+1", "1_0" and "١"
        raise ValidationError("malformed $7$ password hash: the iteration count is not a number")
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        key = base64.b64decode(parts[4], validate=True)
    except ValueError as exc:
        raise ValidationError(f"malformed $7$ password hash: {exc}") from None
    if iterations < 1 or not salt or len(key) != KEY_BYTES:
        raise ValidationError("malformed $7$ password hash")
    return iterations, salt, key


def new_salt() -> bytes:
    """12 random characters of the base64 alphabet: a salt whose bytes are also a text (see the module docstring)."""
    return "".join(secrets.choice(_SALT_ALPHABET) for _ in range(SALT_BYTES)).encode("ascii")


def text_salt(salt: bytes) -> str | None:
    """The salt as the string EMQX needs (its bytes are the salt), or None when the bytes are not printable ASCII."""
    if salt and all(32 < byte < 127 for byte in salt) and b'"' not in salt and b"," not in salt and b"\\" not in salt:
        return salt.decode("ascii")
    return None


def parse_sha512_hash(encoded: str) -> tuple[bytes, bytes]:
    """Split a Mosquitto `$6$` string into (salt, digest); raise `ValidationError` when it is not one."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != "" or parts[1] != "6":
        raise ValidationError("not a Mosquitto $6$ (salted SHA-512) password hash")
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except ValueError as exc:
        raise ValidationError(f"malformed $6$ password hash: {exc}") from None
    if not salt or len(digest) != hashlib.sha512().digest_size:
        raise ValidationError("malformed $6$ password hash")
    return salt, digest


def _parse_argon2id(encoded: str) -> None:
    try:
        params = argon2.extract_parameters(encoded)
    except argon2.exceptions.InvalidHashError:
        raise ValidationError("malformed $argon2id$ password hash") from None
    if params.type is not argon2.Type.ID:
        raise ValidationError("not an argon2id password hash")


def hash_scheme(encoded: str) -> str:
    """ "pbkdf2-sha512" ($7$), "sha512" ($6$) or "argon2id"; raise `ValidationError` for anything else or a
    malformed hash of one of them."""
    if encoded.startswith(_PREFIX):
        parse_hash(encoded)
        return "pbkdf2-sha512"
    if encoded.startswith(SHA512_PREFIX):
        parse_sha512_hash(encoded)
        return "sha512"
    if encoded.startswith(ARGON2ID_PREFIX):
        _parse_argon2id(encoded)
        return "argon2id"
    raise ValidationError("not a password hash mqttdesk knows ($7$ PBKDF2-SHA512, $6$ SHA-512 or $argon2id$)")


def validate_hash(encoded: str) -> str:
    """Return `encoded` if mqttdesk can verify passwords against it (see `hash_scheme`)."""
    hash_scheme(encoded)
    return encoded


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a `$7$`, `$6$` or `$argon2id$` hash. A malformed hash never
    verifies."""
    secret = password.encode("utf-8")
    try:
        if encoded.startswith(SHA512_PREFIX):
            salt, digest = parse_sha512_hash(encoded)
            return hmac.compare_digest(hashlib.sha512(secret + salt).digest(), digest)
        if encoded.startswith(ARGON2ID_PREFIX):
            _parse_argon2id(encoded)
            try:
                return _ARGON2.verify(encoded, secret)
            except argon2.exceptions.VerificationError:
                return False
            except argon2.exceptions.InvalidHashError:
                return False
        iterations, salt, key = parse_hash(encoded)
    except ValidationError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", secret, salt, iterations, len(key))
    return hmac.compare_digest(candidate, key)


def generate_password(length: int = 20) -> str:
    """A strong random password of letters and digits (about 119 bits at length 20), easy to paste into firmware."""
    return "".join(secrets.choice(_GENERATED_ALPHABET) for _ in range(length))
