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
    BAD_AUTH_METHOD = "bad-auth-method"  # MQTT 5 enhanced authentication: no method is supported yet
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


# -- MQTT 5: the reason code a decision is answered with (the sentence goes with it as the Reason String) --------

_MQTT5_CONNACK: dict[ReasonCode, int] = {
    ReasonCode.UNKNOWN_USER: 0x86, ReasonCode.BAD_PASSWORD: 0x86, ReasonCode.MISSING_PASSWORD: 0x86,
    ReasonCode.MISSING_USERNAME: 0x86,
    ReasonCode.CLIENT_ID_IN_USE: 0x85, ReasonCode.CLIENT_ID_REGISTERED: 0x85, ReasonCode.CLIENT_ID_EMPTY: 0x85,
    ReasonCode.CLIENT_ID_SESSION_OWNED: 0x85, ReasonCode.CLIENT_ID_RESERVED: 0x85, ReasonCode.CLIENT_ID_TAKEN: 0x85,
    ReasonCode.BAD_PROTOCOL: 0x84, ReasonCode.SERVER_BUSY: 0x89, ReasonCode.BAD_AUTH_METHOD: 0x8C,
}
_MQTT5_DISCONNECT: dict[ReasonCode, int] = {
    ReasonCode.KICKED: 0x98, ReasonCode.CREDENTIAL_CHANGED: 0x98, ReasonCode.TAKEN_OVER: 0x8E,
    ReasonCode.KEEPALIVE_TIMEOUT: 0x8D, ReasonCode.BROKER_STOPPED: 0x8B, ReasonCode.PROTOCOL_ERROR: 0x82,
}
MAX_REASON_STRING_BYTES = 512


def mqtt5_connack_code(code: ReasonCode) -> int:
    """The MQTT 5 CONNACK reason code for a CONNECT decision (0x87 not authorized unless a better one fits)."""
    return _MQTT5_CONNACK.get(code, 0x87)


def mqtt5_topic_refusal_code(code: ReasonCode, kind: str) -> int:
    """The SUBACK / PUBACK / PUBREC reason code of a refused topic decision (`kind` SUBSCRIBE or PUBLISH)."""
    if code is ReasonCode.SUBSCRIPTION_LIMIT:
        return 0x97  # quota exceeded
    if code is ReasonCode.BAD_TOPIC:
        return 0x8F if kind == "SUBSCRIBE" else 0x90
    return 0x87


def mqtt5_disconnect_code(code: ReasonCode) -> int:
    """The reason code of a DISCONNECT the server sends when it ends a session."""
    return _MQTT5_DISCONNECT.get(code, 0x80)


def reason_string(text: str) -> str:
    """A decision's sentence as an MQTT 5 Reason String: no control characters, at most 512 bytes of UTF-8.

    The sentences never contain a password or a token (they are built from names, clientIds and rules only).
    """
    cleaned = "".join(char if char >= " " and char != "\x7f" else " " for char in text)
    data = cleaned.encode("utf-8")
    if len(data) <= MAX_REASON_STRING_BYTES:
        return cleaned
    return data[:MAX_REASON_STRING_BYTES - 3].decode("utf-8", "ignore") + "…"
