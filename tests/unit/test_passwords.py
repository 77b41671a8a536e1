"""Password hashes in Mosquitto's `$7$` format: round trip, refusal of malformed input, and real Mosquitto vectors."""

from __future__ import annotations

import base64
import re
import string

import pytest

from mqttdesk.core.errors import ValidationError
from mqttdesk.core.passwords import (
    DEFAULT_ITERATIONS,
    KEY_BYTES,
    SALT_BYTES,
    generate_password,
    hash_password,
    parse_hash,
    verify_password,
)

FAST = 1000

# Produced by the real tool (Debian 12 package mosquitto 2.0.11):
#   mosquitto_passwd -c -b /tmp/pw someuser somepassword
#   mosquitto_passwd -b -I 1000 /tmp/pw other 'pässwörd with spaces'
MOSQUITTO_VECTOR = (
    "$7$101$eE32A9M0hkvgxfkw$hiUUoFX1qnGIMrNLdHJf2tNtXypNJoHURPaqa8YlObuYOye4GxON4KA4s6shEIcWMsDOqzMkMSkARd/rg+N/sw=="
)
MOSQUITTO_VECTOR_PASSWORD = "somepassword"
MOSQUITTO_UTF8_VECTOR = (
    "$7$1000$eRItE382ahIFeU0t$Dm8wCewRZxzKYLKsyTFKvpvDLJN9Z2IL6BsnoUel+Gxc076Z9pRF3srdff1wkzlIZsxP1D7zK4EliaLDdvuUmw=="
)
MOSQUITTO_UTF8_VECTOR_PASSWORD = "pässwörd with spaces"

_FORMAT = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


def test_round_trip() -> None:
    encoded = hash_password("correct horse", iterations=FAST)
    assert verify_password("correct horse", encoded)


@pytest.mark.parametrize("wrong", ["correct hors", "correct horse ", "Correct horse", "", "correct\x00horse"])
def test_wrong_password_does_not_verify(wrong: str) -> None:
    encoded = hash_password("correct horse", iterations=FAST)
    assert not verify_password(wrong, encoded)


def test_unicode_password_round_trip() -> None:
    encoded = hash_password("🔑 pässwörd", iterations=FAST)
    assert verify_password("🔑 pässwörd", encoded)
    assert not verify_password("🔑 passwort", encoded)


def test_salt_is_random() -> None:
    first, second = hash_password("same", iterations=FAST), hash_password("same", iterations=FAST)
    assert first != second
    assert verify_password("same", first)
    assert verify_password("same", second)


def test_default_iterations_are_kept_in_the_string() -> None:
    assert DEFAULT_ITERATIONS == 210_000
    encoded = hash_password("slow on purpose")
    assert encoded.startswith("$7$210000$")
    assert parse_hash(encoded)[0] == 210_000
    assert verify_password("slow on purpose", encoded)


def test_iterations_come_from_the_string_not_the_default() -> None:
    old = hash_password("pw", iterations=7)
    assert old.startswith("$7$7$")
    assert verify_password("pw", old)


def test_format_matches_mosquitto() -> None:
    """`$7$<iterations>$<base64 12-byte salt>$<base64 64-byte key>`, standard base64 with padding."""
    encoded = hash_password("pw", iterations=FAST)
    match = _FORMAT.match(encoded)
    assert match is not None, encoded
    assert int(match.group(1)) == FAST
    assert len(base64.b64decode(match.group(2), validate=True)) == SALT_BYTES == 12
    assert len(base64.b64decode(match.group(3), validate=True)) == KEY_BYTES == 64
    assert len(match.group(2)) == 16  # what mosquitto_passwd writes, too
    assert len(match.group(3)) == 88


def test_parse_hash() -> None:
    salt = bytes(range(12))
    iterations, parsed_salt, key = parse_hash(hash_password("pw", iterations=FAST, salt=salt))
    assert (iterations, parsed_salt, len(key)) == (FAST, salt, 64)


@pytest.mark.parametrize(
    ("password", "vector"),
    [(MOSQUITTO_VECTOR_PASSWORD, MOSQUITTO_VECTOR), (MOSQUITTO_UTF8_VECTOR_PASSWORD, MOSQUITTO_UTF8_VECTOR)],
)
def test_mosquitto_vector_verifies(password: str, vector: str) -> None:
    assert verify_password(password, vector)
    assert not verify_password(password + "x", vector)
    assert not verify_password("wrong", vector)


@pytest.mark.parametrize(
    ("password", "vector"),
    [(MOSQUITTO_VECTOR_PASSWORD, MOSQUITTO_VECTOR), (MOSQUITTO_UTF8_VECTOR_PASSWORD, MOSQUITTO_UTF8_VECTOR)],
)
def test_we_write_exactly_what_mosquitto_writes(password: str, vector: str) -> None:
    """With mosquitto's salt and iteration count, our hash is byte-for-byte the line mosquitto_passwd wrote."""
    iterations, salt, _ = parse_hash(vector)
    assert hash_password(password, iterations=iterations, salt=salt) == vector


def _swap_iterations(encoded: str, iterations: str) -> str:
    parts = encoded.split("$")
    parts[2] = iterations
    return "$".join(parts)


_GOOD = MOSQUITTO_VECTOR
_GOOD_KEY = _GOOD.split("$")[4]


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "somepassword",
        "$6$101$eE32A9M0hkvgxfkw$" + _GOOD_KEY,  # another algorithm
        "$7$$eE32A9M0hkvgxfkw$" + _GOOD_KEY,  # no iterations
        "$7$0$eE32A9M0hkvgxfkw$" + _GOOD_KEY,
        "$7$-101$eE32A9M0hkvgxfkw$" + _GOOD_KEY,
        "$7$abc$eE32A9M0hkvgxfkw$" + _GOOD_KEY,
        _swap_iterations(_GOOD, " 101"),  # int() would accept all of these
        _swap_iterations(_GOOD, "+101"),
        _swap_iterations(_GOOD, "1_01"),
        _swap_iterations(_GOOD, "١٠١"),  # Arabic-Indic digits
        "$7$101$$" + _GOOD_KEY,  # empty salt
        "$7$101$not*base64$" + _GOOD_KEY,
        "$7$101$eE32A9M0hkvgxfkw$",  # empty key
        "$7$101$eE32A9M0hkvgxfkw$" + _GOOD_KEY[:-4],  # key too short
        "$7$101$eE32A9M0hkvgxfkw$" + _GOOD_KEY + "AAAA",  # key too long
        "$7$101$eE32A9M0hkvgxfkw$" + _GOOD_KEY.replace("/", "_"),  # url-safe alphabet is not mosquitto's
        _GOOD + "\n",
        _GOOD + "$",
        "x" + _GOOD,
        "$7$101$eE32A9M0hkvgxfkw",
    ],
)
def test_malformed_hash_never_verifies(malformed: str) -> None:
    assert not verify_password(MOSQUITTO_VECTOR_PASSWORD, malformed)
    with pytest.raises(ValidationError):
        parse_hash(malformed)


@pytest.mark.parametrize("iterations", [0, -1])
def test_hash_refuses_bad_iterations(iterations: int) -> None:
    with pytest.raises(ValidationError, match="iterations must be positive"):
        hash_password("pw", iterations=iterations)


def test_hash_refuses_empty_password() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        hash_password("", iterations=FAST)


def test_generate_password() -> None:
    generated = {generate_password() for _ in range(20)}
    assert len(generated) == 20
    for password in generated:
        assert len(password) == 20
        assert set(password) <= set(string.ascii_letters + string.digits)
    assert len(generate_password(32)) == 32
