"""Per-client delivery limits of the broker (settings, with Mosquitto's defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from mqttdesk.core.errors import ValidationError

MAX_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_inflight: int = 20  # unacknowledged QoS 1/2 messages per client (mosquitto's max_inflight_messages)
    max_queued: int = 1000  # further QoS 1/2 messages held per client, connected or away (max_queued_messages)

    def __post_init__(self) -> None:
        if not 1 <= self.max_inflight <= 65535:
            raise ValidationError(f"max in-flight messages must be between 1 and 65535, not {self.max_inflight}")
        if not 0 <= self.max_queued <= MAX_LIMIT:
            raise ValidationError(f"max queued messages must be between 0 and {MAX_LIMIT}, not {self.max_queued}")
