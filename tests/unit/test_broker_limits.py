"""The broker-wide limits in isolation: their validation and settings, the retained store's bounds, the count of open
connections, the slow-subscriber drop, and the counters the Clients view shows."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mqttdesk.broker.admission import OpenConnections
from mqttdesk.broker.connection import Connection
from mqttdesk.broker.limit_counts import MAX_LOGGED_SUBJECTS, LimitCounts, LimitEvent
from mqttdesk.broker.protocol import Publish, ServerProtocol
from mqttdesk.broker.registry import LiveSession
from mqttdesk.broker.retained import RetainedMessages
from mqttdesk.broker.session_state import SessionState
from mqttdesk.commands.config import current
from mqttdesk.core.decision import Grant
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.limits import MIB, BrokerLimits, SessionLimits
from mqttdesk.core.model import ANONYMOUS_REF, Method
from mqttdesk.store.db import Store

GRANT = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "c")


def test_defaults_are_the_documented_ones() -> None:
    limits = BrokerLimits()
    assert (limits.max_connections, limits.max_connections_per_address) == (10_000, 0)
    assert (limits.max_retained_messages, limits.max_retained_bytes) == (100_000, 256 * MIB)
    session = SessionLimits()
    assert (session.max_packet_size, session.max_subscriber_backlog_bytes) == (16 * MIB, 8 * MIB)


@pytest.mark.parametrize(("field", "value"), [("max_connections", -1), ("max_connections_per_address", 1_000_001),
                                              ("max_retained_messages", -5), ("max_retained_bytes", -1)])
def test_out_of_range_broker_limits_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match="between 0 \\(no limit\\)"):
        BrokerLimits(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("max_packet_size", 1023), ("max_packet_size", 268_435_456),
                                              ("max_subscriber_backlog_bytes", 1000)])
def test_out_of_range_packet_and_backlog_limits_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match="must be between"):
        SessionLimits(**{field: value})


def test_broker_limits_round_trip_through_the_settings_and_config_show(store: Store) -> None:
    assert store.settings.broker_limits() == BrokerLimits()
    wanted = BrokerLimits(max_connections=5, max_connections_per_address=2, max_retained_messages=9,
                          max_retained_bytes=4096)
    store.settings.set_broker_limits(wanted)
    store.settings.set_session_limits(SessionLimits(max_packet_size=4096, max_subscriber_backlog_bytes=MIB))
    assert store.settings.broker_limits() == wanted
    shown = current(store)
    assert (shown["max_connections"], shown["max_connections_per_address"]) == (5, 2)
    assert (shown["max_retained_messages"], shown["max_retained_bytes"]) == (9, 4096)
    assert (shown["max_packet_size"], shown["max_subscriber_backlog_bytes"]) == (4096, MIB)


def _publish(topic: str, payload: bytes) -> Publish:
    return Publish(topic, payload, 0, True)


def test_retained_messages_are_bounded_in_count_replacements_are_not_new_ones() -> None:
    retained = RetainedMessages(BrokerLimits(max_retained_messages=2))
    assert retained.put(_publish("a", b"1"), None) is None
    assert retained.put(_publish("b", b"1"), None) is None
    refused = retained.put(_publish("c", b"1"), None)
    assert refused is not None
    assert "max_retained_messages 2" in refused
    assert retained.put(_publish("a", b"22"), None) is None  # the same topic again: a replacement
    assert retained.put(_publish("a", b""), None) is None  # cleared: a place is free
    assert retained.put(_publish("c", b"1"), None) is None
    assert sorted(topic for topic, _ in retained.matching("#")) == ["b", "c"]


def test_retained_bytes_count_topics_and_payloads_and_stale_ones_go() -> None:
    retained = RetainedMessages(BrokerLimits(max_retained_bytes=20))
    assert retained.put(_publish("lwt/é", b"Online"), None) is None  # 6 bytes of topic (é is 2), 6 of payload
    assert retained.bytes == 12
    refused = retained.put(_publish("lwt/é", b"O" * 20), None)
    assert refused is not None
    assert "cleared" in refused
    assert (len(retained), retained.bytes) == (0, 0)  # "Online" went with it: it is out of date
    assert retained.put(_publish("x", b"y" * 19), None) is None  # exactly the limit fits
    assert retained.put(_publish("z", b"1"), None) is not None


def test_expired_retained_messages_free_their_bytes() -> None:
    now = [100.0]
    retained = RetainedMessages(BrokerLimits(), clock=lambda: now[0])
    retained.put(_publish("t", b"12345"), 150.0)
    now[0] = 151.0
    assert retained.matching("t") == []
    assert retained.bytes == 0


def test_no_limit_is_zero() -> None:
    retained = RetainedMessages(BrokerLimits(max_retained_messages=0, max_retained_bytes=0))
    for number in range(300):
        assert retained.put(_publish(f"t/{number}", b"x" * 1000), None) is None
    connections = OpenConnections(BrokerLimits(max_connections=0))
    for _ in range(300):
        assert connections.refusal("127.0.0.1") is None
        connections.opened("127.0.0.1")


def test_open_connections_count_per_address_and_in_all() -> None:
    connections = OpenConnections(BrokerLimits(max_connections=3, max_connections_per_address=2))
    for address in ("127.0.0.2", "127.0.0.2", "127.0.0.3"):
        assert connections.refusal(address) is None
        connections.opened(address)
    assert connections.refusal("127.0.0.4") is not None
    assert connections.refusal("127.0.0.4")[0] is LimitEvent.CONNECTIONS  # type: ignore[index]
    connections.closed("127.0.0.3")
    over = connections.refusal("127.0.0.2")
    assert over is not None
    assert over[0] is LimitEvent.CONNECTIONS_PER_ADDRESS
    assert "127.0.0.2 holds 2" in over[1]
    assert connections.refusal("127.0.0.4") is None
    connections.closed("127.0.0.2")
    assert (connections.total, connections.from_address("127.0.0.2")) == (1, 1)


def test_counts_describe_refusals_then_drops_and_log_once_per_subject(caplog: pytest.LogCaptureFixture) -> None:
    counts = LimitCounts()
    assert counts.describe() == ""
    with caplog.at_level(logging.WARNING, logger="mqttdesk.broker.limit_counts"):
        for _ in range(12):
            counts.count(LimitEvent.RETAINED, "plug-1", "the retained message was not kept")
        for _ in range(3):
            counts.count(LimitEvent.CONNECTIONS)
    assert counts.describe() == "refused: 3 over the connection limit · dropped: 12 retained over the limit"
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["plug-1: the retained message was not kept"]
    assert counts.snapshot()["retained"] == 12
    assert counts.snapshot()["queued"] == 0


def test_drops_from_many_clients_log_a_bounded_number_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    counts = LimitCounts()
    with caplog.at_level(logging.WARNING, logger="mqttdesk.broker.limit_counts"):
        for number in range(MAX_LOGGED_SUBJECTS + 50):
            counts.count(LimitEvent.QUEUED, f"c{number}", "dropped")
    assert len(caplog.records) == MAX_LOGGED_SUBJECTS
    assert counts[LimitEvent.QUEUED] == MAX_LOGGED_SUBJECTS + 50


class _BackedUpStream:
    """A stream whose client reads nothing: `backlog` bytes wait in its buffer."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self.written: list[bytes] = []

    def write_buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _Sink:
    def wants_flush(self, connection: Any) -> None:
        pass


