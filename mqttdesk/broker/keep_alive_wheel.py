"""One timer for the keep-alive deadlines of every connection, instead of one timer each.

A timer of the event loop is a handle per connection (on uvloop also a libuv timer: ~650 bytes of every idle
client, an eighth of all it holds). Keep-alive deadlines need no such precision: a client is given 1.5 times its
keep-alive interval, and ending it a fraction of a second later changes nothing. So deadlines are rounded *up* to a
slot of `SLOT_SECONDS` (never early), each slot is a set of the connections due in it, and one loop timer is armed
for the earliest slot. A connection that ends leaves its slot; a fired one is asked to check its deadline and files
itself again if it is still alive (`Watched.deadline_due`).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from typing import Protocol

SLOT_SECONDS = 0.25


class Watched(Protocol):
    def deadline_due(self) -> None:
        """Its slot's time has come: check the deadline (and file again with `add` if it has moved)."""


class KeepAliveWheel:
    __slots__ = ("_loop", "_slots", "_starts", "_timer", "_armed_for", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, set[Watched]] = {}
        self._starts: list[int] = []  # a heap of the slots in `_slots` (and of some emptied since)
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: int | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> KeepAliveWheel:
        """The wheel of `loop` (one per loop, made on first use)."""
        global _LAST
        last = _LAST
        if last is not None and last._loop is loop:  # every connection asks twice: spare it the weak mapping
            return last
        wheel = _WHEELS.get(loop)
        if wheel is None:
            wheel = _WHEELS[loop] = cls(loop)
        _LAST = wheel
        return wheel

    def add(self, watched: Watched, deadline: float) -> int:
        """File `watched` under `deadline` (loop time); the slot it went into, for `remove`."""
        slot = math.ceil(deadline / SLOT_SECONDS)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            heapq.heappush(self._starts, slot)
            if self._armed_for is None or slot < self._armed_for:
                self._arm(slot)
        members.add(watched)
        return slot

    def remove(self, watched: Watched, slot: int) -> None:
        members = self._slots.get(slot)
        if members is not None:
            members.discard(watched)
            if not members:
                del self._slots[slot]  # (left in the heap: popped when its time comes)

    def __len__(self) -> int:
        return sum(len(members) for members in self._slots.values())

    def _arm(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = slot
        self._timer = self._loop.call_at(slot * SLOT_SECONDS, self._fire)

    def _fire(self) -> None:
        self._timer = self._armed_for = None
        now = self._loop.time()
        due: list[Watched] = []
        starts = self._starts
        while starts and starts[0] * SLOT_SECONDS <= now:
            members = self._slots.pop(heapq.heappop(starts), None)
            if members:
                due.extend(members)
        while starts and starts[0] not in self._slots:  # emptied slots: nothing to arm for
            heapq.heappop(starts)
        if starts:
            self._arm(starts[0])
        for watched in due:  # after arming: a deadline filed again by one of them may re-arm earlier
            watched.deadline_due()


_WHEELS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, KeepAliveWheel] = weakref.WeakKeyDictionary()
_LAST: KeepAliveWheel | None = None  # the wheel `of` gave last (a process serves from one loop)
