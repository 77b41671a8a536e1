"""Encoding what a server sends: golden bytes for both versions, 3.1.1 reason-code mapping, fan-out encoding."""

from __future__ import annotations

import pytest
from client_bytes import string, u16

from mqttdesk.broker.protocol import encoder
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.decoder import decode_packet
from mqttdesk.broker.protocol.packets import Auth, Connack, Disconnect, PingResp, Publish, PubRel, Suback, Unsuback
from mqttdesk.broker.protocol.properties import Properties
from mqttdesk.broker.protocol.reason_codes import connack_code_v3, suback_code_v3

V4, V5 = 4, 5


def test_connack_v4() -> None:
    assert encoder.encode_connack(V4, True, 0) == b"\x20\x02\x01\x00"
    assert encoder.encode_connack(V4, True, 0x86) == b"\x20\x02\x00\x04"  # session present only when accepted


def test_connack_v5() -> None:
    assert encoder.encode_connack(V5, False, 0) == b"\x20\x03\x00\x00\x00"
    assert encoder.encode_connack(V5, True, 0, Properties(receive_maximum=10, assigned_client_identifier="x")) \
        == b"\x20\x0a\x01\x00\x07\x12\x00\x01x\x21\x00\x0a"
    assert encoder.encode_connack(V5, True, 0x87) == b"\x20\x03\x00\x87\x00"


@pytest.mark.parametrize(("v5", "v3"), [(0x00, 0), (0x84, 1), (0x85, 2), (0x88, 3), (0x89, 3), (0x86, 4),
                                        (0x87, 5), (0x8A, 5), (0x8C, 5), (0x80, 3), (0x97, 3), (1, 1), (5, 5)])
def test_connack_reason_codes_map_to_3_1_1(v5: int, v3: int) -> None:
    assert connack_code_v3(v5) == v3
    assert encoder.encode_connack(V4, False, v5)[3] == v3


def test_suback_both_versions() -> None:
    assert encoder.encode_suback(V4, 9, [0, 1, 2, 0x80, 0x87, 0x8F]) == b"\x90\x08\x00\x09\x00\x01\x02\x80\x80\x80"
    assert encoder.encode_suback(V5, 9, [1, 0x87]) == b"\x90\x05\x00\x09\x00\x01\x87"
    assert encoder.encode_suback(V5, 9, [0x8F], Properties(reason_string="no")) \
        == b"\x90\x09\x00\x09\x05\x1f\x00\x02no\x8f"
    assert [suback_code_v3(code) for code in (0, 1, 2, 0x80, 0xA2)] == [0, 1, 2, 0x80, 0x80]


def test_unsuback_both_versions() -> None:
    assert encoder.encode_unsuback(V4, 3, [0x00, 0x11]) == b"\xb0\x02\x00\x03"
    assert encoder.encode_unsuback(V5, 3, [0x00, 0x11]) == b"\xb0\x05\x00\x03\x00\x00\x11"


@pytest.mark.parametrize(("packet_type", "first"), [(wf.PUBACK, 0x40), (wf.PUBREC, 0x50), (wf.PUBREL, 0x62),
                                                    (wf.PUBCOMP, 0x70)])
def test_acks_both_versions(packet_type: int, first: int) -> None:
    assert encoder.encode_ack(packet_type, V4, 258, 0x10) == bytes((first, 2, 1, 2))  # no reason code in 3.1.1
    assert encoder.encode_ack(packet_type, V5, 258) == bytes((first, 2, 1, 2))
    assert encoder.encode_ack(packet_type, V5, 258, 0x10) == bytes((first, 3, 1, 2, 0x10))
    assert encoder.encode_ack(packet_type, V5, 258, 0, Properties(reason_string="r")) \
        == bytes((first, 8, 1, 2, 0, 4, 0x1F, 0, 1)) + b"r"


def test_disconnect_auth_pingresp() -> None:
    assert encoder.encode_disconnect() == b"\xe0\x00"
    assert encoder.encode_disconnect(0x8E) == b"\xe0\x02\x8e\x00"
    assert encoder.encode_disconnect(0x9C, Properties(server_reference="b:1")) == b"\xe0\x08\x9c\x06\x1c\x00\x03b:1"
    assert encoder.encode_auth() == b"\xf0\x00"
    assert encoder.encode_auth(0x18, Properties(authentication_method="M")) == b"\xf0\x06\x18\x04\x15\x00\x01M"
    assert encoder.PINGRESP_BYTES == b"\xd0\x00"


