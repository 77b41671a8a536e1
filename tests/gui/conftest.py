"""GUI test fixtures: offscreen Qt, a qasync loop on the test's QApplication, a store, a service, a window.

pytest-qt has no qasync support, so `aio` installs the window's loop (`SlicedEventLoop`, a `qasync.QEventLoop`)
in "already running" mode on qtbot's QApplication: asyncio callbacks run whenever Qt processes events, i.e. inside
`qtbot.waitUntil` / `waitSignal`, exactly as in the app where Qt's event loop drives asyncio. `aio.run(coro)` runs
a coroutine to its end that way. At teardown the loop must be idle: a test that leaves asyncio tasks behind fails.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the shared helpers assert too: rewrite them like the tests, so a failing check shows its values
pytest.register_assert_rewrite("tests.gui.helpers", "tests.gui.credential_dialog_checks")

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
from collections.abc import Callable, Coroutine, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import paho.mqtt.client as mqtt  # noqa: E402
import shiboken6  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from pytestqt.qtbot import QtBot  # noqa: E402

from mqttdesk.broker.service import BrokerService, BrokerState  # noqa: E402
from mqttdesk.gui.event_loop import SlicedEventLoop  # noqa: E402
from mqttdesk.gui.main_window import MainWindow  # noqa: E402
from mqttdesk.store.db import Store  # noqa: E402
from tests.support import fast_hash  # noqa: E402

T = TypeVar("T")

FAST_HASH = fast_hash

ClientFactory = Callable[..., mqtt.Client]


class AsyncRunner:
    """Runs coroutines on the qasync loop by letting Qt process events until they are done."""

    def __init__(self, loop: asyncio.AbstractEventLoop, qtbot: QtBot) -> None:
        self.loop = loop
        self._qtbot = qtbot

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        task = self.loop.create_task(coro)
        try:
            self._qtbot.waitUntil(task.done, timeout=int(timeout * 1000))
        except BaseException:
            task.cancel()
            raise
        return task.result()

    def pending_tasks(self) -> list[asyncio.Task[Any]]:
        return [task for task in asyncio.all_tasks(self.loop) if not task.done()]


def close_running_loop(qapp: QApplication, loop: SlicedEventLoop) -> None:
    """Stop and close a loop made with `already_running=True` on the test's QApplication.

    Not `loop.stop()`: it calls QCoreApplication.exit(), which sets Qt's "quit now" flag for good, and every later
    QEventLoop.exec() (qtbot.wait, waitUntil, waitSignal) would return at once. It is marked stopped by hand.
    """
    asyncio.events._set_running_loop(None)
    with contextlib.suppress(RuntimeError, TypeError):
        qapp.aboutToQuit.disconnect(loop._after_run_forever)  # type: ignore[attr-defined]
    loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
    loop.close()


@pytest.fixture
def aio(qapp: QApplication, qtbot: QtBot) -> Iterator[AsyncRunner]:
    loop = SlicedEventLoop(qapp, already_running=True)  # the window's loop (app.run_gui)
    asyncio.set_event_loop(loop)
    runner = AsyncRunner(loop, qtbot)
    try:
        yield runner
    finally:
        leftovers = runner.pending_tasks()
        for task in leftovers:
            task.cancel()
        if leftovers:
            qtbot.waitUntil(lambda: all(task.done() for task in leftovers), timeout=5000)
        close_running_loop(qapp, loop)
        asyncio.set_event_loop(None)
    if leftovers:
        pytest.fail(f"the test left asyncio tasks running: {leftovers}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def service(store: Store, aio: AsyncRunner) -> Iterator[BrokerService]:
    created = BrokerService(store)
    aio.run(created.open())
    try:
        yield created
    finally:
        aio.run(created.close())


@pytest.fixture
def window(service: BrokerService, aio: AsyncRunner, qtbot: QtBot) -> Iterator[MainWindow]:
    """The main window over `service`; not handed to qtbot.addWidget, whose close-and-delete would race the
    window's own asynchronous shutdown: this fixture shuts it down, closes it and deletes it."""
    created = MainWindow(service, hasher=FAST_HASH)
    created.show()
    try:
        yield created
    finally:
        if shiboken6.isValid(created):
            aio.run(created.shutdown())
            created.close()
            created.deleteLater()
        qtbot.wait(1)  # let deleteLater happen


@pytest.fixture
def port(service: BrokerService, aio: AsyncRunner) -> int:
    """Start the real broker on a free loopback port (the service fixture stops it)."""
    status = aio.run(service.start("127.0.0.1", 0))
    assert status.state is BrokerState.LISTENING, status.describe()
    return status.addresses[0][1]


@pytest.fixture
def connect(port: int) -> Iterator[ClientFactory]:
    """Factory for paho clients (MQTT 3.1.1) connected, in their own thread, to the broker under test."""
    made: list[mqtt.Client] = []

    def make(client_id: str, username: str | None = None, password: str | None = None, *,
             clean_session: bool = True) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                             clean_session=clean_session)
        client.reconnect_delay_set(min_delay=60, max_delay=120)  # a kicked client must stay away during the test
        if username is not None:
            client.username_pw_set(username, password)
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        made.append(client)
        return client

    yield make
    for client in made:
        client.disconnect()
        client.loop_stop()


@pytest.fixture(autouse=True)
def _collect_qt_garbage_here() -> Iterator[None]:
    """Collect reference cycles holding Qt objects on the GUI thread, at the end of each GUI test.

    Left to chance, the cyclic garbage collector may run in any thread, e.g. the background thread of a later
    integration test's broker, and a QWidget destroyed outside the GUI thread crashes the process.
    """
    yield
    gc.collect()
