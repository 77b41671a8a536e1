"""What an MQTT 5 client is told for each decision: the reason code tables and the Reason String made safe."""

from __future__ import annotations

import pytest

from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason
from mqttdesk.core.clip import CLIP_LENGTH
from mqttdesk.core.decide import decide_connect
from mqttdesk.core.decision import ConnectRequest, Kind, SessionHolder
from mqttdesk.core.model import AnonymousPolicy, CredentialKind, CredentialRef, Directory
from mqttdesk.core.reasons import (
    MAX_REASON_STRING_BYTES,
    MQTT5_CONNACK,
    MQTT5_DISCONNECT,
    MQTT5_TOPIC_REFUSAL,
    NO_MQTT5_CODE,
    Mqtt5Code,
    ReasonCode,
    mqtt5_connack_code,
    mqtt5_disconnect_code,
    mqtt5_topic_refusal_code,
    reason_string,
)
from mqttdesk.store.auth_log_repo import entry_from_decision

# -- the tables, as the issue states them -----------------------------------------------------------------------

CONNACK = {
    **{code: 0x87 for code in (ReasonCode.CERT_REQUIRED, ReasonCode.CERT_NOT_ALLOWED, ReasonCode.CERT_UNKNOWN_USER,
                               ReasonCode.CERT_USERNAME_MISMATCH, ReasonCode.CERT_UNTRUSTED, ReasonCode.CERT_EXPIRED,
                               ReasonCode.CERT_REVOKED)},  # a certificate problem: not authorized
    ReasonCode.AUTHENTICATED: 0x00,
    ReasonCode.ANONYMOUS_ALLOWED: 0x00,
    ReasonCode.CLIENT_ID_IN_USE: 0x85,
    ReasonCode.CLIENT_ID_REGISTERED: 0x85,
    ReasonCode.CLIENT_ID_EMPTY: 0x85,
    ReasonCode.CLIENT_ID_SESSION_OWNED: 0x85,
    ReasonCode.CLIENT_ID_RESERVED: 0x85,
    ReasonCode.CLIENT_ID_TAKEN: 0x85,
    ReasonCode.UNKNOWN_USER: 0x86,
    ReasonCode.BAD_PASSWORD: 0x86,
    ReasonCode.MISSING_PASSWORD: 0x86,
    ReasonCode.MISSING_USERNAME: 0x86,
    ReasonCode.SUSPENDED: 0x87,
    ReasonCode.REVOKED: 0x87,
    ReasonCode.ANONYMOUS_REFUSED: 0x87,
    ReasonCode.ACL_DENIED: 0x87,  # a will topic
    ReasonCode.ACL_NO_RULE: 0x87,
    ReasonCode.RESERVED_TOPIC: 0x87,
    ReasonCode.BAD_TOPIC: 0x90,
    ReasonCode.TOO_MANY_PENDING: 0x9F,
    ReasonCode.TOO_MANY_CONNECTIONS: 0x97,  # max_connections, max_connections_per_address: quota exceeded
    ReasonCode.TOO_MANY_FROM_ADDRESS: 0x97,
    ReasonCode.SERVER_BUSY: 0x89,
    ReasonCode.CLIENT_GONE: 0x89,
    ReasonCode.BAD_PROTOCOL: 0x84,
    ReasonCode.BAD_AUTH_METHOD: 0x8C,
    ReasonCode.KEEPALIVE_TOO_LONG: 0x85,  # 3.1.1 only (CONNACK 2, as Mosquitto); MQTT 5 clients are told instead
    ReasonCode.TOKEN_MALFORMED: 0x86,
    ReasonCode.TOKEN_BAD_SIGNATURE: 0x86,
    ReasonCode.TOKEN_UNKNOWN_ISSUER: 0x86,
    ReasonCode.TOKEN_EXPIRED: 0x87,
    ReasonCode.TOKEN_NOT_YET_VALID: 0x87,
    ReasonCode.TOKEN_WRONG_AUDIENCE: 0x87,
    ReasonCode.TOKEN_WRONG_ISSUER: 0x87,
    ReasonCode.EXTERNAL_DENIED: 0x86,
    ReasonCode.EXTERNAL_UNREACHABLE: 0x88,
    ReasonCode.EXTERNAL_TIMEOUT: 0x88,
    ReasonCode.EXTERNAL_ERROR: 0x88,
    ReasonCode.BANNED: 0x8A,  # guessing, flapping or an administrator's ban
    ReasonCode.THROTTLED: 0x9F,  # connection rate exceeded: attempts come too fast after failed logins
}
TOPIC_REFUSAL = {  # (PUBACK/PUBREC, SUBACK)
    ReasonCode.ACL_DENIED: (0x87, 0x87),
    ReasonCode.ACL_NO_RULE: (0x87, 0x87),
    ReasonCode.RESERVED_TOPIC: (0x87, 0x87),
    ReasonCode.BAD_TOPIC: (0x90, 0x8F),
    ReasonCode.SUBSCRIPTION_LIMIT: (0x97, 0x97),
    ReasonCode.EXTERNAL_DENIED: (0x87, 0x87),
    ReasonCode.EXTERNAL_UNREACHABLE: (0x80, 0x80),
    ReasonCode.EXTERNAL_TIMEOUT: (0x80, 0x80),
    ReasonCode.EXTERNAL_ERROR: (0x80, 0x80),
}
DISCONNECT = {
    ReasonCode.CERT_EXPIRED: 0xA0,  # a session whose client certificate expired while connected
    ReasonCode.KICKED: 0x98,
    ReasonCode.CREDENTIAL_CHANGED: 0x98,
    ReasonCode.TAKEN_OVER: 0x8E,
    ReasonCode.KEEPALIVE_TIMEOUT: 0x8D,
    ReasonCode.BROKER_STOPPED: 0x8B,
    ReasonCode.PROTOCOL_ERROR: 0x82,
    ReasonCode.TOKEN_EXPIRED: 0xA0,  # the token expired during the session
    ReasonCode.EXTERNAL_DENIED: 0x87,  # the service refused a live session when its cached allow expired
    ReasonCode.BANNED: 0x98,  # a session ended by a ban an administrator added (DISCONNECT has no 0x8A)
}