def test_publish_golden_bytes() -> None:
    assert encoder.encode_publish(Publish("a/b", b"hi"), V4) == b"\x30\x07" + string("a/b") + b"hi"
    assert encoder.encode_publish(Publish("a/b", b"hi"), V5) == b"\x30\x08" + string("a/b") + b"\x00hi"
    assert encoder.encode_publish(Publish("t", b"", 1, True, True), V4, packet_id=5) == b"\x3b\x05" + string("t") \
        + u16(5)
    props = Properties(message_expiry_interval=1, subscription_identifiers=(2, 300))
    assert encoder.encode_publish(Publish("t", b"p", 2, properties=props), V5, packet_id=1) == (
        b"\x34\x11" + string("t") + u16(1) + b"\x0a\x02\x00\x00\x00\x01\x0b\x02\x0b\xac\x02" + b"p")


def test_publish_remaining_length_over_127() -> None:
    packet = encoder.encode_publish(Publish("t", b"x" * 200), V4)
    assert packet[:3] == b"\x30\xcb\x01"  # 203 = 0x4B + 1 * 128
    assert len(packet) == 3 + 203


def test_outgoing_publish_is_encoded_once_and_reused() -> None:
    outgoing = encoder.OutgoingPublish(Publish("s/1", b"v", retain=True))
    first = outgoing.encode(V4)
    assert outgoing.encode(V4) is first  # QoS 0: the very same bytes for every subscriber
    assert outgoing.encode(V4, retain=False) == b"\x30\x06" + string("s/1") + b"v"
    assert outgoing.encode(V4, qos=1, packet_id=7) == b"\x33\x08" + string("s/1") + u16(7) + b"v"
    assert outgoing.encode(V5, qos=1, packet_id=7, dup=True) == b"\x3b\x09" + string("s/1") + u16(7) + b"\x00v"
    with pytest.raises(ValueError, match="packet id"):
        outgoing.encode(V4, qos=1)


def test_outgoing_publish_drops_the_inbound_topic_alias_and_adds_its_own() -> None:
    outgoing = encoder.OutgoingPublish(Publish("t", b"", properties=Properties(topic_alias=9, content_type="c")))
    assert outgoing.encode(V5) == b"\x30\x08" + string("t") + b"\x04\x03\x00\x01c"
    aliased = outgoing.encode(V5, topic_alias=2, send_topic=False)
    assert aliased == b"\x30\x0a" + string("") + b"\x07\x03\x00\x01c\x23\x00\x02"
    assert outgoing.size(V5, 0, 2, False) == len(aliased)


@pytest.mark.parametrize("version", [V4, V5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_size_matches_the_encoded_length(version: int, qos: int) -> None:
    outgoing = encoder.OutgoingPublish(Publish("a" * 130, b"y" * 20000, properties=Properties(content_type="x")))
    assert outgoing.size(version, qos) == len(outgoing.encode(version, qos=qos, packet_id=1 if qos else None))


@pytest.mark.parametrize("version", [V4, V5])
def test_server_packets_that_clients_also_send_decode_back(version: int) -> None:
    publish = Publish("r/t", b"\x00\x01", 1, True, False, 3)
    data = encoder.encode_publish(publish, version)
    assert decode_packet(data[0], data[2:], version) == publish
    ack = encoder.encode_ack(wf.PUBREL, version, 4)
    assert decode_packet(ack[0], ack[2:], version).packet_id == 4  # type: ignore[union-attr]


def test_encode_packet_dispatches_every_server_packet() -> None:
    assert encoder.encode_packet(Connack(True, 0), V4) == b"\x20\x02\x01\x00"
    assert encoder.encode_packet(Publish("a", b"b"), V4) == b"\x30\x04" + string("a") + b"b"
    assert encoder.encode_packet(PubRel(3, 0x92), V5) == b"\x62\x03\x00\x03\x92"
    assert encoder.encode_packet(Suback(1, (0, 0x80)), V5) == b"\x90\x05\x00\x01\x00\x00\x80"
    assert encoder.encode_packet(Unsuback(1, (0,)), V4) == b"\xb0\x02\x00\x01"
    assert encoder.encode_packet(PingResp(), V4) == b"\xd0\x00"
    assert encoder.encode_packet(Disconnect(0x8B), V5) == b"\xe0\x02\x8b\x00"
    assert encoder.encode_packet(Auth(0x19, Properties(authentication_method="M")), V5) \
        == b"\xf0\x06\x19\x04\x15\x00\x01M"
    with pytest.raises(ValueError, match="no MQTT 3.1.1 form"):
        encoder.encode_packet(Disconnect(), V4)


def test_the_fan_outs_qos0_packet_is_the_encoded_one_made_once_per_version_and_retain_flag() -> None:
    publish = Publish("a/b", b"payload", 1, True, properties=Properties(content_type="text/plain"))
    message = encoder.OutgoingPublish(publish)
    for version in (wf.MQTT_3_1_1, wf.MQTT_5):
        for retain in (False, True):
            packet = message.qos0(version, retain)
            assert packet == encoder.OutgoingPublish(message.publish).encode(version, qos=0, retain=retain)
            assert message.qos0(version, retain) is packet  # the same bytes for every subscriber
