"""Reason codes: short, stable identifiers for why a decision came out as it did, and what each tells the client.

Codes are part of the public contract (`mqttdesk log --json`, the explainer, tests); add new ones, never rename.
The sentence that goes with a code is built where the facts are known (see `decide.py`).

An MQTT 3.1.1 client hears a CONNACK return code (`connack_code`) and nothing else. An MQTT 5 client hears a reason
code on CONNACK, SUBACK, PUBACK/PUBREC and the server's DISCONNECT (`mqtt5_connack_code`, `mqtt5_topic_refusal_code`,
`mqtt5_disconnect_code`, one table each), and the decision's sentence as the Reason String (`reason_string`): the
same words as the Auth log. The MQTT 5 codes are plain ints here (`Mqtt5Code`), so core needs nothing of the broker.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from mqttdesk.core.clip import clip_sentences
from mqttdesk.core.values import value_record


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
    KEEPALIVE_TOO_LONG = "keepalive-too-long"  # a 3.1.1 keep-alive over max_keepalive (MQTT 5 clients are told)
    BAD_AUTH_METHOD = "bad-auth-method"  # MQTT 5 enhanced authentication: no method is supported yet
    SERVER_BUSY = "server-busy"  # too many password checks waiting: this one was not queued (or was dropped)
    CLIENT_GONE = "client-gone"  # the client closed the connection before its password was checked
    TOO_MANY_PENDING = "too-many-pending"  # too many connections waiting for their CONNECT: closed unread
    TLS_HANDSHAKE_FAILED = "tls-handshake-failed"  # no CONNECT was read: the TLS handshake failed (no CONNACK)
    # the login guard (core/guard.py): decided before any credential is looked at
    BANNED = "banned"  # the address, username or clientId is banned (guessing, flapping, or by an administrator)
    THROTTLED = "throttled"  # too many failed logins from the address: refused after a delay, nothing checked
    TOO_MANY_CONNECTIONS = "too-many-connections"  # the broker holds max_connections connections already
    TOO_MANY_FROM_ADDRESS = "too-many-from-address"  # the client's address holds max_connections_per_address
    # client certificates (mutual TLS)
    CERT_REQUIRED = "cert-required"  # the user logs in by certificate and presented none
    CERT_NOT_ALLOWED = "cert-not-allowed"  # a certificate as the only login of a password-only user
    CERT_UNKNOWN_USER = "cert-unknown-user"  # the certificate's CN is no user
    CERT_USERNAME_MISMATCH = "cert-username-mismatch"  # the CONNECT's username is not the certificate's CN
    CERT_UNTRUSTED = "cert-untrusted"  # issued by a CA this user is not bound to
    CERT_EXPIRED = "cert-expired"  # at CONNECT, or a session whose certificate expired while connected
    CERT_REVOKED = "cert-revoked"
    # CONNECT refused: a token (JWT) that no local credential's username stood for (see core/tokens.py)
    TOKEN_MALFORMED = "token-malformed"  # not a JWT, or no identity claim
    TOKEN_BAD_SIGNATURE = "token-bad-signature"  # signed with another key, or with an algorithm the issuer refuses
    TOKEN_EXPIRED = "token-expired"  # its `exp` has passed (also the end of a session whose token expired)
    TOKEN_NOT_YET_VALID = "token-not-yet-valid"  # its `nbf` or `iat` is in the future
    TOKEN_WRONG_AUDIENCE = "token-wrong-audience"
    TOKEN_WRONG_ISSUER = "token-wrong-issuer"  # the issuer it names (`kid`) expects another `iss`
    TOKEN_UNKNOWN_ISSUER = "token-unknown-issuer"  # no issuer of the store matches its `kid` or `iss`
    # the external HTTP service (CONNECT, and the topics of the clients it admitted; see core/external.py)
    EXTERNAL_DENIED = "external-denied"  # it answered, and not with an allowing 200
    EXTERNAL_UNREACHABLE = "external-unreachable"
    EXTERNAL_TIMEOUT = "external-timeout"
    EXTERNAL_ERROR = "external-error"  # HTTP 5xx
    # the auth service (another broker asks mqttdesk): a request it does not answer with a decision
    CALLER_REFUSED = "caller-refused"  # the asking broker presented no valid shared secret
    BAD_REQUEST = "bad-request"  # the asking broker's request body lacks what the question needs
    # SUBSCRIBE / PUBLISH
    ACL_ALLOWED = "acl-allowed"
    ACL_DENIED = "acl-denied"
    ACL_NO_RULE = "acl-no-rule"
    BAD_TOPIC = "bad-topic"
    SUBSCRIPTION_LIMIT = "subscription-limit"  # the session holds max_subscriptions_per_client already
    RETAINED_LIMIT = "retained-limit"  # a retained message not kept (max_retained_messages / _bytes); delivered
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
    ReasonCode.TOO_MANY_CONNECTIONS: ConnackCode.SERVER_UNAVAILABLE,  # as Mosquitto over max_connections
    ReasonCode.TOO_MANY_FROM_ADDRESS: ConnackCode.SERVER_UNAVAILABLE,
    ReasonCode.CLIENT_GONE: ConnackCode.SERVER_UNAVAILABLE,  # nobody is left to hear it: the broker sends nothing
    ReasonCode.BAD_AUTH_METHOD: ConnackCode.NOT_AUTHORIZED,  # 3.1.1 has no Authentication Method: never sent
    ReasonCode.KEEPALIVE_TOO_LONG: ConnackCode.IDENTIFIER_REJECTED,  # what Mosquitto answers a too long keep-alive
    ReasonCode.CERT_REQUIRED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.CERT_NOT_ALLOWED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.CERT_UNKNOWN_USER: ConnackCode.NOT_AUTHORIZED,  # as Mosquitto: a certificate problem is 5, not 4
    ReasonCode.CERT_USERNAME_MISMATCH: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.CERT_UNTRUSTED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.CERT_EXPIRED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.CERT_REVOKED: ConnackCode.NOT_AUTHORIZED,
    # a token that is not one, or not signed by whom it claims, is a bad password; one that is genuine but not for
    # now or not for us is "not authorised" (EMQX too tells a bad signature from an expired token)
    ReasonCode.TOKEN_MALFORMED: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.TOKEN_BAD_SIGNATURE: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.TOKEN_UNKNOWN_ISSUER: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.TOKEN_EXPIRED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.TOKEN_NOT_YET_VALID: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.TOKEN_WRONG_AUDIENCE: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.TOKEN_WRONG_ISSUER: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.EXTERNAL_DENIED: ConnackCode.BAD_USERNAME_PASSWORD,
    ReasonCode.EXTERNAL_UNREACHABLE: ConnackCode.SERVER_UNAVAILABLE,  # not the client's fault: it may retry
    ReasonCode.EXTERNAL_TIMEOUT: ConnackCode.SERVER_UNAVAILABLE,
    ReasonCode.EXTERNAL_ERROR: ConnackCode.SERVER_UNAVAILABLE,
    # 3.1.1 has no "banned": not authorised, the sentence is in the Auth log (and an MQTT 5 client's Reason String).
    # A throttled attempt was not checked, so "bad username or password" (4) would claim what nobody knows.
    ReasonCode.BANNED: ConnackCode.NOT_AUTHORIZED,
    ReasonCode.THROTTLED: ConnackCode.NOT_AUTHORIZED,
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


@value_record
class Reason:
    code: ReasonCode
    text: str


class Mqtt5Code:
    """The MQTT 5 reason codes (section 2.4 of the MQTT 5.0 spec) that mqttdesk's decisions are answered with."""

    SUCCESS = 0x00
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USER_NAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0


