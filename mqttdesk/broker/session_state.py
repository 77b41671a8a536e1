"""What a session is, beyond one connection: subscriptions, messages in flight and messages queued.

MQTT 3.1.1 section 4.1: for a session with clean session 0 the server keeps subscriptions, QoS 1 and 2 messages
sent but not acknowledged, QoS 1 and 2 messages that arrived while the client was away, and QoS 2 messages
received but not yet released. amqtt 0.12.1 drops in-flight messages when a connection ends and gives up on an
acknowledgement after 5 s, so nothing is ever redelivered; this class keeps that state for as long as the session
lives and says which packets to send when. It does no I/O: methods return the bytes to write.

A session belongs to the identity that created it (the CONNECT decision refuses any other), and what it queued is
checked again against the session's *current* grant when it is resumed and before each queued message is sent
(`may_receive`), as Mosquitto does: permissions taken away while the client was away apply to what waits for it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mqttdesk.broker.registry import LiveSession
from mqttdesk.broker.wire import PUBREL, Publish, encode_ack, encode_publish
from mqttdesk.core.decision import Grant
from mqttdesk.core.limits import SessionLimits

__all__ = ["MAX_INCOMING_QOS2", "Outgoing", "SessionLimits", "SessionState"]

MAX_INCOMING_QOS2 = 1000  # a client may not park more unreleased QoS 2 messages with us than this


@dataclass(slots=True)
class Outgoing:
    topic: bytes  # UTF-8, encoded once per message however many subscribers it has
    payload: bytes
    qos: int
    retain: bool
    packet_id: int = 0
    released: bool = False  # QoS 2: PUBREC arrived, PUBREL sent, waiting for PUBCOMP

    def packet(self, dup: bool) -> bytes:
        if self.released:
            return encode_ack(PUBREL, self.packet_id)
        return encode_publish(self.topic, self.payload, self.qos, self.retain, dup, self.packet_id or None)


@dataclass(eq=False)
class SessionState:
    client_id: str
    clean_session: bool
    grant: Grant
    live: LiveSession
    limits: SessionLimits = field(default_factory=SessionLimits)
    subscriptions: dict[str, int] = field(default_factory=dict)
    inflight: OrderedDict[int, Outgoing] = field(default_factory=OrderedDict)
    queue: deque[Outgoing] = field(default_factory=deque)
    # QoS 2 messages received and not yet released, by packet id; None: refused at PUBLISH, only the id is kept so
    # that PUBREL is answered and nothing is routed
    incoming_qos2: dict[int, Publish | None] = field(default_factory=dict)
    incoming_qos2_bytes: int = 0
    connected: bool = False
    dropped: int = 0  # QoS 1/2 messages refused because the queue was full
    withheld: int = 0  # queued or in-flight messages the current grant may no longer read (not delivered)
    may_receive: Callable[[str], bool] | None = field(default=None, repr=False)
    _last_packet_id: int = 0

    def _next_packet_id(self) -> int:
        for _ in range(65535):
            self._last_packet_id = self._last_packet_id % 65535 + 1
            if self._last_packet_id not in self.inflight:
                return self._last_packet_id
        raise RuntimeError("no free packet id")  # unreachable while max_inflight < 65535

    def offer(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> bytes | None:
        """A message for this session: the bytes to send now, or None (queued, or dropped)."""
        if qos == 0:
            return encode_publish(topic, payload, 0, retain, False, None) if self.connected else None
        if not self.connected and self.clean_session:
            return None
        message = Outgoing(topic, payload, qos, retain)
        if self.connected and not self.queue and len(self.inflight) < self.limits.max_inflight:
            return self._send(message)
        if len(self.queue) >= self.limits.max_queued:
            self.dropped += 1
            return None
        self.queue.append(message)
        self.live.queued = len(self.queue)
        return None

    def _readable(self, message: Outgoing) -> bool:
        if self.may_receive is None or self.may_receive(message.topic.decode("utf-8")):
            return True
        self.withheld += 1
        return False

    def _send(self, message: Outgoing) -> bytes:
        message.packet_id = self._next_packet_id()
        self.inflight[message.packet_id] = message
        return message.packet(dup=False)

    def _refill(self) -> list[bytes]:
        packets = []
        while self.connected and self.queue and len(self.inflight) < self.limits.max_inflight:
            message = self.queue.popleft()
            if self._readable(message):
                packets.append(self._send(message))
        self.live.queued = len(self.queue)
        return packets

    def puback(self, packet_id: int) -> list[bytes]:
        message = self.inflight.get(packet_id)
        if message is not None and message.qos == 1:
            del self.inflight[packet_id]
        return self._refill()

    def pubrec(self, packet_id: int) -> bytes:
        """QoS 2, step 2: release the message; PUBREL is answered even for an unknown id [MQTT-4.3.3-1]."""
        message = self.inflight.get(packet_id)
        if message is not None and message.qos == 2:
            message.released = True
        return encode_ack(PUBREL, packet_id)

    def pubcomp(self, packet_id: int) -> list[bytes]:
        message = self.inflight.get(packet_id)
        if message is not None and message.released:
            del self.inflight[packet_id]
        return self._refill()

    # -- QoS 2 from the client ------------------------------------------------------------------------

    def hold_incoming(self, packet_id: int, publish: Publish | None) -> str | None:
        """Keep a QoS 2 message until its PUBREL (None for a refused one); why it may not be kept, or None.

        A resent PUBLISH with the same id replaces the copy kept. The bound is on count and on bytes: a client
        could otherwise park 1,000 messages of 16 MiB each with us.
        """
        held = self.incoming_qos2
        if packet_id not in held and len(held) >= MAX_INCOMING_QOS2:
            return f"more than {MAX_INCOMING_QOS2} QoS 2 messages awaiting PUBREL"
        total = self.incoming_qos2_bytes - _size(held.get(packet_id)) + _size(publish)
        if total > self.limits.max_incoming_qos2_bytes:
            return (f"QoS 2 messages awaiting PUBREL would hold {total:,} bytes, over the limit of "
                    f"{self.limits.max_incoming_qos2_bytes:,} (max_incoming_qos2_bytes)")
        held[packet_id] = publish
        self.incoming_qos2_bytes = total
        return None

    def release_incoming(self, packet_id: int) -> Publish | None:
        """PUBREL: the message to route now (None if it was refused, or released already)."""
        publish = self.incoming_qos2.pop(packet_id, None)
        self.incoming_qos2_bytes -= _size(publish)
        return publish

    # -- connection ----------------------------------------------------------------------------------

    def resume(self) -> list[bytes]:
        """On (re)connect: resend what is in flight, in order, with DUP set [MQTT-4.4.0-1], then fill the window."""
        self.connected = True
        for packet_id, message in list(self.inflight.items()):
            # a released QoS 2 message is only its PUBREL now: finishing the flow delivers nothing new
            if not message.released and not self._readable(message):
                del self.inflight[packet_id]
        packets = [message.packet(dup=True) for message in self.inflight.values()]
        return packets + self._refill()

    def disconnected(self) -> None:
        self.connected = False


def _size(publish: Publish | None) -> int:
    return 0 if publish is None else len(publish.payload) + len(publish.topic)
