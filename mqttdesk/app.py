"""Wiring: build the store, the broker service and the control channel, then run headless or with the GUI.

Both modes run one asyncio loop: plain asyncio for `serve`, qasync's Qt-integrated loop for the window, so the
embedded broker, the store watcher and the widgets share a thread and never need locks.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mqttdesk.broker.event_loops import loop_factory
from mqttdesk.broker.service import BrokerService, BrokerState, BrokerStatus, ListenerOverrides, describe_listener
from mqttdesk.control.server import ControlServer
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.store.db import Store

if TYPE_CHECKING:
    from mqttdesk.gui.main_window import MainWindow

log = logging.getLogger(__name__)

DESKTOP_ID = "org.mqttdesk.mqttdesk"  # packaging/org.mqttdesk.mqttdesk.desktop and .metainfo.xml


def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def print_listening(status: BrokerStatus) -> None:
    """One "listening on H:P" line per listener (" (tls)", " (ws)", " (wss)" after those), and on stderr why a
    listener that is switched on did not start."""
    for info in status.listeners:
        print(f"listening on {describe_listener(info)}", flush=True)
    for warning in status.warnings:
        print(f"mqttdesk: warning: {warning}", file=sys.stderr, flush=True)


# Headless, the collector looks at young objects after 10,000 new ones instead of 700 (CPython 3.11's default).
# A QoS 1 flow keeps up to a window of messages in flight (their records are container objects), so at 700 it ran
# every few hundred messages: 5 % of the broker's CPU in the 1 → 1 QoS 1 benchmark, 4 % in a storm of 1,000
# devices; at 10,000 it hardly runs in a steady flow. A young collection then takes up to about a millisecond and
# a middle one a few, which the window would show as stalls, so the window's process keeps the default.
HEADLESS_YOUNG_THRESHOLD = 10_000


async def serve(data_dir: Path, overrides: ListenerOverrides, stop: asyncio.Event) -> int:
    store = Store.open(data_dir)
    service = BrokerService(store)
    control = ControlServer(service, data_dir)
    try:
        await control.start()  # first: a second instance on this data dir stops here
        await service.open()
        status = await service.start(overrides=overrides)
        if status.state is not BrokerState.LISTENING:
            print(f"mqttdesk: error: {status.error}", file=sys.stderr)
            return 1
        print_listening(status)
        _settle_garbage_collector(young_threshold=HEADLESS_YOUNG_THRESHOLD)
        anonymous = store.settings.anonymous(status.addresses[0][0])
        if anonymous.effective and not anonymous.roles:
            print("warning: anonymous clients may read and write every topic (mqttdesk anonymous off)",
                  file=sys.stderr, flush=True)
        await stop.wait()
        return 0
    finally:
        await control.close()
        await service.close()
        store.close()


def run_headless(data_dir: Path, overrides: ListenerOverrides | None = None, loop: str = "auto") -> int:
    """The broker without a window, until SIGINT or SIGTERM, on the event loop `loop` names (event_loops.py)."""
    configure_logging()

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await serve(data_dir, overrides or ListenerOverrides(), stop)

    try:
        with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            return runner.run(main())
    except MqttdeskError as exc:
        print(f"mqttdesk: error: {exc}", file=sys.stderr)
        return 1


WindowReady = Callable[["MainWindow", BrokerStatus], Awaitable[None]]


def run_gui(data_dir: Path, host: str | None = None, port: int | None = None,
            ready: WindowReady | None = None) -> int:
    """The window and the broker on one qasync loop, until the window is closed.

    `host`/`port` override the stored listener for this run. `ready`, when given, is awaited once the broker
    listens (the GUI benchmark drives the running app through it) and the window is closed when it returns.
    """
    configure_logging()
    from mqttdesk.gui.qt_platform import check_platform, fatal_messages_as_errors

    check_platform()
    from PySide6.QtWidgets import QApplication

    from mqttdesk.gui.event_loop import run
    from mqttdesk.gui.main_window import MainWindow

    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        with fatal_messages_as_errors():
            app = QApplication(sys.argv)
    app.setApplicationName("mqttdesk")
    app.setDesktopFileName(DESKTOP_ID)  # the .desktop file in packaging/: its icon and name on Wayland
    from mqttdesk.gui.icons import app_icon
    from mqttdesk.gui.menus import retint
    from mqttdesk.gui.theme import Theme

    app.setWindowIcon(app_icon())
    theme = Theme(app)
    # the window closes itself after its asynchronous shutdown; Qt must not end the loop before main() resumes
    app.setQuitOnLastWindowClosed(False)

    async def main() -> int:
        store = Store.open(data_dir)
        service = BrokerService(store)
        control = ControlServer(service, data_dir)
        closed = asyncio.Event()
        try:
            await service.open()
            await control.start()
            window = MainWindow(service)
            theme.theme_changed.connect(lambda: retint(window))
            window.shutdown_finished.connect(closed.set)
            for signum in (signal.SIGINT, signal.SIGTERM):
                # Ctrl-C in the terminal (or a service manager) quits the normal way: quit, not close (not to the tray)
                signal.signal(signum, lambda *_: window.quit())
            window.show()
            status = await service.start(host, port)
            print_listening(status)
            _settle_garbage_collector()
            if ready is None:
                window.run_first_run()
            else:
                await ready(window, status)
                window.quit()
            await closed.wait()
            return 0
        finally:
            await control.close()
            await service.close()
            store.close()

    return int(run(main(), app) or 0)


def _settle_garbage_collector(young_threshold: int | None = None) -> None:
    """Move what start-up built (Qt wrappers, modules, the window) out of the collector's way.

    With everything in the oldest generation, a full collection in the middle of a device storm walked all of it
    and froze the window for tens of milliseconds; frozen objects are never scanned again.

    `young_threshold`: new objects the collector lets pass before it looks at the young ones (None: the
    interpreter's own); the other two thresholds stay as they are.
    """
    gc.collect()
    gc.freeze()
    if young_threshold is not None:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, oldest)