def test_a_slow_subscriber_loses_qos0_beyond_its_backlog_and_it_is_counted() -> None:
    counts = LimitCounts()
    limits = SessionLimits(max_subscriber_backlog_bytes=64 * 1024)
    live = LiveSession("slow", None, "anonymous", None, 0.0, True, GRANT)
    state = SessionState("slow", True, GRANT, live, limits, counts=counts)
    stream = _BackedUpStream(backlog=60 * 1024)
    connection = Connection(stream, ServerProtocol(), state, _Sink())  # type: ignore[arg-type]
    assert connection.send_qos0(b"x" * 1024)  # 61 KiB waiting: under the limit
    assert connection.send_qos0(b"x" * 1024)  # 62 KiB, counting what this turn packed already
    connection.flush()  # written: the stream holds it now, and the client reads nothing
    assert stream.written == [b"x" * 2048]
    stream.backlog = 65 * 1024
    assert not connection.send_qos0(b"x" * 1024)
    assert not connection.send_qos0(b"x" * 1024)
    assert counts[LimitEvent.SLOW_SUBSCRIBER] == 2


def test_what_one_loop_turn_packs_for_a_subscriber_counts_against_its_backlog() -> None:
    counts = LimitCounts()
    live = LiveSession("slow", None, "anonymous", None, 0.0, True, GRANT)
    state = SessionState("slow", True, GRANT, live, SessionLimits(max_subscriber_backlog_bytes=64 * 1024),
                         counts=counts)
    stream = _BackedUpStream(backlog=63 * 1024)
    connection = Connection(stream, ServerProtocol(), state, _Sink())  # type: ignore[arg-type]
    assert connection.send_qos0(b"x" * 1024)  # 63 KiB held by the stream: under the limit
    assert connection.send_qos0(b"x" * 1024)  # 64 KiB: at it
    assert not connection.send_qos0(b"x" * 1024)  # 65 KiB waiting, though the stream was asked only once
    assert counts[LimitEvent.SLOW_SUBSCRIBER] == 1
