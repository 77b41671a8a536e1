"""Noticing that the event loop's clock jumped: the machine slept (a laptop lid), or the process was stopped.

Keep-alive deadlines are timers on the loop's clock. Where that clock goes on while the machine sleeps (as it does
on some platforms, and for a paused VM or a stopped process everywhere), every deadline has passed on resume and
every timer fires at once, before any of the clients — alive, and pinging as soon as their own machine or network
is back — has had a turn to be read: the broker would disconnect them all and publish all their wills.

So the broker ticks once a second and watches the gap: a tick (or a keep-alive deadline, which asks before it ends a
session) that finds far more time gone than a tick is a jump, and every session gets one fresh keep-alive period
from now. A client that is in fact alive speaks within it; one that is gone is disconnected when it ends, as usual
(`keepalive-timeout`). The same holds after a long stall of the loop itself: meanwhile nothing was read, whatever
the clients sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between two looks at the clock
SLACK = 3.0  # beyond a tick: a gap longer than TICK + SLACK is a jump (a loaded machine stalls for less)

Jumped = Callable[[float], None]  # the gap, in seconds, beyond what was expected


class ClockJumps:
    def __init__(self, loop: asyncio.AbstractEventLoop, jumped: Jumped, *, tick: float = TICK,
                 slack: float = SLACK) -> None:
        self._loop = loop
        self._jumped = jumped
        self.tick = tick
        self.slack = slack
        self._last = loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.jumps = 0

    def start(self) -> None:
        if self._timer is None:
            self._last = self._loop.time()
            self._timer = self._loop.call_later(self.tick, self._on_tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def check(self) -> bool:
        """Whether the clock jumped since the last tick (then every session has been given a fresh period)."""
        now = self._loop.time()
        gap = now - self._last
        if gap <= self.tick + self.slack:
            return False
        self._last = now
        self.jumps += 1
        log.warning("the clock jumped %.0f s ahead (the machine slept, or the broker was stopped): every session "
                    "gets a fresh keep-alive period instead of being disconnected", gap - self.tick)
        self._jumped(gap - self.tick)
        return True

    def _on_tick(self) -> None:
        self.check()
        self._last = self._loop.time()
        self._timer = self._loop.call_later(self.tick, self._on_tick)
