"""The retained messages of the broker: one per topic, bounded in count and bytes (`BrokerLimits`).

A retained message is set, replaced, and cleared by an empty payload [MQTT-3.3.1-10]; one whose MQTT 5 message expiry
has passed is not delivered and goes [MQTT-3.3.2-5]. A message that would take the broker over
`max_retained_messages` (a topic not retained yet) or `max_retained_bytes` (topics in UTF-8 plus payloads) is not
kept: `put` says why, and the router counts and logs it. When it would have replaced one, that one is cleared too:
the state it announced ("Online") is out of date, and a new subscriber is better told nothing than the wrong thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mqttdesk.broker.protocol import Publish
from mqttdesk.core.limits import BrokerLimits
from mqttdesk.core.topics import topic_matches


@dataclass(slots=True)
class Retained:
    publish: Publish
    expires_at: float | None  # monotonic; MQTT 5 message expiry applies to retained messages too


def retained_size(topic: str, payload: bytes) -> int:
    """What a retained message counts against max_retained_bytes: its topic (UTF-8) and its payload."""
    return len(topic.encode("utf-8", "surrogatepass")) + len(payload)


class RetainedMessages:
    def __init__(self, limits: BrokerLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._messages: dict[str, Retained] = {}
        self.bytes = 0  # topics and payloads of the messages kept
        # topics whose retained message was set, replaced or cleared since persistence last took them (None: no
        # persistence, nothing is tracked)
        self.changes: set[str] | None = None

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, publish: Publish, expires_at: float | None) -> str | None:
        """Keep (or, with an empty payload, clear) the retained message of `publish.topic`; why it was not kept."""
        topic = publish.topic
        if not publish.payload:
            self.forget(topic)
            return None
        limits = self.limits
        previous = self._messages.get(topic)
        size = retained_size(topic, publish.payload)
        total = self.bytes - (0 if previous is None else retained_size(topic, previous.publish.payload))
        why = None
        if previous is None and limits.max_retained_messages and len(self._messages) >= limits.max_retained_messages:
            why = (f"the broker holds {len(self._messages):,} retained messages, its limit (max_retained_messages "
                   f"{limits.max_retained_messages:,})")
        elif limits.max_retained_bytes and total + size > limits.max_retained_bytes:
            why = (f"keeping its {size:,} bytes would take the retained messages to {total + size:,} bytes, over the "
                   f"limit (max_retained_bytes {limits.max_retained_bytes:,})")
        if why is not None:
            if previous is not None:
                self.forget(topic)
                why += "; the message retained before on that topic was cleared, as it is out of date now"
            return why
        self._messages[topic] = Retained(replace(publish, dup=False, packet_id=None), expires_at)
        self.bytes = total + size
        if self.changes is not None:
            self.changes.add(topic)
        return None

    def forget(self, topic: str) -> None:
        item = self._messages.pop(topic, None)
        if item is not None:
            self.bytes -= retained_size(topic, item.publish.payload)
            if self.changes is not None:
                self.changes.add(topic)

    def get(self, topic: str) -> tuple[Publish, float | None] | None:
        """The retained message of `topic` and its monotonic expiry time, or None."""
        found = self._messages.get(topic)
        return None if found is None else (found.publish, found.expires_at)

    def topics(self) -> set[str]:
        return set(self._messages)

    def restore(self, publish: Publish, expires_at: float | None) -> None:
        """A retained message read back after a restart (not routed: it was delivered when it was published)."""
        self.forget(publish.topic)
        self._messages[publish.topic] = Retained(publish, expires_at)
        self.bytes += retained_size(publish.topic, publish.payload)

    def matching(self, topic_filter: str) -> list[tuple[str, Retained]]:
        """The retained messages a subscription to `topic_filter` gets, the expired ones dropped on the way."""
        now = self._clock()
        if "+" not in topic_filter and "#" not in topic_filter:  # the common case, e.g. cmnd/DVES_1A2B3C/POWER
            found = self._messages.get(topic_filter)
            matching = [] if found is None else [(topic_filter, found)]
        else:
            matching = [(topic, item) for topic, item in self._messages.items() if topic_matches(topic_filter, topic)]
        alive = []
        for topic, item in matching:
            if item.expires_at is not None and item.expires_at <= now:
                self.forget(topic)  # [MQTT-3.3.2-5]: an expired retained message is not delivered
            else:
                alive.append((topic, item))
        return alive
