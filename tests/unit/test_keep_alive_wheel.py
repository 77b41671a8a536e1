"""One loop timer for every keep-alive deadline (broker/keep_alive_wheel.py)."""

from __future__ import annotations

import asyncio

from mqttdesk.broker.keep_alive_wheel import SLOT_SECONDS, KeepAliveWheel


class _Client:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, fired: list[tuple[str, float]],
                 done: asyncio.Event, expected: int) -> None:
        self.loop, self.name, self.fired, self.done, self.expected = loop, name, fired, done, expected
        self.deadline = 0.0

    def deadline_due(self) -> None:
        self.fired.append((self.name, self.loop.time()))
        if len(self.fired) == self.expected:
            self.done.set()


def test_deadlines_fire_never_early_and_in_order_from_one_timer() -> None:
    async def run() -> list[tuple[str, float, float]]:
        loop = asyncio.get_running_loop()
        wheel = KeepAliveWheel.of(loop)
        assert KeepAliveWheel.of(loop) is wheel
        fired: list[tuple[str, float]] = []
        done = asyncio.Event()
        now = loop.time()
        clients = {name: _Client(loop, name, fired, done, 3) for name in ("late", "soon", "middle")}
        for name, offset in (("late", 0.6), ("soon", 0.05), ("middle", 0.3)):
            clients[name].deadline = now + offset
            wheel.add(clients[name], clients[name].deadline)
        assert len(wheel) == 3
        await asyncio.wait_for(done.wait(), 5)
        assert len(wheel) == 0
        return [(name, at, clients[name].deadline) for name, at in fired]

    fired = asyncio.run(run())
    assert [name for name, _, _ in fired] == ["soon", "middle", "late"]
    for _, at, deadline in fired:
        assert deadline <= at < deadline + SLOT_SECONDS + 1.0  # rounded up to its slot, never before


def test_a_removed_connection_is_not_asked_and_one_filed_again_is() -> None:
    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        wheel = KeepAliveWheel(loop)
        fired: list[tuple[str, float]] = []
        done = asyncio.Event()
        gone = _Client(loop, "gone", fired, done, 2)
        moved = _Client(loop, "moved", fired, done, 2)
        stays = _Client(loop, "stays", fired, done, 2)
        now = loop.time()
        wheel.remove(gone, wheel.add(gone, now + 0.05))  # ended before its deadline
        wheel.remove(moved, wheel.add(moved, now + 0.05))
        wheel.add(moved, now + 0.4)  # its client spoke: a later deadline
        wheel.add(stays, now + 0.05)
        await asyncio.wait_for(done.wait(), 5)
        return [name for name, _ in fired]

    assert asyncio.run(run()) == ["stays", "moved"]


def test_an_earlier_deadline_rearms_the_timer() -> None:
    async def run() -> float:
        loop = asyncio.get_running_loop()
        wheel = KeepAliveWheel(loop)
        fired: list[tuple[str, float]] = []
        done = asyncio.Event()
        far = _Client(loop, "far", fired, done, 1)
        near = _Client(loop, "near", fired, done, 1)
        now = loop.time()
        wheel.add(far, now + 60)
        wheel.add(near, now + 0.05)  # must not wait for the minute-away timer
        await asyncio.wait_for(done.wait(), 5)
        assert fired[0][0] == "near"
        return fired[0][1] - now

    assert asyncio.run(run()) < 5
