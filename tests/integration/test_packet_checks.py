"""Packets checked when they arrive: QoS 2 decided at PUBLISH and bounded, malformed SUBSCRIBE/UNSUBSCRIBE closed.

Raw-socket clients, because what matters is which packet the broker answers with (PUBREC without a stored payload,
no SUBACK at all) and when it closes the connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqttdesk.core.acl import Permission
from mqttdesk.core.limits import MIB, SessionLimits
from mqttdesk.store.db import Store
from tests.integration.conformance import running_desk
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import (
    PacketType,
    RawClient,
    encode_packet_id_only,
    encode_publish,
    encode_subscribe,
    encode_unsubscribe,
)


def _provision(store: Store) -> None:
    """User 'sensor' may write sensors/#; user 'root' may read and write everything."""
    store.roles.add("sensor")
    store.roles.allow("sensor", "sensors/#", Permission.WRITE)
    store.roles.add("admin")
    store.roles.allow("admin", "#", Permission.READWRITE)
    store.users.add("sensor", fast_hash("pw"), ("sensor",))
    store.users.add("root", fast_hash("rootpw"), ("admin",))


@pytest.fixture
def users(admin: Store, instance: Instance) -> Instance:
    _provision(admin)
    instance.sync()
    return instance


@pytest.fixture
def raw(users: Instance) -> Iterator[Any]:
    made: list[RawClient] = []

    def connect(client_id: str, username: str, password: str) -> RawClient:
        client = RawClient(users.port, name=client_id)
        made.append(client)
        assert client.connect(client_id, username=username, password=password).return_code == 0
        return client

    yield connect
    for client in made:
        client.close()


def _log(instance: Instance) -> list[Any]:
    instance.flush_log()
    return instance.call(instance.store.auth_log.recent, 500)


def _state(instance: Instance, client_id: str) -> Any:
    broker = instance.service._broker
    assert broker is not None
    return broker._states[client_id]


def _ended(instance: Instance, client_id: str) -> Any:
    ends = [e for e in _log(instance) if e.kind == "DISCONNECT" and e.client_id == client_id]
    assert ends, f"no session end logged for {client_id}"
    return ends[-1]


# -- QoS 2: decided at PUBLISH -------------------------------------------------------------------------------


def test_refused_qos2_publish_is_acknowledged_logged_and_not_kept(users: Instance, raw: Any) -> None:
    root = raw("root", "root", "rootpw")
    assert root.subscribe("#", 2) == 2
    sensor = raw("s1", "sensor", "pw")
    payload = b"x" * MIB
    for packet_id in range(1, 11):  # ten 1 MiB messages to a topic it may not write
        sensor.send(encode_publish("forbidden/blob", payload, qos=2, packet_id=packet_id))
        sensor.expect(PacketType.PUBREC, packet_id=packet_id)
    state = _state(users, "s1")
    held = users.call(lambda: (dict(state.incoming_qos2), state.incoming_qos2_bytes))
    assert held == ({packet_id: None for packet_id in range(1, 11)}, 0)  # only the ids: nothing to route
    refused = [e for e in _log(users) if e.kind == "PUBLISH" and not e.allowed]
    assert [(e.topic, e.reason_code) for e in refused] == [("forbidden/blob", "acl-no-rule")]  # at PUBLISH time
    for packet_id in range(1, 11):
        sensor.send(encode_packet_id_only(PacketType.PUBREL, packet_id))
        sensor.expect(PacketType.PUBCOMP, packet_id=packet_id)
    assert users.call(lambda: len(state.incoming_qos2)) == 0
    sensor.publish("sensors/s1/done", b"marker", qos=2)
    assert root.next_message().payload == b"marker"  # the first message root gets: nothing refused was routed


