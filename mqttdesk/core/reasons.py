"""Reason codes: short, stable identifiers for why a decision came out as it did, and the CONNACK code each means.

Codes are part of the public contract (`mqttdesk log --json`, the explainer, tests); add new ones, never rename.
The sentence that goes with a code is built where the facts are known (see `decide.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    # CONNECT accepted
    AUTHENTICATED = "authenticated"
    ANONYMOUS_ALLOWED = "anonymous-allowed"
    # CONNECT refused
    UNKNOWN_USER = "unknown-user"
    BAD_PASSWORD = "bad-password"
    MISSING_PASSWORD = "missing-password"
    MISSING_USERNAME = "missing-username"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    ANONYMOUS_REFUSED = "anonymous-refused"
    CLIENT_ID_IN_USE = "client-id-in-use"
    CLIENT_ID_REGISTERED = "client-id-registered"
    CLIENT_ID_EMPTY = "client-id-empty"
    CLIENT_ID_SESSION_OWNED = "client-id-session-owned"  # an offline persistent session of another identity
    CLIENT_ID_RESERVED = "client-id-reserved"  # a user reserved the clientId (pattern) for itself
    CLIENT_ID_TAKEN = "client-id-taken"  # a bootstrap credential may not claim an id another credential last used
    BAD_PROTOCOL = "bad-protocol"
    SERVER_BUSY = "server-busy"  # too many password checks waiting: this one was not queued (or was dropped)
    CLIENT_GONE = "client-gone"  # the client closed the connection before its password was checked
    TOO_MANY_PENDING = "too-many-pending"  # too many connections waiting for their CONNECT: closed unread
    TLS_HANDSHAKE_FAILED = "tls-handshake-failed"  # no CONNECT was read: the TLS handshake failed (no CONNACK)
    # SUBSCRIBE / PUBLISH
    ACL_ALLOWED = "acl-allowed"
    ACL_DENIED = "acl-denied"
    ACL_NO_RULE = "acl-no-rule"
    BAD_TOPIC = "bad-topic"
    SUBSCRIPTION_LIMIT = "subscription-limit"  # the session holds max_subscriptions_per_client already
    # session ends
    CLIENT_DISCONNECT = "client-disconnect"
    CONNECTION_LOST = "connection-lost"
    KEEPALIVE_TIMEOUT = "keepalive-timeout"
    KICKED = "kicked"
    CREDENTIAL_CHANGED = "credential-changed"
    TAKEN_OVER = "taken-over"
    PROTOCOL_ERROR = "protocol-error"
    RESERVED_TOPIC = "reserved-topic"
    BROKER_STOPPED = "broker-stopped"


class ConnackCode:
    """MQTT 3.1.1 CONNACK return codes."""

    ACCEPTED = 0
    UNACCEPTABLE_PROTOCOL = 1
    IDENTIFIER_REJECTED = 2
    SERVER_UNAVAILABLE = 3
    BAD_USERNAME_PASSWORD = 4
    NOT_AUTHORIZED = 5


_CONNACK_BY_REASON: dict[ReasonCode, int] = {
    ReasonCode.UNKNOWN_USER: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.BAD_PASSWORD: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.MISSING_PASSWORD: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.MISSING_USERNAME: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.SUSPENDED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.REVOKED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.ANONYMOUS_REFUSED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.CLIENT_ID_IN_USE: ConnackCode.IDENTIFIER_REJECTED,
    ReasonCode.CLIENT_ID_REGISTERED: ConnackCode.IDENTIFIER_REJECTED,
    ReasonCode.CLIENT_ID_EMPTY: ConnackCode.IDENTIFIER_REJECTED,
    ReasonCode.CLIENT_ID_SESSION_OWNED: ConnackCode.IDENTIFIER_REJECTED,
    ReasonCode.CLIENT_ID_RESERVED: ConnackCode.IDENTIFIER_REJECTED,
    ReasonCode.CLIENT_ID_TAKEN: ConnackCode.IDENTIFIER_REJECTED,
    ReasonCode.BAD_PROTOCOL: ConnackCode.UNACCEPTABLE_PROTOCOL,
    ReasonCode.SERVER_BUSY: ConnackCode.SERVER_UNAVAILABLE,
    ReasonCode.CLIENT_GONE: ConnackCode.SERVER_UNAVAILABLE,  # nobody is left to hear it: the broker sends nothing
}


def connack_code(code: ReasonCode, allowed: bool) -> int:
    """The CONNACK return code a CONNECT decision with this reason is answered with."""
    if allowed:
        return ConnackCode.ACCEPTED
    return _CONNACK_BY_REASON.get(code, ConnackCode.NOT_AUTHORIZED)


CONNACK_MEANING = {
    0: "accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad username or password",
    5: "not authorised",
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    text: str
