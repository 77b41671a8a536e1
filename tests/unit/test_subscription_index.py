"""The topic trie must agree with the reference matcher in core.topics, and deliver overlaps once."""

from __future__ import annotations

import itertools

import pytest

from mqttdesk.broker.subscription import Subscription
from mqttdesk.broker.subscriptions import SubscriptionIndex
from mqttdesk.core.topics import topic_matches

FILTERS = ["#", "+", "a", "a/#", "a/+", "a/b", "a/+/c", "+/b/#", "a/b/c", "$SYS/#", "+/+", "/#", "+/", "a//b"]
TOPICS = ["a", "a/b", "a/b/c", "a/x/c", "b", "x/b/y", "$SYS/load", "$SYS", "/a", "a/", "a//b", "/"]


@pytest.mark.parametrize("topic", TOPICS)
def test_trie_agrees_with_reference_matcher(topic: str) -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    for number, topic_filter in enumerate(FILTERS):
        index.add(topic_filter, f"c{number}", topic_filter, Subscription(0))
    matched = {value for value, _ in index.match(topic).values()}
    assert matched == {f for f in FILTERS if topic_matches(f, topic)}


def test_overlapping_subscriptions_of_one_client_match_once_with_highest_qos() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add("a/#", "c", "session", Subscription(0))
    index.add("a/+", "c", "session", Subscription(2))
    index.add("a/b", "c", "session", Subscription(1))
    assert index.match("a/b") == {"c": ("session", Subscription(2))}


def test_resubscribe_replaces_and_remove_prunes() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add("a/b", "c", "s", Subscription(0))
    index.add("a/b", "c", "s", Subscription(1))
    assert len(index) == 1
    assert index.match("a/b") == {"c": ("s", Subscription(1))}
    assert index.remove("a/b", "c")
    assert not index.remove("a/b", "c")
    assert len(index) == 0
    assert index.match("a/b") == {}
    assert index._root.children == {}  # pruned back to nothing


def test_remove_keeps_other_branches() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    for client, topic_filter in itertools.product(("c1", "c2"), ("a/b", "a/b/c", "a/#")):
        index.add(topic_filter, client, client, Subscription(0))
    index.remove("a/b", "c1")
    assert set(index.match("a/b")) == {"c1", "c2"}  # c1 still has a/#
    index.remove("a/#", "c1")
    assert set(index.match("a/b")) == {"c2"}
    assert set(index.match("a/b/c")) == {"c1", "c2"}


def test_a_remembered_match_is_forgotten_when_subscriptions_change() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add("a/+", "c1", "one", Subscription(0))
    assert set(index.match("a/b")) == {"c1"}
    index.add("a/b", "c2", "two", Subscription(1))
    assert set(index.match("a/b")) == {"c1", "c2"}
    index.remove("a/+", "c1")
    assert set(index.match("a/b")) == {"c2"}
    assert not index.remove("a/+", "c1")  # nothing removed: what was remembered stays right
    assert set(index.match("a/b")) == {"c2"}
