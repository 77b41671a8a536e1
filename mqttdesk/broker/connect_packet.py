"""Reading and checking the first packet of a connection, before anything else may happen.

The CONNECT is decided by our pipeline before any session is looked at (amqtt 0.12.1 builds and even replaces
sessions first), so we read it ourselves: one read of the fixed header and one of the body, then a pure decoder.
amqtt's `ConnectPacket.from_stream` needs about thirteen awaits per CONNECT, which showed in the connect-rate
profile.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from dataclasses import dataclass
from typing import Any

CONNECT = 1
SUPPORTED_LEVEL = 4  # MQTT 3.1.1
MAX_CONNECT_BYTES = 65536 * 4 + 1024  # client id, will topic and message, username, password: generous
_U16 = struct.Struct("!H")


class ConnectRejected(Exception):
    """The first packet is not a CONNECT we can answer; close the connection (with `connack` when set)."""

    def __init__(self, reason: str, connack: int | None = None) -> None:
        super().__init__(reason)
        self.connack = connack


@dataclass(frozen=True, slots=True)
class ConnectFields:
    client_id: str
    client_id_assigned: bool
    clean_session: bool
    keep_alive: int
    username: str | None
    password: str | None
    will_topic: str | None
    will_message: bytes | None
    will_qos: int
    will_retain: bool

    def __repr__(self) -> str:  # never show the password, not even in a debug log
        return f"ConnectFields(client_id={self.client_id!r}, username={self.username!r}, clean={self.clean_session})"


def assigned_client_id() -> str:
    """An id for a client that sent none (with clean session), as [MQTT-3.1.3-6] allows."""
    return "mqttdesk-" + secrets.token_hex(8)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, count: int) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise ConnectRejected("malformed CONNECT: truncated")
        chunk, self.offset = self.data[self.offset:end], end
        return chunk

    def binary(self) -> bytes:
        (length,) = _U16.unpack(self.take(2))
        return self.take(length)

    def string(self, what: str) -> str:
        try:
            text = self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise ConnectRejected(f"malformed CONNECT: the {what} is not UTF-8") from None  # [MQTT-1.5.3-1]
        if "\x00" in text:
            raise ConnectRejected(f"malformed CONNECT: the {what} contains U+0000")  # [MQTT-1.5.3-2]
        return text


def parse_connect(body: bytes) -> ConnectFields:
    """Decode and check a CONNECT body (MQTT 3.1.1 section 3.1); `ConnectRejected` says what is wrong."""
    reader = _Body(body)
    name = reader.string("protocol name")
    if name not in ("MQTT", "MQIsdp"):
        raise ConnectRejected(f"unknown protocol name {name!r}")  # [MQTT-3.1.2-1]: no CONNACK
    level, flags = reader.take(2)
    if level != SUPPORTED_LEVEL or name != "MQTT":
        # [MQTT-3.1.2-2]: answer 0x01 and close
        raise ConnectRejected(f"protocol {name} level {level} is not supported (MQTT 3.1.1 is)", connack=1)
    if flags & 0x01:
        raise ConnectRejected("the reserved CONNECT flag is set")  # [MQTT-3.1.2-3]
    (keep_alive,) = _U16.unpack(reader.take(2))
    clean_session = bool(flags & 0x02)
    will_flag, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 3, bool(flags & 0x20)
    has_username, has_password = bool(flags & 0x80), bool(flags & 0x40)
    if will_flag and will_qos > 2:
        raise ConnectRejected("the will QoS is 3")  # [MQTT-3.1.2-14]
    if not will_flag and (will_qos or will_retain):
        raise ConnectRejected("will QoS or retain set without a will")  # [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    client_id = reader.string("clientId")
    will_topic = reader.string("will topic") if will_flag else None
    will_message = reader.binary() if will_flag else None
    username = reader.string("username") if has_username else None
    password: str | None = None
    if has_password:
        try:
            password = reader.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise ConnectRejected("the password is not UTF-8 text", connack=4) from None
    assigned = not client_id
    return ConnectFields(
        client_id=assigned_client_id() if assigned else client_id,
        client_id_assigned=assigned,
        clean_session=clean_session,
        keep_alive=keep_alive,
        username=username,
        password=password,
        will_topic=will_topic,
        will_message=will_message,
        will_qos=will_qos if will_flag else 0,
        will_retain=will_retain if will_flag else False,
    )


async def read_connect(reader: Any) -> ConnectFields:
    """Read the first packet (it must be a CONNECT) and decode it."""
    stream: asyncio.StreamReader = getattr(reader, "_reader", reader)  # under amqtt's adapter
    try:
        first = (await stream.readexactly(1))[0]
        length, multiplier = 0, 1
        for _ in range(4):
            byte = (await stream.readexactly(1))[0]
            length += (byte & 0x7F) * multiplier
            if not byte & 0x80:
                break
            multiplier *= 128
        else:
            raise ConnectRejected("malformed remaining length")
        if first >> 4 != CONNECT:
            raise ConnectRejected(f"the first packet must be CONNECT, got packet type {first >> 4}")
        if first & 0x0F:
            raise ConnectRejected("CONNECT with reserved flags set")  # [MQTT-2.2.2-2]
        if length > MAX_CONNECT_BYTES:
            raise ConnectRejected(f"a CONNECT of {length} bytes is too large")
        body = await stream.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ConnectRejected("the connection closed before a whole CONNECT arrived") from None
    return parse_connect(body)
