"""What the figures were measured on: CPU, cores, memory, Python and the versions of everything compared."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.settings import REPO


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def describe(mosquitto_version: str | None) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "amqtt": _version("amqtt"),
        "pyside6": _version("PySide6"),
        "qasync": _version("qasync"),
        "mosquitto": mosquitto_version,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def one_line(machine: dict[str, Any]) -> str:
    line = (f"{machine['cores']} × {machine['cpu']}, {machine['memory_gib']} GiB, Linux {machine['kernel']}, "
            f"Python {machine['python']}, amqtt {machine['amqtt']}, PySide6 {machine['pyside6']}, "
            f"{machine['mosquitto'] or 'no mosquitto'}, mqttdesk {machine['commit']}"
            + (" (uncommitted changes)" if machine["dirty"] else ""))
    busy = [machine.get(key) for key in ("busy_before", "busy_after")]
    if any(b is not None for b in busy):
        line += "; other load on the machine before/after the run: " + "/".join(
            "?" if b is None else f"{b:.0%}" for b in busy) + " of all cores"
    return line


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def background_busy(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over `seconds` while the bench itself waits: other work on the machine."""
    before = _cpu_jiffies()
    time.sleep(seconds)  # sampling the machine's idle time; nothing to synchronise with
    after = _cpu_jiffies()
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


class ForeignLoad:
    """CPU used during a stretch of the run by processes that are not ours (the bench and the children it waited
    for), as a share of all cores: another job on the machine makes the figures of that stretch noisy."""

    def __init__(self) -> None:
        self._start = _cpu_jiffies()
        self._ours = self._own_seconds()
        self._wall = time.monotonic()

    @staticmethod
    def _own_seconds() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def share(self) -> float | None:
        end = _cpu_jiffies()
        wall = time.monotonic() - self._wall
        cores = os.cpu_count() or 1
        if self._start is None or end is None or wall <= 0:
            return None
        busy = (end[0] - self._start[0]) / os.sysconf("SC_CLK_TCK")
        ours = self._own_seconds() - self._ours
        return round(max(0.0, busy - ours) / (wall * cores), 3)
