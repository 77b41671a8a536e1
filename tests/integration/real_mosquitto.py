"""Debian's real Mosquitto for the tests, started on a free loopback port with a configuration of the test's.

`.ci/run` installs the `mosquitto` package when it is missing; where it cannot be installed the tests that need it
skip, saying so. Readiness is Mosquitto's own "running" line on stderr, waited for as an event.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
TIMEOUT = 10.0


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        pytest.skip("Mosquitto is not installed (apt-get install mosquitto; .ci/run installs it when it can)")
    return found


def mosquitto_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with Debian's mosquitto package)")
    return found


def dynsec_plugin() -> Path:
    if not DYNSEC_PLUGIN.exists():
        pytest.skip(f"the dynamic-security plugin is not at {DYNSEC_PLUGIN} (Debian's mosquitto package)")
    return DYNSEC_PLUGIN


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def on_port(conf: str, port: int) -> str:
    """`conf` with its first listener moved to `port` on loopback (and run as the current user, even as root:
    Mosquitto started as root drops to user 'mosquitto', who cannot read the test's 0600 files)."""
    lines = []
    moved = False
    for line in conf.splitlines():
        if line.startswith("listener ") and not moved:
            line, moved = f"listener {port} 127.0.0.1", True
        lines.append(line)
    assert moved, "the configuration has no listener"
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


class RealMosquitto:
    def __init__(self, directory: Path, conf: str) -> None:
        self.port = free_port()
        self.conf_path = directory / "test-mosquitto.conf"
        self.conf_path.write_text(on_port(conf, self.port), encoding="utf-8")
        self.log: list[str] = []
        self._running = threading.Event()
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> RealMosquitto:
        self._process = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf_path)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._running.wait(TIMEOUT):
            self.__exit__()
            raise AssertionError("Mosquitto did not start:\n" + "\n".join(self.log))
        return self

    def _read_log(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self.log.append(line.rstrip())
            if " running" in line:
                self._running.set()
        self._running.set()  # it exited: the waiter sees the log

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(TIMEOUT)
