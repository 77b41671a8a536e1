"""MQTT topic names and filters: validation, matching, and the filter-vs-filter relations the ACL needs."""

from __future__ import annotations

import re

import pytest

from mqttdesk.core.errors import ValidationError
from mqttdesk.core.topics import (
    MAX_TOPIC_BYTES,
    filter_covers,
    filters_intersect,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        # exact
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("a", "A", False),  # case-sensitive
        ("a/b", "a/b/", False),
        # '+' fills exactly one level, possibly empty
        ("a/+", "a/b", True),
        ("a/+", "a/", True),
        ("a/+", "a", False),
        ("a/+", "a/b/c", False),
        ("+/b", "a/b", True),
        ("+/+", "/b", True),
        ("+", "a", True),
        ("+", "/a", False),
        ("a/+/c", "a/x/c", True),
        ("a/+/c", "a/x/d", False),
        # '#' fills any number of trailing levels, including none: it matches the parent level too
        ("a/#", "a", True),
        ("a/#", "a/b", True),
        ("a/#", "a/b/c/d", True),
        ("a/#", "a/", True),
        ("a/#", "ab", False),
        ("a/#", "b/a", False),
        ("a/b/#", "a", False),
        ("#", "a", True),
        ("#", "a/b/c", True),
        ("#", "/", True),
        ("+/#", "a", True),
        ("+/+/#", "a", False),
        # $-topics are not reached by a wildcard in the first level [MQTT-4.7.2-1]
        ("#", "$SYS/broker/uptime", False),
        ("#", "$SYS", False),
        ("+/broker/uptime", "$SYS/broker/uptime", False),
        ("+/#", "$SYS/x", False),
        ("+", "$SYS", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("$SYS/#", "$SYS", True),
        ("$SYS/+/uptime", "$SYS/broker/uptime", True),
        ("$SYS/broker/uptime", "$SYS/broker/uptime", True),
        ("a/$x/#", "a/$x/y", True),  # '$' only matters at the start of the topic
        ("+/$x", "a/$x", True),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    "topic_filter",
    ["a", "a/b", "/", "a//b", "+", "#", "+/+", "a/+/b", "a/#", "+/#", "$SYS/#", "sport/tennis/+/#", "ä/ö"],
)
def test_valid_filters(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "message"),
    [
        ("", "must not be empty"),
        ("a/#/b", "'#' must be a whole level and the last one"),
        ("#/a", "'#' must be a whole level and the last one"),
        ("a#", "'#' must be a whole level and the last one"),
        ("a/b#", "'#' must be a whole level and the last one"),
        ("##", "'#' must be a whole level and the last one"),
        ("a+", "'+' must be a whole level"),
        ("a/+b/c", "'+' must be a whole level"),
        ("++", "'+' must be a whole level"),
        ("a/\x00", "NUL"),
        ("a" * (MAX_TOPIC_BYTES + 1), "65535 bytes"),
        ("é" * (MAX_TOPIC_BYTES // 2 + 1), "65535 bytes"),  # the limit is on UTF-8 bytes, not characters
    ],
)
def test_invalid_filters(topic_filter: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate_topic_filter(topic_filter)


@pytest.mark.parametrize("topic", ["a", "a/b", "/", "a//b", "$SYS/broker", "a b/c", "a" * MAX_TOPIC_BYTES])
def test_valid_names(topic: str) -> None:
    validate_topic_name(topic)


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "must not be empty"),
        ("a/+", "wildcard"),
        ("a/#", "wildcard"),
        ("+", "wildcard"),
        ("a+b", "wildcard"),
        ("a/\x00/b", "NUL"),
        ("a" * (MAX_TOPIC_BYTES + 1), "65535 bytes"),
    ],
)
def test_invalid_names(topic: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate_topic_name(topic)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "+/b", True),
        ("a/+", "b/+", False),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),  # both match "a"
        ("a/#", "a/b/c", True),
        ("a/#", "+/x", True),
        ("a/#", "b/#", False),
        ("a/b/#", "a", False),
        ("a/b/#", "a/+", True),  # "a/b"
        ("#", "anything/at/all", True),
        ("+", "a/b", False),
        ("+/+", "a/#", True),
        ("secret/#", "#", True),
        ("public/#", "secret/#", False),
        ("$SYS/#", "#", False),
        ("#", "$SYS/#", False),
        ("$SYS/+", "+/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("$SYS/+", "$SYS/#", True),
    ],
)
def test_filters_intersect(first: str, second: str, expected: bool) -> None:
    assert filters_intersect(first, second) is expected
    assert filters_intersect(second, first) is expected  # symmetric


@pytest.mark.parametrize(
    ("general", "specific", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("#", "a/b", True),
        ("#", "#", True),
        ("#", "+/x/#", True),
        ("a/#", "a", True),
        ("a/#", "a/b/#", True),
        ("a/#", "a/+", True),
        ("a/#", "#", False),
        ("a/#", "b", False),
        ("a/+", "a/b", True),
        ("a/+", "a/+", True),
        ("a/+", "a/#", False),  # "a/#" also reaches "a" and "a/b/c"
        ("a/+", "a/b/c", False),
        ("a/b", "a/+", False),
        ("+/b", "a/b", True),
        ("+/b", "+/b", True),
        ("+/+", "a/#", False),
        ("a/+/c", "a/#", False),
        ("+/#", "+", True),
        ("a/b/#", "a", False),
        # $-topics
        ("#", "$SYS/#", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/broker/+", True),
        ("$SYS/#", "#", False),
    ],
)
def test_filter_covers(general: str, specific: str, expected: bool) -> None:
    assert filter_covers(general, specific) is expected


@pytest.mark.parametrize(
    ("general", "specific"),
    [("#", "a/b"), ("a/#", "a/+/c"), ("+/b/#", "x/b"), ("a/+", "a/b"), ("$SYS/#", "$SYS/+")],
)
def test_covering_filter_matches_every_topic_the_specific_one_matches(general: str, specific: str) -> None:
    """Cross-check `filter_covers` against `topic_matches` on sample topics built from the specific filter."""
    assert filter_covers(general, specific)
    for filler in ("x", "y/z", ""):
        topic = specific.replace("#", filler).replace("+", "w").rstrip("/") or "w"
        if topic_matches(specific, topic):
            assert topic_matches(general, topic), topic
