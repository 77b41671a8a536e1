"""`SlicedEventLoop`: qasync's asyncio-on-Qt loop, with asyncio's ready callbacks run in slices of a few milliseconds.

qasync turns every `call_soon` - a task step, a future's callback, a socket that became readable - into a Qt timer
of its own (`QObject.startTimer(0)`), and Qt runs all the timers that are due in one pass. When a thousand clients
connect or leave at once, a thousand callbacks are due together and the window waits for all of them: a repaint,
a click, a scroll bar sits still for the whole pass (the GUI benchmark's storm phases measured 85-100 ms at p99).

Here `call_soon` appends to one queue instead, as asyncio's own loop does, and a single zero-interval Qt timer
runs the queue in FIFO order until `SLICE_SECONDS` have gone by, then hands the turn back to Qt (input, paint,
the other timers and sockets) and carries on at the next pass. Callbacks scheduled while a slice runs wait for a
later slice, as in asyncio's loop, so a chain of callbacks cannot keep the window out. Delayed callbacks
(`call_later`, `call_at`) stay Qt timers, as in qasync. One timer instead of one per callback also spares Qt the
registration and sorting of a timer per callback.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import qasync  # type: ignore[import-untyped]  # (no type information shipped)
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

T = TypeVar("T")

# How long asyncio may hold the window before Qt gets a turn: small against the 16 ms of a 60 Hz frame, large
# against a callback (tens of microseconds), so slicing costs the broker next to nothing.
SLICE_SECONDS = 0.004


class SlicedEventLoop(qasync.QEventLoop):  # type: ignore[misc]  # (qasync is untyped)
    """qasync's loop whose ready callbacks run in slices of `SLICE_SECONDS` (module docstring)."""

    def __init__(self, app: QApplication | None = None, *, already_running: bool = False) -> None:
        self._soon: collections.deque[asyncio.Handle] = collections.deque()
        self._slicer = QTimer()
        self._slicer.setSingleShot(True)
        self._slicer.setInterval(0)
        self._slicer.timeout.connect(self._run_slice)
        # (not `_ready`: asyncio's BaseEventLoop has a queue by that name, unused under qasync)
        super().__init__(app, already_running=already_running)

    def call_soon(self, callback: Callable[..., object], *args: Any,
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        self._check_closed()
        handle = asyncio.Handle(callback, args, self, context=context)
        self._soon.append(handle)
        if not self._slicer.isActive():
            self._slicer.start()
        return handle

    def _run_slice(self) -> None:
        ready = self._soon
        deadline = time.perf_counter() + SLICE_SECONDS
        # only what was ready when the slice began: what these callbacks schedule waits for a later slice
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle.cancelled():
                handle._run()  # (reports its own exception to the loop's handler, as asyncio's loop does)
            if time.perf_counter() >= deadline:
                break
        if ready and not self.is_closed():
            self._slicer.start()

    def close(self) -> None:
        self._slicer.stop()
        self._soon.clear()
        super().close()


def run(main: Coroutine[Any, Any, T], app: QApplication) -> T:
    """`asyncio.run(main)` on a `SlicedEventLoop` over `app` (what `qasync.run` does with qasync's own loop)."""
    with asyncio.Runner(loop_factory=lambda: SlicedEventLoop(app)) as runner:
        return runner.run(main)
