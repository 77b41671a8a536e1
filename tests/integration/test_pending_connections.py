"""Sockets that send no CONNECT: capped per address and in all, shorter deadlines under pressure, and a process
out of file descriptors that stays quiet and keeps accepting (real sockets on loopback, several source addresses)."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.core.limits import AdmissionLimits
from mqttdesk.store.db import Store
from tests.integration.harness import Instance, run_cli
from tests.integration.raw_mqtt import encode_connect

TIMEOUT = 10.0
REPO = Path(__file__).resolve().parents[2]


def open_idle(port: int, source: str, count: int) -> list[socket.socket]:
    """`count` connections from `source` that never send anything."""
    return [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0))
            for _ in range(count)]


def closed_by_server(sockets: list[socket.socket], timeout: float, until: int | None = None) -> list[socket.socket]:
    """The sockets the server closed within `timeout` (returns early once `until` of them are)."""
    wanted = len(sockets) if until is None else until
    closed: list[socket.socket] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while len(closed) < wanted and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(16)
                except ConnectionResetError:
                    data = b""
                assert not data, f"the server sent {data!r} to a socket that sent nothing"
                selector.unregister(sock)
                closed.append(sock)
    return closed


def connack_code(port: int, source: str, client_id: str) -> int:
    """CONNECT from `source` and return the CONNACK's return code."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0)) as sock:
        sock.sendall(encode_connect(client_id))
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            assert chunk, f"connection closed after {answer!r}, before a CONNACK"
            answer += chunk
        assert answer[:2] == b"\x20\x02", answer
        return answer[3]


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def too_many_pending(instance: Instance, admin: Store) -> list[tuple[str | None, str]]:
    instance.flush_log()
    return [(entry.address, entry.reason) for entry in admin.auth_log.recent(1000)
            if entry.reason_code == "too-many-pending"]


@pytest.fixture
def small_instance(admin: Store, data_dir: Path) -> Iterator[Instance]:
    """An instance that lets 8 connections in all wait for their CONNECT (pressure beyond 4)."""
    admin.settings.set_admission_limits(AdmissionLimits(max_pending_per_address=32, max_pending=8))
    running = Instance(data_dir)
    running.start()
    yield running
    running.stop()


def test_sockets_over_the_per_address_cap_are_closed_at_once_and_others_still_connect(instance, admin):
    cap = AdmissionLimits().max_pending_per_address
    flood = open_idle(instance.port, "127.0.0.2", cap + 5)
    try:
        closed = closed_by_server(flood, timeout=5.0, until=5)
        assert len(closed) == 5
        still_open = [sock for sock in flood if sock not in closed]
        assert closed_by_server(still_open, timeout=0.5) == []  # they have 10 s to send a CONNECT
        assert connack_code(instance.port, "127.0.0.3", "legit") == 0
        refusals = too_many_pending(instance, admin)
        # one Auth log entry for the burst, not one per socket
        assert refusals == [("127.0.0.2", f"127.0.0.2 already has {cap} connections waiting to send their "
                                          f"CONNECT (at most {cap} per address)")]
    finally:
        close_all(flood)


def test_when_every_place_is_taken_the_longest_waiting_socket_makes_room(small_instance, admin):
    port = small_instance.port
    sockets = open_idle(port, "127.0.0.5", 8)  # every place of 8 taken
    try:
        started = time.monotonic()
        assert connack_code(port, "127.0.0.3", "legit") == 0  # it sends its CONNECT at once: it gets in
        sockets += open_idle(port, "127.0.0.6", 2)  # the first takes the place the legit client's made room for
        closed = closed_by_server(sockets, timeout=TIMEOUT, until=2)
        assert time.monotonic() - started < 1.5  # before the 2 s deadline of those waiting
        assert len(closed) == 2
        assert set(closed) <= set(sockets[:3])  # the oldest: one for the legit client, one for the second newcomer
        assert too_many_pending(small_instance, admin) == [(
            "127.0.0.5", "closed to make room for a new connection: it had waited longest of the 8 waiting for "
                         "their CONNECT (at most 8 in all)")]
    finally:
        close_all(sockets)


