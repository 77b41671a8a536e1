"""The topics of the clients the external HTTP service admitted: the service decides them, and nothing waits on it
but what must.

- A PUBLISH or SUBSCRIBE of such a client waits for the service's answers (`prefetch`; that connection only: its
  later packets wait behind it, as behind a sliced SUBSCRIBE).
- A delivery to it never stalls routing: it is decided from the service's cache, and a message whose answer is not
  cached is held for that subscriber while the answer is fetched in the background, then delivered or dropped
  (`offer`: at most `HELD_PER_SUBSCRIBER` messages per subscriber, for at most the service's timeout; beyond that
  count a message is dropped). A shared subscription's member and a message queued for a client that was away are
  decided from the cache alone (not cached: not this time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.broker.connection import Connection, Decided
from mqttdesk.broker.protocol import OutgoingPublish, Publish, Subscribe
from mqttdesk.broker.session_state import SessionState
from mqttdesk.broker.subscription import Subscription, split_shared
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.model import CredentialKind

log = logging.getLogger(__name__)

HELD_PER_SUBSCRIBER = 100  # messages held for an external client while its delivery answers are fetched

Deliver = Callable[[SessionState, OutgoingPublish, Subscription, int, bool, "float | None"], None]
_Held = tuple[OutgoingPublish, Subscription, int, bool, "float | None"]


class ExternalTopics:
    def __init__(self, pipeline: AuthPipeline, connections: Mapping[str, Connection], deliver: Deliver) -> None:
        self._pipeline = pipeline
        self._connections = connections
        self._deliver = deliver
        # the sessions the service admitted: a set, so that the delivery path of every other session pays one
        # empty-set test (the router reads it), not an attribute chain per subscriber
        self.sessions: set[SessionState] = set()
        self._held: dict[str, dict[str, list[_Held]]] = {}  # clientId -> topic -> messages waiting for the answer

    def grant_changed(self, state: SessionState) -> None:
        if state.grant.credential.kind is CredentialKind.EXTERNAL:
            self.sessions.add(state)
        else:
            self.sessions.discard(state)

    def prefetch(self, connection: Connection, packet: Publish | Subscribe) -> Coroutine[Any, Any, Decided] | None:
        """For a client the service admitted: ask it about the packet's topics first; None for any other."""
        if not self.sessions or connection.state not in self.sessions:
            return None
        if isinstance(packet, Publish):
            return self._ask(Kind.PUBLISH, connection, [packet.topic])
        filters = []
        for topic_filter, _options in packet.subscriptions:
            shared = split_shared(topic_filter)
            filters.append(shared[1] if shared else topic_filter)  # a group's members read what the filter names
        return self._ask(Kind.SUBSCRIBE, connection, list(dict.fromkeys(filters)))

    async def _ask(self, kind: Kind, connection: Connection, topics: list[str]) -> Decided:
        grant = connection.state.grant
        decisions = await asyncio.gather(*(self._pipeline.external_topic(kind, grant, topic) for topic in topics))
        return dict(zip(topics, decisions, strict=True))

    def offer(self, state: SessionState, message: OutgoingPublish, subscription: Subscription, qos: int,
              retain: bool, expires_at: float | None) -> None:
        """Deliver from the cached answer, else hold the message while the answer is fetched."""
        topic = message.publish.topic
        cached = self._pipeline.external_topic_cached(Kind.RECEIVE, state.grant, topic)
        if cached is not None:
            if cached.allowed:
                self._deliver(state, message, subscription, qos, retain, expires_at)
            return
        held = self._held.setdefault(state.client_id, {})
        if sum(len(messages) for messages in held.values()) >= HELD_PER_SUBSCRIBER:
            log.info("%s: %d messages wait for the external service already; one for '%s' is dropped",
                     state.client_id, HELD_PER_SUBSCRIBER, topic)
            return
        waiting = held.get(topic)
        held.setdefault(topic, []).append((message, subscription, qos, retain, expires_at))
        if waiting is None:  # the first for this topic asks; the others wait with it
            task = asyncio.ensure_future(self._pipeline.external_topic(Kind.RECEIVE, state.grant, topic))
            task.add_done_callback(lambda done: self._release(state, topic, done))

    def _release(self, state: SessionState, topic: str, done: asyncio.Future[Decision]) -> None:
        held = self._held.get(state.client_id, {})
        messages = held.pop(topic, [])
        if not held:
            self._held.pop(state.client_id, None)
        allowed = not done.cancelled() and done.exception() is None and done.result().allowed
        connection = self._connections.get(state.client_id)
        if not allowed or state not in self.sessions or (connection is not None and connection.state is not state):
            return  # refused, or the session it was held for is gone
        for message, subscription, qos, retain, expires_at in messages:
            self._deliver(state, message, subscription, qos, retain, expires_at)
