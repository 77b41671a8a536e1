"""A subscription as the broker keeps it: granted QoS and the MQTT 5 subscription options.

MQTT 3.1.1 subscriptions are the same value with the defaults. Where a client's subscriptions overlap, a message
is delivered once [MQTT-3.3.4-2] with the highest QoS and every matching subscription identifier [MQTT-3.3.4-3]
(`merged`). Shared subscriptions (`$share/group/filter`) are parsed here too.
"""

from __future__ import annotations

from dataclasses import dataclass

SHARE_PREFIX = "$share/"


@dataclass(frozen=True, slots=True)
class Subscription:
    qos: int
    no_local: bool = False  # MQTT 5: never send the client its own messages
    retain_as_published: bool = False  # MQTT 5: keep the RETAIN flag of forwarded messages
    retain_handling: int = 0  # MQTT 5: 0 send retained at subscribe, 1 only if new, 2 never
    identifiers: tuple[int, ...] = ()  # MQTT 5 subscription identifier (one per SUBSCRIBE; several when merged)


def merged(first: Subscription, second: Subscription) -> Subscription:
    """One delivery for overlapping subscriptions of one client."""
    return Subscription(
        qos=max(first.qos, second.qos),
        no_local=first.no_local and second.no_local,
        retain_as_published=first.retain_as_published or second.retain_as_published,
        identifiers=first.identifiers + second.identifiers,
    )


def split_shared(topic_filter: str) -> tuple[str, str] | None:
    """(group, filter) of a shared subscription `$share/group/filter`, None for an ordinary filter.

    The caller has validated the filter: a share name has no wildcards and the filter part is not empty.
    """
    if not topic_filter.startswith(SHARE_PREFIX):
        return None
    group, separator, real = topic_filter[len(SHARE_PREFIX):].partition("/")
    if not separator or not group or not real or "+" in group or "#" in group:
        return None
    return group, real