# Every reason a CONNECT decision can carry, accepted or refused (a refused will brings its topic's reason along).
# An expired token or certificate at CONNECT is 0x87 (NOT_AUTHORIZED).
MQTT5_CONNACK: Mapping[ReasonCode, int] = MappingProxyType({
    ReasonCode.AUTHENTICATED: Mqtt5Code.SUCCESS,
    ReasonCode.ANONYMOUS_ALLOWED: Mqtt5Code.SUCCESS,
    ReasonCode.UNKNOWN_USER: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.BAD_PASSWORD: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.MISSING_PASSWORD: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.MISSING_USERNAME: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.SUSPENDED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.REVOKED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.ANONYMOUS_REFUSED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CLIENT_ID_IN_USE: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode.CLIENT_ID_REGISTERED: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode.CLIENT_ID_EMPTY: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode.CLIENT_ID_SESSION_OWNED: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode.CLIENT_ID_RESERVED: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode.CLIENT_ID_TAKEN: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode.BAD_PROTOCOL: Mqtt5Code.UNSUPPORTED_PROTOCOL_VERSION,  # a malformed CONNECT: the broker passes 0x81/2
    ReasonCode.SERVER_BUSY: Mqtt5Code.SERVER_BUSY,
    ReasonCode.CLIENT_GONE: Mqtt5Code.SERVER_BUSY,  # the same full queue of password checks; nobody hears it
    # Not 0x89: that already says "the password checks are queued up" (server-busy). This refusal counts the
    # sockets one peer (or all peers) opened without sending a CONNECT, a flood of connections, which is what
    # 0x9F names. It is closed unread in practice (no CONNECT, no protocol version): the code is for the record.
    ReasonCode.TOO_MANY_PENDING: Mqtt5Code.CONNECTION_RATE_EXCEEDED,
    # a bound the administrator set on how many connections the broker (or one address) may hold: a quota
    ReasonCode.TOO_MANY_CONNECTIONS: Mqtt5Code.QUOTA_EXCEEDED,
    ReasonCode.TOO_MANY_FROM_ADDRESS: Mqtt5Code.QUOTA_EXCEEDED,
    ReasonCode.BAD_AUTH_METHOD: Mqtt5Code.BAD_AUTHENTICATION_METHOD,
    ReasonCode.KEEPALIVE_TOO_LONG: Mqtt5Code.CLIENT_IDENTIFIER_NOT_VALID,  # (3.1.1 only: MQTT 5 clients are told)
    ReasonCode.ACL_DENIED: Mqtt5Code.NOT_AUTHORIZED,  # the will topic
    ReasonCode.ACL_NO_RULE: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.RESERVED_TOPIC: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.BAD_TOPIC: Mqtt5Code.TOPIC_NAME_INVALID,  # CONNACK 0x90: the will topic is not accepted
    ReasonCode.CERT_REQUIRED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CERT_NOT_ALLOWED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CERT_UNKNOWN_USER: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CERT_USERNAME_MISMATCH: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CERT_UNTRUSTED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CERT_EXPIRED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.CERT_REVOKED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.TOKEN_MALFORMED: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.TOKEN_BAD_SIGNATURE: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.TOKEN_UNKNOWN_ISSUER: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.TOKEN_EXPIRED: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.TOKEN_NOT_YET_VALID: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.TOKEN_WRONG_AUDIENCE: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.TOKEN_WRONG_ISSUER: Mqtt5Code.NOT_AUTHORIZED,
    ReasonCode.EXTERNAL_DENIED: Mqtt5Code.BAD_USER_NAME_OR_PASSWORD,
    ReasonCode.EXTERNAL_UNREACHABLE: Mqtt5Code.SERVER_UNAVAILABLE,
    ReasonCode.EXTERNAL_TIMEOUT: Mqtt5Code.SERVER_UNAVAILABLE,
    ReasonCode.EXTERNAL_ERROR: Mqtt5Code.SERVER_UNAVAILABLE,
    ReasonCode.BANNED: Mqtt5Code.BANNED,
    # 0x9F names it: the client's attempts come too fast; 0x89 (server busy) would blame the broker
    ReasonCode.THROTTLED: Mqtt5Code.CONNECTION_RATE_EXCEEDED,
})

