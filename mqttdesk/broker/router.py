"""Routing: who gets a message, and the packets of a live connection that are about topics.

`Router` is the `PacketSink` of every connection: PUBLISH, SUBSCRIBE and UNSUBSCRIBE go through the auth pipeline
(each distinct topic decision logged once per session), then through the subscription trie to the subscribers'
sessions, queued for those away where MQTT says so. A SUBSCRIBE with more than `subscribe_slice` filters is
handled in slices with a turn of the event loop between them: 300,000 filters at once froze every client (and the
window) for 15 s. It also feeds the retained messages (`retained.py`, bounded by the broker's limits), the
topic monitor, and hands messages on device topics (Tasmota, ESPHome, Home Assistant discovery) to the device
observer.

Messages travel as the protocol's version-neutral `Publish` (MQTT 5 properties included: user properties, content
type, response topic, correlation data and payload format pass through untouched), encoded once per protocol version
for all subscribers (`OutgoingPublish`). MQTT 5 subscription options are honoured here: No Local, Retain As
Published, Retain Handling, subscription identifiers, and shared subscriptions (`$share/group/filter`: each message
goes to one member of the group, in turn, preferring connected members). It knows nothing of sockets: `DeskBroker`
owns the connections and hands it the map of live ones.

A client the external HTTP service admitted has its topics decided by the service (`external_topics.py`: what waits
for it, and what a delivery does meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.broker.connection import Connection, Decided, Pending, ProtocolViolation
from mqttdesk.broker.external_topics import ExternalTopics
from mqttdesk.broker.limit_counts import LimitEvent
from mqttdesk.broker.protocol import OutgoingPublish, Publish, Subscribe, Unsubscribe
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason
from mqttdesk.broker.registry import LiveSession, SessionRegistry
from mqttdesk.broker.retained import RetainedMessages
from mqttdesk.broker.session_state import UNDECIDED, SessionState, TopicDecisions
from mqttdesk.broker.subscription import Subscription, split_shared
from mqttdesk.broker.subscriptions import SubscriptionIndex
from mqttdesk.core.clip import clip
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.device_traffic import may_concern_devices
from mqttdesk.core.limits import BrokerLimits
from mqttdesk.core.reasons import ReasonCode, mqtt5_topic_refusal_code
from mqttdesk.core.topic_rules import retained_limit_decision, subscription_limit_decision

log = logging.getLogger(__name__)

SESSION_DECISIONS = 1024  # topic decisions a session remembers per kind (a device uses a handful of topics)

MessageMonitor = Callable[[str, bytes, int, bool], None]  # topic, payload, QoS, retain
DeviceObserver = Callable[[str, bytes, str | None], None]  # topic, payload, clientId of the publisher (or its will)
LOGGED_PER_SESSION = 256
DEVICE_TOPICS_REMEMBERED = 4096  # topics whose "is it a device topic?" answer is kept (cleared when full)
SUBSCRIBE_SLICE = 200  # filters of one SUBSCRIBE decided per turn of the event loop (about 5 ms on our machine)


@dataclass(eq=False)
class SharedGroup:
    """The members of one shared subscription `$share/name/filter`; a message goes to one of them."""

    name: str
    topic_filter: str
    members: dict[str, tuple[SessionState, Subscription]] = field(default_factory=dict)
    _turn: int = 0

    def pick(self, may_receive: Callable[[SessionState], bool]) -> tuple[SessionState, Subscription] | None:
        """The next member in turn that may read the message, connected ones first."""
        members = list(self.members.values())
        if not members:
            return None
        self._turn = (self._turn + 1) % len(members)
        ordered = members[self._turn:] + members[:self._turn]
        for connected_only in (True, False):
            for state, subscription in ordered:
                if (state.connected or not connected_only) and may_receive(state):
                    return state, subscription
        return None


class Router:
    def __init__(self, pipeline: AuthPipeline, recorder: DecisionRecorder, registry: SessionRegistry,
                 connections: Mapping[str, Connection], limits: BrokerLimits | None = None) -> None:
        self.pipeline = pipeline
        self.recorder = recorder
        self.registry = registry
        self._connections = connections
        self._index: SubscriptionIndex[SessionState] = SubscriptionIndex()
        self._shared_index: SubscriptionIndex[SharedGroup] = SubscriptionIndex()
        self._groups: dict[str, SharedGroup] = {}  # "name\0filter" -> group
        self.retained = RetainedMessages(limits or BrokerLimits())
        self.monitors: list[MessageMonitor] = []  # see BrokerService.add_monitor
        self.device_observer: DeviceObserver | None = None  # sees messages on device topics (core/device_traffic)
        self._device_topics: dict[str, bool] = {}
        self._unflushed: list[Connection] = []
        self.subscribe_slice = SUBSCRIBE_SLICE
        self.external = ExternalTopics(pipeline, connections, self._deliver)
        self.external_sessions = self.external.sessions  # whose topics the external HTTP service decides

    def unsubscribe_all(self, state: SessionState) -> None:
        """Take a session that ends for good out of the trie."""
        for topic_filter in state.subscriptions:
            self._remove(state, topic_filter)
        self.external_sessions.discard(state)

    def grant_changed(self, state: SessionState) -> None:
        """The session was given a grant (a new session, or one resumed by a new CONNECT)."""
        self.external.grant_changed(state)

    def adopt(self, state: SessionState) -> None:
        """A session read back after a restart: its subscriptions go into the trie as they were."""
        self.grant_changed(state)
        for topic_filter, subscription in state.subscriptions.items():
            self._index_subscription(state, topic_filter, subscription)

    # -- packets of a live connection (called by Connection) ------------------------------------

    def prefetch(self, connection: Connection, packet: Publish | Subscribe) -> Coroutine[Any, Any, Decided] | None:
        """For a client the external service admitted: ask it about the packet's topics first."""
        return self.external.prefetch(connection, packet)

    def admit_publish(self, connection: Connection, publish: Publish, decided: Decision | None = None) -> Decision:
        """Count, decide and log a PUBLISH; the decision says whether it may be routed (QoS 2: at PUBREL)."""
        state = connection.state
        live = state.live
        live.messages_in += 1
        self.registry.touch(live)
        memo = state.decisions
        # `_decide`'s remembered answer looked up here, as `route` does for each receiver (a call a message less)
        decision = decided or (memo.publish.get(publish.topic) if memo.epoch == self.pipeline.epoch
                               and memo.grant is state.grant else None)
        if decision is None:
            decision = self._decide(state, Kind.PUBLISH, publish.topic)
            memo = state.decisions  # (`_decide` may have started a new memo: the one to note the logging in)
        # the memo's answer offered to the Auth log already (a memo lives within one grant, so within this
        # connection and its `logged` set): the key, its hash and the set lookup are skipped for every repeat
        if decision is not memo.last_logged:
            self._record_topic_decision(live, decision)
            if memo is not UNDECIDED:  # (the external service's sessions decide without the memo)
                memo.last_logged = decision
        if decision.reason.code is ReasonCode.BAD_TOPIC:
            raise ProtocolViolation(decision.reason.text, 0x90)  # [MQTT-3.3.2-2]: wildcards in a topic name
        return decision

    def route_from(self, connection: Connection, publish: Publish) -> None:
        self.route(publish, origin=connection.state.client_id)

    def on_subscribe(self, connection: Connection, subscribe: Subscribe,
                     decided: Decided | None = None) -> Pending | None:
        steps = self._subscribe(connection, subscribe, decided or {})
        if len(subscribe.subscriptions) <= self.subscribe_slice:
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

    def _subscribe(self, connection: Connection, subscribe: Subscribe,
                   decided: Decided) -> Generator[None, None, None]:
        """SUBSCRIBE, yielding after every `subscribe_slice` filters: decisions, SUBACK, then retained messages."""
        state = connection.state
        slice_size = self.subscribe_slice
        identifier = subscribe.subscription_identifier
        identifiers = (identifier,) if identifier else ()
        codes: list[int] = []
        refusal: str | None = None
        granted: list[tuple[str, Subscription, bool]] = []  # filter, subscription, whether it is new
        topics = subscribe.subscriptions
        for count, (topic_filter, options) in enumerate(topics, 1):
            subscription = Subscription(options.qos, options.no_local, options.retain_as_published,
                                        options.retain_handling, identifiers)
            new = topic_filter not in state.subscriptions
            decision = self._subscribe_one(state, topic_filter, subscription, decided)
            if decision is None:
                codes.append(options.qos)
                granted.append((topic_filter, subscription, new))
            else:
                codes.append(mqtt5_topic_refusal_code(decision.reason.code, Kind.SUBSCRIBE))
                refusal = refusal or decision.reason_string()
            if count % slice_size == 0 and count < len(topics):
                yield
        # one Reason String for the packet: the first refusal's sentence (the Auth log has each one)
        connection.protocol.send_suback(subscribe.packet_id, codes, refusal)
        connection.pull()
        self.registry.touch(state.live)
        for count, (topic_filter, subscription, new) in enumerate(granted, 1):  # [MQTT-3.8.4-4]: after the SUBACK
            self._send_retained(state, topic_filter, subscription, new)
            if count % slice_size == 0 and count < len(granted):
                yield

    def _subscribe_one(self, state: SessionState, topic_filter: str, subscription: Subscription,
                       decided: Decided) -> Decision | None:
        """Decide one filter and subscribe it; the refusal, or None when subscribed."""
        shared = split_shared(topic_filter)
        decided_filter = shared[1] if shared else topic_filter  # a group's members read what the filter names
        decision = decided.get(decided_filter) or self.pipeline.decide_topic(Kind.SUBSCRIBE, state.grant,
                                                                              decided_filter)
        self._record_topic_decision(state.live, decision)
        if not decision.allowed:
            return decision
        limit = state.limits.max_subscriptions_per_client
        if topic_filter not in state.subscriptions and len(state.subscriptions) >= limit:
            refused = subscription_limit_decision(state.grant, topic_filter, limit)
            self._record_topic_decision(state.live, refused)
            self.registry.limit_counts.count(LimitEvent.SUBSCRIPTIONS)  # the Auth log has it, once per session
            return refused
        state.add_subscription(topic_filter, subscription)
        self._index_subscription(state, topic_filter, subscription)
        return None

    def _index_subscription(self, state: SessionState, topic_filter: str, subscription: Subscription) -> None:
        shared = split_shared(topic_filter)
        if shared is None:
            self._index.add(topic_filter, state.client_id, state, subscription)
            return
        key = f"{shared[0]}\0{shared[1]}"
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = SharedGroup(*shared)
            self._shared_index.add(shared[1], key, group, subscription)
        group.members[state.client_id] = (state, subscription)

    def _remove(self, state: SessionState, topic_filter: str) -> None:
        shared = split_shared(topic_filter)
        if shared is None:
            self._index.remove(topic_filter, state.client_id)
            return
        key = f"{shared[0]}\0{shared[1]}"
        group = self._groups.get(key)
        if group is not None:
            group.members.pop(state.client_id, None)
            if not group.members:
                del self._groups[key]
                self._shared_index.remove(shared[1], key)

    def on_unsubscribe(self, connection: Connection, unsubscribe: Unsubscribe) -> None:
        state = connection.state
        codes = []
        for topic_filter in unsubscribe.topic_filters:
            if state.remove_subscription(topic_filter):
                self._remove(state, topic_filter)
                codes.append(0)
            else:
                codes.append(Mqtt5Reason.NO_SUBSCRIPTION_EXISTED)
        connection.protocol.send_unsuback(unsubscribe.packet_id, codes)
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
        elif decision.reason.code in (ReasonCode.SUBSCRIPTION_LIMIT, ReasonCode.RETAINED_LIMIT):
            key = (decision.kind, False, decision.reason.code)
        else:
            key = (decision.kind, False, decision.topic)
        logged = live.logged
        if logged is None:
            logged = live.logged = set()
        elif key in logged or len(logged) >= LOGGED_PER_SESSION:
            return
        logged.add(key)
        self.recorder.record(replace(decision, address=live.address, protocol=live.protocol))

    # -- routing --------------------------------------------------------------------------------

    def may_receive(self, state: SessionState, topic: str) -> bool:
        """Whether the session's current grant may read `topic` (checked again for what it queued)."""
        return self._decide(state, Kind.RECEIVE, topic).allowed

    def _decide(self, state: SessionState, kind: Kind, topic: str) -> Decision:
        """The pipeline's PUBLISH or RECEIVE decision, remembered by the session for its grant: the pipeline's own
        cache hashes (credential, clientId, tenant, kind, topic) for every message, a tenth of a QoS 1 delivery."""
        memo, pipeline = state.decisions, self.pipeline
        if self.external_sessions and state in self.external_sessions:  # the service's cache says how long it holds
            return pipeline.decide_topic(kind, state.grant, topic)
        if memo is UNDECIDED:
            memo = state.decisions = TopicDecisions(pipeline.epoch, state.grant)
        elif memo.epoch != pipeline.epoch or memo.grant is not state.grant:
            memo.reset(pipeline.epoch, state.grant)
        table = memo.publish if kind is Kind.PUBLISH else memo.receive
        decision = table.get(topic)
        if decision is None:
            decision = pipeline.decide_topic(kind, state.grant, topic)
            if len(table) < SESSION_DECISIONS:
                table[topic] = decision
        return decision

    def route_message(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Publish as the broker itself (the topic monitor's test publish, tests)."""
        self.route(Publish(topic, payload, qos, retain))

    def route(self, publish: Publish, origin: str | None = None) -> None:
        """Deliver a message to every subscriber allowed to read it (queued for those away, where it applies).

        `origin` is the clientId of the publisher (No Local subscriptions of that client are skipped).
        """
        topic, qos = publish.topic, publish.qos
        interval = publish.properties.message_expiry_interval
        expires_at = None if interval is None else time.monotonic() + interval
        if publish.retain:
            not_kept = self.retained.put(publish, expires_at)
            if not_kept is not None:
                self._retained_refused(publish.topic, not_kept, origin)
        # whether a topic concerns devices is remembered per topic: one dict lookup per message is a quarter of the
        # two string tests it replaces; only the device topics cost a parse
        device = self._device_topics.get(topic)
        if device is None:
            device = self._classify_device_topic(topic)
        if device and self.device_observer is not None:
            try:
                self.device_observer(topic, publish.payload, origin)
            except Exception:
                log.exception("device observer failed")
        for monitor in self.monitors:
            try:
                monitor(topic, publish.payload, qos, publish.retain)
            except Exception:
                log.exception("message monitor failed")
        message = OutgoingPublish(publish)
        connections, retain = self._connections, publish.retain
        delivered: list[str] = []  # the plain QoS 0 receivers: their counters changed (one registry call for all)
        external = self.external_sessions
        epoch = self.pipeline.epoch
        for state, subscription in self._index.match(topic).values():
            if subscription.no_local and state.client_id == origin:
                continue
            if external and state in external:
                self.external.offer(state, message, subscription, qos, retain and subscription.retain_as_published,
                                     expires_at)
                continue
            # `_decide`'s remembered answer, looked up here: a method call per subscriber is a tenth of a fan-out
            memo = state.decisions
            decision = memo.receive.get(topic) if memo.epoch == epoch and memo.grant is state.grant else None
            if decision is None:
                decision = self._decide(state, Kind.RECEIVE, topic)
            if not decision.allowed:
                continue
            flag = retain and subscription.retain_as_published
            if (not qos or not subscription.qos) and expires_at is None and not subscription.identifiers \
                    and state.max_packet_size is None and state.aliases is None:
                # QoS 0 to a plain subscription, the fan-out hot path: one packet per protocol version and retain
                # flag for every subscriber (cached by the message), straight to the connection
                connection = connections.get(state.client_id)
                if connection is not None and state.connected and connection.send_qos0(
                        message.qos0(state.version, flag)):
                    state.live.messages_out += 1
                    delivered.append(state.client_id)
                continue
            self._deliver(state, message, subscription, qos, flag, expires_at)
        if delivered:
            self.registry.touch_client_ids(delivered)
        if self._groups:
            for group, _ in self._shared_index.match(topic).values():
                chosen = group.pick(lambda state: self.may_receive(state, topic))
                if chosen is not None:
                    # [MQTT-3.3.1-... ] the retain flag of a shared delivery follows Retain As Published too
                    self._deliver(chosen[0], message, chosen[1], qos, publish.retain and chosen[1].retain_as_published,
                                  expires_at)

    def _classify_device_topic(self, topic: str) -> bool:
        known = self._device_topics
        if len(known) >= DEVICE_TOPICS_REMEMBERED:
            known.clear()
        device = known[topic] = may_concern_devices(topic)
        return device

    def _deliver(self, state: SessionState, message: OutgoingPublish, subscription: Subscription, qos: int,
                 retain: bool, expires_at: float | None) -> None:
        effective = qos if qos <= subscription.qos else subscription.qos  # [MQTT-3.8.4-6] (min(), less a call)
        if subscription.identifiers and state.version == wf.MQTT_5:  # [MQTT-3.3.4-3]: per subscriber
            publish = message.publish
            message = OutgoingPublish(replace(publish, properties=replace(
                publish.properties, subscription_identifiers=subscription.identifiers)))
        packet = state.offer(message, effective, retain, expires_at)
        connection = self._connections.get(state.client_id)
        if packet is None or connection is None:
            if effective and not state.connected:
                self.registry.touch(state.live)  # the kept session's queue grew: the Clients view shows it
            return  # queued for later, or dropped (QoS 0 to an absent client, or a full queue)
        if effective:
            connection.send(packet)
        elif not connection.send_qos0(packet):
            state.not_sent(message.publish.topic)
            return
        live = state.live
        live.messages_out += 1
        self.registry.touch(live)

    # -- retained messages ------------------------------------------------------------------------

    def _send_retained(self, state: SessionState, topic_filter: str, subscription: Subscription, new: bool) -> None:
        """[MQTT-3.8.4-4] retained messages for a new subscription, as its Retain Handling says; none for a shared
        subscription [MQTT-4.8.2-... retained messages are not sent to shared subscriptions]."""
        if subscription.retain_handling == 2 or (subscription.retain_handling == 1 and not new):
            return
        if split_shared(topic_filter) is not None:
            return
        for topic, retained in self.retained.matching(topic_filter):
            if state in self.external_sessions:
                self.external.offer(state, OutgoingPublish(retained.publish), subscription, retained.publish.qos,
                                     True, retained.expires_at)
            elif self.may_receive(state, topic):
                self._deliver(state, OutgoingPublish(retained.publish), subscription, retained.publish.qos, True,
                              retained.expires_at)

    def retained_messages(self, topic_filter: str) -> list[tuple[str, bytes, int]]:
        """(topic, payload, qos) of the retained messages matching a filter, as a new subscription would get them."""
        return [(topic, item.publish.payload, item.publish.qos) for topic, item in self.retained.matching(topic_filter)]


    def retain(self, topic: str, payload: bytes, qos: int) -> None:
        self.retained.put(Publish(topic, payload, qos, True), None)

    def _retained_refused(self, topic: str, why: str, origin: str | None) -> None:
        """A retained message the limits did not keep: counted, logged, and in the Auth log once per session."""
        connection = self._connections.get(origin) if origin is not None else None
        self.registry.limit_counts.count(LimitEvent.RETAINED, origin or "", f"the retained message on "
                                         f"'{clip(topic)}' was not kept: {why}")
        if connection is not None:
            state = connection.state
            self._record_topic_decision(state.live, retained_limit_decision(state.grant, topic, why))
