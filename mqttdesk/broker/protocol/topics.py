"""Topic name and topic filter rules (section 4.7 of both specs), checked on every PUBLISH, SUBSCRIBE, UNSUBSCRIBE."""

from __future__ import annotations

from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason, ProtocolError

SHARE_PREFIX = "$share/"


def check_topic_name(topic: str) -> None:
    """A PUBLISH topic name must not contain wildcards [MQTT-3.3.2-2]; emptiness is checked with the topic alias."""
    if "+" in topic or "#" in topic:
        raise ProtocolError(Mqtt5Reason.TOPIC_NAME_INVALID, f"the topic name {topic!r} contains a wildcard")


def is_shared(topic_filter: str) -> bool:
    return topic_filter.startswith(SHARE_PREFIX)


def check_topic_filter(topic_filter: str) -> None:
    """At least one character [MQTT-4.7.3-1]; `#` alone and last [MQTT-4.7.1-1]; `+` a whole level [MQTT-4.7.1-2];
    a shared subscription `$share/{name}/{filter}` with a name of no wildcards and a filter [MQTT-4.8.2-1, -2]."""
    if not topic_filter:
        raise _invalid(topic_filter, "is empty")
    plain = topic_filter
    if topic_filter.startswith(SHARE_PREFIX):
        _, name, plain = (topic_filter.split("/", 2) + ["", ""])[:3]
        if not name or "+" in name or "#" in name:
            raise _invalid(topic_filter, "has an empty share name or one with a wildcard")
        if not plain:
            raise _invalid(topic_filter, "has no topic filter after the share name")
    if "+" not in plain and "#" not in plain:
        return
    levels = plain.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            raise _invalid(topic_filter, "has a '#' that is not a whole last level")
        if "+" in level and level != "+":
            raise _invalid(topic_filter, "has a '+' that is not a whole level")


def _invalid(topic_filter: str, why: str) -> ProtocolError:
    return ProtocolError(Mqtt5Reason.TOPIC_FILTER_INVALID, f"the topic filter {topic_filter!r} {why}")
