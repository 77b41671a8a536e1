"""MQTT 5 properties: every data type as golden bytes, the table of allowed packet types, and each refusal."""

from __future__ import annotations

import pytest

from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.properties import (
    EMPTY_PROPERTIES,
    SPECS,
    WILL_PROPERTIES,
    Properties,
    decode_properties,
    encode_properties,
)
from mqttdesk.broker.protocol.reason_codes import ProtocolError


def _decode(block: bytes, packet_type: int) -> Properties:
    properties, offset = decode_properties(block, 0, len(block), packet_type)
    assert offset == len(block)
    return properties


@pytest.mark.parametrize(("block", "packet_type", "expected"), [
    # byte
    (b"\x02\x01\x01", wf.PUBLISH, Properties(payload_format_indicator=1)),
    # four byte integer
    (b"\x05\x02\x00\x00\x01\x00", wf.PUBLISH, Properties(message_expiry_interval=256)),
    # UTF-8 string
    (b"\x06\x03\x00\x03a/b", WILL_PROPERTIES, Properties(content_type="a/b")),
    # binary data
    (b"\x05\x09\x00\x02\x01\x02", wf.PUBLISH, Properties(correlation_data=b"\x01\x02")),
    # variable byte integer (300 = 0xAC 0x02)
    (b"\x03\x0b\xac\x02", wf.SUBSCRIBE, Properties(subscription_identifiers=(300,))),
    # two byte integer
    (b"\x03\x21\x00\x0a", wf.CONNECT, Properties(receive_maximum=10)),
    # UTF-8 string pair
    (b"\x07\x26\x00\x01k\x00\x01v", wf.PUBACK, Properties(user_properties=(("k", "v"),))),
    (b"\x05\x18\x00\x00\x00\x1e", WILL_PROPERTIES, Properties(will_delay_interval=30)),
    (b"\x05\x11\xff\xff\xff\xff", wf.DISCONNECT, Properties(session_expiry_interval=0xFFFFFFFF)),
    (b"\x00", wf.PUBLISH, EMPTY_PROPERTIES),
])
def test_each_data_type_decodes_and_encodes_back(block: bytes, packet_type: int, expected: Properties) -> None:
    assert _decode(block, packet_type) == expected
    assert encode_properties(expected) == block


def test_no_properties_is_the_shared_empty_instance() -> None:
    assert _decode(b"\x00", wf.PUBLISH) is EMPTY_PROPERTIES
    assert encode_properties(EMPTY_PROPERTIES) == b"\x00"


def test_user_properties_repeat_and_keep_their_order() -> None:
    block = b"\x0e" + b"\x26\x00\x01b\x00\x011" + b"\x26\x00\x01a\x00\x012"
    assert _decode(block, wf.PUBLISH).user_properties == (("b", "1"), ("a", "2"))


def test_subscription_identifiers_repeat_in_publish_only() -> None:
    block = b"\x04\x0b\x01\x0b\x02"
    assert _decode(block, wf.PUBLISH).subscription_identifiers == (1, 2)
    with pytest.raises(ProtocolError) as caught:
        _decode(block, wf.SUBSCRIBE)
    assert caught.value.reason_code == 0x82


@pytest.mark.parametrize("block", [
    b"\x04\x01\x00\x01\x01",  # payload format indicator twice
    b"\x06\x21\x00\x01\x21\x00\x02",  # receive maximum twice
    b"\x08\x03\x00\x01a\x03\x00\x01b",  # content type twice
])
def test_a_non_repeatable_property_twice_is_a_protocol_error(block: bytes) -> None:
    packet_type = wf.CONNECT if block[1] == 0x21 else wf.PUBLISH
    with pytest.raises(ProtocolError, match="more than once") as caught:
        _decode(block, packet_type)
    assert caught.value.reason_code == 0x82


