"""One MQTT connection of a load generator: CONNECT, SUBSCRIBE, DISCONNECT, and a counting receive loop.

Every wait has a deadline. A `Link` is plain asyncio streams; nothing here runs in a thread. An `Endpoint` says which
protocol version its links speak (3.1.1 unless told); an MQTT 5 link remembers the Receive Maximum of its CONNACK,
which bounds a publisher's window of unacknowledged QoS 1 messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field

from bench.load import packets
from bench.settings import KEEP_ALIVE
from mqttdesk.broker.protocol.properties import decode_properties
from mqttdesk.broker.protocol.wire_format import MAX_VARINT

READ_CHUNK = 262_144
TIMEOUT = 15.0


class RefusedError(Exception):
    """The broker answered CONNECT with a non-zero return code (or SUBSCRIBE with a failure)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    version: int = packets.MQTT_3_1_1

    def speaking(self, version: int) -> Endpoint:
        return dataclasses.replace(self, version=version)


@dataclass(eq=False)
class Link:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_id: str
    version: int = packets.MQTT_3_1_1
    receive_maximum: int = 65_535  # the server's, from an MQTT 5 CONNACK (3.1.1 has none)

    async def subscribe(self, topic_filter: str, qos: int, packet_id: int = 1) -> None:
        self.writer.write(packets.subscribe(packet_id, topic_filter, qos, self.version))
        first, suback = await asyncio.wait_for(read_frame(self.reader), TIMEOUT)
        if first >> 4 != packets.SUBACK or packets.suback_refused(suback):
            raise RefusedError(f"{self.client_id}: SUBSCRIBE {topic_filter} refused ({suback.hex()})")

    async def close(self, *, disconnect: bool = True) -> None:
        # a peer that resets or never confirms the close is not our business here: the link is gone from our side
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            if disconnect and not self.writer.is_closing():
                self.writer.write(packets.DISCONNECT)
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(first byte, body) of the next frame; the remaining length read byte by byte (CONNACK and SUBACK only)."""
    first, length, shift = (await reader.readexactly(1))[0], 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if length > MAX_VARINT or shift > 21:
            raise ConnectionError("malformed remaining length from the broker")
    return first, await reader.readexactly(length)


async def connect(endpoint: Endpoint, client_id: str, *, keep_alive: int = KEEP_ALIVE,
                  clean: bool = True) -> tuple[Link | None, int]:
    """(link, 0) when accepted; (None, return code) when refused (the socket is closed then)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(endpoint.host, endpoint.port), TIMEOUT)
    link = Link(reader, writer, client_id, endpoint.version)
    try:
        writer.write(packets.connect(client_id, endpoint.username, endpoint.password, keep_alive=keep_alive,
                                     clean=clean, version=endpoint.version))
        if endpoint.version == packets.MQTT_5:
            first, body = await asyncio.wait_for(read_frame(reader), TIMEOUT)
        else:  # a 3.1.1 CONNACK is always these four bytes: one read, as light as the client can be
            connack = await asyncio.wait_for(reader.readexactly(4), TIMEOUT)
            first, body = connack[0], connack[2:]
    except BaseException:
        await link.close(disconnect=False)
        raise
    code = packets.connack_code(body)
    if first >> 4 != packets.CONNACK or code != 0:
        await link.close(disconnect=False)
        return None, code
    if endpoint.version == packets.MQTT_5:
        properties, _ = decode_properties(body, 2, len(body), packets.CONNACK)
        link.receive_maximum = properties.receive_maximum or link.receive_maximum
    return link, 0


async def connect_or_raise(endpoint: Endpoint, client_id: str, **options: object) -> Link:
    link, code = await connect(endpoint, client_id, **options)  # type: ignore[arg-type]
    if link is None:
        raise RefusedError(f"{client_id}: CONNECT refused with return code {code}")
    return link


@dataclass(eq=False)
class Counter:
    """Messages a subscriber received, and when the last one came."""

    received: int = 0
    last_at: float = field(default_factory=time.perf_counter)

    def reset(self) -> None:
        self.received = 0
        self.last_at = time.perf_counter()


async def receive(link: Link, counter: Counter, *, expected: int, ack: bool, idle_timeout: float,
                  on_pubacks: asyncio.Queue[int] | None = None) -> None:
    """Count PUBLISH frames until `expected` arrived or nothing came for `idle_timeout` seconds.

    QoS 1 PUBLISHes are acknowledged in one write per read when `ack` is set; PUBACKs (a publisher's) are put on
    `on_pubacks` as counts.
    """
    buffer = bytearray()
    reader, writer = link.reader, link.writer
    while counter.received < expected:
        try:
            chunk = await asyncio.wait_for(reader.read(READ_CHUNK), idle_timeout)
        except TimeoutError:
            return
        if not chunk:
            return
        buffer += chunk
        found = packets.scan(buffer, ack=ack)
        if found.consumed:
            del buffer[:found.consumed]
        if found.acks_to_send:
            writer.write(b"".join(found.acks_to_send))
        if found.publishes:
            counter.received += found.publishes
            counter.last_at = time.perf_counter()
        if found.pubacks and on_pubacks is not None:
            on_pubacks.put_nowait(found.pubacks)
