"""Kernel TCP counters that explain a slow storm: SYNs dropped because a listen backlog was full."""

from __future__ import annotations

from pathlib import Path


def listen_drops() -> int | None:
    """TcpExt ListenDrops of this network namespace (includes ListenOverflows); None where unreadable."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            table = dict(zip(header.split()[1:], values.split()[1:], strict=False))
            value = table.get("ListenDrops")
            return int(value) if value is not None else None
    return None
