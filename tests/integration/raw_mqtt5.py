"""A few MQTT 5 packets by hand, for what paho hides: the raw bytes of a CONNACK, PUBREC reason codes, a client that
goes silent, a packet over the broker's maximum size. Independent of the broker's own codec on purpose."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from tests.integration.raw_mqtt import encode_remaining_length, encode_string

TIMEOUT = 10.0
CONNACK, PUBLISH, PUBREC, DISCONNECT = 2, 3, 5, 14
REASON_STRING = 0x1F
TOPIC_ALIAS = 0x23


def connect_packet(client_id: str, *, username: str | None = None, password: str | None = None,
                   keep_alive: int = 60, properties: bytes = b"", clean_start: bool = True) -> bytes:
    flags = 0x02 if clean_start else 0
    payload = encode_string(client_id)
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    body = encode_string("MQTT") + bytes([5, flags]) + struct.pack("!H", keep_alive)
    body += encode_remaining_length(len(properties)) + properties + payload
    return bytes([0x10]) + encode_remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 1) -> bytes:
    body = encode_string(topic) + (struct.pack("!H", packet_id) if qos else b"") + b"\x00" + payload
    return bytes([0x30 | qos << 1]) + encode_remaining_length(len(body)) + body


def subscribe_packet(packet_id: int, topic_filter: str, qos: int = 0) -> bytes:
    body = struct.pack("!H", packet_id) + b"\x00" + encode_string(topic_filter) + bytes([qos])
    return bytes([0x82]) + encode_remaining_length(len(body)) + body


@dataclass
class Packet:
    type: int
    flags: int
    body: bytes
    raw: bytes  # the whole packet as it came off the wire

    def reason_code_after(self, offset: int) -> int:
        """The reason code at `offset` of the body (CONNACK: 1, PUBACK/PUBREC: 2, DISCONNECT: 0); an
        acknowledgement may leave out a success code [MQTT-3.4.2.1]."""
        return self.body[offset] if len(self.body) > offset else 0

    def reason_string_after(self, offset: int) -> str | None:
        """The Reason String in the properties that start at `offset` of the body, if there is one."""
        if len(self.body) <= offset:
            return None
        length, index = _read_varint(self.body, offset)
        end = index + length
        while index < end:
            identifier = self.body[index]
            index += 1
            if identifier == REASON_STRING:
                size = struct.unpack_from("!H", self.body, index)[0]
                return self.body[index + 2:index + 2 + size].decode("utf-8")
            index = _skip_property(self.body, identifier, index)
        return None


@dataclass
class ReceivedPublish:
    """A PUBLISH as it came: the topic may be empty when the broker used a topic alias."""

    topic: str
    alias: int | None
    packet_id: int | None
    dup: bool
    payload: bytes


def read_publish(packet: Packet) -> ReceivedPublish:
    assert packet.type == PUBLISH, f"expected PUBLISH, got packet type {packet.type}"
    body, qos = packet.body, (packet.flags >> 1) & 3
    size = struct.unpack_from("!H", body, 0)[0]
    topic, index = body[2:2 + size].decode("utf-8"), 2 + size
    packet_id = None
    if qos:
        packet_id, index = struct.unpack_from("!H", body, index)[0], index + 2
    length, index = _read_varint(body, index)
    end, alias = index + length, None
    while index < end:
        identifier = body[index]
        if identifier == TOPIC_ALIAS:
            alias = struct.unpack_from("!H", body, index + 1)[0]
        index = _skip_property(body, identifier, index + 1)
    return ReceivedPublish(topic, alias, packet_id, bool(packet.flags & 0x08), body[end:])


class Raw5:
    """A blocking MQTT 5 client socket on the broker's loopback port."""

    def __init__(self, port: int, *, source: str | None = None) -> None:
        """`source`: another loopback address (127.x.y.z) to connect from, to play a different peer."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                             source_address=None if source is None else (source, 0))
        self._buffer = b""

    def __enter__(self) -> Raw5:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_packet(self, timeout: float = TIMEOUT) -> Packet | None:
        """The next packet; None when the broker closed the connection first."""
        deadline = time.monotonic() + timeout
        while True:
            frame = _split(self._buffer)
            if frame is not None:
                packet, used = frame
                self._buffer = self._buffer[used:]
                return packet
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no packet within {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self._buffer += chunk

    def expect(self, packet_type: int, timeout: float = TIMEOUT) -> Packet:
        packet = self.read_packet(timeout)
        assert packet is not None, f"closed while waiting for packet type {packet_type}"
        assert packet.type == packet_type, f"expected packet type {packet_type}, got {packet.type}"
        return packet

    def connect(self, client_id: str, **options: object) -> Packet:
        self.send(connect_packet(client_id, **options))  # type: ignore[arg-type]
        return self.expect(CONNACK)


def _read_varint(data: bytes, index: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index
        shift += 7


def _skip_property(data: bytes, identifier: int, index: int) -> int:
    if identifier in (0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A):  # byte
        return index + 1
    if identifier in (0x13, 0x21, 0x22, 0x23):  # two-byte integer
        return index + 2
    if identifier in (0x02, 0x11, 0x18, 0x27):  # four-byte integer
        return index + 4
    if identifier == 0x0B:  # variable byte integer
        return _read_varint(data, index)[1]
    if identifier == 0x26:  # user property: two strings
        index += 2 + struct.unpack_from("!H", data, index)[0]
    return index + 2 + struct.unpack_from("!H", data, index)[0]  # string or binary data


def _split(buffer: bytes) -> tuple[Packet, int] | None:
    if len(buffer) < 2:
        return None
    try:
        length, index = _read_varint(buffer, 1)
    except IndexError:
        return None
    if len(buffer) < index + length:
        return None
    return Packet(buffer[0] >> 4, buffer[0] & 0x0F, buffer[index:index + length], buffer[:index + length]), \
        index + length
