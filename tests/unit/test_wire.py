"""Packet encoding and decoding after CONNECT."""

from __future__ import annotations

import pytest

from mqttdesk.broker import wire


def test_publish_round_trip_all_qos() -> None:
    for qos, pid in ((0, None), (1, 7), (2, 65535)):
        packet = wire.encode_publish(b"a/b", b"payload", qos, True, qos > 0, pid)
        first, body = packet[0], packet[2:]
        assert packet[1] == len(body)
        decoded = wire.decode_publish(first & 0x0F, body)
        assert decoded == wire.Publish("a/b", b"payload", qos, True, qos > 0, pid)


@pytest.mark.parametrize("length", [0, 127, 128, 16383, 16384, 2_097_151, 2_097_152, 268_435_455])
def test_remaining_length_encoding(length: int) -> None:
    encoded = wire.encode_remaining_length(length)
    value, multiplier = 0, 1
    for byte in encoded:
        value += (byte & 0x7F) * multiplier
        multiplier *= 128
    assert value == length
    assert len(encoded) == (1 if length < 128 else 2 if length < 16384 else 3 if length < 2_097_152 else 4)


def test_subscribe_decoding_and_violations() -> None:
    body = b"\x00\x05" + b"\x00\x03a/#\x01" + b"\x00\x01b\x02"
    assert wire.decode_subscribe(body, 10) == (5, [("a/#", 1), ("b", 2)])
    with pytest.raises(wire.ProtocolViolation):
        wire.decode_subscribe(b"\x00\x05", 10)  # no filters [MQTT-3.8.3-3]
    with pytest.raises(wire.ProtocolViolation):
        wire.decode_subscribe(b"\x00\x05\x00\x01a\x04", 10)  # reserved QoS bits
    with pytest.raises(wire.ProtocolViolation):
        wire.decode_subscribe(b"\x00\x05\x00\x05ab", 10)  # truncated


def test_subscribe_with_requested_qos_3_is_malformed() -> None:
    """[MQTT-3.8.3-4]: QoS 3 is not granted (it was: SUBACK 0x03), the packet is a protocol violation."""
    with pytest.raises(wire.ProtocolViolation, match="requested QoS 0x03"):
        wire.decode_subscribe(b"\x00\x05\x00\x01a\x03", 10)


def test_subscribe_and_unsubscribe_bound_the_filters_per_packet() -> None:
    three = b"\x00\x05" + b"\x00\x01a\x00" * 3
    assert len(wire.decode_subscribe(three, 3)[1]) == 3
    with pytest.raises(wire.ProtocolViolation, match="more than 2 topic filters .max_subscriptions_per_packet."):
        wire.decode_subscribe(three, 2)
    three = b"\x00\x05" + b"\x00\x01a" * 3
    assert wire.decode_unsubscribe(three, 3) == (5, ["a", "a", "a"])
    with pytest.raises(wire.ProtocolViolation, match="max_subscriptions_per_packet"):
        wire.decode_unsubscribe(three, 2)


@pytest.mark.parametrize("topic_filter", ["a/#/b", "a/b+", "", "#/a"])
def test_unsubscribe_with_an_invalid_filter_is_a_violation(topic_filter: str) -> None:
    encoded = topic_filter.encode()
    body = b"\x00\x05" + len(encoded).to_bytes(2, "big") + encoded
    with pytest.raises(wire.ProtocolViolation, match="UNSUBSCRIBE with an invalid topic filter"):
        wire.decode_unsubscribe(body, 10)


def test_strings_must_be_utf8_without_nul() -> None:
    with pytest.raises(wire.ProtocolViolation):
        wire.decode_publish(0, b"\x00\x02\xff\xfe")
    with pytest.raises(wire.ProtocolViolation):
        wire.decode_publish(0, b"\x00\x02a\x00")


@pytest.mark.parametrize(
    ("packet_type", "flags"),
    [(wire.PUBREL, 0), (wire.SUBSCRIBE, 0), (wire.UNSUBSCRIBE, 0), (wire.PUBACK, 2), (wire.PUBLISH, 6),
     (wire.CONNACK, 0), (wire.SUBACK, 0), (0, 0), (15, 0)],
)
def test_reserved_flags_and_server_packets_are_violations(packet_type: int, flags: int) -> None:
    with pytest.raises(wire.ProtocolViolation):
        wire.check_flags(packet_type, flags)


def test_acks() -> None:
    assert wire.encode_ack(wire.PUBREL, 258) == b"\x62\x02\x01\x02"
    assert wire.encode_ack(wire.PUBACK, 1) == b"\x40\x02\x00\x01"
    assert wire.packet_id(b"\x01\x02") == 258
    with pytest.raises(wire.ProtocolViolation):
        wire.packet_id(b"\x00\x00")
    assert wire.encode_connack(True, 0) == b"\x20\x02\x01\x00"
    assert wire.encode_connack(True, 5) == b"\x20\x02\x00\x05"  # [MQTT-3.2.2-4]
    assert wire.encode_suback(3, [0, 1, 0x80]) == b"\x90\x05\x00\x03\x00\x01\x80"
