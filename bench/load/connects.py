"""Connect-rate loads: sequential CONNECT+DISCONNECT, a concurrent storm, and a crowd of idle clients."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

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


class Closable(Protocol):
    async def close(self, *, disconnect: bool = True) -> None: ...


@dataclass(eq=False)
class StormLink:
    """A storm device's connected socket: nothing more is read from it, it only leaves (see `close_all`)."""

    sock: socket.socket
    client_id: str

    async def close(self, *, disconnect: bool = True) -> None:
        with contextlib.suppress(OSError):  # a broker that has already dropped the link: gone from our side too
            if disconnect:
                self.sock.send(packets.DISCONNECT)
        self.sock.close()


@dataclass
class Storm:
    run: ConnectRun
    links: list[StormLink]
    accepted_ids: list[str]


class _Device:
    """One storm device, driven by the event loop's readiness callbacks on a non-blocking socket: no task, no
    stream, no timer of its own (the storm has one deadline)."""

    __slots__ = ("client_id", "sock", "fd", "connect", "opened", "received", "waiting", "done", "storm", "loop")

    def __init__(self, storm: _StormRun, client_id: str) -> None:
        self.storm, self.client_id, self.loop = storm, client_id, storm.loop
        self.connect = packets.connect(client_id, storm.endpoint.username, storm.endpoint.password,
                                       keep_alive=KEEP_ALIVE, version=storm.endpoint.version)
        self.received, self.waiting, self.done = b"", "", False
        self.opened = time.perf_counter()
        self.sock = socket.socket(storm.family, socket.SOCK_STREAM)
        self.fd = self.sock.fileno()
        try:
            self.sock.setblocking(False)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's transports do
            started = self.sock.connect_ex(storm.address)
        except OSError:
            started = -1
        if started not in (0, errno.EINPROGRESS):
            self.finish(-1)
            return
        self.loop.add_writer(self.fd, self.on_connected)
        self.waiting = "writer"

    def on_connected(self) -> None:
        self.loop.remove_writer(self.fd)
        self.waiting = ""
        try:
            if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or \
                    self.sock.send(self.connect) != len(self.connect):  # a fresh socket takes ~100 bytes whole
                self.finish(-1)
                return
        except OSError:
            self.finish(-1)
            return
        self.loop.add_reader(self.fd, self.on_readable)
        self.waiting = "reader"

    def on_readable(self) -> None:
        try:
            chunk = self.sock.recv(512)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.finish(-1)  # closed without CONNACK
            return
        self.received += chunk
        frame = packets.frame_end(self.received)
        if frame is not None:  # anything but a CONNACK with its code first (a DISCONNECT, say): no CONNACK
            is_connack = self.received[0] >> 4 == packets.CONNACK and frame[1] - frame[0] >= 2
            self.finish(packets.connack_code(self.received[frame[0]:frame[1]]) if is_connack else -1)

    def finish(self, code: int) -> None:
        if self.done:
            return
        self.done = True
        # only what is registered: removing an unregistered fd costs the selector a KeyError with a socket repr
        if self.waiting == "reader":
            self.loop.remove_reader(self.fd)
        elif self.waiting == "writer":
            self.loop.remove_writer(self.fd)
        self.storm.finished(self, code)


class _StormRun:
    def __init__(self, endpoint: Endpoint, count: int) -> None:
        self.endpoint, self.loop = endpoint, asyncio.get_running_loop()
        info = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)[0]
        self.family, self.address = info[0], info[4]
        self.run = ConnectRun(attempted=count, accepted=0, seconds=0.0)
        self.links: list[StormLink] = []
        self.accepted: list[str] = []
        self.outstanding = count
        self.all_done = self.loop.create_future()
        if not count:
            self.all_done.set_result(None)

    def finished(self, device: _Device, code: int) -> None:
        self.run.latencies.append(time.perf_counter() - device.opened)
        if code == 0:
            self.links.append(StormLink(device.sock, device.client_id))
            self.accepted.append(device.client_id)
        else:
            self.run.refused[code] = self.run.refused.get(code, 0) + 1
            device.sock.close()
        self._one_less()

    def refused_unopened(self) -> None:
        self.run.refused[-1] = self.run.refused.get(-1, 0) + 1
        self._one_less()

    def _one_less(self) -> None:
        self.outstanding -= 1
        if not self.outstanding and not self.all_done.done():
            self.all_done.set_result(None)


async def storm(endpoint: Endpoint, client_ids: list[str], deadline: float) -> Storm:
    """Every clientId connects at the same moment; the accepted ones stay connected (see `close_all`).

    Raw non-blocking sockets on the loop's readiness callbacks, not asyncio streams: a stream connection with its
    task and timeouts cost the client ~600 µs of CPU per device, more than either broker spends on the CONNECT, so
    on two cores the storm measured the load generator (see bench/README.md, "Caveats").
    """
    run = _StormRun(endpoint, len(client_ids))
    started = time.perf_counter()
    devices: list[_Device] = []
    try:
        for client_id in client_ids:
            try:
                devices.append(_Device(run, client_id))
            except OSError:  # no socket at all (out of descriptors): a device without a CONNACK
                run.refused_unopened()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(run.all_done), deadline)
    finally:  # also when cancelled: no socket stays registered with the loop
        for device in devices:
            device.finish(-1)  # no CONNACK in time (a no-op for every device that has its answer)
    run.run.seconds = time.perf_counter() - started
    run.run.accepted = len(run.accepted)
    return Storm(run.run, run.links, run.accepted)


async def close_all(links: Sequence[Closable]) -> float:
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
