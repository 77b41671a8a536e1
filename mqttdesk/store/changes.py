"""Change notices: what changed in the store, so the broker and each view can decide whether it concerns them."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from mqttdesk.core.values import value_record


class ChangeKind(StrEnum):
    USER = "user"
    BOOTSTRAP = "bootstrap"
    DEVICE = "device"
    ROLE = "role"
    SETTINGS = "settings"
    TOKEN = "token"  # a token issuer was added, changed or deleted (the key is its name)
    CLIENT_ID = "client-id"  # a clientId was released (its last-credential record removed)
    CERTIFICATE = "certificate"  # the CA, the server certificate, an issued certificate, a trusted CA, the SANs
    BAN = "ban"  # a ban was added or lifted (the key is KIND:VALUE, e.g. "address:127.0.0.5")


@value_record
class Change:
    kind: ChangeKind
    key: str  # the user, bootstrap or role name, a (device's) clientId, the setting's key, or for certificates
    #           "ca", "server", "sans", a serial (hex) or "trust:NAME", for bans KIND:VALUE


ChangeListener = Callable[[tuple[Change, ...]], None]