@pytest.mark.parametrize(("block", "packet_type"), [
    (b"\x03\x23\x00\x01", wf.CONNECT),  # topic alias only in PUBLISH
    (b"\x02\x17\x01", wf.PUBLISH),  # request problem information only in CONNECT
    (b"\x05\x18\x00\x00\x00\x01", wf.PUBLISH),  # will delay interval only in the will
    (b"\x05\x11\x00\x00\x00\x01", WILL_PROPERTIES),  # session expiry not in the will
    (b"\x03\x1f\x00\x00", wf.PUBLISH),  # reason string not in PUBLISH
    (b"\x02\x24\x01", wf.CONNECT),  # maximum QoS is the server's
])
def test_a_property_in_the_wrong_packet_type_is_malformed(block: bytes, packet_type: int) -> None:
    with pytest.raises(ProtocolError, match="may not carry") as caught:
        _decode(block, packet_type)
    assert caught.value.reason_code == 0x81


def test_an_unknown_identifier_is_malformed() -> None:
    with pytest.raises(ProtocolError, match="unknown property identifier 0x04") as caught:
        _decode(b"\x02\x04\x00", wf.PUBLISH)
    assert caught.value.reason_code == 0x81


@pytest.mark.parametrize(("block", "packet_type"), [
    (b"\x02\x01\x02", wf.PUBLISH),  # payload format indicator 2
    (b"\x02\x17\x02", wf.CONNECT),  # request problem information 2
    (b"\x02\x19\x05", wf.CONNECT),  # request response information 5
    (b"\x03\x21\x00\x00", wf.CONNECT),  # receive maximum 0
    (b"\x05\x27\x00\x00\x00\x00", wf.CONNECT),  # maximum packet size 0
    (b"\x02\x0b\x00", wf.SUBSCRIBE),  # subscription identifier 0
])
def test_a_value_out_of_range_is_a_protocol_error(block: bytes, packet_type: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        _decode(block, packet_type)
    assert caught.value.reason_code == 0x82


@pytest.mark.parametrize("block", [
    b"\x05\x02\x00\x00",  # length says 5, 3 bytes follow
    b"\x03\x02\x00\x00",  # four byte integer cut short inside the block
    b"\x04\x03\x00\x05a",  # string longer than the block
    b"\x05\x03\x00\x02\xff\xfe",  # not UTF-8
    b"\x05\x03\x00\x02a\x00",  # U+0000
    b"\x05\x0b\xff\xff\xff\xff",  # variable byte integer of five bytes
    b"\x03\x0b\x81\x00",  # variable byte integer in more bytes than needed
    b"\xff\xff\xff\xff\x7f",  # property length itself five bytes
])
def test_malformed_values_are_malformed(block: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_properties(block, 0, len(block), wf.PUBLISH)
    assert caught.value.reason_code == 0x81


def test_every_property_of_the_spec_is_in_the_table() -> None:
    # section 2.2.2.2 of MQTT 5.0: 27 properties with these identifiers
    assert sorted(spec.identifier for spec in SPECS) == [
        0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C, 0x1F,
        0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A]
    assert {spec.name for spec in SPECS} == set(Properties.__dataclass_fields__)


def test_all_connack_properties_round_trip() -> None:
    properties = Properties(
        session_expiry_interval=60, receive_maximum=20, maximum_qos=1, retain_available=0, maximum_packet_size=1000,
        assigned_client_identifier="auto-1", topic_alias_maximum=5, reason_string="fine",
        user_properties=(("a", "b"),), wildcard_subscription_available=1, subscription_identifier_available=1,
        shared_subscription_available=0, server_keep_alive=30, response_information="resp/",
        server_reference="other:1883", authentication_method="SCRAM", authentication_data=b"\x00\x01")
    assert _decode(encode_properties(properties), wf.CONNACK) == properties


def test_without_problem_information_drops_reason_string_and_user_properties() -> None:
    properties = Properties(reason_string="why", user_properties=(("k", "v"),), session_expiry_interval=5)
    assert properties.without_problem_information() == Properties(session_expiry_interval=5)
    assert EMPTY_PROPERTIES.without_problem_information() is EMPTY_PROPERTIES
