"""The MQTT data representations (section 1.5 of both specs): integers, variable byte integers, UTF-8 strings, binary
data, and the packet type numbers. Readers take `(data, offset, end)` and return `(value, next offset)`, so a packet
is decoded straight out of the receive buffer without slicing its body first.
"""

from __future__ import annotations

import struct

from mqttdesk.broker.protocol.reason_codes import malformed

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

PACKET_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBREC: "PUBREC",
    PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

MQTT_3_1_1 = 4
MQTT_5 = 5

MAX_VARINT = 268_435_455  # four bytes of seven bits
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
_u16_from = U16.unpack_from
_u32_from = U32.unpack_from


def read_byte(data: bytes | bytearray, offset: int, end: int) -> tuple[int, int]:
    if offset >= end:
        raise malformed("truncated byte")
    return data[offset], offset + 1


def read_u16(data: bytes | bytearray, offset: int, end: int) -> tuple[int, int]:
    if offset + 2 > end:
        raise malformed("truncated two byte integer")
    return _u16_from(data, offset)[0], offset + 2


def read_u32(data: bytes | bytearray, offset: int, end: int) -> tuple[int, int]:
    if offset + 4 > end:
        raise malformed("truncated four byte integer")
    return _u32_from(data, offset)[0], offset + 4


def read_varint(data: bytes | bytearray, offset: int, end: int) -> tuple[int, int]:
    """A variable byte integer; more than four bytes, or more than needed, is malformed."""
    value, shift = 0, 0
    for _ in range(4):
        if offset >= end:
            raise malformed("truncated variable byte integer")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if not byte and shift:
                raise malformed("variable byte integer not in the fewest bytes")  # [MQTT-1.5.5-1]
            return value, offset
        shift += 7
    raise malformed("variable byte integer longer than four bytes")


def read_remaining_length(buffer: bytes | bytearray, index: int, end: int) -> tuple[int, int] | None:
    """(remaining length, offset after it) of a fixed header; None while incomplete; over four bytes is malformed."""
    value, shift = 0, 0
    for _ in range(4):
        if index >= end:
            return None
        byte = buffer[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if not byte and shift:
                raise malformed("remaining length not in the fewest bytes")  # [MQTT-1.5.5-1]
            return value, index
        shift += 7
    raise malformed("a remaining length longer than four bytes")


def read_binary(data: bytes | bytearray, offset: int, end: int) -> tuple[bytes, int]:
    if offset + 2 > end:
        raise malformed("truncated binary data length")
    stop = offset + 2 + _u16_from(data, offset)[0]
    if stop > end:
        raise malformed("truncated binary data")
    return bytes(data[offset + 2:stop]), stop


def read_string(data: bytes | bytearray, offset: int, end: int) -> tuple[str, int]:
    """A UTF-8 encoded string: ill-formed UTF-8 [MQTT-1.5.4-1] or U+0000 [MQTT-1.5.4-2] is malformed."""
    if offset + 2 > end:
        raise malformed("truncated string length")
    stop = offset + 2 + _u16_from(data, offset)[0]
    if stop > end:
        raise malformed("truncated string")
    try:
        # strict UTF-8 also refuses encoded surrogates U+D800..U+DFFF, as [MQTT-1.5.4-1] requires
        text = str(data[offset + 2:stop], "utf-8")
    except UnicodeDecodeError:
        raise malformed("a string is not valid UTF-8") from None
    if "\x00" in text:
        raise malformed("a string contains U+0000")
    return text, stop


def encode_varint(value: int) -> bytes:
    if value < 128:
        return bytes((value,))
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def encode_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return U16.pack(len(raw)) + raw


def encode_binary(data: bytes) -> bytes:
    return U16.pack(len(data)) + data


def fixed_header(first: int, remaining: int) -> bytes:
    if remaining < 128:
        return bytes((first, remaining))
    return bytes((first,)) + encode_varint(remaining)


def varint_size(value: int) -> int:
    return 1 if value < 128 else 2 if value < 16_384 else 3 if value < 2_097_152 else 4
