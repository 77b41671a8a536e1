"""How often a limit refused a connection or dropped something since the service started: the Clients view's
line of counters ("refused: 3 over the connection limit · dropped: 12 retained over the limit").

Every refusal or drop is counted here and logged with its reason. A drop happens per message, so it is logged
(Python log, `serve`'s stderr) the first time per limit and client only, up to `MAX_LOGGED_SUBJECTS` clients per
limit; the count keeps counting. Refusals of a connection or a subscription are in the Auth log as well (the broker
records those decisions; repeats fold there).

Pure bookkeeping: no asyncio, no Qt; the broker counts, the window reads.
"""

from __future__ import annotations

import logging
from enum import StrEnum

log = logging.getLogger(__name__)

MAX_LOGGED_SUBJECTS = 256  # per limit: a flood from many clients logs this many lines, then only counts


class LimitEvent(StrEnum):
    """What a limit did; the value is how the Clients view words it after "refused:" or "dropped:"."""

    CONNECTIONS = "over the connection limit"  # max_connections
    CONNECTIONS_PER_ADDRESS = "over the per-address connection limit"  # max_connections_per_address
    PENDING = "waiting for their CONNECT"  # max_pending_connections, max_pending_per_address (closed unread)
    PACKET_TOO_LARGE = "packets over the maximum size"  # max_packet_size (the connection was closed)
    SUBSCRIPTIONS = "subscriptions over the limit"  # max_subscriptions_per_client (SUBACK 0x80)
    RETAINED = "retained over the limit"  # max_retained_messages, max_retained_bytes (not kept)
    QUEUED = "queued over the limit"  # max_queued_messages (QoS 1/2 for a client that is away or behind)
    SLOW_SUBSCRIBER = "QoS 0 to slow subscribers"  # max_subscriber_backlog_bytes


REFUSALS = (LimitEvent.CONNECTIONS, LimitEvent.CONNECTIONS_PER_ADDRESS, LimitEvent.PENDING,
            LimitEvent.PACKET_TOO_LARGE, LimitEvent.SUBSCRIPTIONS)
DROPS = (LimitEvent.RETAINED, LimitEvent.QUEUED, LimitEvent.SLOW_SUBSCRIBER)


class LimitCounts:
    def __init__(self) -> None:
        self._counts = dict.fromkeys(LimitEvent, 0)
        self._logged: dict[LimitEvent, set[str]] = {event: set() for event in LimitEvent}

    def count(self, event: LimitEvent, subject: str = "", why: str | None = None) -> None:
        """One refusal or drop; `why` is logged the first time for `subject` (a clientId or an address)."""
        self._counts[event] += 1
        if why is None:
            return
        logged = self._logged[event]
        if subject not in logged and len(logged) < MAX_LOGGED_SUBJECTS:
            logged.add(subject)
            log.warning("%s%s (further ones are counted in the Clients view, not logged)",
                        f"{subject}: " if subject else "", why)

    def __getitem__(self, event: LimitEvent) -> int:
        return self._counts[event]

    def snapshot(self) -> dict[str, int]:
        """Counts by the limit's name (`connections`, `retained`, ...), zeros included."""
        return {event.name.lower(): count for event, count in self._counts.items()}

    def describe(self) -> str:
        """One line for the Clients view; empty when no limit has refused or dropped anything."""
        parts = []
        for word, events in (("refused", REFUSALS), ("dropped", DROPS)):
            counted = [f"{self._counts[event]:,} {event.value}" for event in events if self._counts[event]]
            if counted:
                parts.append(f"{word}: " + ", ".join(counted))
        return " · ".join(parts)
