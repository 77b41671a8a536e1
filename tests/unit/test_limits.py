"""Per-client limits: validated when built, stored as settings, read back with the defaults the README gives."""

from __future__ import annotations

import pytest

from mqttdesk.core.errors import ValidationError
from mqttdesk.core.limits import MIB, SessionLimits
from mqttdesk.store.db import Store


def test_defaults_are_the_documented_ones() -> None:
    limits = SessionLimits()
    assert (limits.max_inflight, limits.max_queued) == (20, 1000)
    assert (limits.max_subscriptions_per_packet, limits.max_subscriptions_per_client) == (10_000, 50_000)
    assert limits.max_incoming_qos2_bytes == 32 * MIB


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_subscriptions_per_packet", 0), ("max_subscriptions_per_packet", 1_000_001),
     ("max_subscriptions_per_client", 0), ("max_incoming_qos2_bytes", MIB - 1),
     ("max_incoming_qos2_bytes", 1024 * MIB + 1)],
)
def test_out_of_range_limits_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match="must be between"):
        SessionLimits(**{field: value})


def test_limits_round_trip_through_the_settings(store: Store) -> None:
    assert store.settings.session_limits() == SessionLimits()
    wanted = SessionLimits(max_inflight=5, max_queued=7, max_subscriptions_per_packet=100,
                           max_subscriptions_per_client=200, max_incoming_qos2_bytes=2 * MIB)
    store.settings.set_session_limits(wanted)
    assert store.settings.session_limits() == wanted
