"""Throughput loads: one publisher, N subscribers on `bench/#`, a bounded number of 100-byte messages.

The rate is measured at the subscribers: deliveries / (last delivery − first publish). Before the clock starts, a
probe message proves every subscription is live. A QoS 1 publisher keeps a bounded window of unacknowledged
messages (MQTT 5: no more than the server's Receive Maximum); subscribers acknowledge QoS 1 deliveries in one write
per read. CPU seconds of this client process and of the broker process are sampled around the timed part, so a
reader can tell who was the bottleneck. Every client speaks the protocol version of its endpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.load import packets
from bench.load.client import TIMEOUT, Counter, Endpoint, Link, connect_or_raise, receive
from bench.settings import PAYLOAD_BYTES, PROBE_TOPIC, STALL_TIMEOUT, TOPIC, TOPIC_FILTER

BATCH = 64  # messages per write
QOS1_WINDOW = 500  # unacknowledged QoS 1 messages a publisher allows itself
PAYLOAD = bytes(range(256))[:PAYLOAD_BYTES] if PAYLOAD_BYTES <= 256 else b"x" * PAYLOAD_BYTES


@dataclass
class FlowRun:
    qos: int
    subscribers: int
    messages: int
    delivered: int
    seconds: float  # first publish -> last delivery
    publish_seconds: float  # first publish -> publisher done (and, for QoS 1, all PUBACKs in)
    client_cpu: float  # CPU seconds this process used in the timed part
    broker_cpu: float | None  # CPU seconds the broker process used in the timed part
    note: str = ""

    @property
    def expected(self) -> int:
        return self.messages * self.subscribers

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "qos": self.qos, "subscribers": self.subscribers, "messages": self.messages,
            "expected": self.expected, "delivered": self.delivered, "lost": self.expected - self.delivered,
            "seconds": round(self.seconds, 4), "publish_seconds": round(self.publish_seconds, 4),
            "rate": round(self.rate, 1),
            "client_cpu_share": round(self.client_cpu / self.seconds, 3) if self.seconds else None,
            "broker_cpu_share": round(self.broker_cpu / self.seconds, 3)
            if self.seconds and self.broker_cpu is not None else None,
            **({"note": self.note} if self.note else {}),
        }


class _Acks:
    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()


async def _count_pubacks(link: Link, acks: _Acks) -> None:
    buffer = bytearray()
    while True:
        chunk = await link.reader.read(65536)
        if not chunk:
            return
        buffer += chunk
        found = packets.scan(buffer, ack=False)
        del buffer[:found.consumed]
        if found.pubacks:
            acks.count += found.pubacks
            acks.changed.set()


def _left(end: float) -> float:
    left = end - time.perf_counter()
    if left <= 0:
        raise TimeoutError("the publisher ran out of time")
    return left


async def _publish_qos0(link: Link, messages: int, deadline: float) -> None:
    end = time.perf_counter() + deadline
    packet = packets.publish(TOPIC, PAYLOAD, 0, version=link.version)
    full = packet * BATCH
    sent = 0
    while sent < messages:
        n = min(BATCH, messages - sent)
        link.writer.write(full if n == BATCH else packet * n)
        sent += n
        await asyncio.wait_for(link.writer.drain(), min(TIMEOUT, _left(end)))


async def _publish_qos1(link: Link, messages: int, deadline: float) -> None:
    end = time.perf_counter() + deadline
    acks = _Acks()
    window = min(QOS1_WINDOW, link.receive_maximum)  # MQTT 5: never more than the server's Receive Maximum
    version = link.version
    reader = asyncio.create_task(_count_pubacks(link, acks))
    try:
        sent = 0
        while sent < messages:
            while sent - acks.count >= window:
                acks.changed.clear()
                await asyncio.wait_for(acks.changed.wait(), _left(end))
            n = min(BATCH, messages - sent, window - (sent - acks.count))
            link.writer.write(b"".join(packets.publish(TOPIC, PAYLOAD, 1, (sent + k) % 65535 + 1, version)
                                       for k in range(n)))
            sent += n
            await asyncio.wait_for(link.writer.drain(), min(TIMEOUT, _left(end)))
        while acks.count < messages:
            acks.changed.clear()
            await asyncio.wait_for(acks.changed.wait(), _left(end))
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _probe(publisher: Link, subscribers: list[Link]) -> None:
    counters = [Counter() for _ in subscribers]
    waiting = [asyncio.create_task(receive(s, c, expected=1, ack=True, idle_timeout=TIMEOUT))
               for s, c in zip(subscribers, counters, strict=True)]
    publisher.writer.write(packets.publish(PROBE_TOPIC, b"probe", 0, version=publisher.version))
    await asyncio.gather(*waiting)
    missing = sum(1 for c in counters if c.received < 1)
    if missing:
        raise RuntimeError(f"the probe message did not reach {missing} of {len(subscribers)} subscribers")


async def flow(publisher_endpoint: Endpoint, subscriber_endpoint: Endpoint, *, prefix: str, qos: int, messages: int,
               subscribers: int, deadline: float, broker_cpu: Callable[[], float] | None = None,
               clean: bool = True) -> FlowRun:
    """`clean` False: the subscribers keep persistent sessions (clean session 0), as `bench.persistence_cost` needs."""
    subs = [await connect_or_raise(subscriber_endpoint, f"{prefix}-sub-{i}", clean=clean) for i in range(subscribers)]
    publisher = await connect_or_raise(publisher_endpoint, f"{prefix}-pub")
    try:
        for link in subs:
            await link.subscribe(TOPIC_FILTER, qos)
        await _probe(publisher, subs)
        counters = [Counter() for _ in subs]
        cpu0, broker0 = time.process_time(), broker_cpu() if broker_cpu else None
        started = time.perf_counter()
        receiving = [asyncio.create_task(receive(s, c, expected=messages, ack=qos > 0, idle_timeout=STALL_TIMEOUT))
                     for s, c in zip(subs, counters, strict=True)]
        note = ""
        try:
            if qos:
                await _publish_qos1(publisher, messages, deadline)
            else:
                await _publish_qos0(publisher, messages, deadline)
        except TimeoutError:
            note = "the publisher timed out (the broker stopped reading or acknowledging)"
        published = time.perf_counter()
        _, pending = await asyncio.wait(receiving, timeout=deadline)
        for task in pending:
            task.cancel()
        await asyncio.gather(*receiving, return_exceptions=True)
        delivered = sum(c.received for c in counters)
        last = max((c.last_at for c in counters if c.received), default=started)
        cpu = time.process_time() - cpu0
        broker = broker_cpu() - broker0 if broker_cpu and broker0 is not None else None
        return FlowRun(qos, subscribers, messages, delivered, last - started, published - started, cpu, broker, note)
    finally:
        await asyncio.gather(*(link.close() for link in [publisher, *subs]), return_exceptions=True)
