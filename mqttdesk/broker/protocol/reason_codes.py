"""MQTT 5 reason codes (section 2.4 of the MQTT 5.0 spec), their MQTT 3.1.1 equivalents, and `ProtocolError`."""

from __future__ import annotations

from enum import IntEnum


class Mqtt5Reason(IntEnum):
    SUCCESS = 0x00  # also: normal disconnection, granted QoS 0
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
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
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2


# MQTT 3.1.1 CONNACK return codes (section 3.2.2.3)
CONNACK_ACCEPTED = 0
CONNACK_UNACCEPTABLE_PROTOCOL_VERSION = 1
CONNACK_IDENTIFIER_REJECTED = 2
CONNACK_SERVER_UNAVAILABLE = 3
CONNACK_BAD_USERNAME_OR_PASSWORD = 4
CONNACK_NOT_AUTHORIZED = 5

# MQTT 5 CONNACK reason code -> MQTT 3.1.1 return code, where the older protocol has one; anything else that
# refuses the connection becomes "server unavailable", the 3.1.1 code that blames neither side's credentials.
_CONNACK_V3 = {
    0x00: CONNACK_ACCEPTED,
    0x84: CONNACK_UNACCEPTABLE_PROTOCOL_VERSION,
    0x85: CONNACK_IDENTIFIER_REJECTED,
    0x86: CONNACK_BAD_USERNAME_OR_PASSWORD,
    0x87: CONNACK_NOT_AUTHORIZED,
    0x88: CONNACK_SERVER_UNAVAILABLE,
    0x89: CONNACK_SERVER_UNAVAILABLE,
    0x8A: CONNACK_NOT_AUTHORIZED,
    0x8C: CONNACK_NOT_AUTHORIZED,
    # connection rate exceeded (a client throttled after failed logins): "server unavailable" would invite it to
    # retry at once, which is what it must not do
    0x9F: CONNACK_NOT_AUTHORIZED,
}

SUBACK_V3_FAILURE = 0x80


def connack_code_v3(reason_code: int) -> int:
    """The 3.1.1 CONNACK return code for an MQTT 5 CONNACK reason code (3.1.1 codes 1-5 pass through)."""
    if 1 <= reason_code <= 5:
        return reason_code
    return _CONNACK_V3.get(reason_code, CONNACK_SERVER_UNAVAILABLE)


def suback_code_v3(reason_code: int) -> int:
    """3.1.1 SUBACK knows the granted QoS 0-2 and one failure code 0x80."""
    return reason_code if reason_code <= 2 else SUBACK_V3_FAILURE


class ProtocolError(Exception):
    """The peer broke the protocol. `reason_code` is the MQTT 5 reason code to report; `text` says what happened."""

    def __init__(self, reason_code: int, text: str) -> None:
        super().__init__(text)
        self.reason_code = reason_code
        self.text = text

    def __repr__(self) -> str:
        return f"ProtocolError({self.reason_code:#04x}, {self.text!r})"


def malformed(text: str) -> ProtocolError:
    return ProtocolError(Mqtt5Reason.MALFORMED_PACKET, text)


def protocol_error(text: str) -> ProtocolError:
    return ProtocolError(Mqtt5Reason.PROTOCOL_ERROR, text)
