"""The subscription index: topic filter trie from which a PUBLISH finds its subscribers in one walk.

amqtt compares every message with every subscription filter in the broker; with many clients that is most of the
broker's time. The trie visits only the levels the topic has, plus the `+` and `#` branches on the way.
Subscribers are keyed by clientId (or a shared group's key); the subscriber is opaque to the index (the broker
stores its session state) and so is the subscription, except that two of one key are combined with `merge`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from mqttdesk.broker.subscription import Subscription, merged

T = TypeVar("T")
MATCH_CACHE_SIZE = 10_000  # topics whose subscribers are remembered (all forgotten at once when full)


class _Node(Generic[T]):
    __slots__ = ("children", "subscribers")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.subscribers: dict[str, tuple[T, Subscription]] = {}  # clientId -> (subscriber, subscription)


class SubscriptionIndex(Generic[T]):
    def __init__(self, merge: Callable[[Subscription, Subscription], Subscription] = merged) -> None:
        self._root: _Node[T] = _Node()
        self._count = 0
        self._merge = merge
        # topic -> its subscribers, until the next SUBSCRIBE or UNSUBSCRIBE: telemetry repeats its topics, and a
        # walk of the trie was an eighth of the broker's time in a QoS 0 flood
        self._matches: dict[str, dict[str, tuple[T, Subscription]]] = {}

    def __len__(self) -> int:
        return self._count

    def add(self, topic_filter: str, client_id: str, subscriber: T, subscription: Subscription) -> None:
        node = self._root
        for level in topic_filter.split("/"):
            node = node.children.setdefault(level, _Node())
        self._matches.clear()
        if client_id not in node.subscribers:
            self._count += 1
        node.subscribers[client_id] = (subscriber, subscription)  # a repeated SUBSCRIBE replaces [MQTT-3.8.4-3]

    def remove(self, topic_filter: str, client_id: str) -> bool:
        path = [self._root]
        for level in topic_filter.split("/"):
            child = path[-1].children.get(level)
            if child is None:
                return False
            path.append(child)
        if path[-1].subscribers.pop(client_id, None) is None:
            return False
        self._matches.clear()
        self._count -= 1
        levels = topic_filter.split("/")
        for depth in range(len(levels), 0, -1):  # prune empty branches
            node = path[depth]
            if node.subscribers or node.children:
                break
            del path[depth - 1].children[levels[depth - 1]]
        return True

    def match(self, topic: str) -> dict[str, tuple[T, Subscription]]:
        """Subscribers of `topic`, one entry per client, overlapping subscriptions merged (delivered once).

        The result is shared with later calls for the same topic until the subscriptions change: read it only.
        """
        cached = self._matches.get(topic)
        if cached is not None:
            return cached
        found = self._walk(topic)
        if len(self._matches) >= MATCH_CACHE_SIZE:
            self._matches.clear()
        self._matches[topic] = found
        return found

    def _walk(self, topic: str) -> dict[str, tuple[T, Subscription]]:
        found: dict[str, tuple[T, Subscription]] = {}
        merge = self._merge
        levels = topic.split("/")
        last = len(levels)
        # [MQTT-4.7.2-1]: a wildcard in the first level never matches a $-topic
        dollar = topic.startswith("$")

        def collect(subscribers: dict[str, tuple[T, Subscription]]) -> None:
            for client_id, entry in subscribers.items():
                current = found.get(client_id)
                found[client_id] = entry if current is None else (entry[0], merge(current[1], entry[1]))

        stack: list[tuple[_Node[T], int]] = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            wildcards_allowed = not (dollar and depth == 0)
            if wildcards_allowed:
                hash_node = node.children.get("#")
                if hash_node is not None:
                    collect(hash_node.subscribers)  # '#' also matches the parent level: "a/#" matches "a"
            if depth == last:
                collect(node.subscribers)
                continue
            exact = node.children.get(levels[depth])
            if exact is not None:
                stack.append((exact, depth + 1))
            if wildcards_allowed:
                plus = node.children.get("+")
                if plus is not None:
                    stack.append((plus, depth + 1))
        return found
