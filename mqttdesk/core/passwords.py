"""Password hashing in Mosquitto's `$7$` format (PBKDF2-HMAC-SHA512), so password files round-trip losslessly.

Format: ``$7$<iterations>$<base64 salt>$<base64 hash>`` with a 12-byte salt and a 64-byte SHA-512 derived key,
exactly as `mosquitto_passwd` writes it. Iterations are stored in the string, so old hashes keep verifying after
the default changes. Hashing is deliberately slow: callers on an event loop must run it in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

from mqttdesk.core.errors import ValidationError

DEFAULT_ITERATIONS = 210_000  # OWASP 2023+ advice for PBKDF2-HMAC-SHA512
SALT_BYTES = 12
KEY_BYTES = 64
_PREFIX = "$7$"
_GENERATED_ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    if not password:
        raise ValidationError("the password must not be empty")
    if iterations < 1:
        raise ValidationError("iterations must be positive")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
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


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a `$7$` hash. A malformed hash never verifies."""
    try:
        iterations, salt, key = parse_hash(encoded)
    except ValidationError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, len(key))
    return hmac.compare_digest(candidate, key)


def generate_password(length: int = 20) -> str:
    """A strong random password of letters and digits (about 119 bits at length 20), easy to paste into firmware."""
    return "".join(secrets.choice(_GENERATED_ALPHABET) for _ in range(length))