# A refused PUBLISH (PUBACK/PUBREC, QoS 1/2) and a refused SUBSCRIBE filter (SUBACK): (publish, subscribe) codes.
MQTT5_TOPIC_REFUSAL: Mapping[ReasonCode, tuple[int, int]] = MappingProxyType({
    ReasonCode.ACL_DENIED: (Mqtt5Code.NOT_AUTHORIZED, Mqtt5Code.NOT_AUTHORIZED),
    ReasonCode.ACL_NO_RULE: (Mqtt5Code.NOT_AUTHORIZED, Mqtt5Code.NOT_AUTHORIZED),
    ReasonCode.RESERVED_TOPIC: (Mqtt5Code.NOT_AUTHORIZED, Mqtt5Code.NOT_AUTHORIZED),
    ReasonCode.BAD_TOPIC: (Mqtt5Code.TOPIC_NAME_INVALID, Mqtt5Code.TOPIC_FILTER_INVALID),
    ReasonCode.SUBSCRIPTION_LIMIT: (Mqtt5Code.QUOTA_EXCEEDED, Mqtt5Code.QUOTA_EXCEEDED),
    # the external HTTP service refused (0x87), or gave no usable answer (0x80: neither side is to blame)
    ReasonCode.EXTERNAL_DENIED: (Mqtt5Code.NOT_AUTHORIZED, Mqtt5Code.NOT_AUTHORIZED),
    ReasonCode.EXTERNAL_UNREACHABLE: (Mqtt5Code.UNSPECIFIED_ERROR, Mqtt5Code.UNSPECIFIED_ERROR),
    ReasonCode.EXTERNAL_TIMEOUT: (Mqtt5Code.UNSPECIFIED_ERROR, Mqtt5Code.UNSPECIFIED_ERROR),
    ReasonCode.EXTERNAL_ERROR: (Mqtt5Code.UNSPECIFIED_ERROR, Mqtt5Code.UNSPECIFIED_ERROR),
})

