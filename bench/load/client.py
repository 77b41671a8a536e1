"""One MQTT connection of a load generator: CONNECT, SUBSCRIBE, DISCONNECT, and a counting receive loop.

Every wait has a deadline. A `Link` is plain asyncio streams; nothing here runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from bench.load import packets
from bench.settings import KEEP_ALIVE

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


@dataclass(eq=False)
class Link:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_id: str

    async def subscribe(self, topic_filter: str, qos: int, packet_id: int = 1) -> None:
        self.writer.write(packets.subscribe(packet_id, topic_filter, qos))
        suback = await asyncio.wait_for(self.reader.readexactly(5), TIMEOUT)
        if suback[0] >> 4 != packets.SUBACK or suback[4] & 0x80:
            raise RefusedError(f"{self.client_id}: SUBSCRIBE {topic_filter} refused ({suback.hex()})")

    async def close(self, *, disconnect: bool = True) -> None:
        # a peer that resets or never confirms the close is not our business here: the link is gone from our side
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            if disconnect and not self.writer.is_closing():
                self.writer.write(packets.DISCONNECT)
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


async def connect(endpoint: Endpoint, client_id: str, *, keep_alive: int = KEEP_ALIVE,
                  clean: bool = True) -> tuple[Link | None, int]:
    """(link, 0) when accepted; (None, return code) when refused (the socket is closed then)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(endpoint.host, endpoint.port), TIMEOUT)
    link = Link(reader, writer, client_id)
    try:
        writer.write(packets.connect(client_id, endpoint.username, endpoint.password, keep_alive=keep_alive,
                                     clean=clean))
        connack = await asyncio.wait_for(reader.readexactly(4), TIMEOUT)
    except BaseException:
        await link.close(disconnect=False)
        raise
    if connack[0] >> 4 != packets.CONNACK or connack[3] != 0:
        await link.close(disconnect=False)
        return None, connack[3]
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
