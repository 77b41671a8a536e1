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
    """The first packet is not a CONNECT we can answer; close the connection (with `connack` when set).

    `protocol`, `client_id` and `username` are what the packet said before the fault (None: not read, or absent),
    so that the Auth log can name the device that sent it.
    """

    def __init__(self, reason: str, connack: int | None = None) -> None:
        super().__init__(reason)
        self.connack = connack
        self.protocol: str | None = None
        self.client_id: str | None = None
        self.username: str | None = None

    def what_was_read(self) -> str:
        """E.g. "protocol MQTT level 4, clientId 'lamp-1', username 'lamp'"; empty when nothing was."""
        parts = (f"protocol {self.protocol}" if self.protocol is not None else None,
                 f"clientId '{self.client_id}'" if self.client_id is not None else None,
                 f"username '{self.username}'" if self.username is not None else None)
        return ", ".join(part for part in parts if part)


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

    def variable_length(self) -> int:
        """An MQTT 5 variable byte integer (property lengths)."""
        value = 0
        for shift in range(0, 28, 7):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise ConnectRejected("malformed CONNECT: property length")

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
    read = ConnectRejected("")  # carries what was decoded so far, to the rejection if there is one
    try:
        return _parse_connect(_Body(body), read)
    except ConnectRejected as exc:
        exc.protocol, exc.client_id, exc.username = read.protocol, read.client_id, read.username
        raise


def _parse_connect(reader: _Body, read: ConnectRejected) -> ConnectFields:
    name = reader.string("protocol name")
    if name not in ("MQTT", "MQIsdp"):
        raise ConnectRejected(f"unknown protocol name {name!r}")  # [MQTT-3.1.2-1]: no CONNACK
    level, flags = reader.take(2)
    read.protocol = f"{name} level {level}"
    if level != SUPPORTED_LEVEL or name != "MQTT":
        _read_identity(reader, level, flags, read)
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
    client_id = read.client_id = reader.string("clientId")
    will_topic = reader.string("will topic") if will_flag else None
    will_message = reader.binary() if will_flag else None
    username = read.username = reader.string("username") if has_username else None
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


def _read_identity(reader: _Body, level: int, flags: int, read: ConnectRejected) -> None:
    """Best effort, for the Auth log only: the clientId and username of a CONNECT of another protocol level.

    MQTT 3.1 has 3.1.1's layout; MQTT 5 puts its properties before the payload. Whatever does not decode is left out.
    """
    try:
        reader.take(2)  # keep-alive
        if level >= 5:
            reader.take(reader.variable_length())  # CONNECT properties
        read.client_id = reader.string("clientId")
        if flags & 0x04:  # will: (MQTT 5: its properties,) topic, message
            if level >= 5:
                reader.take(reader.variable_length())
            reader.binary()
            reader.binary()
        if flags & 0x80:
            read.username = reader.string("username")
    except ConnectRejected:
        pass


async def read_connect(reader: Any) -> ConnectFields:
    """Read the first packet (it must be a CONNECT) and decode it."""
    stream: asyncio.StreamReader = getattr(reader, "_reader", reader)  # under amqtt's adapter
    try:
        first = (await stream.readexactly(1))[0]
    except asyncio.IncompleteReadError:
        # nothing at all was sent (a port probe, a health check, a flood of sockets): no CONNECT to log
        raise ConnectionAbortedError("closed before sending anything") from None
    try:
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