# the reason codes the MQTT 5.0 spec allows in each packet (sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.9.3, 3.14.2.1)
SPEC_CONNACK = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F}
SPEC_PUBACK = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}  # PUBREC: the same set
SPEC_SUBACK = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}
SPEC_SERVER_DISCONNECT = {0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
                          0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2}


@pytest.mark.parametrize("code", list(ReasonCode), ids=str)
def test_every_reason_code_is_mapped_as_the_issue_says_or_explicitly_has_none(code: ReasonCode) -> None:
    """A new ReasonCode fails here until it gets its MQTT 5 code (or is added to NO_MQTT5_CODE, and here)."""
    mapped = code in MQTT5_CONNACK or code in MQTT5_TOPIC_REFUSAL or code in MQTT5_DISCONNECT
    assert mapped is (code not in NO_MQTT5_CODE), f"'{code}' needs an MQTT 5 reason code, or to be in NO_MQTT5_CODE"
    if code in CONNACK:
        assert mqtt5_connack_code(code) == CONNACK[code]
    if code in TOPIC_REFUSAL:
        assert (mqtt5_topic_refusal_code(code, Kind.PUBLISH), mqtt5_topic_refusal_code(code, Kind.SUBSCRIBE)) == \
            TOPIC_REFUSAL[code]
    if code in DISCONNECT:
        assert mqtt5_disconnect_code(code) == DISCONNECT[code]