def test_allowed_qos2_publish_is_routed_at_pubrel(users: Instance, raw: Any) -> None:
    root = raw("root", "root", "rootpw")
    assert root.subscribe("sensors/#", 2) == 2
    sensor = raw("s1", "sensor", "pw")
    sensor.send(encode_publish("sensors/s1/t", b"21", qos=2, packet_id=7))
    sensor.expect(PacketType.PUBREC, packet_id=7)
    state = _state(users, "s1")
    assert users.call(lambda: state.incoming_qos2_bytes) == len(b"21") + len("sensors/s1/t")
    sensor.send(encode_publish("sensors/s1/t", b"21", qos=2, packet_id=7, dup=True))  # resent before PUBREL
    sensor.expect(PacketType.PUBREC, packet_id=7)
    sensor.send(encode_packet_id_only(PacketType.PUBREL, 7))
    sensor.expect(PacketType.PUBCOMP, packet_id=7)
    sensor.publish("sensors/s1/t", b"marker", qos=2)
    assert [m.payload for m in root.messages_until(b"marker")] == [b"21", b"marker"]  # exactly once
    assert users.call(lambda: state.incoming_qos2_bytes) == 0


@pytest.mark.parametrize("topic", ["sensors/+/t", "sensors/#", ""])
def test_qos2_publish_to_an_invalid_topic_closes_at_publish(users: Instance, raw: Any, topic: str) -> None:
    """[MQTT-3.3.2-2]: a topic name with a wildcard (or none at all) is a protocol violation, not a PUBREC."""
    sensor = raw("s1", "sensor", "pw")
    sensor.send(encode_publish(topic, b"x" * 1000, qos=2, packet_id=1))
    assert sensor.wait_closed()
    assert [p.type for p in sensor.pending()] == []  # no PUBREC
    end = _ended(users, "s1")
    assert end.reason_code == "protocol-error"
    assert "topic" in end.reason


def test_unreleased_qos2_is_bounded_by_bytes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    _provision(store)
    store.close()
    with running_desk(tmp_path / "data", limits=SessionLimits(max_incoming_qos2_bytes=MIB)) as instance, \
            RawClient(instance.port, name="s1") as sensor:
        assert sensor.connect("s1", username="sensor", password="pw").return_code == 0
        half = b"x" * (MIB // 2)
        sensor.send(encode_publish("sensors/s1/a", half, qos=2, packet_id=1))
        sensor.expect(PacketType.PUBREC, packet_id=1)
        sensor.send(encode_packet_id_only(PacketType.PUBREL, 1))  # released: its bytes no longer count
        sensor.expect(PacketType.PUBCOMP, packet_id=1)
        sensor.send(encode_publish("sensors/s1/b", half, qos=2, packet_id=2))
        sensor.expect(PacketType.PUBREC, packet_id=2)
        sensor.send(encode_publish("sensors/s1/c", half, qos=2, packet_id=3))  # 2 × 512 KiB + topics > 1 MiB
        assert sensor.wait_closed()
        assert [p.type for p in sensor.pending()] == []
        end = _ended(instance, "s1")
        assert end.reason_code == "protocol-error"
        assert "max_incoming_qos2_bytes" in end.reason
        assert f"{MIB:,}" in end.reason


# -- SUBSCRIBE and UNSUBSCRIBE that break the protocol ---------------------------------------------------------


def test_subscribe_with_requested_qos_3_closes_the_connection(users: Instance, raw: Any) -> None:
    """[MQTT-3.8.3-4]; this was answered with SUBACK 0x03 (a grant of a QoS that does not exist)."""
    root = raw("root", "root", "rootpw")
    root.send(encode_subscribe(1, [("a/b", 1), ("c/d", 3)]))
    assert root.wait_closed()
    assert [p.type for p in root.pending()] == []  # no SUBACK
    end = _ended(users, "root")
    assert end.reason_code == "protocol-error"
    assert "QoS 3" in end.reason


@pytest.mark.parametrize("topic_filter", ["a/#/b", "a/b+", "#/x", ""])
def test_unsubscribe_with_an_invalid_filter_closes_the_connection(users: Instance, raw: Any,
                                                                   topic_filter: str) -> None:
    root = raw("root", "root", "rootpw")
    assert root.subscribe("a/b", 1) == 1
    root.send(encode_unsubscribe(2, ["a/b", topic_filter]))
    assert root.wait_closed()
    assert [p.type for p in root.pending()] == []  # no UNSUBACK
    end = _ended(users, "root")
    assert end.reason_code == "protocol-error"
    assert "UNSUBSCRIBE with an invalid topic filter" in end.reason
