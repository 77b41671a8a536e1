"""MQTT topic names and topic filters: validation and matching (MQTT 3.1.1 section 4.7).

`$`-topics (such as `$SYS/...`) are never matched by a filter whose first level is a wildcard [MQTT-4.7.2-1].
"""

from __future__ import annotations

from mqttdesk.core.clip import clip
from mqttdesk.core.errors import ValidationError

MAX_TOPIC_BYTES = 65535


def validate_topic_name(topic: str) -> None:
    """A topic name as published: non-empty, no wildcards, no NUL."""
    if not topic:
        raise ValidationError("a topic must not be empty")
    if "+" in topic or "#" in topic:
        raise ValidationError(f"topic {topic!r} contains a wildcard; wildcards are only allowed in filters")
    _check_common(topic)


def validate_topic_filter(topic_filter: str) -> None:
    """A topic filter: `+` fills a whole level, `#` fills the last level only."""
    if not topic_filter:
        raise ValidationError("a topic filter must not be empty")
    _check_common(topic_filter)
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValidationError(f"in {clip(topic_filter)!r}, '#' must be a whole level and the last one")
        if "+" in level and level != "+":
            raise ValidationError(f"in {clip(topic_filter)!r}, '+' must be a whole level")


def _check_common(text: str) -> None:
    if "\x00" in text:
        raise ValidationError("a topic must not contain a NUL character")
    if len(text.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise ValidationError("a topic must not be longer than 65535 bytes")


def _dollar_guard(topic_filter: str, topic: str) -> bool:
    """True when the $-rule forbids a wildcard-first filter from reaching a `$` topic."""
    return topic.startswith("$") and topic_filter[:1] in ("+", "#")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a concrete topic name matches a (valid) filter."""
    if _dollar_guard(topic_filter, topic):
        return False
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True  # '#' also matches the parent level: "a/#" matches "a"
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


def filters_intersect(first: str, second: str) -> bool:
    """Whether at least one topic name matches both filters."""
    if (first.startswith("$") and second[:1] in ("+", "#")) or (second.startswith("$") and first[:1] in ("+", "#")):
        return False
    a_levels, b_levels = first.split("/"), second.split("/")
    index = 0
    while True:
        if (index < len(a_levels) and a_levels[index] == "#") or (index < len(b_levels) and b_levels[index] == "#"):
            return True
        if index == len(a_levels) or index == len(b_levels):
            return len(a_levels) == len(b_levels)
        a, b = a_levels[index], b_levels[index]
        if a != "+" and b != "+" and a != b:
            return False
        index += 1


def filter_covers(general: str, specific: str) -> bool:
    """Whether every topic matched by `specific` is also matched by `general`."""
    if general[:1] in ("+", "#") and specific.startswith("$"):
        return False
    g_levels, s_levels = general.split("/"), specific.split("/")
    for index, level in enumerate(g_levels):
        if level == "#":
            return True
        if index >= len(s_levels):
            return False
        other = s_levels[index]
        if other == "#":
            return False
        if level == "+":
            continue
        if other == "+" or other != level:
            return False
    return len(g_levels) == len(s_levels)
