"""Routing: who gets a message, and the packets of a live connection that are about topics.

`Router` is the `PacketSink` of every connection: PUBLISH, SUBSCRIBE and UNSUBSCRIBE go through the auth pipeline
(each distinct topic decision logged once per session), then through the subscription trie to the subscribers'
sessions, queued for those away where MQTT says so. A SUBSCRIBE with more than `subscribe_slice` filters is
handled in slices with a turn of the event loop between them: 300,000 filters at once froze every client (and the
window) for 15 s. It also keeps the retained messages and feeds the topic
monitor. It knows nothing of amqtt: `DeskBroker` owns the connections and hands it the map of live ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.broker import wire
from mqttdesk.broker.connection import Connection, Pending
from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.broker.session_state import SessionState
from mqttdesk.broker.subscriptions import SubscriptionIndex
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.topic_rules import subscription_limit_decision
from mqttdesk.core.topics import topic_matches

log = logging.getLogger(__name__)

MessageMonitor = Callable[[str, bytes, int, bool], None]  # topic, payload, QoS, retain
LOGGED_PER_SESSION = 256
SUBSCRIBE_SLICE = 200  # filters of one SUBSCRIBE decided per turn of the event loop (about 5 ms on our machine)


class Router:
    def __init__(self, pipeline: AuthPipeline, recorder: DecisionRecorder, registry: SessionRegistry,
                 connections: Mapping[str, Connection]) -> None:
        self.pipeline = pipeline
        self.recorder = recorder
        self.registry = registry
        self._connections = connections
        self._index: SubscriptionIndex[SessionState] = SubscriptionIndex()
        self._retained: dict[str, tuple[bytes, bytes, int]] = {}  # topic -> (UTF-8 topic, payload, QoS)
        self.monitors: list[MessageMonitor] = []  # see BrokerService.add_monitor
        self._unflushed: list[Connection] = []
        self.subscribe_slice = SUBSCRIBE_SLICE

    def unsubscribe_all(self, state: SessionState) -> None:
        """Take a session that ends for good out of the trie."""
        for topic_filter in state.subscriptions:
            self._index.remove(topic_filter, state.client_id)

    # -- packets of a live connection (called by Connection) ------------------------------------

    def on_publish(self, connection: Connection, publish: wire.Publish) -> None:
        if self.admit_publish(connection, publish):
            self.route(publish.topic, publish.payload, publish.qos, publish.retain)

    def admit_publish(self, connection: Connection, publish: wire.Publish) -> bool:
        """Count, decide and log a PUBLISH; True if it may be routed (QoS 2: decided at PUBLISH, routed at PUBREL)."""
        state = connection.state
        live = state.live
        live.messages_in += 1
        self.registry.touch(live)
        decision = self.pipeline.decide_topic(Kind.PUBLISH, state.grant, publish.topic)
        self._record_topic_decision(live, decision)
        if decision.reason.code is ReasonCode.BAD_TOPIC:
            raise wire.ProtocolViolation(decision.reason.text)  # [MQTT-3.3.2-2]: wildcards in a topic name
        return decision.allowed

    def on_subscribe(self, connection: Connection, packet_id: int, topics: list[tuple[str, int]]) -> Pending | None:
        steps = self._subscribe(connection, packet_id, topics)
        if len(topics) <= self.subscribe_slice:
            for _ in steps:
                pass
            return None
        return self._in_slices(connection, steps)

    async def _in_slices(self, connection: Connection, steps: Generator[None, None, None]) -> None:
        for _ in steps:
            await self.between_slices()
            if connection.closing:  # kicked, taken over or lost meanwhile: no SUBACK to send
                steps.close()
                return

    async def between_slices(self) -> None:
        """Let the event loop serve every other connection (and the window) before the next slice."""
        await asyncio.sleep(0)

    def _subscribe(self, connection: Connection, packet_id: int,
                   topics: list[tuple[str, int]]) -> Generator[None, None, None]:
        """SUBSCRIBE, yielding after every `subscribe_slice` filters: decisions, SUBACK, then retained messages."""
        state = connection.state
        slice_size = self.subscribe_slice
        codes: list[int] = []
        granted: list[tuple[str, int]] = []
        for count, (topic_filter, requested) in enumerate(topics, 1):
            code = self._subscribe_one(state, topic_filter, requested)
            codes.append(code)
            if code != wire.SUBACK_FAILURE:
                granted.append((topic_filter, code))
            if count % slice_size == 0 and count < len(topics):
                yield
        connection.send(wire.encode_suback(packet_id, codes))
        self.registry.touch(state.live)
        for count, (topic_filter, qos) in enumerate(granted, 1):  # [MQTT-3.8.4-4]: retained messages follow SUBACK
            for topic, (encoded, payload, retained_qos) in self._retained_matching(topic_filter):
                if self.may_receive(state, topic):
                    self._deliver(state, encoded, payload, min(qos, retained_qos), retain=True)
            if count % slice_size == 0 and count < len(granted):
                yield

    def _subscribe_one(self, state: SessionState, topic_filter: str, requested: int) -> int:
        """Decide one filter and subscribe it; the SUBACK return code."""
        decision = self.pipeline.decide_topic(Kind.SUBSCRIBE, state.grant, topic_filter)
        self._record_topic_decision(state.live, decision)
        if not decision.allowed:
            return wire.SUBACK_FAILURE
        limit = state.limits.max_subscriptions_per_client
        if topic_filter not in state.subscriptions and len(state.subscriptions) >= limit:
            self._record_topic_decision(state.live, subscription_limit_decision(state.grant, topic_filter, limit))
            return wire.SUBACK_FAILURE
        state.subscriptions[topic_filter] = requested
        self._index.add(topic_filter, state.client_id, state, requested)
        return requested

    def on_unsubscribe(self, connection: Connection, packet_id: int, filters: list[str]) -> None:
        state = connection.state
        for topic_filter in filters:
            if state.subscriptions.pop(topic_filter, None) is not None:
                self._index.remove(topic_filter, state.client_id)
        connection.send(wire.encode_ack(wire.UNSUBACK, packet_id))
        self.registry.touch(state.live)

    def wants_flush(self, connection: Connection) -> None:
        # one callback per loop turn for all connections (under qasync each call_soon is a Qt timer: not cheap)
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush_all)
        self._unflushed.append(connection)

    def _flush_all(self) -> None:
        unflushed, self._unflushed = self._unflushed, []
        for connection in unflushed:
            connection.flush()

    def _record_topic_decision(self, live: LiveSession, decision: Decision) -> None:
        """Log a topic decision the first time it is new for this session (see README, Auth log).

        Refusals are new per topic: that is what people look for. Allowed ones are new per rule that allowed
        them, else telemetry with an id or a time in every topic would fill the log and push the refusals out.
        A session logs at most LOGGED_PER_SESSION distinct decisions; after that its counters still count. Reaching
        the subscription limit is logged once per session, with the first filter refused: every filter after it
        would say the same.
        """
        if decision.allowed:
            key: tuple[object, ...] = (decision.kind, True, decision.rule)
        elif decision.reason.code is ReasonCode.SUBSCRIPTION_LIMIT:
            key = (decision.kind, False, decision.reason.code)
        else:
            key = (decision.kind, False, decision.topic)
        if key in live.logged or len(live.logged) >= LOGGED_PER_SESSION:
            return
        live.logged.add(key)
        self.recorder.record(replace(decision, address=live.address))

    # -- routing --------------------------------------------------------------------------------

    def may_receive(self, state: SessionState, topic: str) -> bool:
        """Whether the session's current grant may read `topic` (checked again for what it queued)."""
        return self.pipeline.decide_topic(Kind.RECEIVE, state.grant, topic).allowed

    def route(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Deliver a message to every subscriber allowed to read it (queued for those away, where it applies)."""
        encoded = topic.encode("utf-8")
        if retain:
            self._retain(topic, encoded, payload, qos)
        for monitor in self.monitors:
            try:
                monitor(topic, payload, qos, retain)
            except Exception:
                log.exception("message monitor failed")
        shared_qos0: bytes | None = None
        for state, subscription_qos in self._index.match(topic).values():
            if not self.may_receive(state, topic):
                continue
            effective = min(qos, subscription_qos)  # [MQTT-3.8.4-6]
            if effective:
                self._deliver(state, encoded, payload, effective, retain=False)
                continue
            # QoS 0 is the same bytes for every subscriber: encode once
            connection = self._connections.get(state.client_id)
            if connection is not None:
                if shared_qos0 is None:
                    shared_qos0 = wire.encode_publish(encoded, payload, 0, False, False, None)
                if connection.send_qos0(shared_qos0):
                    self._count_out(state.live)

    def _deliver(self, state: SessionState, encoded: bytes, payload: bytes, qos: int, *, retain: bool) -> None:
        packet = state.offer(encoded, payload, qos, retain)
        connection = self._connections.get(state.client_id)
        if packet is None or connection is None:
            if qos and not state.connected:
                self.registry.touch(state.live)  # the kept session's queue grew: the Clients view shows it
            return  # queued for later, or dropped (QoS 0 to an absent client, or a full queue)
        if qos:
            connection.send(packet)
        elif not connection.send_qos0(packet):
            return
        self._count_out(state.live)

    def _count_out(self, live: LiveSession) -> None:
        live.messages_out += 1
        self.registry.touch(live)

    def _retained_matching(self, topic_filter: str) -> list[tuple[str, tuple[bytes, bytes, int]]]:
        if "+" not in topic_filter and "#" not in topic_filter:  # the common case, e.g. cmnd/DVES_1A2B3C/POWER
            found = self._retained.get(topic_filter)
            return [] if found is None else [(topic_filter, found)]
        return [(topic, item) for topic, item in self._retained.items() if topic_matches(topic_filter, topic)]

    def retain(self, topic: str, payload: bytes, qos: int) -> None:
        self._retain(topic, topic.encode("utf-8"), payload, qos)

    def _retain(self, topic: str, encoded: bytes, payload: bytes, qos: int) -> None:
        if payload:
            self._retained[topic] = (encoded, payload, qos)
        else:
            self._retained.pop(topic, None)  # [MQTT-3.3.1-10]: an empty retained message clears the topic

