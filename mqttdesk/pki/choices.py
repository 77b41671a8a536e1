"""The choices the CLI and the dialogs offer for keys and validity, without importing `cryptography`: parsing the
command line must not cost its import (a third of the CLI's start-up) when the command is not about certificates."""

from __future__ import annotations

from enum import StrEnum

from mqttdesk.core.errors import ValidationError

DEFAULT_CA_NAME = "mqttdesk CA"
DEFAULT_CA_DAYS = 3650
DEFAULT_CLIENT_DAYS = 825


class KeyType(StrEnum):
    """The keys mqttdesk generates, by the name the CLI takes (`--key ec-p256`)."""

    EC_P256 = "ec-p256"
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"

    @classmethod
    def parse(cls, text: str) -> KeyType:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValidationError(f"unknown key type {text!r} (one of {', '.join(k.value for k in cls)})") from None


DEFAULT_CLIENT_KEY = KeyType.EC_P256  # the one key Tasmota can use as a client
CLIENT_KEY_TYPES = (KeyType.EC_P256.value, KeyType.RSA2048.value)
