"""Telling a jump of the loop's clock (a machine that slept) from ordinary ticks, with a clock the test moves."""

from __future__ import annotations

from typing import Any

from mqttdesk.broker.clock_jumps import SLACK, TICK, ClockJumps


class _Loop:
    """The two things ClockJumps asks of a loop: the time, and a timer (kept, not run)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[Any] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any) -> _Handle:
        self.timers.append(callback)
        return _Handle()


class _Handle:
    def cancel(self) -> None:
        pass


def _watch() -> tuple[_Loop, ClockJumps, list[float]]:
    loop, gaps = _Loop(), []
    jumps = ClockJumps(loop, gaps.append)  # type: ignore[arg-type]
    jumps.start()
    return loop, jumps, gaps


def test_ordinary_and_late_ticks_are_no_jump() -> None:
    loop, jumps, gaps = _watch()
    for late in (TICK, TICK + 0.5, TICK + SLACK):  # a loaded machine runs a tick late, not asleep
        loop.now += late
        loop.timers.pop()()
    assert (gaps, jumps.jumps) == ([], 0)


def test_a_jump_is_seen_once_by_whoever_looks_first() -> None:
    loop, jumps, gaps = _watch()
    loop.now += 3600.0  # asleep: the keep-alive deadline that fires first asks before the tick runs
    assert jumps.check()
    assert not jumps.check()  # the other deadlines due at the same moment: already handled
    loop.timers.pop()()  # the tick that was due: no second jump
    assert gaps == [3600.0 - TICK]
    assert jumps.jumps == 1
    loop.now += TICK
    loop.timers.pop()()
    assert jumps.jumps == 1


def test_the_tick_sees_a_jump_when_no_deadline_is_due() -> None:
    loop, jumps, gaps = _watch()
    loop.now += 60.0
    loop.timers.pop()()
    assert gaps == [60.0 - TICK]
