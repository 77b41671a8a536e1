"""The window's event loop: asyncio's ready callbacks run in order, in slices, with Qt's events between slices."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from mqttdesk.gui.event_loop import SLICE_SECONDS, SlicedEventLoop
from tests.gui.conftest import close_running_loop


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[SlicedEventLoop]:
    loop = SlicedEventLoop(qapp, already_running=True)
    try:
        yield loop
    finally:
        close_running_loop(qapp, loop)


def _qt_timer(callback: Callable[[], object]) -> QTimer:
    """A zero-interval Qt timer, as the window's own timers are (not `QTimer.singleShot(0)`: Qt posts that as an
    event, which goes before every timer whatever the loop does)."""
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setInterval(0)
    timer.timeout.connect(callback)
    timer.start()
    return timer


def _work(seconds: float) -> None:
    """A callback's CPU work (what a slice is measured against), not a wait for anything."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_callbacks_run_in_the_order_they_were_scheduled_across_slices(qtbot: QtBot, loop: SlicedEventLoop) -> None:
    ran: list[int] = []
    for number in range(200):
        loop.call_soon(ran.append, number)
    loop.call_soon(_work, SLICE_SECONDS * 2)  # this one ends its slice: the rest run in the next
    for number in range(200, 400):
        loop.call_soon(ran.append, number)
    qtbot.waitUntil(lambda: len(ran) == 400, timeout=5000)
    assert ran == list(range(400))


def test_qt_gets_a_turn_while_a_crowd_of_callbacks_runs(qtbot: QtBot, loop: SlicedEventLoop) -> None:
    # 40 callbacks of 1 ms each are due at once (a storm's worth of socket reads); a Qt timer started after them
    # must not wait for all 40 (on qasync's own loop it does: each callback is a Qt timer, all fired in one pass)
    ran: list[int] = []
    for number in range(40):
        loop.call_soon(lambda number=number: (_work(0.001), ran.append(number)))
    seen_by_qt: list[int] = []
    probe = _qt_timer(lambda: seen_by_qt.append(len(ran)))
    qtbot.waitUntil(lambda: len(ran) == 40 and bool(seen_by_qt), timeout=5000)
    assert seen_by_qt[0] < 40
    del probe


def test_what_a_callback_schedules_waits_for_a_later_slice(qtbot: QtBot, loop: SlicedEventLoop) -> None:
    # a callback that keeps rescheduling itself (a busy task) cannot keep Qt out
    turns = {"chain": 0}
    seen_by_qt: list[int] = []

    def again() -> None:
        turns["chain"] += 1
        if turns["chain"] < 1000:
            loop.call_soon(again)

    loop.call_soon(again)
    probe = _qt_timer(lambda: seen_by_qt.append(turns["chain"]))
    qtbot.waitUntil(lambda: turns["chain"] == 1000 and bool(seen_by_qt), timeout=5000)
    assert seen_by_qt[0] < 1000
    del probe


def test_a_cancelled_callback_does_not_run(qtbot: QtBot, loop: SlicedEventLoop) -> None:
    ran: list[str] = []
    loop.call_soon(ran.append, "first")
    loop.call_soon(ran.append, "cancelled").cancel()
    loop.call_soon(ran.append, "last")
    qtbot.waitUntil(lambda: ran[-1:] == ["last"], timeout=5000)
    assert ran == ["first", "last"]


def test_a_failing_callback_goes_to_the_exception_handler_and_the_rest_still_run(
        qtbot: QtBot, loop: SlicedEventLoop) -> None:
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("boom")

    loop.call_soon(fail)
    loop.call_soon(ran.append, "after")
    qtbot.waitUntil(lambda: ran == ["after"], timeout=5000)
    assert isinstance(reported[0]["exception"], ValueError)


def test_tasks_futures_and_other_threads_run_on_it(qtbot: QtBot, loop: SlicedEventLoop) -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        future = loop.create_future()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(future.set_result, 42)).start()
        return await asyncio.wait_for(future, timeout=5)

    task = loop.create_task(answer())
    qtbot.waitUntil(task.done, timeout=5000)
    assert task.result() == 42


def test_close_drops_what_was_still_waiting(qapp: QApplication) -> None:
    loop = SlicedEventLoop(qapp, already_running=True)
    ran: list[str] = []
    loop.call_soon(ran.append, "never")
    close_running_loop(qapp, loop)
    for _ in range(3):  # a zero-interval timer, were one left, fires in any of these passes
        qapp.processEvents()
    assert ran == []
    with pytest.raises(RuntimeError):
        loop.call_soon(ran.append, "after close")
