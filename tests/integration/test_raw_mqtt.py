"""The raw MQTT client's codec: byte vectors from the MQTT 3.1.1 specification and round trips (no sockets)."""

from __future__ import annotations

import pytest

from tests.integration.raw_mqtt import (
    Connack,
    Connect,
    Empty,
    MalformedPacket,
    PacketIdOnly,
    PacketType,
    Publish,
    Suback,
    Subscribe,
    Unsubscribe,
    Will,
    decode_packet,
    encode_connack,
    encode_connect,
    encode_empty,
    encode_packet_id_only,
    encode_publish,
    encode_remaining_length,
    encode_suback,
    encode_subscribe,
    encode_unsubscribe,
    split_frame,
)


def _decode(data: bytes):  # type: ignore[no-untyped-def]
    frame = split_frame(data)
    assert frame is not None
    first, body, size = frame
    assert size == len(data)
    return decode_packet(first, body)


@pytest.mark.parametrize(("length", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f"),
])
def test_remaining_length_boundaries_from_the_spec(length: int, encoded: bytes) -> None:
    """Table 2.4 of the specification."""
    assert encode_remaining_length(length) == encoded


def test_fixed_packets_match_the_spec() -> None:
    assert encode_empty(PacketType.PINGREQ) == b"\xc0\x00"
    assert encode_empty(PacketType.DISCONNECT) == b"\xe0\x00"
    assert encode_packet_id_only(PacketType.PUBREL, 1) == b"\x62\x02\x00\x01"
    assert encode_connack(0, session_present=True) == b"\x20\x02\x01\x00"


def test_connect_flags_byte() -> None:
    data = encode_connect("c", clean_session=True, keep_alive=10, will=Will("w", b"x", qos=2, retain=True),
                         username="u", password=b"p", reserved_flag=True)
    # fixed header (2), protocol name (6), level (1): then the flags
    assert data[8] == 4
    assert data[9] == 0b1111_0111


def test_connect_round_trip() -> None:
    packet = Connect("dev-1", clean_session=False, keep_alive=2, will=Will("dead/dev-1", b"bye", qos=1),
                     username="lamp", password=b"s3cret")
    data = encode_connect("dev-1", clean_session=False, keep_alive=2, will=Will("dead/dev-1", b"bye", qos=1),
                          username="lamp", password=b"s3cret")
    assert _decode(data) == packet


def test_mqtt5_connect_carries_empty_properties() -> None:
    decoded = _decode(encode_connect("v5", protocol_level=5))
    assert isinstance(decoded, Connect)
    assert (decoded.protocol_level, decoded.client_id) == (5, "v5")


@pytest.mark.parametrize("packet", [
    Publish("a/b", b"payload", qos=0),
    Publish("a/b", b"", qos=1, retain=True, packet_id=7),
    Publish("a/b", b"\x00\xff", qos=2, dup=True, packet_id=65535),
])
def test_publish_round_trip(packet: Publish) -> None:
    data = encode_publish(packet.topic, packet.payload, qos=packet.qos, retain=packet.retain, dup=packet.dup,
                          packet_id=packet.packet_id)
    assert _decode(data) == packet


def test_publish_needs_a_packet_id_exactly_for_qos_1_and_2() -> None:
    with pytest.raises(ValueError, match="packet id"):
        encode_publish("t", b"", qos=1)
    with pytest.raises(ValueError, match="packet id"):
        encode_publish("t", b"", qos=0, packet_id=1)


def test_subscription_packets_round_trip() -> None:
    assert _decode(encode_subscribe(3, [("a/#", 1), ("b/+", 2)])) == Subscribe(3, (("a/#", 1), ("b/+", 2)))
    assert _decode(encode_suback(3, [1, 0x80])) == Suback(3, (1, 0x80))
    assert _decode(encode_unsubscribe(4, ["a/#"])) == Unsubscribe(4, ("a/#",))
    assert _decode(encode_packet_id_only(PacketType.UNSUBACK, 4)) == PacketIdOnly(PacketType.UNSUBACK, 4)
    assert _decode(encode_connack(2)) == Connack(session_present=False, return_code=2)
    assert _decode(encode_empty(PacketType.PINGRESP)) == Empty(PacketType.PINGRESP)


def test_incomplete_frames_wait_for_more_bytes() -> None:
    data = encode_publish("topic", b"x" * 200, qos=1, packet_id=1)
    for cut in (0, 1, 2, len(data) - 1):
        assert split_frame(data[:cut]) is None
    assert split_frame(data + b"\xc0") is not None


@pytest.mark.parametrize(("first", "body"), [
    (0x00, b""),  # reserved type 0
    (0x62 & 0xF0, b"\x00\x01"),  # PUBREL with flags 0000
    (0x36, b"\x00\x01t\x00\x01"),  # PUBLISH QoS 3
    (0x20, b"\x00\x00\x00"),  # CONNACK with a trailing byte
])
def test_malformed_packets_are_refused(first: int, body: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode_packet(first, body)
