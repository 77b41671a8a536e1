"""MQTT 3.1.1 packets the load generators send, and a frame scanner for what they receive (pure: bytes in and out).

Light on purpose: the generators must cost the client process as little as possible, so a publisher encodes its
packet once and a subscriber only counts PUBLISH frames (and picks their packet ids for PUBACK). The remaining-length
codec is the broker's (mqttdesk.broker.wire, pure and small).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mqttdesk.broker.wire import decode_remaining_length, encode_remaining_length

CONNACK, PUBLISH, PUBACK, SUBACK = 2, 3, 4, 9
DISCONNECT = b"\xe0\x00"
_U16 = struct.Struct("!H")


def _string(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return _U16.pack(len(encoded)) + encoded


def _frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_remaining_length(len(body)) + body


def connect(client_id: str, username: str | None = None, password: str | None = None, *,
            keep_alive: int = 60, clean: bool = True) -> bytes:
    flags = 0x02 if clean else 0
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    return _frame(0x10, _string("MQTT") + bytes((4, flags)) + _U16.pack(keep_alive) + payload)


def subscribe(packet_id: int, topic_filter: str, qos: int) -> bytes:
    return _frame(0x82, _U16.pack(packet_id) + _string(topic_filter) + bytes((qos,)))


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0) -> bytes:
    variable = _string(topic) + (_U16.pack(packet_id) if qos else b"")
    return _frame(0x30 | (qos << 1), variable + payload)


def puback(packet_id: int) -> bytes:
    return b"\x40\x02" + _U16.pack(packet_id)


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
        header = decode_remaining_length(buffer, position + 1)
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
