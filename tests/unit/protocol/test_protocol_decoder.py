"""Decoding what a client sends, 3.1.1 and 5: golden bytes written out from the spec's layouts, and each refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest
from client_bytes import string, u16

from mqttdesk.broker.protocol.decoder import ConnectProgress, UnsupportedProtocol, decode_connect, decode_packet
from mqttdesk.broker.protocol.packets import (
    Auth,
    Connect,
    Disconnect,
    PingReq,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    SubscriptionOptions,
    Unsubscribe,
    Will,
    new_puback,
    new_publish,
)
from mqttdesk.broker.protocol.properties import Properties
from mqttdesk.broker.protocol.reason_codes import ProtocolError

V4, V5 = 4, 5


def _refused(first: int, body: bytes, version: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode_packet(first, body, version)
    return caught.value


# -- CONNECT -------------------------------------------------------------------------------------------------------

def test_connect_v4_with_will_username_password() -> None:
    body = (b"\x00\x04MQTT\x04" + bytes((0b1110_1110,)) + b"\x00\x3c" + string("dev-1") + string("w/t")
            + b"\x00\x03bye" + string("alice") + b"\x00\x02\xffp")
    # flags: username, password, will retain, will QoS 1, will flag, clean session
    assert decode_connect(body) == Connect("MQTT", 4, "dev-1", True, 60, "alice", b"\xffp",
                                           Will("w/t", b"bye", 1, True))


def test_connect_v5_as_in_the_spec_example() -> None:
    # MQTT 5.0 figure 3-6..3-9: name, level 5, flags 0xC2, keep alive 10, properties: session expiry 10
    body = (b"\x00\x04MQTT\x05\xc2\x00\x0a" + b"\x05\x11\x00\x00\x00\x0a" + string("c") + string("u")
            + b"\x00\x01p")
    assert decode_connect(body) == Connect("MQTT", 5, "c", True, 10, "u", b"p",
                                           properties=Properties(session_expiry_interval=10))


def test_connect_v5_will_properties() -> None:
    will_props = b"\x0c" + b"\x18\x00\x00\x00\x05" + b"\x01\x01" + b"\x02\x00\x00\x00\x09"
    body = b"\x00\x04MQTT\x05\x04\x00\x00" + b"\x00" + string("c") + will_props + string("w") + b"\x00\x00"
    connect = decode_connect(body)
    assert connect.will == Will("w", b"", 0, False, Properties(will_delay_interval=5, payload_format_indicator=1,
                                                                message_expiry_interval=9))
    assert connect.will.delay_interval == 5
    assert connect.keep_alive == 0
    assert connect.clean_start is False


def _connect_error(body: bytes) -> tuple[ProtocolError, ConnectProgress]:
    progress = ConnectProgress()
    with pytest.raises(ProtocolError) as caught:
        decode_connect(body, progress)
    return caught.value, progress


@pytest.mark.parametrize(("body", "code", "text"), [
    (b"\x00\x04MQTT\x04\x03\x00\x00" + string("c"), 0x81, "reserved CONNECT flag"),
    (b"\x00\x04MQTT\x04\x1e\x00\x00" + string("c"), 0x81, "will QoS is 3"),
    (b"\x00\x04MQTT\x04\x22\x00\x00" + string("c"), 0x81, "without a will"),
    (b"\x00\x04MQTT\x04\x42\x00\x00" + string("c") + b"\x00\x00", 0x82, "password without a username"),
    (b"\x00\x04MQTT\x04\x02\x00\x00" + string("c") + b"x", 0x81, "bytes after"),
    (b"\x00\x04MQTT\x04\x02\x00\x00" + b"\x00\x02\xc3\x28", 0x81, "UTF-8"),
    (b"\x00\x04MQTT\x04\x02\x00\x00" + b"\x00\x01\x00", 0x81, "U+0000"),
    (b"\x00\x04MQTT\x04\x06\x00\x00" + string("c") + string("w/+") + b"\x00\x00", 0x90, "wildcard"),
    (b"\x00\x04MQTT\x05\x02\x00\x00\x03\x16\x00\x00" + string("c"), 0x82, "Authentication Data without"),
    (b"\x00\x04MQTT\x05\x02\x00", 0x81, "truncated"),
    (b"\x00\x04MQTX\x04\x02\x00\x00" + string("c"), 0x82, "unknown protocol name"),
])
def test_connect_refusals(body: bytes, code: int, text: str) -> None:
    error, _ = _connect_error(body)
    assert error.reason_code == code
    assert text in error.text


@pytest.mark.parametrize(("name", "level"), [("MQIsdp", 3), ("MQTT", 3), ("MQTT", 6)])
def test_unsupported_protocol_levels(name: str, level: int) -> None:
    error, progress = _connect_error(string(name) + bytes((level, 2)) + b"\x00\x00" + string("c"))
    assert isinstance(error, UnsupportedProtocol)
    assert error.reason_code == 0x84
    assert (progress.protocol_name, progress.protocol_version) == (name, level)


def test_progress_says_what_was_read_before_the_fault() -> None:
    body = b"\x00\x04MQTT\x04\xc2\x00\x00" + string("dev-9") + string("bob") + b"\x00\x05pw"  # password truncated
    error, progress = _connect_error(body)
    assert error.reason_code == 0x81
    assert (progress.protocol_version, progress.client_id, progress.username) == (4, "dev-9", "bob")


@pytest.mark.parametrize(("body", "code", "expected"), [
    # the username is not UTF-8: the clientId was read
    (b"\x00\x04MQTT\x04\x82\x00\x3c" + string("dev-1") + b"\x00\x01\xff", 0x81, (4, "dev-1", None)),
    # the will QoS is 3: nothing after the flags was read
    (b"\x00\x04MQTT\x04\x1e\x00\x3c" + string("dev-3"), 0x81, (4, None, None)),
    # an unknown protocol name: nothing after it was read
    (string("HTTP") + b"\x04\x02\x00\x3c" + string("dev"), 0x82, (None, None, None)),
])
def test_progress_stops_where_the_fault_is(body: bytes, code: int, expected: tuple[object, ...]) -> None:
    error, progress = _connect_error(body)
    assert error.reason_code == code
    assert (progress.protocol_version, progress.client_id, progress.username) == expected


# -- PUBLISH -------------------------------------------------------------------------------------------------------

def test_publish_v4_qos1_retain_dup() -> None:
    assert decode_packet(0x3B, string("a/b") + u16(10) + b"hi", V4) == Publish("a/b", b"hi", 1, True, True, 10)


def test_publish_v5_with_properties() -> None:
    props = b"\x0a" + b"\x01\x01" + b"\x23\x00\x02" + b"\x08\x00\x02r/"
    publish = decode_packet(0x34, string("t") + u16(7) + props + b"{}", V5)
    assert publish == Publish("t", b"{}", 2, False, False, 7,
                              Properties(payload_format_indicator=1, topic_alias=2, response_topic="r/"))


def test_publish_v5_empty_topic_with_alias_is_left_to_the_connection() -> None:
    publish = decode_packet(0x30, string("") + b"\x03\x23\x00\x01" + b"x", V5)
    assert isinstance(publish, Publish)
    assert (publish.topic, publish.properties.topic_alias) == ("", 1)


@pytest.mark.parametrize(("first", "body", "version", "code"), [
    (0x36, string("t") + u16(1), V4, 0x81),  # QoS 3
    (0x32, string("t") + u16(0), V4, 0x82),  # packet id 0
    (0x32, string("t"), V4, 0x81),  # no packet id
    (0x38, string("t"), V4, 0x82),  # DUP on QoS 0
    (0x30, string("a/+"), V4, 0x90),  # wildcard in a topic name
    (0x30, string("a/#") + b"\x00", V5, 0x90),
    (0x30, string(""), V4, 0x82),  # empty topic
    (0x30, string("") + b"\x00", V5, 0x82),  # empty topic without alias
    (0x30, b"\x00\x02\xc3\x28", V4, 0x81),  # not UTF-8
    (0x30, b"\x00\x03a\x00b", V4, 0x81),  # U+0000
    (0x30, b"\x00\x09ab", V4, 0x81),  # topic longer than the packet
    (0x30, string("t") + b"\x02\x0b\x01", V5, 0x82),  # subscription identifier from a client
    (0x30, string("t") + b"\x03\x1f\x00\x00", V5, 0x81),  # reason string not allowed in PUBLISH
])
def test_publish_refusals(first: int, body: bytes, version: int, code: int) -> None:
    assert _refused(first, body, version).reason_code == code


# -- acknowledgements ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("first", "cls"), [(0x40, PubAck), (0x50, PubRec), (0x62, PubRel), (0x70, PubComp)])
def test_acks_both_versions(first: int, cls: type) -> None:
    assert decode_packet(first, u16(5), V4) == cls(5)
    assert decode_packet(first, u16(5), V5) == cls(5)  # reason code 0 and no properties omitted
    code = 0x92 if first in (0x62, 0x70) else 0x10
    assert decode_packet(first, u16(5) + bytes((code,)), V5) == cls(5, code)
    with_props = u16(5) + bytes((code,)) + b"\x06\x1f\x00\x03why"
    assert decode_packet(first, with_props, V5) == cls(5, code, Properties(reason_string="why"))


@pytest.mark.parametrize(("first", "body", "version", "code"), [
    (0x40, u16(5) + b"\x00", V4, 0x81),  # 3.1.1 ack is exactly a packet id
    (0x40, b"\x05", V4, 0x81),
    (0x40, u16(0), V4, 0x82),
    (0x62, u16(1) + b"\x10", V5, 0x82),  # PUBREL may only say 0x00 or 0x92
    (0x40, u16(1) + b"\x92", V5, 0x82),  # PUBACK may not say 0x92
    (0x60, u16(1), V4, 0x81),  # PUBREL must have flags 0x2
    (0x42, u16(1), V5, 0x81),  # PUBACK must have flags 0
    (0x40, u16(1) + b"\x00\x00\x00", V5, 0x81),  # bytes after the properties
])
def test_ack_refusals(first: int, body: bytes, version: int, code: int) -> None:
    assert _refused(first, body, version).reason_code == code


# -- SUBSCRIBE / UNSUBSCRIBE ---------------------------------------------------------------------------------------

def test_subscribe_v4() -> None:
    body = u16(3) + string("a/#") + b"\x01" + string("+/b") + b"\x02"
    assert decode_packet(0x82, body, V4) == Subscribe(3, (("a/#", SubscriptionOptions(1)),
                                                          ("+/b", SubscriptionOptions(2))))


def test_subscribe_v5_options_and_identifier() -> None:
    # options 0b0010_1101: retain handling 2, retain as published, no local, QoS 1
    body = u16(3) + b"\x02\x0b\x07" + string("x") + b"\x2d" + string("$share/g/y") + b"\x10"
    subscribe = decode_packet(0x82, body, V5)
    assert subscribe == Subscribe(3, (("x", SubscriptionOptions(1, True, True, 2)),
                                      ("$share/g/y", SubscriptionOptions(0, False, False, 1))),
                                  Properties(subscription_identifiers=(7,)))
    assert isinstance(subscribe, Subscribe)
    assert subscribe.subscription_identifier == 7


@pytest.mark.parametrize(("body", "version", "code"), [
    (u16(1), V4, 0x82),  # no filters
    (u16(1) + b"\x00", V5, 0x82),
    (u16(0) + string("a") + b"\x00", V4, 0x82),  # packet id 0
    (u16(1) + string("a") + b"\x03", V4, 0x81),  # QoS 3
    (u16(1) + string("a") + b"\x04", V4, 0x81),  # 3.1.1 reserved bits
    (u16(1) + b"\x00" + string("a") + b"\x40", V5, 0x81),  # MQTT 5 reserved bits
    (u16(1) + b"\x00" + string("a") + b"\x30", V5, 0x82),  # retain handling 3
    (u16(1) + b"\x00" + string("$share/g/a") + b"\x04", V5, 0x82),  # no local on a shared subscription
    (u16(1) + string("a"), V4, 0x81),  # filter without options
    (u16(1) + b"\x00\x05ab", V4, 0x81),  # filter longer than the packet
    (u16(1) + b"\x00" + string("$share//a") + b"\x00", V5, 0x8F),
    (u16(1) + b"\x00" + string("$share/g") + b"\x00", V5, 0x8F),
    (u16(1) + b"\x00" + string("$share/g+/a") + b"\x00", V5, 0x8F),
    (u16(1) + b"\x04\x0b\x01\x0b\x02" + string("a") + b"\x00", V5, 0x82),  # two subscription identifiers
])
def test_subscribe_refusals(body: bytes, version: int, code: int) -> None:
    assert _refused(0x82, body, version).reason_code == code


def test_subscribe_with_wrong_flags_is_malformed() -> None:
    assert _refused(0x80, u16(1) + string("a") + b"\x00", V4).reason_code == 0x81


def test_unsubscribe_both_versions() -> None:
    assert decode_packet(0xA2, u16(4) + string("a/+") + string("#"), V4) == Unsubscribe(4, ("a/+", "#"))
    body = u16(4) + b"\x07\x26\x00\x01k\x00\x01v" + string("a")
    assert decode_packet(0xA2, body, V5) == Unsubscribe(4, ("a",), Properties(user_properties=(("k", "v"),)))


@pytest.mark.parametrize(("first", "body", "version", "code"), [
    (0xA2, u16(4), V4, 0x82),
    (0xA2, u16(4) + b"\x00", V5, 0x82),
    (0xA2, u16(4) + string("a/#/"), V4, 0x8F),
    (0xA0, u16(4) + string("a"), V4, 0x81),
    (0xA2, u16(0) + string("a"), V4, 0x82),
])
def test_unsubscribe_refusals(first: int, body: bytes, version: int, code: int) -> None:
    assert _refused(first, body, version).reason_code == code


@pytest.mark.parametrize("topic_filter", ["a/#/b", "a/b+", "", "#/a"])
def test_unsubscribe_with_an_invalid_filter_is_refused(topic_filter: str) -> None:
    error = _refused(0xA2, u16(4) + string(topic_filter), V4)
    assert error.reason_code == 0x8F
    assert "UNSUBSCRIBE with an invalid topic filter" in error.text


# -- PINGREQ, DISCONNECT, AUTH, the rest ---------------------------------------------------------------------------

def test_pingreq() -> None:
    assert isinstance(decode_packet(0xC0, b"", V4), PingReq)
    assert _refused(0xC0, b"\x00", V4).reason_code == 0x81
    assert _refused(0xC1, b"", V5).reason_code == 0x81


def test_disconnect_both_versions() -> None:
    assert decode_packet(0xE0, b"", V4) == Disconnect()
    assert decode_packet(0xE0, b"", V5) == Disconnect()
    assert decode_packet(0xE0, b"\x04", V5) == Disconnect(0x04)
    disconnect = decode_packet(0xE0, b"\x00\x05\x11\x00\x00\x00\x3c", V5)
    assert isinstance(disconnect, Disconnect)
    assert disconnect.session_expiry_interval == 60


@pytest.mark.parametrize(("body", "version", "code"), [
    (b"\x00", V4, 0x81),  # 3.1.1 DISCONNECT has no body
    (b"\x05", V5, 0x82),  # not a DISCONNECT reason code
    (b"\x00\x07\x1c\x00\x04h:18", V5, 0x82),  # server reference from a client
    (b"\x00\x03\x23\x00\x01", V5, 0x81),  # topic alias not allowed in DISCONNECT
])
def test_disconnect_refusals(body: bytes, version: int, code: int) -> None:
    assert _refused(0xE0, body, version).reason_code == code


def test_auth() -> None:
    body = b"\x18" + b"\x0c\x15\x00\x05SCRAM\x16\x00\x01\x07"
    assert decode_packet(0xF0, body, V5) == Auth(0x18, Properties(authentication_method="SCRAM",
                                                                  authentication_data=b"\x07"))
    assert _refused(0xF0, body, V4).reason_code == 0x81  # no AUTH in 3.1.1
    assert _refused(0xF0, b"\x18\x00", V5).reason_code == 0x82  # without a method
    assert _refused(0xF0, b"\x01", V5).reason_code == 0x82  # not an AUTH reason code


@pytest.mark.parametrize(("first", "code"), [(0x10, 0x82), (0x20, 0x82), (0x90, 0x82), (0xB0, 0x82), (0xD0, 0x82),
                                             (0x00, 0x81)])
def test_second_connect_and_server_packets_are_refused(first: int, code: int) -> None:
    assert _refused(first, b"", V5).reason_code == code


@pytest.mark.parametrize("topic_filter", ["a/#/b", "a#", "a/b+", ""])
def test_an_invalid_subscribe_filter_is_left_to_the_broker(topic_filter: str) -> None:
    """The broker refuses it filter by filter (SUBACK 0x80 / 0x8F with the reason in the Auth log)."""
    subscribe = decode_packet(0x82, u16(1) + string(topic_filter) + b"\x00", V4)
    assert isinstance(subscribe, Subscribe)
    assert subscribe.subscriptions[0][0] == topic_filter


def test_the_hot_path_constructors_make_the_values_the_classes_make() -> None:
    """`new_publish` / `new_puback` (attribute stores, no `__init__`): equal to, and hashed as, the usual
    construction; a copy made with `replace` carries no wire."""
    made = new_publish("a/b", b"x", 1, False, False, 7, Properties(content_type="c"), b"wire", 5)
    usual = Publish("a/b", b"x", 1, False, False, 7, Properties(content_type="c"))
    assert made == usual
    assert hash(made) == hash(usual)
    assert {made: 1}[usual] == 1
    assert (made.wire, made.wire_version, usual.wire, usual.wire_version) == (b"wire", 5, None, 0)
    assert replace(made).wire is None
    assert new_puback(9) == PubAck(9)
    assert hash(new_puback(9)) == hash(PubAck(9))
