"""Password verification off the event loop, fair between client addresses, never for a client that has gone.

PBKDF2 with 210,000 iterations costs ~0.25 s of CPU by design, and a wrong guess costs the broker as much as a
right one. Run naively, 300 CONNECTs sent and abandoned by one address (a tenth of a second for the attacker) kept
both cores busy for 80 s and a legitimate login waited behind all of them. So:

- checks wait in a `FairQueue` with one FIFO per source address, served round-robin by `workers` threads
  (hashlib releases the GIL while it works): a flood from one address waits behind itself, not in front of others;
- checks from *suspect* addresses (ones that failed a login lately, see core/guard.py) wait in a queue of their own,
  served only when no other check waits, and by all workers but one: a correct login from elsewhere waits at most
  for the hashes already running, never behind a queue of guesses; checks from *trusted* addresses (a correct
  login there lately) have a queue that goes before every other;
- the queue is bounded (`max_queued`, the suspects' as much again); beyond it a check is refused as `BUSY` (the
  broker answers CONNACK 3);
- a check whose client has closed the connection is dropped before its hash starts (`GONE`): the caller passes a
  `gone()` test, asked when the check is queued, when its turn comes and when room is needed (a hash already
  being computed runs to its end: PBKDF2 cannot be interrupted);
- concurrent checks of the same (hash, password) pair share one computation, and are woken a few at a time;
- outcomes are remembered in memory, keyed by a MAC (keyed BLAKE2b) under a per-process random key of the stored
  hash and the password (the plain password is never kept, nothing reaches the disk): a *successful* check until
  `clear()` or eviction, a *failed* one for `failure_ttl` seconds, so a guess repeated within that window is not
  hashed again.
  Because the stored hash is part of the key, a password change invalidates the entries by itself; `clear()` drops
  everything (suspend, revoke, password change).

All bookkeeping happens on the event loop; only the hash runs in the worker threads. One event loop at a time (a
check on another loop drops whatever the previous one left queued; the caches stay).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from mqttdesk.auth.fair_queue import FairQueue, source_of
from mqttdesk.core.passwords import verify_password

DEFAULT_CACHE_SIZE = 100_000
DEFAULT_WORKERS = 2  # threads hashing at once; the event loop needs a core too, and this machine class has two
DEFAULT_MAX_QUEUED = 256  # ~30 s of PBKDF2 work on two cores: a client waiting longer has given up anyway
FAILURE_TTL = 60.0  # seconds a known-wrong (hash, password) pair is answered without hashing
FAILURE_CACHE_SIZE = 10_000
WAKE_CHUNK = 16

PasswordCheck = Callable[[str, str], bool]  # (password, stored hash) -> matches; slow
GoneTest = Callable[[], bool]  # True once the client that asked has closed its connection


class Verdict(Enum):
    RIGHT = "right"
    WRONG = "wrong"
    BUSY = "busy"  # not checked: the queue was full (or the check was pushed out for another address)
    GONE = "gone"  # not checked: the client closed the connection before its turn


@dataclass(eq=False, slots=True)
class _Waiter:
    future: asyncio.Future[Verdict]
    gone: GoneTest | None

    def left(self) -> bool:
        return self.future.done() or (self.gone is not None and self.gone())


@dataclass(eq=False, slots=True)
class _Job:
    """One hash to compute, and everybody waiting for its outcome."""

    digest: bytes
    password: str = field(repr=False)
    encoded: str = field(repr=False)
    waiters: list[_Waiter]
    suspect: bool = False
    trusted: bool = False

    def abandoned(self) -> bool:
        return all(waiter.left() for waiter in self.waiters)


class PasswordVerifier:
    def __init__(
        self,
        *,
        check: PasswordCheck = verify_password,
        workers: int = DEFAULT_WORKERS,
        max_queued: int = DEFAULT_MAX_QUEUED,
        cache_size: int = DEFAULT_CACHE_SIZE,
        failure_ttl: float = FAILURE_TTL,
        failure_cache_size: int = FAILURE_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
        executor: Executor | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self._check = check
        self._workers = workers
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix="mqttdesk-password")
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._failed: OrderedDict[bytes, float] = OrderedDict()  # digest -> when it expires (insertion order)
        self._cache_size = cache_size
        self._failure_ttl = failure_ttl
        self._failure_cache_size = failure_cache_size
        self._clock = clock
        self._queue: FairQueue[_Job] = FairQueue(max_queued)
        self._suspects: FairQueue[_Job] = FairQueue(max_queued)  # checks from addresses that failed lately
        self._trusted: FairQueue[_Job] = FairQueue(max_queued)  # from addresses with a correct login lately
        self._running_suspects = 0
        self._jobs: dict[bytes, _Job] = {}  # digest -> its job, queued or running
        self._running = 0
        self._start_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the queue and its jobs belong to
        # counters for tests, benchmarks and the curious
        self.hashes_computed = 0  # real PBKDF2 runs
        self.dropped_gone = 0  # checks never computed because their client had gone
        self.refused_busy = 0  # checks refused or pushed out because the queue was full

    # -- the caches --------------------------------------------------------------------------------

    def _digest(self, password: str, encoded: str) -> bytes:
        message = encoded.encode() + b"\x00" + password.encode("utf-8")
        # keyed BLAKE2b is a MAC by design (RFC 7693): one pass, 1.2 µs here against 2.2-3.8 µs for HMAC-SHA256
        # through OpenSSL, and every CONNECT with a password computes one
        return hashlib.blake2b(message, key=self._key, digest_size=32).digest()

    def _known(self, digest: bytes) -> Verdict | None:
        if digest in self._verified:
            self._verified.move_to_end(digest)
            return Verdict.RIGHT
        self._expire_failures()
        return Verdict.WRONG if digest in self._failed else None

    def _remember(self, digest: bytes, ok: bool) -> None:
        if ok:
            self._verified[digest] = None
            self._verified.move_to_end(digest)
            while len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
            return
        self._failed.pop(digest, None)  # re-inserted at the end: entries stay in expiry order
        self._failed[digest] = self._clock() + self._failure_ttl
        while len(self._failed) > self._failure_cache_size:
            self._failed.popitem(last=False)

    def _expire_failures(self) -> None:
        now = self._clock()
        while self._failed:
            digest, expires = next(iter(self._failed.items()))
            if expires > now:
                return
            del self._failed[digest]

    def clear(self) -> None:
        """Forget every remembered outcome (a credential lost its password or its standing)."""
        self._verified.clear()
        self._failed.clear()

    def __len__(self) -> int:
        return len(self._verified)

    @property
    def known_failures(self) -> int:
        self._expire_failures()
        return len(self._failed)

    @property
    def queued(self) -> int:
        """Checks waiting for a worker (not counting the ones being computed)."""
        return len(self._queue) + len(self._suspects) + len(self._trusted)

    # -- checking ----------------------------------------------------------------------------------

    async def check(self, password: str, encoded: str, *, source: str | None = None,
                    gone: GoneTest | None = None, suspect: bool = False, trusted: bool = False) -> Verdict:
        """Whether `password` matches `encoded`, or why it was not checked (`BUSY`, `GONE`).

        `source` is the client's address (its share of the queue); `gone` tells whether the client has left;
        a `suspect` check (its address failed lately) waits behind every other, a `trusted` one (a correct login
        there lately) goes before them.
        """
        digest = self._digest(password, encoded)
        known = self._known(digest)
        if known is not None:
            return known
        if gone is not None and gone():
            self.dropped_gone += 1
            return Verdict.GONE
        waiter = _Waiter(self._bind_loop().create_future(), gone)
        job = self._jobs.get(digest)
        if job is not None:
            job.waiters.append(waiter)  # the same pair is queued or being hashed: share it
            return await waiter.future
        job = _Job(digest, password, encoded, [waiter], suspect, trusted and not suspect)
        queue = self._suspects if suspect else self._trusted if trusted else self._queue
        offer = queue.offer(source_of(source), job, dead=_Job.abandoned)
        for dead in offer.dead:
            self._drop(dead, Verdict.GONE)
        if offer.evicted is not None:
            self._drop(offer.evicted, Verdict.BUSY)
        if not offer.accepted:
            self.refused_busy += 1
            return Verdict.BUSY
        self._jobs[digest] = job
        self._start_soon()
        return await waiter.future

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # checks left on a loop that is gone (a test's asyncio.run, a restarted app) can never finish: start over
            self._loop = loop
            self._queue = FairQueue(self._queue.limit)
            self._suspects = FairQueue(self._suspects.limit)
            self._trusted = FairQueue(self._trusted.limit)
            self._jobs.clear()
            self._running = 0
            self._running_suspects = 0
            self._start_pending = False
        return loop

    def _drop(self, job: _Job, verdict: Verdict) -> None:
        """A queued job that will not be computed: tell whoever still waits why."""
        if self._jobs.get(job.digest) is job:
            del self._jobs[job.digest]
        if verdict is Verdict.GONE:
            self.dropped_gone += 1
        else:
            self.refused_busy += 1
        self._release(job.waiters, verdict)

    def _start_soon(self) -> None:
        """Start queued checks once the event loop has read what is waiting on the sockets.

        A client that sends its CONNECT and closes at once has its close in the kernel already, but the loop reads
        it only on its next turn; a timer due now runs after that turn's reads, so such a check is never started.
        """
        if self._start_pending or self._running >= self._workers:
            return
        self._start_pending = True
        asyncio.get_running_loop().call_later(0, self._start_queued)

    def _start_queued(self) -> None:
        self._start_pending = False
        while self._running < self._workers:
            job = self._trusted.pop() or self._queue.pop()
            if job is None and self._running_suspects < max(1, self._workers - 1):
                job = self._suspects.pop()  # one worker stays free for a check from a clean address
            if job is None:
                return
            if job.abandoned():
                self._drop(job, Verdict.GONE)
                continue
            self._running += 1
            self._running_suspects += job.suspect
            self.hashes_computed += 1
            hashed = asyncio.get_running_loop().run_in_executor(self._executor, self._check, job.password,
                                                                 job.encoded)
            hashed.add_done_callback(functools.partial(self._hashed, job))

    def _hashed(self, job: _Job, hashed: asyncio.Future[bool]) -> None:
        self._running -= 1
        self._running_suspects -= job.suspect
        if self._jobs.get(job.digest) is job:
            del self._jobs[job.digest]
        job.password = ""  # nothing needs it any more
        if hashed.cancelled():  # the verifier was closed under it
            for waiter in job.waiters:
                waiter.future.cancel()
        elif (exc := hashed.exception()) is not None:
            self._release(job.waiters, exc)
        else:
            ok = hashed.result()
            self._remember(job.digest, ok)
            self._release(job.waiters, Verdict.RIGHT if ok else Verdict.WRONG)
        self._start_queued()

    def _release(self, waiters: list[_Waiter], outcome: Verdict | BaseException) -> None:
        """Wake the callers that waited for the same hash, a few per loop turn.

        A storm queues hundreds of devices behind the first hash of a shared password; waking them all in one
        turn kept the window's loop busy for a quarter of a second (every wake-up is a Qt timer under qasync).
        """
        for waiter in waiters[:WAKE_CHUNK]:
            if waiter.future.done():
                continue  # its caller gave up (cancelled)
            if isinstance(outcome, BaseException):
                waiter.future.set_exception(outcome)
            else:
                waiter.future.set_result(outcome)
        if len(waiters) > WAKE_CHUNK:
            asyncio.get_running_loop().call_soon(self._release, waiters[WAKE_CHUNK:], outcome)

    def verify_blocking(self, password: str, encoded: str) -> bool:
        """For callers without an event loop (the CLI's explainer). Uses and fills the same caches."""
        digest = self._digest(password, encoded)
        known = self._known(digest)
        if known is not None:
            return known is Verdict.RIGHT
        self.hashes_computed += 1
        ok = self._check(password, encoded)
        self._remember(digest, ok)
        return ok

    def close(self) -> None:
        """Stop the worker threads (a hash being computed finishes on its own)."""
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)
