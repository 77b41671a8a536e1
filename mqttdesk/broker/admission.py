"""Who may hold a socket before its CONNECT: caps on connections still waiting for their first packet.

Every accepted socket holds a file descriptor, and until its CONNECT has been read nobody knows who it is. Without
a cap, anyone could open sockets and send nothing: at the common `ulimit -n 1024`, 1,100 idle sockets made a
legitimate client time out. So, while a connection waits for its CONNECT it counts against two caps:

- per client address (`max_pending_per_address`, 32): one peer cannot take every descriptor;
- in all (`max_pending_connections`, 1,000, and never more than half the descriptors left after `RESERVED_FDS`
  for the store, the window and the listeners; the other half is for live sessions).

A socket over the per-address cap is closed at once: nothing was read, so there is nobody to send a CONNACK to.
When every place in all is taken, the connection that has waited longest is closed to make room instead: a client
that sends its CONNECT right away (as real ones do) then always gets in, however many sockets others hold open from
however many addresses; refusing the newcomer would lock it out for as long as they keep the places. Once more than
half the total cap is waiting, every waiting connection gets `PRESSURED_CONNECT_TIMEOUT` instead of
`CONNECT_TIMEOUT` to send its CONNECT. Refusals come in bursts (a flood is thousands of sockets), so they are
reported per burst: one log line when a burst starts, one Auth log entry per address and burst, and at most
`MAX_ADDRESSES_LOGGED` of those per burst, so that an Auth log cannot be flushed by opening sockets.

Once its CONNECT is read, a connection counts against the broker's bounds on connections instead (`OpenConnections`,
`max_connections` and `max_connections_per_address`, until it closes): a client over one gets a CONNACK saying so,
since now there is someone to answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import TracebackType

from mqttdesk.broker.limit_counts import LimitCounts, LimitEvent
from mqttdesk.core.limits import AdmissionLimits, BrokerLimits

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
PRESSURED_CONNECT_TIMEOUT = 2.0
RESERVED_FDS = 64  # the store and its WAL, the window, the control channel, listeners, pipes, worker threads
MIN_PENDING = 16  # even a tiny descriptor limit lets a few clients connect at once
UNLIMITED_FDS_TARGET = 10240  # where the hard limit is "unlimited" (macOS), the most a process can usually have
BURST_QUIET = 5.0  # seconds without a refusal that end a burst
MAX_ADDRESSES_LOGGED = 16  # Auth log entries per burst, however many addresses take part
MAX_ADDRESSES_COUNTED = 1024  # addresses counted one by one in a burst's summary (the rest only in its total)

Refused = Callable[[str, str], None]  # (address, why): record one Auth log entry


def raise_file_descriptor_limit() -> int | None:
    """Raise the soft limit on open files to the hard one; the soft limit now (None: unknown or unlimited).

    Each waiting or live connection holds a descriptor; a soft limit of 1,024 (a common default) is a few hundred
    clients, while the hard limit is usually far higher and ours to take.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_FDS_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.info("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    return None if soft == resource.RLIM_INFINITY else soft


def file_descriptor_limit() -> int | None:
    """The soft limit on open files (None: unknown or unlimited)."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def pending_cap(limits: AdmissionLimits, fd_limit: int | None) -> int:
    """How many connections may wait for their CONNECT in all, given the setting and the descriptor limit."""
    if fd_limit is None:
        return limits.max_pending
    return min(limits.max_pending, max(MIN_PENDING, (fd_limit - RESERVED_FDS) // 2))


class WaitingConnection:
    """One admitted connection until its CONNECT is read (`async with`): its place in the caps and its deadline.

    The deadline is the client's, not the broker's: when it passes while bytes that arrived in time still wait to
    be read (a storm of devices: their CONNECTs came at once and the broker works through them), the connection
    gets another period instead of being dropped. Only a connection with nothing unread is closed at its deadline.
    """

    __slots__ = ("_admission", "address", "_unread", "_timeout", "_deadline", "_check")

    def __init__(self, admission: Admission, address: str, unread: Callable[[], bool]) -> None:
        self._admission = admission
        self.address = address
        self._unread = unread
        self._timeout: asyncio.Timeout | None = None
        self._deadline = 0.0
        self._check: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> WaitingConnection:
        self._timeout = asyncio.timeout(None)  # no extra task, unlike wait_for; `_due` decides when it expires
        await self._timeout.__aenter__()
        self._arm(asyncio.get_running_loop().time() + self._admission.connect_timeout)
        self._admission._waiting[self] = None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._disarm()
        self._admission._leave(self)
        assert self._timeout is not None
        await self._timeout.__aexit__(exc_type, exc, tb)  # turns its own cancellation into TimeoutError

    def read_at_once(self) -> None:
        """Its CONNECT came with the connection and was read without waiting: it leaves the caps (instead of
        `async with`, whose deadline timer and timeout were a fortieth of a sequential connect)."""
        self._admission._leave(self)

    def close_now(self) -> None:
        """Give up on this connection: its deadline is now (it leaves the caps when its `async with` ends)."""
        self._disarm()
        self._expire()

    def shorten(self, deadline: float) -> None:
        if self._timeout is not None and self._check is not None and deadline < self._deadline:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        self._disarm()
        self._deadline = deadline
        self._check = asyncio.get_running_loop().call_at(deadline, self._due)

    def _disarm(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _due(self) -> None:
        self._check = None
        if self._unread():
            self._arm(asyncio.get_running_loop().time() + self._admission.connect_timeout)
        else:
            self._expire()

    def _expire(self) -> None:
        timeout = self._timeout
        if timeout is not None and not timeout.expired():
            timeout.reschedule(asyncio.get_running_loop().time())


def _nothing_unread() -> bool:
    return False


class Admission:
    """The caps on connections waiting for their CONNECT, and how refusals are reported."""

    def __init__(self, limits: AdmissionLimits, fd_limit: int | None, refused: Refused, *,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 pressured_timeout: float = PRESSURED_CONNECT_TIMEOUT, counts: LimitCounts | None = None) -> None:
        self.per_address = limits.max_pending_per_address
        self.cap = pending_cap(limits, fd_limit)
        self._normal_timeout = connect_timeout
        self._pressured_timeout = pressured_timeout
        self._refused = refused
        self._by_address: dict[str, int] = {}
        self._pending = 0  # admitted and not yet left (some may not have entered their `async with` yet)
        self._waiting: dict[WaitingConnection, None] = {}  # entered, oldest first
        self._pressured = False
        self._burst: _RefusalBurst | None = None
        self._counts = counts

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def pressured(self) -> bool:
        return self._pressured

    @property
    def in_burst(self) -> bool:
        """Refusals are being counted (one came less than `BURST_QUIET` seconds ago)."""
        return self._burst is not None

    @property
    def connect_timeout(self) -> float:
        return self._pressured_timeout if self._pressured else self._normal_timeout

    def admit(self, address: str, unread: Callable[[], bool] = _nothing_unread) -> WaitingConnection | None:
        """A place among the waiting connections for a new socket from `address`, or None: close it now.

        `unread` tells whether bytes have arrived on it that were not read yet (see `WaitingConnection`)."""
        mine = self._by_address.get(address, 0)
        if mine >= self.per_address:
            self._refuse(address, f"{address} already has {mine} connections waiting to send their CONNECT "
                                  f"(at most {self.per_address} per address)")
            return None
        if self._pending >= self.cap:
            if not self._waiting:
                self._refuse(address, f"{self._pending} connections are waiting to send their CONNECT "
                                      f"(at most {self.cap} in all)")
                return None
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            oldest.close_now()
            self._refuse(oldest.address, f"closed to make room for a new connection: it had waited longest of the "
                                         f"{self._pending} waiting for their CONNECT (at most {self.cap} in all)")
        self._by_address[address] = mine + 1
        self._pending += 1
        if not self._pressured and self._pending > self.cap // 2:
            self._pressured = True
            log.info("%d connections are waiting for their CONNECT (limit %d): they have %g s to send it",
                     self._pending, self.cap, self._pressured_timeout)
            deadline = asyncio.get_running_loop().time() + self._pressured_timeout
            for waiting in self._waiting:
                waiting.shorten(deadline)
        return WaitingConnection(self, address, unread)

    def _leave(self, waiting: WaitingConnection) -> None:
        self._waiting.pop(waiting, None)
        self._pending -= 1
        left = self._by_address[waiting.address] - 1
        if left:
            self._by_address[waiting.address] = left
        else:
            del self._by_address[waiting.address]
        if self._pressured and self._pending <= self.cap // 4:  # hysteresis: no flapping around the half
            self._pressured = False
            log.info("%d connections are waiting for their CONNECT: back to %g s", self._pending,
                     self._normal_timeout)

    def _refuse(self, address: str, why: str) -> None:
        if self._counts is not None:
            self._counts.count(LimitEvent.PENDING)  # logged per burst below, not per address
        burst = self._burst
        if burst is None:
            burst = self._burst = _RefusalBurst(self._ended)
            log.warning("refusing connections before their CONNECT: %s; further refusals are counted, "
                        "not logged, until none comes for %g s", why, BURST_QUIET)
        if burst.count(address):
            self._refused(address, why)

    def _ended(self, burst: _RefusalBurst) -> None:
        if self._burst is burst:
            self._burst = None
        log.info("refused %d connections before their CONNECT in %.1f s (most from %s)",
                 burst.total, burst.duration, burst.top())

    def close(self) -> None:
        """The broker stops: end the current burst now (its summary is logged)."""
        if self._burst is not None:
            self._burst.end()


class OpenConnections:
    """Connections whose CONNECT was read, until they close, against `max_connections` and
    `max_connections_per_address` (0: no limit)."""

    def __init__(self, limits: BrokerLimits) -> None:
        self.limits = limits
        self.total = 0
        self._by_address: dict[str, int] = {}

    def refusal(self, address: str) -> tuple[LimitEvent, str] | None:
        """Why one more connection from `address` may not be held now, or None."""
        most, per_address = self.limits.max_connections, self.limits.max_connections_per_address
        if most and self.total >= most:
            return LimitEvent.CONNECTIONS, (f"the broker holds {self.total:,} connections, its limit "
                                            f"(max_connections {most:,}); the client may retry later")
        mine = self._by_address.get(address, 0)
        if per_address and mine >= per_address:
            return LimitEvent.CONNECTIONS_PER_ADDRESS, (
                f"{address} holds {mine:,} connections already, the limit per address (max_connections_per_address "
                f"{per_address:,}); the client may retry once one of them closes")
        return None

    def opened(self, address: str) -> None:
        self.total += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1

    def closed(self, address: str) -> None:
        self.total -= 1
        left = self._by_address[address] - 1
        if left:
            self._by_address[address] = left
        else:
            del self._by_address[address]

    def from_address(self, address: str) -> int:
        return self._by_address.get(address, 0)


class _RefusalBurst:
    """Refusals until none comes for `BURST_QUIET` seconds; which addresses have had their Auth log entry."""

    def __init__(self, ended: Callable[[_RefusalBurst], None]) -> None:
        self._ended = ended
        self._loop = asyncio.get_running_loop()
        self.started = time.monotonic()
        self.last = self.started
        self.total = 0
        self.addresses: dict[str, int] = {}
        self._logged = 0
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(BURST_QUIET, self._check)

    def count(self, address: str) -> bool:
        """Count one refusal; True when it is the address's first in this burst and the Auth log has room."""
        self.total += 1
        self.last = time.monotonic()
        seen = self.addresses.get(address, 0)
        if seen or len(self.addresses) < MAX_ADDRESSES_COUNTED:
            self.addresses[address] = seen + 1
        if seen or self._logged >= MAX_ADDRESSES_LOGGED:
            return False
        self._logged += 1
        return True

    @property
    def duration(self) -> float:
        return self.last - self.started

    def top(self) -> str:
        ranked = sorted(self.addresses.items(), key=lambda item: -item[1])[:3]
        return ", ".join(f"{address} ({count})" for address, count in ranked)

    def _check(self) -> None:
        quiet = time.monotonic() - self.last
        if quiet >= BURST_QUIET:
            self.end()
        else:
            self._timer = self._loop.call_later(BURST_QUIET - quiet, self._check)

    def end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._ended(self)
