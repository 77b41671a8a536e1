"""The pre-core MQTT 3.1.1 decoder, frozen: the baseline of `python -m bench.micro_protocol`.

Until the broker ran on its sans-I/O protocol core (mqttdesk.broker.protocol), each connection cut whole packets
from its read buffer and decoded them with `mqttdesk/broker/wire.py`. That module is gone from the broker; these are
its few functions the PUBLISH read loop used, copied as they were (at 4778316), so the micro-benchmark can keep
comparing the core against the loop it replaced on the same bytes. Not used by mqttdesk; do not improve it (that
would move the baseline).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

PACKET_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBREC: "PUBREC",
    PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT",
}

# [MQTT-2.2.2-1]: the flags each packet type must carry (PUBLISH flags are variable)
_REQUIRED_FLAGS = {PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBSCRIBE: 2, UNSUBSCRIBE: 2, PINGREQ: 0,
                   DISCONNECT: 0}

_U16 = struct.Struct("!H")


class ProtocolViolation(Exception):
    """The client broke the protocol: the connection must be closed (and its will published)."""


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int | None


def check_flags(packet_type: int, flags: int) -> None:
    if packet_type == PUBLISH:
        if (flags >> 1) & 3 == 3:
            raise ProtocolViolation("PUBLISH with QoS 3")
        return
    required = _REQUIRED_FLAGS.get(packet_type)
    if required is None:
        raise ProtocolViolation(f"unexpected packet type {packet_type} from a client")
    if flags != required:
        raise ProtocolViolation(f"{PACKET_NAMES[packet_type]} with reserved flags {flags:#x}")


def decode_remaining_length(buffer: bytes | bytearray, index: int) -> tuple[int, int] | None:
    """(remaining length, index after it) of a fixed header whose length starts at `index`; None if incomplete."""
    length, multiplier = 0, 1
    while True:
        if index >= len(buffer):
            return None
        byte = buffer[index]
        length += (byte & 0x7F) * multiplier
        index += 1
        if not byte & 0x80:
            return length, index
        multiplier *= 128
        if multiplier > 128**3:
            raise ProtocolViolation("malformed remaining length")


def _string(data: bytes | memoryview, offset: int) -> tuple[str, int]:
    if offset + 2 > len(data):
        raise ProtocolViolation("truncated string")
    (length,) = _U16.unpack_from(data, offset)
    end = offset + 2 + length
    if end > len(data):
        raise ProtocolViolation("truncated string")
    try:
        text = bytes(data[offset + 2:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolViolation("a string is not valid UTF-8") from None  # [MQTT-1.5.3-1]
    if "\x00" in text:
        raise ProtocolViolation("a string contains U+0000")  # [MQTT-1.5.3-2]
    return text, end


def decode_publish(flags: int, body: bytes) -> Publish:
    qos = (flags >> 1) & 3
    topic, offset = _string(body, 0)
    pid: int | None = None
    if qos:
        if offset + 2 > len(body):
            raise ProtocolViolation("PUBLISH without packet id")
        (pid,) = _U16.unpack_from(body, offset)
        if pid == 0:
            raise ProtocolViolation("packet id 0")
        offset += 2
    return Publish(topic, body[offset:], qos, bool(flags & 1), bool(flags & 8), pid)