def test_the_tables_are_exactly_the_issues() -> None:
    assert dict(MQTT5_CONNACK) == CONNACK
    assert dict(MQTT5_TOPIC_REFUSAL) == TOPIC_REFUSAL
    assert dict(MQTT5_DISCONNECT) == DISCONNECT
    assert {ReasonCode.CLIENT_DISCONNECT, ReasonCode.CONNECTION_LOST, ReasonCode.TLS_HANDSHAKE_FAILED,
            ReasonCode.ACL_ALLOWED, ReasonCode.RETAINED_LIMIT, ReasonCode.CALLER_REFUSED,
            ReasonCode.BAD_REQUEST} == NO_MQTT5_CODE
    with pytest.raises(TypeError):
        MQTT5_CONNACK[ReasonCode.KICKED] = 0x00  # type: ignore[index]  # nobody changes the contract at run time


def test_every_code_is_one_the_spec_allows_in_its_packet() -> None:
    assert {mqtt5_connack_code(code) for code in CONNACK} <= SPEC_CONNACK
    assert {mqtt5_topic_refusal_code(code, Kind.PUBLISH) for code in TOPIC_REFUSAL} <= SPEC_PUBACK
    assert {mqtt5_topic_refusal_code(code, Kind.SUBSCRIBE) for code in TOPIC_REFUSAL} <= SPEC_SUBACK
    assert {mqtt5_disconnect_code(code) for code in DISCONNECT} <= SPEC_SERVER_DISCONNECT
    refusals = [mqtt5_connack_code(code) for code in CONNACK if code not in (ReasonCode.AUTHENTICATED,
                                                                            ReasonCode.ANONYMOUS_ALLOWED)]
    assert min(refusals) >= 0x80  # a refused CONNECT never reads as a success


def test_the_plain_ints_of_core_are_the_protocol_cores_reason_codes() -> None:
    constants = {name: value for name, value in vars(Mqtt5Code).items() if name.isupper()}
    assert constants
    for name, value in constants.items():
        assert Mqtt5Reason[name] == value, name


def test_the_protocol_core_knows_better_which_protocol_fault_it_was() -> None:
    assert mqtt5_connack_code(ReasonCode.BAD_PROTOCOL, 0x81) == 0x81  # a malformed CONNECT
    assert mqtt5_connack_code(ReasonCode.BAD_PROTOCOL, 0x82) == 0x82
    assert mqtt5_connack_code(ReasonCode.BAD_PROTOCOL) == 0x84
    assert mqtt5_disconnect_code(ReasonCode.PROTOCOL_ERROR, 0x95) == 0x95  # packet too large
    assert mqtt5_disconnect_code(ReasonCode.PROTOCOL_ERROR, 0x81) == 0x81
    # any other reason is the decision's own, whatever the broker passes along
    assert mqtt5_connack_code(ReasonCode.UNKNOWN_USER, 0x81) == 0x86
    assert mqtt5_disconnect_code(ReasonCode.KICKED, 0x82) == 0x98
    for success in (0x00, 0x04, 0x100):  # only a failure code can stand for a protocol fault
        assert mqtt5_connack_code(ReasonCode.BAD_PROTOCOL, success) == 0x84
        assert mqtt5_disconnect_code(ReasonCode.PROTOCOL_ERROR, success) == 0x82


def test_a_mistaken_call_still_gets_a_refusal_on_the_wire_not_an_exception() -> None:
    assert mqtt5_connack_code(ReasonCode.KICKED) == 0x87  # not a CONNECT reason: not authorized
    assert mqtt5_topic_refusal_code(ReasonCode.ACL_ALLOWED, Kind.PUBLISH) == 0x87  # not a refusal
    assert mqtt5_disconnect_code(ReasonCode.CLIENT_DISCONNECT) == 0x80  # not the server's end: unspecified error
    assert mqtt5_topic_refusal_code(ReasonCode.BAD_TOPIC, "SUBSCRIBE") == 0x8F  # plain strings work too
    assert mqtt5_topic_refusal_code(ReasonCode.BAD_TOPIC, Kind.RECEIVE) == 0x90  # anything but SUBSCRIBE: a topic