# The DISCONNECT the server sends when it ends a session. A credential suspended, revoked, deleted or given a new
# password is `credential-changed`: an administrator's doing, like a kick, with the sentence saying which (a revoked
# client certificate too). A certificate or a token that expires during a session is 0xA0 (Maximum connect time): the
# session was admitted for that long and no longer, which is the spec's meaning, where 0x87 would say the client did
# something it may not do.
MQTT5_DISCONNECT: Mapping[ReasonCode, int] = MappingProxyType({
    ReasonCode.CERT_EXPIRED: Mqtt5Code.MAXIMUM_CONNECT_TIME,
    ReasonCode.KICKED: Mqtt5Code.ADMINISTRATIVE_ACTION,
    ReasonCode.CREDENTIAL_CHANGED: Mqtt5Code.ADMINISTRATIVE_ACTION,
    ReasonCode.TAKEN_OVER: Mqtt5Code.SESSION_TAKEN_OVER,
    ReasonCode.KEEPALIVE_TIMEOUT: Mqtt5Code.KEEP_ALIVE_TIMEOUT,
    ReasonCode.BROKER_STOPPED: Mqtt5Code.SERVER_SHUTTING_DOWN,
    ReasonCode.PROTOCOL_ERROR: Mqtt5Code.PROTOCOL_ERROR,
    ReasonCode.TOKEN_EXPIRED: Mqtt5Code.MAXIMUM_CONNECT_TIME,
    ReasonCode.EXTERNAL_DENIED: Mqtt5Code.NOT_AUTHORIZED,  # the re-check of a session when its cached allow expired
    ReasonCode.BANNED: Mqtt5Code.ADMINISTRATIVE_ACTION,  # an administrator banned it (DISCONNECT has no 0x8A)
})

# Reasons no MQTT 5 reason code is ever sent for: the client ended the session itself, no MQTT was spoken (a failed
# TLS handshake: no CONNECT, no protocol version), or no answer is due (an allowed topic is answered with its
# granted QoS or plain success, which the router knows, not the reason; a retained message the broker did not keep
# was still published and delivered: its PUBACK is a success).
NO_MQTT5_CODE: frozenset[ReasonCode] = frozenset({
    ReasonCode.CLIENT_DISCONNECT, ReasonCode.CONNECTION_LOST, ReasonCode.TLS_HANDSHAKE_FAILED, ReasonCode.ACL_ALLOWED,
    ReasonCode.RETAINED_LIMIT,
    # the auth service's answers to the broker asking it: no MQTT client hears them from mqttdesk
    ReasonCode.CALLER_REFUSED, ReasonCode.BAD_REQUEST,
})

# where the protocol core knows better which protocol fault it was (0x81 malformed packet, 0x82 protocol error...)
_PROTOCOL_FAULTS = frozenset({ReasonCode.BAD_PROTOCOL, ReasonCode.PROTOCOL_ERROR})

# The functions never raise: on the wire a generic refusal beats none. Every reason that needs a code has one in
# the tables (tests/unit/test_mqtt5_reasons.py fails for a new one without), so these are for mistakes only.
_CONNACK_FALLBACK = Mqtt5Code.NOT_AUTHORIZED
_TOPIC_FALLBACK = (Mqtt5Code.NOT_AUTHORIZED, Mqtt5Code.NOT_AUTHORIZED)
_DISCONNECT_FALLBACK = Mqtt5Code.UNSPECIFIED_ERROR


