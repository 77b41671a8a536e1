"""MQTT 3.1.1 and MQTT 5 packets the load generators send, and a frame scanner for what they receive (pure: bytes in
and out).

Light on purpose: the generators must cost the client process as little as possible, so a publisher encodes its
packet once and a subscriber only counts PUBLISH frames (and picks their packet ids for PUBACK). The MQTT 5 forms
differ from the 3.1.1 ones only by protocol level 5 and an empty property block (one length byte 0) in CONNECT,
SUBSCRIBE and PUBLISH; a received PUBLISH keeps its packet id right after the topic in both versions, and the short
PUBACK (packet id only: reason code 0, no properties) is valid in both, so the scanner serves both. The
remaining-length codec is the broker's protocol core's (mqttdesk.broker.protocol.wire_format, pure and small).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mqttdesk.broker.protocol.wire_format import encode_varint, read_remaining_length

MQTT_3_1_1, MQTT_5 = 4, 5
CONNACK, PUBLISH, PUBACK, SUBACK = 2, 3, 4, 9
DISCONNECT = b"\xe0\x00"  # also MQTT 5's short form: reason code 0 (normal disconnection), no properties
NO_PROPERTIES = b"\x00"
_U16 = struct.Struct("!H")


def _string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return _U16.pack(len(encoded)) + encoded


def _frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_varint(len(body)) + body


def _properties(version: int) -> bytes:
    return NO_PROPERTIES if version == MQTT_5 else b""


def connect(client_id: str, username: str | None = None, password: str | None = None, *,
            keep_alive: int = 60, clean: bool = True, version: int = MQTT_3_1_1) -> bytes:
    """`clean` is Clean Session (3.1.1) or Clean Start (MQTT 5, where no session expiry means the session ends with
    the connection)."""
    flags = 0x02 if clean else 0
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    variable = _string("MQTT") + bytes((version, flags)) + _U16.pack(keep_alive) + _properties(version)
    return _frame(0x10, variable + payload)


def subscribe(packet_id: int, topic_filter: str, qos: int, version: int = MQTT_3_1_1) -> bytes:
    """One filter; in MQTT 5 the options byte holds only the maximum QoS (no-local, retain options 0)."""
    return _frame(0x82, _U16.pack(packet_id) + _properties(version) + _string(topic_filter) + bytes((qos,)))


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, version: int = MQTT_3_1_1) -> bytes:
    variable = _string(topic) + (_U16.pack(packet_id) if qos else b"") + _properties(version)
    return _frame(0x30 | (qos << 1), variable + payload)


def puback(packet_id: int) -> bytes:
    return b"\x40\x02" + _U16.pack(packet_id)


def frame_end(buffer: bytes | bytearray) -> tuple[int, int] | None:
    """(offset of the body, offset after it) of the frame at the start of `buffer`; None while incomplete."""
    header = read_remaining_length(buffer, 1, len(buffer))
    if header is None:
        return None
    length, index = header
    return (index, index + length) if index + length <= len(buffer) else None


def connack_code(body: bytes) -> int:
    """The return code (3.1.1) or reason code (MQTT 5) of a CONNACK body: its second byte in both versions."""
    return body[1]


def suback_refused(body: bytes) -> bool:
    """Whether a SUBACK for one filter refused it: its last byte is the code in both versions (failure >= 0x80)."""
    return bool(body[-1] & 0x80)


@dataclass(slots=True)
class Scan:
    """What one pass over received bytes found."""

    consumed: int = 0
    publishes: int = 0
    pubacks: int = 0
    acks_to_send: list[bytes] = field(default_factory=list)  # PUBACKs for QoS 1 PUBLISHes received
    others: list[tuple[int, bytes]] = field(default_factory=list)  # (packet type, body) of anything else


def scan(buffer: bytes | bytearray, *, ack: bool) -> Scan:
    """Walk the complete frames at the start of `buffer`; an incomplete last frame is left for the next read."""
    result = Scan()
    position, size = 0, len(buffer)
    while position + 2 <= size:
        first = buffer[position]
        header = read_remaining_length(buffer, position + 1, size)
        if header is None:
            result.consumed = position
            return result
        length, index = header
        end = index + length
        if end > size:
            break
        kind = first >> 4
        if kind == PUBLISH:
            result.publishes += 1
            if ack and first & 0x06:
                topic_end = index + 2 + ((buffer[index] << 8) | buffer[index + 1])
                result.acks_to_send.append(b"\x40\x02" + bytes(buffer[topic_end:topic_end + 2]))
        elif kind == PUBACK:
            result.pubacks += 1
        else:
            result.others.append((kind, bytes(buffer[index:end])))
        position = end
    result.consumed = position
    return result