def test_under_pressure_every_waiting_connection_gets_two_seconds(small_instance):
    first = open_idle(small_instance.port, "127.0.0.4", 1)
    more: list[socket.socket] = []
    try:
        assert closed_by_server(first, timeout=3.0) == []  # no pressure: 10 s to send a CONNECT
        started = time.monotonic()
        more = open_idle(small_instance.port, "127.0.0.4", 4)  # 5 waiting, over half the cap of 8
        closed = closed_by_server(first + more, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
        assert len(closed) == 5
        # the first one had 7 s left of its 10: it was shortened to 2 s like the others
        assert 1.5 < elapsed < 5.0, elapsed
        assert connack_code(small_instance.port, "127.0.0.3", "after-pressure") == 0
    finally:
        close_all(first + more)


def test_the_caps_are_settings(data_dir):
    assert run_cli(data_dir, "config", "set", "max_pending_per_address", "64").returncode == 0
    assert run_cli(data_dir, "config", "set", "max_pending_connections", "500").returncode == 0
    shown = json.loads(run_cli(data_dir, "config", "show", "--json").stdout)
    assert (shown["max_pending_per_address"], shown["max_pending_connections"]) == (64, 500)
    refused = run_cli(data_dir, "config", "set", "max_pending_per_address", "0")
    assert refused.returncode == 1
    assert "between 1 and" in refused.stderr


# -- out of file descriptors, in a process of its own -----------------------------------------------------------

LAUNCHER = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
sys.argv = ["mqttdesk", *sys.argv[3:]]
runpy.run_module("mqttdesk", run_name="__main__", alter_sys=True)
"""
SOFT_LIMIT, HARD_LIMIT = 64, 160
LIVE_CLIENTS = 220  # more than the hard limit: the broker runs out of descriptors


class _Stderr(threading.Thread):
    """Collects a process's stderr and says when a line containing `marker` has arrived."""

    def __init__(self, stream: object, marker: str) -> None:
        super().__init__(daemon=True)
        self.stream, self.marker = stream, marker
        self.lines: list[str] = []
        self.seen = threading.Event()

    def run(self) -> None:
        for line in self.stream:  # type: ignore[attr-defined]
            self.lines.append(line)
            if self.marker in line:
                self.seen.set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs resource.prlimit and 127.x source addresses")
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])  # uvloop never reports a failed accept: see accept_errors
def test_out_of_file_descriptors_one_line_no_traceback_and_accepting_again(data_dir, loop):
    import resource

    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(SOFT_LIMIT), str(HARD_LIMIT), "--data-dir", str(data_dir), "serve",
         "--port", "0", "--loop", loop],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    stderr = _Stderr(process.stderr, "cannot accept connections")
    stderr.start()
    sockets: list[socket.socket] = []
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on "), line + "".join(stderr.lines)
        port = int(line.rsplit(":", 1)[1])
        # at start the soft limit was raised to the hard one
        assert resource.prlimit(process.pid, resource.RLIMIT_NOFILE) == (HARD_LIMIT, HARD_LIMIT)
        for n in range(LIVE_CLIENTS):  # live sessions from many addresses: no cap on waiting sockets applies
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT,
                                            source_address=(f"127.0.3.{n % 200 + 1}", 0))
            sock.sendall(encode_connect(f"live-{n}"))
            sockets.append(sock)
        assert stderr.seen.wait(TIMEOUT), "the broker never ran out of descriptors: " + "".join(stderr.lines)
        close_all(sockets)
        sockets.clear()
        # the listener was paused by asyncio for a second at a time (uvloop closed what it could not take); it
        # accepts again once descriptors are free
        assert connack_code(port, "127.0.0.3", "after-exhaustion") == 0
    finally:
        close_all(sockets)
        process.terminate()
        process.wait(TIMEOUT)
        stderr.join(TIMEOUT)
    text = "".join(stderr.lines)
    assert "Traceback" not in text, text[:3000]
    assert text.count("cannot accept connections") == 1, text[:3000]
    assert len(stderr.lines) < 10, text[:3000]
