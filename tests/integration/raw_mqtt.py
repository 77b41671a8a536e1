"""A raw-socket MQTT 3.1.1 client for conformance tests: every byte on the wire is ours to choose and to see.

paho hides exactly what conformance tests need to look at or get wrong on purpose: the session-present bit, DUP
flags and packet ids of redelivered messages, a connection that goes silent without closing, a QoS 1/2 message
that is never acknowledged, a reserved CONNECT flag, a wrong protocol level. This module has

- an encoder and a decoder for all fourteen MQTT 3.1.1 packet types (`encode_*`, `decode_packet`), pure functions
  on bytes, usable without a socket;
- `RawClient`: one blocking TCP connection. Every wait has a deadline (no sleeps); reads raise `TimeoutError`
  when nothing arrives in time and `ConnectionClosed` when the server has closed the connection.

By default the client acknowledges what it receives, as a well-behaved client does: PUBACK for QoS 1, PUBREC for
QoS 2 and PUBCOMP for PUBREL, sent the moment the packet is read; the PUBRELs it answers are not handed to the
caller. With `auto_ack=False` nothing is acknowledged and every packet is handed over (to test redelivery);
`go_silent()` stops all sending while the socket stays open (a device that dropped off Wi-Fi);
`close_abruptly()` closes without DISCONNECT.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from types import TracebackType

DEFAULT_TIMEOUT = 5.0
SUBACK_FAILURE = 0x80
PROTOCOL_NAME = "MQTT"
PROTOCOL_LEVEL = 4  # MQTT 3.1.1


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class ConnectionClosed(Exception):
    """The server closed the connection (EOF or reset) while we were waiting for a packet."""


class MalformedPacket(ValueError):
    """The bytes received are not a valid MQTT 3.1.1 packet."""


# -- packets --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Connect:
    client_id: str
    clean_session: bool = True
    keep_alive: int = 60
    will: Will | None = None
    username: str | None = None
    password: bytes | None = None
    protocol_name: str = PROTOCOL_NAME
    protocol_level: int = PROTOCOL_LEVEL
    reserved_flag: bool = False
    type: PacketType = field(default=PacketType.CONNECT, init=False)


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool
    return_code: int
    type: PacketType = field(default=PacketType.CONNACK, init=False)


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    type: PacketType = field(default=PacketType.PUBLISH, init=False)


@dataclass(frozen=True, slots=True)
class PacketIdOnly:
    """PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a type and a packet id, nothing else."""

    type: PacketType
    packet_id: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    topics: tuple[tuple[str, int], ...]
    type: PacketType = field(default=PacketType.SUBSCRIBE, init=False)


@dataclass(frozen=True, slots=True)
class Suback:
    packet_id: int
    return_codes: tuple[int, ...]
    type: PacketType = field(default=PacketType.SUBACK, init=False)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    topics: tuple[str, ...]
    type: PacketType = field(default=PacketType.UNSUBSCRIBE, init=False)


@dataclass(frozen=True, slots=True)
class Empty:
    """PINGREQ, PINGRESP and DISCONNECT: a fixed header only."""

    type: PacketType


Packet = Connect | Connack | Publish | PacketIdOnly | Subscribe | Suback | Unsubscribe | Empty

_ID_ONLY = (PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP, PacketType.UNSUBACK)
_EMPTY = (PacketType.PINGREQ, PacketType.PINGRESP, PacketType.DISCONNECT)
# [MQTT-2.2.2-1]: the fixed flags of every type but PUBLISH
_FIXED_FLAGS = {t: (0b0010 if t in (PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE) else 0)
                for t in PacketType if t is not PacketType.PUBLISH}


# -- encoding -------------------------------------------------------------------------------------------------


def encode_remaining_length(length: int) -> bytes:
    if not 0 <= length <= 268_435_455:
        raise ValueError(f"remaining length {length} out of range")
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def encode_string(value: str | bytes) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def _frame(packet_type: PacketType, flags: int, body: bytes) -> bytes:
    return bytes([(packet_type << 4) | flags]) + encode_remaining_length(len(body)) + body


def encode_connect(
    client_id: str,
    *,
    clean_session: bool = True,
    keep_alive: int = 60,
    will: Will | None = None,
    username: str | None = None,
    password: str | bytes | None = None,
    protocol_name: str = PROTOCOL_NAME,
    protocol_level: int = PROTOCOL_LEVEL,
    reserved_flag: bool = False,
) -> bytes:
    """CONNECT with every flag under control; a password without a username is allowed (for negative tests)."""
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    if will is not None:
        flags |= (0x20 if will.retain else 0) | (will.qos << 3) | 0x04
    flags |= (0x02 if clean_session else 0) | (0x01 if reserved_flag else 0)
    body = encode_string(protocol_name) + bytes([protocol_level, flags]) + struct.pack("!H", keep_alive)
    if protocol_level >= 5:
        body += b"\x00"  # an MQTT 5 client sends (empty) properties here
    body += encode_string(client_id)
    if will is not None:
        body += encode_string(will.topic) + encode_string(will.payload)
    if username is not None:
        body += encode_string(username)
    if password is not None:
        body += encode_string(password)
    return _frame(PacketType.CONNECT, 0, body)


def encode_connack(return_code: int, session_present: bool = False) -> bytes:
    return _frame(PacketType.CONNACK, 0, bytes([0x01 if session_present else 0, return_code]))


def encode_publish(
    topic: str, payload: bytes, *, qos: int = 0, retain: bool = False, dup: bool = False, packet_id: int | None = None
) -> bytes:
    if (qos > 0) != (packet_id is not None):
        raise ValueError("a packet id is required for QoS 1 and 2 and forbidden for QoS 0")
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = encode_string(topic) + (struct.pack("!H", packet_id) if packet_id is not None else b"") + payload
    return _frame(PacketType.PUBLISH, flags, body)


def encode_packet_id_only(packet_type: PacketType, packet_id: int) -> bytes:
    """PUBACK, PUBREC, PUBREL (flags 0010), PUBCOMP or UNSUBACK."""
    if packet_type not in _ID_ONLY:
        raise ValueError(f"{packet_type.name} carries more than a packet id")
    return _frame(packet_type, _FIXED_FLAGS[packet_type], struct.pack("!H", packet_id))


def encode_subscribe(packet_id: int, topics: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(encode_string(f) + bytes([qos]) for f, qos in topics)
    return _frame(PacketType.SUBSCRIBE, 0b0010, body)


def encode_suback(packet_id: int, return_codes: list[int]) -> bytes:
    return _frame(PacketType.SUBACK, 0, struct.pack("!H", packet_id) + bytes(return_codes))


def encode_unsubscribe(packet_id: int, topics: list[str]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(encode_string(f) for f in topics)
    return _frame(PacketType.UNSUBSCRIBE, 0b0010, body)


def encode_empty(packet_type: PacketType) -> bytes:
    """PINGREQ, PINGRESP or DISCONNECT."""
    if packet_type not in _EMPTY:
        raise ValueError(f"{packet_type.name} has a body")
    return _frame(packet_type, 0, b"")


# -- decoding -------------------------------------------------------------------------------------------------


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedPacket(f"packet too short: wanted {n} more bytes at offset {self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedPacket(f"invalid UTF-8 string: {exc}") from None

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def split_frame(buffer: bytes | bytearray) -> tuple[int, bytes, int] | None:
    """(first byte, body, total frame length) of the first complete packet in `buffer`, or None if incomplete."""
    if len(buffer) < 2:
        return None
    length, multiplier, index = 0, 1, 1
    while True:
        if index >= len(buffer):
            return None
        byte = buffer[index]
        length += (byte & 0x7F) * multiplier
        index += 1
        if not byte & 0x80:
            break
        multiplier *= 128
        if index > 4:
            raise MalformedPacket("remaining length longer than four bytes")
    if len(buffer) < index + length:
        return None
    return buffer[0], bytes(buffer[index:index + length]), index + length


def decode_packet(first_byte: int, body: bytes) -> Packet:
    """Parse one packet from its first byte and its body (everything after the remaining length)."""
    try:
        packet_type = PacketType(first_byte >> 4)
    except ValueError:
        raise MalformedPacket(f"reserved packet type {first_byte >> 4}") from None
    flags = first_byte & 0x0F
    if packet_type is not PacketType.PUBLISH and flags != _FIXED_FLAGS[packet_type]:
        raise MalformedPacket(f"{packet_type.name} with flags {flags:04b}")
    reader = _Body(body)
    packet: Packet
    if packet_type is PacketType.CONNECT:
        packet = _decode_connect(reader)
    elif packet_type is PacketType.CONNACK:
        ack_flags, code = reader.u8(), reader.u8()
        packet = Connack(session_present=bool(ack_flags & 0x01), return_code=code)
    elif packet_type is PacketType.PUBLISH:
        qos = (flags >> 1) & 0x03
        if qos == 3:
            raise MalformedPacket("PUBLISH with QoS 3")
        topic = reader.string()
        packet_id = reader.u16() if qos else None
        packet = Publish(topic, reader.rest(), qos=qos, retain=bool(flags & 0x01), dup=bool(flags & 0x08),
                         packet_id=packet_id)
    elif packet_type in _ID_ONLY:
        packet = PacketIdOnly(packet_type, reader.u16())
    elif packet_type is PacketType.SUBSCRIBE:
        packet_id = reader.u16()
        topics: list[tuple[str, int]] = []
        while reader.left:
            topics.append((reader.string(), reader.u8()))
        packet = Subscribe(packet_id, tuple(topics))
    elif packet_type is PacketType.SUBACK:
        packet = Suback(reader.u16(), tuple(reader.rest()))
    elif packet_type is PacketType.UNSUBSCRIBE:
        packet_id = reader.u16()
        filters: list[str] = []
        while reader.left:
            filters.append(reader.string())
        packet = Unsubscribe(packet_id, tuple(filters))
    else:
        packet = Empty(packet_type)
    if reader.left:
        raise MalformedPacket(f"{reader.left} unexpected trailing bytes in {packet_type.name}")
    return packet


def _decode_connect(reader: _Body) -> Connect:
    name, level, flags, keep_alive = reader.string(), reader.u8(), reader.u8(), reader.u16()
    if level >= 5:
        reader.take(reader.u8())  # MQTT 5 properties (short ones only: this is a test tool)
    client_id = reader.string()
    will = None
    if flags & 0x04:
        will = Will(reader.string(), reader.binary(), qos=(flags >> 3) & 0x03, retain=bool(flags & 0x20))
    username = reader.string() if flags & 0x80 else None
    password = reader.binary() if flags & 0x40 else None
    return Connect(client_id, clean_session=bool(flags & 0x02), keep_alive=keep_alive, will=will,
                   username=username, password=password, protocol_name=name, protocol_level=level,
                   reserved_flag=bool(flags & 0x01))


def describe(packet: Packet) -> str:
    """A short human-readable form for assertion messages."""
    if isinstance(packet, Publish):
        flags = f"q{packet.qos}" + (" dup" if packet.dup else "") + (" retain" if packet.retain else "")
        pid = f" id={packet.packet_id}" if packet.packet_id is not None else ""
        return f"PUBLISH {packet.topic!r} {packet.payload!r} {flags}{pid}"
    if isinstance(packet, Connack):
        return f"CONNACK rc={packet.return_code} sp={int(packet.session_present)}"
    if isinstance(packet, Suback):
        return f"SUBACK id={packet.packet_id} {[hex(c) if c == SUBACK_FAILURE else c for c in packet.return_codes]}"
    if isinstance(packet, PacketIdOnly):
        return f"{packet.type.name} id={packet.packet_id}"
    return packet.type.name


# -- the client -----------------------------------------------------------------------------------------------


class RawClient:
    """One blocking MQTT 3.1.1 connection to 127.0.0.1:`port`, driven packet by packet by the test.

    `read_packet` returns packets in arrival order; `expect` looks for a packet of one type and keeps the others,
    in order, for later reads. The client numbers its own packet ids from 1.
    """

    def __init__(self, port: int, *, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT,
                 auto_ack: bool = True, name: str = "raw", source: str | None = None) -> None:
        self.name = name
        self.timeout = timeout
        self.auto_ack = auto_ack
        self.silent = False
        self.closed = False  # by the server (EOF or reset) or by us
        # `source`: another loopback address (127.x.y.z) to connect from, to play a different peer
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=None if source is None else (source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self._backlog: deque[Packet] = deque()
        self._next_id = 0

    # -- context manager --------------------------------------------------------------------------

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RawClient({self.name!r})"

    # -- sending --------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.silent:
            raise RuntimeError(f"{self.name}: gone silent, refusing to send")
        self.sock.sendall(data)

    def next_packet_id(self) -> int:
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id

    def send_connect(self, client_id: str, **options: object) -> None:
        """Send CONNECT (see `encode_connect` for the options) without waiting for anything."""
        self.send(encode_connect(client_id, **options))  # type: ignore[arg-type]

    def connect(self, client_id: str, *, timeout: float | None = None, **options: object) -> Connack:
        """Send CONNECT and return the CONNACK (whatever its return code)."""
        self.send_connect(client_id, **options)
        packet = self.expect(PacketType.CONNACK, timeout=timeout)
        assert isinstance(packet, Connack)
        return packet

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False, dup: bool = False,
                packet_id: int | None = None, wait: bool = True, timeout: float | None = None) -> int | None:
        """Publish; with `wait`, complete the QoS 1/2 flow (PUBACK, or PUBREC-PUBREL-PUBCOMP). Returns the id."""
        if qos and packet_id is None:
            packet_id = self.next_packet_id()
        data = payload.encode() if isinstance(payload, str) else payload
        self.send(encode_publish(topic, data, qos=qos, retain=retain, dup=dup, packet_id=packet_id))
        if wait and packet_id is not None:
            if qos == 1:
                self.expect(PacketType.PUBACK, packet_id=packet_id, timeout=timeout)
            else:
                self.expect(PacketType.PUBREC, packet_id=packet_id, timeout=timeout)
                self.send(encode_packet_id_only(PacketType.PUBREL, packet_id))
                self.expect(PacketType.PUBCOMP, packet_id=packet_id, timeout=timeout)
        return packet_id

    def ack(self, message: Publish) -> None:
        """Acknowledge one received message by hand: PUBACK (QoS 1) or PUBREC (QoS 2)."""
        if message.packet_id is None:
            return
        kind = PacketType.PUBACK if message.qos == 1 else PacketType.PUBREC
        self.send(encode_packet_id_only(kind, message.packet_id))

    def subscribe(self, topic_filter: str, qos: int = 0, *, timeout: float | None = None) -> int:
        """Subscribe to one filter; returns its SUBACK return code (granted QoS or 0x80)."""
        return self.subscribe_many([(topic_filter, qos)], timeout=timeout)[0]

    def subscribe_many(self, topics: list[tuple[str, int]], *, timeout: float | None = None) -> list[int]:
        packet_id = self.next_packet_id()
        self.send(encode_subscribe(packet_id, topics))
        suback = self.expect(PacketType.SUBACK, packet_id=packet_id, timeout=timeout)
        assert isinstance(suback, Suback)
        if len(suback.return_codes) != len(topics):
            raise AssertionError(f"{self.name}: {len(topics)} filters but {describe(suback)}")
        return list(suback.return_codes)

    def unsubscribe(self, *topic_filters: str, timeout: float | None = None) -> None:
        packet_id = self.next_packet_id()
        self.send(encode_unsubscribe(packet_id, list(topic_filters)))
        self.expect(PacketType.UNSUBACK, packet_id=packet_id, timeout=timeout)

    def ping(self, *, timeout: float | None = None) -> None:
        self.send(encode_empty(PacketType.PINGREQ))
        self.expect(PacketType.PINGRESP, timeout=timeout)

    def disconnect(self, *, timeout: float | None = None) -> bool:
        """Send DISCONNECT and close. True if the server closed its side first, as it should, within `timeout`."""
        self.send(encode_empty(PacketType.DISCONNECT))
        closed = self.wait_closed(timeout=timeout)
        self.close()
        return closed

    def go_silent(self) -> None:
        """Stop sending anything, acknowledgements and pings included; the socket stays open."""
        self.silent = True

    def close_abruptly(self, *, reset: bool = False) -> None:
        """Close without DISCONNECT: a FIN, or with `reset` a TCP RST (as a crashed peer's kernel sends)."""
        if reset and not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    # -- receiving ------------------------------------------------------------------------------------

    def read_packet(self, timeout: float | None = None) -> Packet:
        """The next packet: from what `expect` put aside, else from the socket.

        Raises `TimeoutError` if none arrives within `timeout` (default: the client's), `ConnectionClosed` if the
        server closed the connection.
        """
        if self._backlog:
            return self._backlog.popleft()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            packet = self._receive(deadline)
            if packet is not None:
                return packet

    def expect(self, packet_type: PacketType, *, packet_id: int | None = None,
               timeout: float | None = None) -> Packet:
        """Wait for a packet of `packet_type` (and `packet_id`), keeping any other packets for later reads.

        Raises AssertionError naming what did arrive if none matches in time or the server closes the connection.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for index, packet in enumerate(self._backlog):
            if _matches(packet, packet_type, packet_id):
                del self._backlog[index]
                return packet
        seen: list[Packet] = []
        try:
            while True:
                packet = self._receive(deadline)
                if packet is None:
                    continue
                if _matches(packet, packet_type, packet_id):
                    return packet
                seen.append(packet)
        except TimeoutError:
            what = f"{packet_type.name}" + (f" id={packet_id}" if packet_id is not None else "")
            got = ", ".join(describe(p) for p in seen) or "nothing"
            raise AssertionError(f"{self.name}: no {what} within the timeout (got {got})") from None
        except ConnectionClosed:
            got = ", ".join(describe(p) for p in seen) or "nothing"
            raise AssertionError(f"{self.name}: connection closed waiting for {packet_type.name} "
                                 f"(got {got})") from None
        finally:
            self._backlog.extend(seen)

    def next_message(self, timeout: float | None = None) -> Publish:
        """The next PUBLISH received (other packets are kept for later reads)."""
        packet = self.expect(PacketType.PUBLISH, timeout=timeout)
        assert isinstance(packet, Publish)
        return packet

    def messages(self, count: int, timeout: float | None = None) -> list[Publish]:
        """`count` PUBLISH packets, all within one `timeout`; AssertionError lists what came if fewer did."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got: list[Publish] = []
        while len(got) < count:
            try:
                got.append(self.next_message(timeout=max(0.0, deadline - time.monotonic())))
            except AssertionError:
                raise AssertionError(f"{self.name}: {len(got)} of {count} messages arrived: "
                                     f"{[m.payload for m in got]}") from None
        return got

    def messages_until(self, payload: bytes, timeout: float | None = None) -> list[Publish]:
        """Every PUBLISH up to and including the first one carrying `payload` (a marker published last)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got: list[Publish] = []
        while not got or got[-1].payload != payload:
            try:
                got.append(self.next_message(timeout=max(0.0, deadline - time.monotonic())))
            except AssertionError:
                raise AssertionError(f"{self.name}: marker {payload!r} never arrived; got "
                                     f"{[m.payload for m in got]}") from None
        return got

    def wait_closed(self, timeout: float | None = None) -> bool:
        """True once the server has closed the connection, False if still open after `timeout`.

        Packets received meanwhile are kept for later reads (and acknowledged unless silent or `auto_ack` is off).
        """
        if self.closed:
            return True
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                packet = self._receive(deadline)
                if packet is not None:
                    self._backlog.append(packet)
        except TimeoutError:
            return False
        except ConnectionClosed:
            return True

    def pending(self) -> list[Packet]:
        """Take the packets that were put aside by `expect` or `wait_closed`."""
        packets = list(self._backlog)
        self._backlog.clear()
        return packets

    def _receive(self, deadline: float) -> Packet | None:
        """Read until one packet is complete; None when it was consumed by the acknowledgement machinery."""
        while True:
            frame = split_frame(self._buffer)
            if frame is not None:
                first, body, size = frame
                del self._buffer[:size]
                return self._handle(decode_packet(first, body))
            if self.closed:
                raise ConnectionClosed(f"{self.name}: connection closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: nothing received in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"{self.name}: nothing received in time") from None
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                chunk = b""
            except OSError:
                if self.closed:
                    chunk = b""
                else:
                    raise
            if not chunk:
                self.closed = True
                raise ConnectionClosed(f"{self.name}: connection closed by the server")
            self._buffer += chunk

    def _handle(self, packet: Packet) -> Packet | None:
        if not self.auto_ack or self.silent:
            return packet
        try:
            if isinstance(packet, Publish) and packet.packet_id is not None:
                self.ack(packet)
            elif isinstance(packet, PacketIdOnly) and packet.type is PacketType.PUBREL:
                self.send(encode_packet_id_only(PacketType.PUBCOMP, packet.packet_id))
                return None
        except OSError:
            pass  # the server is closing the connection; the next read says so
        return packet


def _matches(packet: Packet, packet_type: PacketType, packet_id: int | None) -> bool:
    if packet.type is not packet_type:
        return False
    return packet_id is None or getattr(packet, "packet_id", None) == packet_id
