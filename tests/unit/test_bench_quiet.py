"""The bench waits for a broker to go quiet between two timed cases (`ChildProcess.wait_quiet`), so that one
case's tail (a storm's thousand disconnects being logged) is not billed to the next."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.systems.process import ChildProcess

# burns CPU for `seconds` of its own CPU time, says so on stdout, then idles until it is stopped
_BUSY_THEN_IDLE = """
import sys, time
seconds = float(sys.argv[1])
print("started", flush=True)
while time.process_time() < seconds:
    pass
print("idle", flush=True)
sys.stdin.read()
"""


def _child(tmp_path: Path, seconds: float) -> ChildProcess:
    child = ChildProcess("busy", [sys.executable, "-c", _BUSY_THEN_IDLE, str(seconds)], tmp_path / "busy.log")
    assert child.read_line(10) == "started"
    return child


def test_it_returns_once_a_busy_process_has_gone_quiet(tmp_path: Path) -> None:
    child = _child(tmp_path, 0.4)
    try:
        waited = child.wait_quiet(timeout=5.0)
        assert child.cpu_seconds() >= 0.35  # it did not return while the process was still burning
        assert child.read_line(1) == "idle"
        assert waited < 5.0
    finally:
        child.stop()


def test_a_quiet_process_costs_one_window(tmp_path: Path) -> None:
    child = _child(tmp_path, 0.0)
    try:
        assert child.read_line(10) == "idle"
        assert child.wait_quiet(window=0.1, timeout=5.0) < 1.0
    finally:
        child.stop()


def test_a_process_that_never_goes_quiet_is_waited_for_only_until_the_timeout(tmp_path: Path) -> None:
    child = _child(tmp_path, 60.0)
    try:
        assert 0.5 <= child.wait_quiet(timeout=0.5) < 2.0
    finally:
        child.stop()
