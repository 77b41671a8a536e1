"""A broker (or GUI) child process: started, read line by line, measured through /proc, stopped for sure.

Its stdout is drained by a thread into a queue from the moment it starts, so a chatty child can never block on a
full pipe; stderr goes to a log file whose tail is shown when the process fails.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from bench.settings import HOST, REPO, STOP_TIMEOUT

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LISTENING = re.compile(r"listening on \[?([^\]\s]+?)\]?:(\d+)\s*$")


class StartError(RuntimeError):
    """A child process did not come up."""


class ChildProcess:
    def __init__(self, name: str, argv: list[str], log_path: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("w")
        self.started_at = time.perf_counter()
        self.popen = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, **(env or {})}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, bufsize=1, start_new_session=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, name=f"{name}-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def read_line(self, timeout: float) -> str:
        """The next line of stdout; StartError on EOF or timeout."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise StartError(f"{self.name}: nothing on stdout within {timeout:.0f} s{self._log_tail()}") from None
        if line is None:
            raise StartError(f"{self.name} exited with {self.popen.poll()}{self._log_tail()}")
        return line

    def wait_listening(self, timeout: float) -> tuple[str, int, float]:
        """(host, port, seconds since the process was started) from its first "listening on H:P" line."""
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise StartError(f"{self.name}: no 'listening on' line within {timeout:.0f} s{self._log_tail()}")
            line = self.read_line(max(0.01, deadline - time.monotonic()))
            found = LISTENING.search(line)
            if found:
                return found.group(1), int(found.group(2)), time.perf_counter() - self.started_at

    def wait_port(self, port: int, timeout: float) -> float:
        """For a child that prints nothing (mosquitto): poll until the port accepts; seconds since start."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return time.perf_counter() - self.started_at
            except OSError:
                if self.popen.poll() is not None:
                    raise StartError(f"{self.name} exited with {self.popen.returncode}{self._log_tail()}") from None
                if time.monotonic() > deadline:
                    raise StartError(f"{self.name}: port {port} not open after {timeout:.0f} s") from None
                time.sleep(0.002)  # polling a starting process; the granularity is part of the measurement

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    # -- /proc --------------------------------------------------------------------------------------------

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def wait_quiet(self, *, window: float = 0.1, share: float = 0.1, timeout: float = 3.0) -> float:
        """Wait until the process used under `share` of a core over `window` seconds (bounded by `timeout`); the
        seconds waited. Between two timed cases: a broker still digesting the last one (the storm's thousand
        disconnects and their Auth log entries) would otherwise bill that work to the next case's figures."""
        started = time.perf_counter()
        before = self.cpu_seconds()
        while time.perf_counter() - started < timeout:
            time.sleep(window)  # sampling a process from outside: there is nothing to wait on but the clock
            after = self.cpu_seconds()
            if after - before < share * window:
                break
            before = after
        return time.perf_counter() - started

    # -- ending ---------------------------------------------------------------------------------------------

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Ask it to end (SIGTERM), wait, kill it if it will not; returns the exit status."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(STOP_TIMEOUT)
        if self.popen.stdin is not None:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()
        self._log.close()
        return self.popen.returncode

    def _log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return ("\n    " + "\n    ".join(tail)) if tail else ""


def free_port() -> int:
    """A port nothing listens on now (for mosquitto, which needs one in its config file)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
