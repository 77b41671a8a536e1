"""What a session is, beyond one connection: subscriptions, messages in flight and messages queued.

MQTT 3.1.1 section 4.1 and MQTT 5 section 4.1: the server keeps subscriptions, QoS 1 and 2 messages sent but not
acknowledged, QoS 1 and 2 messages that arrived while the client was away, and QoS 2 messages received but not yet
released. This class keeps that state for as long as the session lives and says which packets to send when. It
does no I/O: methods return the bytes to write, encoded for the protocol version of the connection it is on
(`attach`).

A session belongs to the identity that created it (the CONNECT decision refuses any other), and what it queued is
checked again against the session's *current* grant when it is resumed and before each queued message is sent
(`may_receive`), as Mosquitto does: permissions taken away while the client was away apply to what waits for it.
MQTT 5 adds: a message expiry interval (an expired message is not sent; a sent one carries the time it has left),
the client's receive maximum (the in-flight window is the smaller of it and ours) and maximum packet size (a larger
message is not sent to it, [MQTT-3.1.2-25]) and topic aliases: a client that allows them (Topic Alias Maximum in
its CONNECT) gets the topics it is sent often replaced by aliases (policy in `OutboundTopicAliases`). The table is
the connection's, so it lives here from `attach` to `disconnected` (PUBLISHes are encoded here, not by the protocol
core); a message resent with DUP after a reconnect goes with its whole topic.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

from mqttdesk.broker.limit_counts import LimitCounts, LimitEvent
from mqttdesk.broker.protocol import OutgoingPublish, Publish
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.encoder import encode_ack
from mqttdesk.broker.protocol.topic_aliases import OutboundTopicAliases
from mqttdesk.broker.registry import NO_SUBSCRIPTIONS, LiveSession
from mqttdesk.broker.subscription import Subscription
from mqttdesk.core.clip import clip
from mqttdesk.core.decision import Decision, Grant
from mqttdesk.core.limits import SessionLimits

__all__ = ["MAX_INCOMING_QOS2", "Outgoing", "SessionLimits", "SessionState"]

MAX_INCOMING_QOS2 = 1000  # a client may not park more unreleased QoS 2 messages with us than this
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 session expiry interval meaning "never" [MQTT-3.1.2-11]


@dataclass(slots=True)
class Outgoing:
    message: OutgoingPublish  # encoded once per message (and version) however many subscribers it has
    qos: int
    retain: bool
    expires_at: float | None = None  # monotonic time after which it is not sent (MQTT 5 message expiry)
    packet_id: int = 0
    released: bool = False  # QoS 2: PUBREC arrived, PUBREL sent, waiting for PUBCOMP

    @property
    def topic(self) -> str:
        return self.message.publish.topic


class TopicDecisions:
    """The topic decisions of one session, by topic, valid for one grant and one pipeline epoch (see `Router`).

    Made at a session's first decision: until then it has the shared `UNDECIDED` (an idle client that never
    publishes or receives holds no memo of its own, nor its two tables)."""

    __slots__ = ("grant", "epoch", "publish", "receive", "last_logged")

    def __init__(self, epoch: int = -1, grant: Grant | None = None) -> None:
        self.grant = grant
        self.epoch = epoch  # -1 matches no pipeline epoch
        self.publish: dict[str, Decision] = {}
        self.receive: dict[str, Decision] = {}
        # the PUBLISH decision the Auth log was last offered (see `Router.admit_publish`): a device publishing to
        # one topic gets the same decision object every time, already offered
        self.last_logged: Decision | None = None

    def reset(self, epoch: int, grant: Grant) -> None:
        self.epoch, self.grant = epoch, grant
        self.publish.clear()
        self.receive.clear()
        self.last_logged = None


UNDECIDED = TopicDecisions()  # never reset nor written: `Router._decide` gives a session its own first


_NOTHING_QUEUED: tuple[Outgoing, ...] = ()
_NOTHING_HELD: dict[int, Publish | None] = {}  # never written: see `SessionState.hold_incoming`
_NOTHING_IN_FLIGHT: dict[int, Outgoing] = {}  # never written: see `SessionState.keep_in_flight`


class ReceivePermission(Protocol):
    def may_receive(self, state: SessionState, topic: str) -> bool: ...


@dataclass(eq=False, slots=True)  # slots: ~0.5 KB less per connected client
class SessionState:
    client_id: str
    clean_session: bool  # the session ends with its connection (3.1.1 clean session, MQTT 5 session expiry 0)
    grant: Grant
    live: LiveSession
    limits: SessionLimits = field(default_factory=SessionLimits)
    # filter -> options; the shared empty, read-only one until the first SUBSCRIBE (an empty dict is 64 bytes of
    # every idle client): see `add_subscription`
    subscriptions: Mapping[str, Subscription] = field(default_factory=lambda: NO_SUBSCRIPTIONS)
    # a dict keeps the order messages went out in (resent in that order): an OrderedDict is twice the size
    # (the shared empty one until the first QoS 1/2 message goes out: see `keep_in_flight`)
    inflight: dict[int, Outgoing] = field(default_factory=lambda: _NOTHING_IN_FLIGHT)
    # made at the first message queued: an empty deque is 0.77 KB, most of an idle client's session (see `queue`)
    _queue: deque[Outgoing] | None = field(default=None, repr=False)
    # QoS 2 messages received and not yet released, by packet id; None: refused at PUBLISH, only the id is kept so
    # that PUBREL is answered and nothing is routed
    # (the shared empty one until the first is held: most clients never send QoS 2, see `hold_incoming`)
    incoming_qos2: dict[int, Publish | None] = field(default_factory=lambda: _NOTHING_HELD)
    incoming_qos2_bytes: int = 0
    connected: bool = False
    dropped: int = 0  # QoS 1/2 messages refused because the queue was full
    withheld: int = 0  # queued or in-flight messages the current grant may no longer read (not delivered)
    expired: int = 0  # MQTT 5 messages whose expiry interval passed before they could be sent
    too_large: int = 0  # messages larger than the client's maximum packet size (not sent)
    # who says whether the current grant may read a topic (the router); one reference, not a partial per session
    permission: ReceivePermission | None = field(default=None, repr=False)
    session_expiry: int = NEVER_EXPIRES  # seconds the session outlives its connection (MQTT 5; 3.1.1: never)
    version: int = wf.MQTT_3_1_1  # of the connection it is on (or was last on)
    window: int = 0  # in-flight QoS 1/2 messages allowed now: min(our max_inflight, the client's receive maximum)
    max_packet_size: int | None = None  # the client's, None: no limit
    aliases: OutboundTopicAliases | None = None  # this connection's topic aliases, None: the client allows none
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    decisions: TopicDecisions = field(default=UNDECIDED, repr=False)
    # what changed since persistence last looked (broker/persistence.py): set here and by the router, one attribute
    # store per message, so that the write-behind copies only sessions that changed, never on the publish path
    messages_changed: bool = field(default=True, repr=False)  # in flight, queued, QoS 2 received
    subscriptions_changed: bool = field(default=True, repr=False)
    record_changed: bool = field(default=True, repr=False)  # connection, version, expiry, grant
    counts: LimitCounts | None = field(default=None, repr=False)  # the broker's: what the limits dropped
    _last_packet_id: int = 0

    def __post_init__(self) -> None:
        self.window = self.window or self.limits.max_inflight
        self.live.session = self

    @property
    def queue(self) -> Sequence[Outgoing]:
        """Messages waiting for the client beyond those in flight, oldest first."""
        return _NOTHING_QUEUED if self._queue is None else self._queue

    def enqueue(self, outgoing: Outgoing) -> None:
        if self._queue is None:
            self._queue = deque()
        self._queue.append(outgoing)

    def attach(self, version: int, receive_maximum: int, max_packet_size: int | None,
               topic_alias_maximum: int = 0) -> None:
        """The session is (re)connected on a connection of this protocol version and with these client limits."""
        self.version = version
        self.record_changed = True
        self.window = max(1, min(self.limits.max_inflight, receive_maximum))
        self.max_packet_size = max_packet_size
        self.aliases = OutboundTopicAliases(topic_alias_maximum) if version == wf.MQTT_5 and topic_alias_maximum \
            else None

    def _next_packet_id(self) -> int:
        packet_id = self._last_packet_id % 65535 + 1
        if packet_id in self.inflight:  # only once the ids went round with one still unacknowledged: look further
            for _ in range(65534):
                packet_id = packet_id % 65535 + 1
                if packet_id not in self.inflight:
                    break
            else:
                raise RuntimeError("no free packet id")  # unreachable while max_inflight < 65535
        self._last_packet_id = packet_id
        return packet_id

    def offer(self, message: OutgoingPublish, qos: int, retain: bool, expires_at: float | None = None) -> bytes | None:
        """A message for this session: the bytes to send now, or None (queued, or dropped)."""
        if qos == 0:
            if not self.connected:
                return None
            if expires_at is None and self.max_packet_size is None and self.aliases is None:  # cached per version
                return message.qos0(self.version, retain)
            return self._encode(Outgoing(message, 0, retain, expires_at), dup=False)
        if not self.connected and self.clean_session:
            return None
        self.messages_changed = True
        outgoing = Outgoing(message, qos, retain, expires_at)
        if self.connected and not self._queue and len(self.inflight) < self.window:
            if expires_at is None and self.aliases is None and self.max_packet_size is None:
                # the common case, `_send` and `_encode` inline: nothing to fit, shorten or alias (a tenth of a
                # QoS 1 message's broker time went on the two calls and their checks)
                packet_id = outgoing.packet_id = self._next_packet_id()
                self.keep_in_flight(outgoing)
                if qos == 1:
                    return message.qos1(self.version, retain, packet_id)
                return message.encode(self.version, qos=qos, retain=retain, packet_id=packet_id)
            return self._send(outgoing)
        if len(self.queue) >= self.limits.max_queued:
            self.dropped += 1
            if self.counts is not None:
                self.counts.count(LimitEvent.QUEUED, self.client_id, (
                    f"a QoS {qos} message on '{clip(message.publish.topic)}' was dropped: {len(self.queue):,} messages "
                    f"are queued for the client already (max_queued_messages)"))
            return None
        self.enqueue(outgoing)
        return None

    def _readable(self, outgoing: Outgoing) -> bool:
        if self.permission is None or self.permission.may_receive(self, outgoing.topic):
            return True
        self.withheld += 1
        return False

    def _encode(self, outgoing: Outgoing, dup: bool) -> bytes | None:
        """The packet for `outgoing` on this session's connection; None when it must not be sent (expired, too
        large for the client)."""
        if outgoing.released:
            return encode_ack(wf.PUBREL, self.version, outgoing.packet_id)
        message = outgoing.message
        if outgoing.expires_at is not None:
            left = outgoing.expires_at - self.clock()
            if left <= 0:
                self.expired += 1
                return None
            # [MQTT-3.3.2-6]: the interval sent is what is left of it
            publish = message.publish
            message = OutgoingPublish(replace(publish, properties=replace(
                publish.properties, message_expiry_interval=math.ceil(left))))
        packet_id = outgoing.packet_id or None
        aliases = self.aliases
        if aliases is not None and not dup:  # resent after a reconnect: the aliases it went with are gone
            packet = aliases.encode(message, qos=outgoing.qos, retain=outgoing.retain, packet_id=packet_id,
                                    limit=self.max_packet_size)
            if packet is None:
                self.too_large += 1
            return packet
        if self.max_packet_size is not None and message.size(self.version, outgoing.qos) > self.max_packet_size:
            self.too_large += 1
            return None
        return message.encode(self.version, qos=outgoing.qos, retain=outgoing.retain, dup=dup, packet_id=packet_id)

    def not_sent(self, topic: str) -> None:
        """A QoS 0 packet `offer` returned was dropped after all (the client is too far behind): an alias it set up
        never reached the client."""
        if self.aliases is not None:
            self.aliases.forget(topic)

    def _send(self, outgoing: Outgoing) -> bytes | None:
        outgoing.packet_id = self._next_packet_id()
        packet = self._encode(outgoing, dup=False)
        if packet is not None:
            self.keep_in_flight(outgoing)
        return packet

    def keep_in_flight(self, outgoing: Outgoing) -> None:
        """`outgoing` went out (or went out before a restart) and waits for its acknowledgement."""
        inflight = self.inflight
        if inflight is _NOTHING_IN_FLIGHT:
            inflight = self.inflight = {}
        inflight[outgoing.packet_id] = outgoing

    def _refill(self) -> list[bytes]:
        packets = []
        queue = self._queue
        while self.connected and queue and len(self.inflight) < self.window:
            outgoing = queue.popleft()
            if self._readable(outgoing):
                packet = self._send(outgoing)
                if packet is not None:
                    packets.append(packet)
        return packets

    def puback(self, packet_id: int) -> Sequence[bytes]:
        self.messages_changed = True
        outgoing = self.inflight.get(packet_id)
        if outgoing is not None and outgoing.qos == 1:
            del self.inflight[packet_id]
        if not self._queue:  # nothing waits for the room it made: most PUBACKs (no list made and returned)
            return ()
        return self._refill()

    def pubrec(self, packet_id: int, reason_code: int = 0) -> list[bytes]:
        """QoS 2, step 2: release the message; PUBREL is answered even for an unknown id [MQTT-4.3.3-1].

        An MQTT 5 PUBREC with a reason code of 0x80 or more ends the exchange there: no PUBREL [MQTT-4.3.3-4]."""
        self.messages_changed = True
        outgoing = self.inflight.get(packet_id)
        if reason_code >= 0x80:
            if outgoing is not None and outgoing.qos == 2:
                del self.inflight[packet_id]
            return self._refill()
        if outgoing is not None and outgoing.qos == 2:
            outgoing.released = True
        return [encode_ack(wf.PUBREL, self.version, packet_id)]

    def pubcomp(self, packet_id: int) -> list[bytes]:
        self.messages_changed = True
        outgoing = self.inflight.get(packet_id)
        if outgoing is not None and outgoing.released:
            del self.inflight[packet_id]
        return self._refill()

    # -- QoS 2 from the client ------------------------------------------------------------------------

    def add_subscription(self, topic_filter: str, subscription: Subscription) -> None:
        """Subscribe (or replace the options of a filter already subscribed)."""
        subscriptions = self.subscriptions
        if subscriptions is NO_SUBSCRIPTIONS:
            subscriptions = self.subscriptions = {}
        cast(dict[str, Subscription], subscriptions)[topic_filter] = subscription
        self.subscriptions_changed = True

    def remove_subscription(self, topic_filter: str) -> bool:
        """Unsubscribe; False: the filter was not subscribed."""
        if topic_filter not in self.subscriptions:
            return False
        del cast(dict[str, Subscription], self.subscriptions)[topic_filter]
        self.subscriptions_changed = True
        return True

    def hold_incoming(self, packet_id: int, publish: Publish | None) -> str | None:
        """Keep a QoS 2 message until its PUBREL (None for a refused one); why it may not be kept, or None.

        A resent PUBLISH with the same id replaces the copy kept. The bound is on count and on bytes: a client
        could otherwise park 1,000 messages of 16 MiB each with us.
        """
        held = self.incoming_qos2
        if held is _NOTHING_HELD:
            held = self.incoming_qos2 = {}
        if packet_id not in held and len(held) >= MAX_INCOMING_QOS2:
            return f"more than {MAX_INCOMING_QOS2} QoS 2 messages awaiting PUBREL"
        total = self.incoming_qos2_bytes - _size(held.get(packet_id)) + _size(publish)
        if total > self.limits.max_incoming_qos2_bytes:
            return (f"QoS 2 messages awaiting PUBREL would hold {total:,} bytes, over the limit of "
                    f"{self.limits.max_incoming_qos2_bytes:,} (max_incoming_qos2_bytes)")
        held[packet_id] = publish
        self.incoming_qos2_bytes = total
        self.messages_changed = True
        return None

    def release_incoming(self, packet_id: int) -> Publish | None:
        """PUBREL: the message to route now (None if it was refused, or released already)."""
        publish = self.incoming_qos2.pop(packet_id, None)
        self.incoming_qos2_bytes -= _size(publish)
        self.messages_changed = True
        return publish

    # -- connection ----------------------------------------------------------------------------------

    def resume(self) -> list[bytes]:
        """On (re)connect: resend what is in flight, in order, with DUP set [MQTT-4.4.0-1], then fill the window."""
        self.connected = True
        self.messages_changed = self.record_changed = True
        packets = []
        for packet_id, outgoing in list(self.inflight.items()):
            # a released QoS 2 message is only its PUBREL now: finishing the flow delivers nothing new
            packet = None
            if outgoing.released or self._readable(outgoing):
                packet = self._encode(outgoing, dup=True)
            if packet is None:
                del self.inflight[packet_id]
            else:
                packets.append(packet)
        return packets + self._refill()

    def disconnected(self) -> None:
        self.connected = False
        self.record_changed = True
        self.aliases = None  # topic aliases last as long as the network connection (MQTT 5 section 3.3.2.3.4)


def _size(publish: Publish | None) -> int:
    return 0 if publish is None else len(publish.payload) + len(publish.topic)
