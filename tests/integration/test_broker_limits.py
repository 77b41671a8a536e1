"""The broker's limits as a whole client meets them: connections (total and per address), the packet size,
subscriptions per client, retained messages (count and bytes) and the queue of an offline session. Each refusal or
drop is in the Auth log (refusals) or the log, and counted in `registry.limit_counts` (the Clients view's line).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mqttdesk.broker.limit_counts import LimitEvent
from mqttdesk.core.limits import BrokerLimits, SessionLimits
from mqttdesk.core.reasons import ReasonCode
from tests.integration.conformance import running_desk
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import PacketType, Publish, RawClient, encode_publish
from tests.integration.raw_mqtt5 import Raw5

WAIT = 10.0


def _count(instance: Instance, event: LimitEvent) -> int:
    return int(instance.call(lambda: instance.service.registry.limit_counts[event]))


def _entries(instance: Instance, code: ReasonCode) -> list[Any]:
    instance.flush_log()
    return [e for e in instance.call(instance.store.auth_log.recent, 500) if e.reason_code == code.value]


def _connect(instance: Instance, client_id: str, source: str | None = None, **options: object) -> RawClient:
    client = RawClient(instance.port, name=client_id, timeout=WAIT, source=source)
    assert client.connect(client_id, **options).return_code == 0  # anonymous on loopback: every topic
    return client


def test_connections_over_max_connections_get_connack_3_with_the_reason(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", broker_limits=BrokerLimits(max_connections=2)) as instance:
        first, second = _connect(instance, "one"), _connect(instance, "two")
        with RawClient(instance.port, name="three", timeout=WAIT) as third:
            assert third.connect("three").return_code == 3  # server unavailable
            assert third.wait_closed(WAIT)
        [entry] = _entries(instance, ReasonCode.TOO_MANY_CONNECTIONS)
        assert entry.client_id == "three"
        assert not entry.allowed
        assert "holds 2 connections, its limit (max_connections 2)" in entry.reason
        assert _count(instance, LimitEvent.CONNECTIONS) == 1
        assert first.disconnect(timeout=WAIT)
        again = _connect(instance, "three")  # a place was freed: the limit counts open connections, not history
        for client in (second, again):
            client.close()


def test_the_per_address_limit_leaves_other_addresses_alone(tmp_path: Path) -> None:
    limits = BrokerLimits(max_connections_per_address=1)
    with running_desk(tmp_path / "data", broker_limits=limits) as instance:
        mine = _connect(instance, "mine", source="127.0.0.7")
        with RawClient(instance.port, name="second", timeout=WAIT, source="127.0.0.7") as second:
            assert second.connect("second").return_code == 3
        other = _connect(instance, "other", source="127.0.0.8")
        [entry] = _entries(instance, ReasonCode.TOO_MANY_FROM_ADDRESS)
        assert entry.address == "127.0.0.7"
        assert "max_connections_per_address 1" in entry.reason
        assert _count(instance, LimitEvent.CONNECTIONS_PER_ADDRESS) == 1
        assert _count(instance, LimitEvent.CONNECTIONS) == 0
        mine.close()
        other.close()


def test_an_mqtt5_client_over_the_limit_hears_quota_exceeded_and_why(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", broker_limits=BrokerLimits(max_connections=1)) as instance:
        first = _connect(instance, "one")
        with Raw5(instance.port) as five:
            connack = five.connect("five")
            assert connack.reason_code_after(1) == 0x97  # quota exceeded
            assert "(max_connections 1)" in (connack.reason_string_after(2) or "")
        first.close()


def test_a_packet_over_max_packet_size_closes_the_connection_and_is_counted(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", limits=SessionLimits(max_packet_size=2048)) as instance:
        sender = _connect(instance, "sender")
        small = _connect(instance, "small")
        small.publish("t/ok", b"x" * 1500, qos=1)  # under the limit: accepted
        sender.send(encode_publish("t/big", b"x" * 4096, qos=0))
        assert sender.wait_closed(WAIT)
        assert _count(instance, LimitEvent.PACKET_TOO_LARGE) == 1
        ended = instance.last_entry("sender", "DISCONNECT")
        assert ended.reason_code == ReasonCode.PROTOCOL_ERROR.value
        assert "exceeds the maximum packet size of 2048" in ended.reason
        small.close()


def test_subscriptions_over_the_limit_are_refused_and_counted(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", limits=SessionLimits(max_subscriptions_per_client=2)) as instance:
        client = _connect(instance, "many")
        assert client.subscribe_many([("a", 0), ("b", 0), ("c", 0), ("d", 0)]) == [0, 0, 0x80, 0x80]
        assert _count(instance, LimitEvent.SUBSCRIPTIONS) == 2
        [entry] = _entries(instance, ReasonCode.SUBSCRIPTION_LIMIT)  # once per session, naming the first refused
        assert entry.topic == "c"
        client.close()


def test_retained_messages_over_the_count_are_delivered_but_not_kept(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", broker_limits=BrokerLimits(max_retained_messages=2)) as instance:
        live = _connect(instance, "live")
        assert live.subscribe("state/#", 1) == 1
        publisher = _connect(instance, "publisher")
        for name in ("a", "b", "c"):
            publisher.publish(f"state/{name}", name, qos=1, retain=True)
        got = [live.expect(PacketType.PUBLISH) for _ in range(3)]
        assert [p.topic for p in got] == ["state/a", "state/b", "state/c"]  # type: ignore[union-attr]
        publisher.publish("state/a", "A", qos=1, retain=True)  # replacing one is not a new one
        live.expect(PacketType.PUBLISH)
        late = _connect(instance, "late")
        assert late.subscribe("state/#", 1) == 1
        retained = sorted((p.topic, p.payload) for p in (late.expect(PacketType.PUBLISH) for _ in range(2))
                          if isinstance(p, Publish))
        assert retained == [("state/a", b"A"), ("state/b", b"b")]
        late.ping()  # nothing more was retained: the PINGRESP comes next, and no PUBLISH was put aside before it
        assert not any(isinstance(p, Publish) for p in late.pending())
        [entry] = _entries(instance, ReasonCode.RETAINED_LIMIT)
        assert entry.client_id == "publisher"
        assert entry.topic == "state/c"
        assert "max_retained_messages 2" in entry.reason
        assert "was not kept" in entry.reason
        assert _count(instance, LimitEvent.RETAINED) == 1
        for client in (live, publisher, late):
            client.close()


def test_a_replacement_over_the_retained_bytes_clears_the_stale_one(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    with running_desk(tmp_path / "data", broker_limits=BrokerLimits(max_retained_bytes=100)) as instance:
        publisher = _connect(instance, "publisher")
        publisher.publish("lwt/plug", "Online", qos=1, retain=True)
        with caplog.at_level(logging.WARNING, logger="mqttdesk.broker.limit_counts"):
            publisher.publish("lwt/plug", "O" * 200, qos=1, retain=True)
        assert instance.call(lambda: len(_broker(instance).router.retained)) == 0  # "Online" is gone as well
        assert any("over the limit (max_retained_bytes 100)" in r.getMessage() for r in caplog.records)
        assert _count(instance, LimitEvent.RETAINED) == 1
        publisher.close()


def test_messages_over_the_queue_of_an_offline_session_are_dropped_and_counted(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", limits=SessionLimits(max_queued=3)) as instance:
        away = _connect(instance, "away", clean_session=False)
        assert away.subscribe("q/#", 1) == 1
        assert away.disconnect(timeout=WAIT)
        publisher = _connect(instance, "publisher")
        for number in range(5):
            publisher.publish(f"q/{number}", "m", qos=1)
        assert _count(instance, LimitEvent.QUEUED) == 2
        assert instance.call(lambda: instance.service.registry.limit_counts.describe()) == \
            "dropped: 2 queued over the limit"
        publisher.close()


def _broker(instance: Instance) -> Any:
    broker = instance.service._broker
    assert broker is not None
    return broker
