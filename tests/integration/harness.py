"""A real mqttdesk instance for integration tests: store, broker service and control channel on a loopback port.

The instance runs its own asyncio loop in a background thread, as it would in its own process, so tests can drive
blocking paho clients and the CLI against it. Tests change the store through a second `Store` (as the CLI would)
and call `sync()` to have the instance pick the change up now instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from mqttdesk.broker.event_loops import loop_factory
from mqttdesk.broker.service import BrokerService, BrokerState, ListenerOverrides
from mqttdesk.control.server import ControlServer
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store

T = TypeVar("T")
TIMEOUT = 10.0
# the event loop instances run on: asyncio's own (the window's qasync is one) unless MQTTDESK_TEST_LOOP=uvloop runs
# every integration test on the loop `mqttdesk serve` prefers; test_event_loops.py runs a set of them there always
# (by setting this)
test_loop = os.environ.get("MQTTDESK_TEST_LOOP", "asyncio")


@contextlib.contextmanager
def running_instance(data_dir: Path, overrides: ListenerOverrides | None = None,
                     loop: str | None = None) -> Iterator[Instance]:
    """An instance on free loopback ports (with the listeners `overrides` add), stopped and checked afterwards."""
    running = Instance(data_dir, loop)
    running.start(overrides=overrides)
    try:
        yield running
    finally:
        running.stop()


def running_tls(data_dir: Path) -> contextlib.AbstractContextManager[Instance]:
    """`running_instance` with the TLS listener on too."""
    return running_instance(data_dir, ListenerOverrides(tls_port=0))


class Instance:
    def __init__(self, data_dir: Path, loop: str | None = None) -> None:
        self.data_dir = data_dir
        self.loop = loop_factory(loop or test_loop)()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mqttdesk-instance", daemon=True)
        self.port = 0
        self.ports: dict[str, int] = {}  # listener kind -> bound port

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        async def wrapper() -> T:
            return function(*args)

        return self.run(wrapper())

    def start(self, host: str = "127.0.0.1", port: int = 0, overrides: ListenerOverrides | None = None) -> None:
        """Start on `port` (0: a free one); `overrides` add TLS/WebSocket listeners (their port 0: a free one)."""
        self._thread.start()
        self.store: Store = self.call(Store.open, self.data_dir)
        self.service: BrokerService = self.call(BrokerService, self.store)
        self.control: ControlServer = self.call(ControlServer, self.service, self.data_dir)
        self.run(self.service.open())
        self.run(self.control.start())
        status = self.run(self.service.start(host, port, overrides))
        assert status.state is BrokerState.LISTENING, status.describe()
        self.port = status.addresses[0][1]
        self.ports = {info.kind: info.port for info in status.listeners}

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The instance's loop does nothing while the block runs (at most TIMEOUT): what clients do meanwhile
        arrives at once when it ends (one turn of the loop sees it all)."""
        release, holding = threading.Event(), threading.Event()

        def hold() -> None:
            holding.set()
            release.wait(TIMEOUT)

        self.loop.call_soon_threadsafe(hold)
        assert holding.wait(TIMEOUT)
        try:
            yield
        finally:
            release.set()

    def until(self, condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
        """Whether `condition`, asked on the instance's loop, holds within `timeout` seconds (between two asks the
        loop turns: what the broker still has to do for the last clients gets done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(condition):
                return True
            self.run(asyncio.sleep(poll))
        return False

    def sync(self) -> None:
        """Make the instance notice store changes made by other connections right now."""
        self.call(self.store.poll_external_changes)

    def flush_log(self) -> None:
        self.call(self.service.recorder.flush)

    def last_entry(self, client_id: str, kind: str | None = None) -> AuthLogEntry:
        """The newest Auth log entry of `client_id` (of `kind`, when given), after writing what is queued; waits
        for one to be there: a client can see its connection close before the broker has finished the session
        and logged its end."""
        entries: list[AuthLogEntry] = []

        def logged() -> bool:
            self.service.recorder.flush()
            entries[:] = [e for e in self.store.auth_log.recent(100)
                          if e.client_id == client_id and (kind is None or e.kind == kind)]
            return bool(entries)

        assert self.until(logged, timeout=5), f"no {kind or 'Auth log'} entry for {client_id}"
        return entries[-1]

    def stop(self) -> None:
        """Close everything and check nothing is left behind: no task still pending, the port free again."""
        self.run(self.control.close())
        self.run(self.service.close())
        self.call(self.store.close)

        async def leftovers() -> list[asyncio.Task[Any]]:
            current = asyncio.current_task()
            return [task for task in asyncio.all_tasks() if task is not current and not task.done()]

        left = self.run(leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()
        assert not left, f"tasks left running after shutdown: {left}"
        for port in {self.port, *self.ports.values()}:
            assert_port_free(port)


def assert_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def run_cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `mqttdesk` command line in a subprocess, as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )
