"""SUBSCRIBE with many filters: bounded per packet and per client, and handled in slices that let others through.

One SUBSCRIBE with 300,000 filters used to block every client (and the window) for 15 s. The slicing test holds
the big SUBSCRIBE between two slices (`Router.between_slices` is where the broker yields to the event loop) and
shows, by the order of events, that meanwhile other clients are answered and that the client's own later packets
wait for its SUBACK.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqttdesk.core.limits import SessionLimits
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.store.db import Store
from tests.integration.conformance import running_desk
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import (
    PacketType,
    RawClient,
    Suback,
    encode_empty,
    encode_subscribe,
    encode_unsubscribe,
)

MANY = 20_000  # filters in the big SUBSCRIBE (sized for a 2-core machine)
SLICE = 100
WAIT = 10.0


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Instance]:
    limits = SessionLimits(max_subscriptions_per_packet=MANY, max_subscriptions_per_client=MANY)
    with running_desk(tmp_path / "data", limits=limits) as instance:
        yield instance


def _broker(instance: Instance) -> Any:
    broker = instance.service._broker
    assert broker is not None
    return broker


def _log(instance: Instance) -> list[Any]:
    instance.flush_log()
    return instance.call(instance.store.auth_log.recent, 500)


def _connected(instance: Instance, client_id: str) -> RawClient:
    client = RawClient(instance.port, name=client_id, timeout=WAIT)
    assert client.connect(client_id).return_code == 0  # anonymous, loopback: every topic allowed
    return client


class _Gate:
    """Holds a sliced SUBSCRIBE at its first pause until `open()`; `reached` is set when it gets there."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.reached = threading.Event()
        self.router = _broker(instance).router
        self._open: asyncio.Event = instance.call(asyncio.Event)
        real = self.router.between_slices

        async def paused() -> None:
            self.reached.set()
            await self._open.wait()
            await real()

        instance.call(setattr, self.router, "between_slices", paused)
        instance.call(setattr, self.router, "subscribe_slice", SLICE)

    def open(self) -> None:
        self.instance.loop.call_soon_threadsafe(self._open.set)


def test_other_clients_are_served_while_a_big_subscribe_is_handled(desk: Instance) -> None:
    gate = _Gate(desk)
    with _connected(desk, "big") as big, _connected(desk, "other") as other:
        filters = [(f"fleet/{n}/state", 1) for n in range(MANY)]
        big.send(encode_subscribe(1, filters) + encode_empty(PacketType.PINGREQ))  # one write: SUBSCRIBE, PINGREQ
        assert gate.reached.wait(WAIT), "the big SUBSCRIBE never paused between slices"
        state = _broker(desk)._states["big"]
        assert desk.call(lambda: len(state.subscriptions)) == SLICE  # held after its first slice

        other.ping()  # answered while the big SUBSCRIBE is half done
        other.publish("other/t", b"x", qos=1)  # PUBACK as well
        assert other.subscribe("other/#", 0) == 0
        assert desk.call(lambda: len(state.subscriptions)) == SLICE  # still held: the order above is the proof

        gate.open()
        suback = big.read_packet()
        assert isinstance(suback, Suback), suback
        assert suback.packet_id == 1
        assert suback.return_codes == (1,) * MANY
        assert big.read_packet().type is PacketType.PINGRESP  # its own later packet waited for the SUBACK
        assert desk.call(lambda: len(state.subscriptions)) == MANY


def test_a_client_ended_during_a_sliced_subscribe_gets_no_suback(desk: Instance) -> None:
    gate = _Gate(desk)
    with _connected(desk, "big") as big:
        big.send(encode_subscribe(1, [(f"fleet/{n}", 0) for n in range(MANY)]))
        assert gate.reached.wait(WAIT)
        broker = _broker(desk)
        connection = broker._connections["big"]
        assert desk.run(broker.end_session("big", ReasonCode.KICKED, "kicked by the test", wait=False))
        gate.open()
        desk.run(asyncio.wait_for(connection.finished.wait(), WAIT))  # the slices stopped, the session ended
        assert big.wait_closed()
        assert [p.type for p in big.pending()] == []
    assert desk.call(lambda: len(broker.router._index)) == 0  # the clean session took its filters with it


def test_more_filters_than_max_subscriptions_per_packet_close_the_connection(tmp_path: Path) -> None:
    limits = SessionLimits(max_subscriptions_per_packet=100)
    with running_desk(tmp_path / "data", limits=limits) as instance:
        with _connected(instance, "ok") as ok:
            assert ok.subscribe_many([(f"a/{n}", 0) for n in range(100)]) == [0] * 100
            ok.send(encode_unsubscribe(9, [f"a/{n}" for n in range(101)]))
            assert ok.wait_closed()
        with _connected(instance, "greedy") as greedy:
            greedy.send(encode_subscribe(1, [(f"a/{n}", 0) for n in range(101)]))
            assert greedy.wait_closed()
            assert [p.type for p in greedy.pending()] == []
        ends = {e.client_id: e for e in _log(instance) if e.kind == "DISCONNECT"}
        for client_id in ("ok", "greedy"):
            assert ends[client_id].reason_code == "protocol-error"
            assert "more than 100 topic filters (max_subscriptions_per_packet)" in ends[client_id].reason


def test_filters_beyond_max_subscriptions_per_client_get_0x80_and_one_log_entry(tmp_path: Path) -> None:
    with running_desk(tmp_path / "data", limits=SessionLimits(max_subscriptions_per_client=3)) as instance, \
            _connected(instance, "c1") as client:
        assert client.subscribe_many([("a", 0), ("b", 1), ("c", 2), ("d", 1), ("e", 0)]) == [0, 1, 2, 0x80, 0x80]
        assert client.subscribe_many([("a", 1), ("f", 0)]) == [1, 0x80]  # replacing one is not a new one
        client.unsubscribe("b")
        assert client.subscribe("f", 0) == 0
        limited = [e for e in _log(instance) if e.reason_code == "subscription-limit"]
        assert [(e.kind, e.allowed, e.topic, e.client_id) for e in limited] == [("SUBSCRIBE", False, "d", "c1")]
        assert "3 subscriptions (max_subscriptions_per_client)" in limited[0].reason


def test_the_stored_per_client_limit_applies_at_the_next_start(tmp_path: Path) -> None:
    """`mqttdesk config set max_subscriptions_per_client N` (the CLI writes this setting)."""
    settings = Store.open(tmp_path / "data")
    settings.settings.set_session_limits(SessionLimits(max_subscriptions_per_client=2))
    settings.close()
    with running_desk(tmp_path / "data") as instance, _connected(instance, "c1") as client:
        assert client.subscribe_many([("a", 0), ("b", 0), ("c", 0)]) == [0, 0, 0x80]