def _with_override(code: ReasonCode, table_code: int, protocol_code: int | None) -> int:
    if protocol_code is None or code not in _PROTOCOL_FAULTS or not 0x80 <= protocol_code <= 0xFF:
        return table_code  # only a failure code may stand for a protocol fault
    return protocol_code


def mqtt5_connack_code(code: ReasonCode, protocol_code: int | None = None) -> int:
    """The MQTT 5 CONNACK reason code for a CONNECT decision with this reason (0x00 when it was accepted).

    `protocol_code` is the protocol core's own code for a CONNECT it could not read (0x81 malformed packet,
    0x82 protocol error, 0x84 unsupported protocol version); it counts for `bad-protocol` only, the other
    reasons are the decision's own. A reason no CONNECT decision carries gets 0x87 (not authorized).
    """
    return _with_override(code, MQTT5_CONNACK.get(code, _CONNACK_FALLBACK), protocol_code)


def mqtt5_topic_refusal_code(code: ReasonCode, kind: str) -> int:
    """The MQTT 5 reason code of a refused PUBLISH (`kind` "PUBLISH": PUBACK/PUBREC) or of one refused filter
    of a SUBSCRIBE (`kind` "SUBSCRIBE": its SUBACK entry). `Kind.PUBLISH` and `Kind.SUBSCRIBE` pass as they are.

    A refused QoS 0 PUBLISH has no acknowledgement: it is dropped and logged. A reason that refuses no topic
    gets 0x87 (not authorized).
    """
    publish_code, subscribe_code = MQTT5_TOPIC_REFUSAL.get(code, _TOPIC_FALLBACK)
    return subscribe_code if kind == "SUBSCRIBE" else publish_code


def mqtt5_disconnect_code(code: ReasonCode, protocol_code: int | None = None) -> int:
    """The reason code of the DISCONNECT the server sends an MQTT 5 client when it ends the session this way.

    `protocol_code` is the protocol core's own code for a `protocol-error` (0x81 malformed packet, 0x94 topic
    alias invalid, 0x95 packet too large...); without one it is 0x82. An end the server does not announce (the
    client disconnected, the connection was lost) gets 0x80 (unspecified error).
    """
    return _with_override(code, MQTT5_DISCONNECT.get(code, _DISCONNECT_FALLBACK), protocol_code)


MAX_REASON_STRING_BYTES = 512  # UTF-8 bytes at most: a sentence, not an essay, in every refusal a client receives
_ELLIPSIS = "…"
_WHITESPACE_CONTROLS = frozenset("\t\n\r\v\f")


def _wire_safe(char: str) -> str:
    """MQTT 5 strings must not hold U+0000 or surrogates and should not hold other controls or non-characters
    [MQTT-1.5.4-1, -2], [MQTT-1.5.4-3]: line breaks become spaces, anything else of the kind U+FFFD."""
    if char in _WHITESPACE_CONTROLS:
        return " "
    point = ord(char)
    if unicodedata.category(char) in ("Cc", "Cs") or 0xFDD0 <= point <= 0xFDEF or (point & 0xFFFE) == 0xFFFE:
        return "\ufffd"
    return char


def reason_string(text: str, values: Iterable[str | None] = ()) -> str:
    """A decision's sentence made safe for the wire as an MQTT 5 Reason String: no control characters, no
    surrogates or non-characters, at most `MAX_REASON_STRING_BYTES` bytes of UTF-8 (longer ones end in "…").

    `values` are the client's own values the sentence may quote (clientId, username, topic, address): a long one
    is clipped first, as the Auth log clips it, so a 64 KB clientId leaves room for the rest of the sentence and
    the client reads the words of the log entry (`Decision.reason_string()` passes the decision's own).
    """
    text, _steps = clip_sentences(text, (), values)
    # isprintable() is False for every control, surrogate and non-character (and for some harmless spaces)
    safe = text if text.isprintable() else "".join(_wire_safe(char) for char in text)
    encoded = safe.encode("utf-8")
    if len(encoded) <= MAX_REASON_STRING_BYTES:
        return safe
    room = MAX_REASON_STRING_BYTES - len(_ELLIPSIS.encode("utf-8"))
    return encoded[:room].decode("utf-8", errors="ignore").rstrip() + _ELLIPSIS