# -- the Reason String --------------------------------------------------------------------------------------------


def test_an_ordinary_sentence_goes_out_unchanged() -> None:
    text = "user 'lamp' may not publish to 'secret/x': role 'devices' denies readwrite on 'secret/#'"
    assert reason_string(text) is text
    assert reason_string("gerät 'küche-1' ist gesperrt seit 2026-05-01 10:00 · ✓") == \
        "gerät 'küche-1' ist gesperrt seit 2026-05-01 10:00 · ✓"
    assert reason_string("") == ""


def test_control_characters_never_reach_the_wire() -> None:
    assert reason_string("clientId 'a\x00b' is\tin use\r\nby 'c\x1bd\x7f' \x85") == \
        "clientId 'a\ufffdb' is in use  by 'c\ufffdd\ufffd' \ufffd"
    assert reason_string("lone \udc80 surrogate") == "lone \ufffd surrogate"  # not even encodable as UTF-8
    assert reason_string("non-characters \ufffe \uffff \ufdd0 \U0001fffe") == "non-characters " + " ".join("\ufffd" * 4)
    kept = "no-break\u00a0space and a joiner \u200d stay"  # not printable to Python, harmless on the wire
    assert reason_string(kept) == kept


@pytest.mark.parametrize("unit", ["a", "é", "€", "😀"], ids=["1-byte", "2-byte", "3-byte", "4-byte"])
def test_a_long_sentence_is_clipped_within_the_byte_budget_at_a_character(unit: str) -> None:
    text = "clientId '" + unit * 2000 + "' is already in use"
    wire = reason_string(text)
    encoded = wire.encode("utf-8")  # a character cut in half would fail here
    assert len(encoded) <= MAX_REASON_STRING_BYTES
    assert len(encoded) > MAX_REASON_STRING_BYTES - 4 - len("…".encode())  # as much as fits is kept
    assert wire.endswith("…")
    assert text.startswith(wire[:-1])


def test_a_sentence_of_exactly_the_budget_is_kept_whole() -> None:
    text = "x" * MAX_REASON_STRING_BYTES
    assert reason_string(text) == text
    assert reason_string(text + "y") == "x" * (MAX_REASON_STRING_BYTES - 3) + "…"
    assert MAX_REASON_STRING_BYTES == 512


def test_clipping_drops_a_dangling_space_before_the_ellipsis() -> None:
    text = "x" * (MAX_REASON_STRING_BYTES - 4) + " " + "y" * 100
    assert reason_string(text) == "x" * (MAX_REASON_STRING_BYTES - 4) + "…"


def test_a_long_client_value_is_clipped_as_in_the_auth_log_so_the_sentence_survives() -> None:
    holder = SessionHolder("c" * 65_535, "lamp", CredentialRef(CredentialKind.USER, "lamp"), "10.0.0.9", 0.0)
    request = ConnectRequest("c" * 65_535, None, address="10.0.0.7", protocol="5")
    directory = Directory(users={}, roles={}, anonymous=AnonymousPolicy(enabled=True))
    decision = decide_connect(request, directory, password_ok=None, live={holder.client_id: holder})
    assert decision.reason_code is ReasonCode.CLIENT_ID_IN_USE
    wire = decision.reason_string()
    assert wire == reason_string(entry_from_decision(decision).reason)  # the words of the Auth log entry
    assert wire.startswith("clientId '" + "c" * CLIP_LENGTH + "… (65,535 characters)' is already in use by user")
    assert wire.endswith("from 10.0.0.9")  # the sentence is whole: the clientId was clipped, not the explanation
    assert len(wire.encode("utf-8")) <= MAX_REASON_STRING_BYTES
    assert reason_string(decision.reason.text).endswith("…")  # without the values, only the start would fit
