"""Connect-rate loads: sequential CONNECT+DISCONNECT, a concurrent storm, and a crowd of idle clients."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field

from bench.load import packets
from bench.load.client import TIMEOUT, Endpoint, Link, connect
from bench.settings import KEEP_ALIVE
from bench.stats import percentile


@dataclass
class ConnectRun:
    attempted: int
    accepted: int
    seconds: float
    refused: dict[int, int] = field(default_factory=dict)  # return code -> how many
    latencies: list[float] = field(default_factory=list)  # seconds from socket open to CONNACK

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        ms = sorted(x * 1000 for x in self.latencies)
        return {
            "attempted": self.attempted, "accepted": self.accepted, "seconds": round(self.seconds, 4),
            "rate": round(self.rate, 1), "refused": {str(k): v for k, v in self.refused.items()},
            "latency_ms": {"p50": round(percentile(ms, 50), 2), "p99": round(percentile(ms, 99), 2),
                           "max": round(ms[-1], 2) if ms else 0.0},
        }


def _connect_blocking(endpoint: Endpoint, client_id: str) -> int:
    """One CONNECT → CONNACK → DISCONNECT on a plain blocking socket; the CONNACK return (or reason) code."""
    with socket.create_connection((endpoint.host, endpoint.port), timeout=TIMEOUT) as sock:
        sock.sendall(packets.connect(client_id, endpoint.username, endpoint.password, keep_alive=KEEP_ALIVE,
                                     version=endpoint.version))
        if endpoint.version == packets.MQTT_5:
            code = _connack_v5(sock)
        else:  # a 3.1.1 CONNACK is always four bytes
            connack = b""
            while len(connack) < 4:
                chunk = sock.recv(4 - len(connack))
                if not chunk:
                    return -1  # closed without CONNACK
                connack += chunk
            code = connack[3]
        if code == 0:
            sock.sendall(packets.DISCONNECT)
        return code


def _connack_v5(sock: socket.socket) -> int:
    """The reason code of an MQTT 5 CONNACK, whose properties make its length vary; -1 if closed before it."""
    received = b""
    while (frame := packets.frame_end(received)) is None:
        chunk = sock.recv(512)
        if not chunk:
            return -1
        received += chunk
    return packets.connack_code(received[frame[0]:frame[1]])


def warm_up(endpoint: Endpoint, prefix: str, count: int) -> None:
    """Untimed connects (mqttdesk verifies the password once, later connects hit its cache)."""
    for i in range(count):
        _connect_blocking(endpoint, f"{prefix}-warm-{i}")


def sequential(endpoint: Endpoint, prefix: str, count: int, deadline: float) -> ConnectRun:
    """`count` times, one after the other: open a socket, CONNECT, wait for CONNACK, DISCONNECT, close.

    A blocking socket, not asyncio: a sequential run is a chain of round trips, and the client's own cost per
    round trip is part of every figure, so it must be as small as Python allows (about 3× less than asyncio
    streams on the reference machine).
    """
    run = ConnectRun(attempted=0, accepted=0, seconds=0.0)
    started = time.perf_counter()
    for i in range(count):
        if time.perf_counter() - started > deadline:
            break
        run.attempted += 1
        opened = time.perf_counter()
        code = _connect_blocking(endpoint, f"{prefix}-{i}")
        run.latencies.append(time.perf_counter() - opened)
        if code == 0:
            run.accepted += 1
        else:
            run.refused[code] = run.refused.get(code, 0) + 1
    run.seconds = time.perf_counter() - started
    return run


@dataclass
class Storm:
    run: ConnectRun
    links: list[Link]
    accepted_ids: list[str]


async def storm(endpoint: Endpoint, client_ids: list[str], deadline: float) -> Storm:
    """Every clientId connects at the same moment; the accepted ones stay connected (see `close_all`)."""
    run = ConnectRun(attempted=len(client_ids), accepted=0, seconds=0.0)
    links: list[Link] = []
    accepted: list[str] = []
    started = time.perf_counter()

    async def one(client_id: str) -> None:
        opened = time.perf_counter()
        try:
            link, code = await connect(endpoint, client_id)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            code, link = -1, None  # -1: no CONNACK at all (reset, timeout)
        run.latencies.append(time.perf_counter() - opened)
        if link is None:
            run.refused[code] = run.refused.get(code, 0) + 1
            return
        links.append(link)
        accepted.append(client_id)

    tasks = [asyncio.ensure_future(one(client_id)) for client_id in client_ids]
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    run.seconds = time.perf_counter() - started
    run.accepted = len(accepted)
    return Storm(run, links, accepted)


async def close_all(links: list[Link]) -> float:
    """DISCONNECT and close every link at once; returns the seconds it took."""
    started = time.perf_counter()
    await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
    return time.perf_counter() - started


async def crowd(endpoint: Endpoint, prefix: str, count: int, deadline: float, concurrency: int = 20) -> list[Link]:
    """`count` connected idle clients, opened a few at a time (a crowd, not a storm)."""
    links: list[Link] = []
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(i: int) -> None:
        async with gate:
            if time.perf_counter() - started > deadline:
                return
            link, _ = await connect(endpoint, f"{prefix}-{i}")
            if link is not None:
                links.append(link)

    await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    return links


async def connack_code(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, patience: float) -> int:
    """The CONNACK return code of a CONNECT already written (-1: closed or timed out without one); the socket is
    closed afterwards (a guesser never waits for anything else)."""
    try:
        return (await asyncio.wait_for(reader.readexactly(4), patience))[3]
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return -1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
