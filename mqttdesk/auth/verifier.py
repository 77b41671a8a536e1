"""Password verification off the event loop, with a cache of successful verifications.

PBKDF2 with 210,000 iterations costs ~0.1 s of CPU by design. Running it on the event loop would freeze the broker
and the window; running it once per device in a reconnect storm would take minutes. So:

- the hash runs in a worker thread (hashlib releases the GIL while it works);
- concurrent checks of the same (hash, password) pair share one computation, and are woken a few at a time;
- a *successful* check is remembered in memory, keyed by an HMAC under a per-process random key of the stored hash
  and the password — the plain password is never kept, and nothing reaches the disk. Because the stored hash is
  part of the key, a password change invalidates the entry by itself; `clear()` drops everything (suspend, revoke).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from concurrent.futures import Executor

from mqttdesk.core.passwords import verify_password

DEFAULT_CACHE_SIZE = 100_000
WAKE_CHUNK = 16


class PasswordVerifier:
    def __init__(self, executor: Executor | None = None, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._executor = executor
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._in_flight: dict[bytes, list[asyncio.Future[bool]]] = {}  # digest -> callers waiting for it
        self._cache_size = cache_size
        self.hashes_computed = 0  # how many real PBKDF2 runs happened (for tests and benchmarks)

    def _digest(self, password: str, encoded: str) -> bytes:
        message = encoded.encode() + b"\x00" + password.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _remember(self, digest: bytes) -> None:
        self._verified[digest] = None
        self._verified.move_to_end(digest)
        while len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)

    async def verify(self, password: str, encoded: str) -> bool:
        digest = self._digest(password, encoded)
        if digest in self._verified:
            self._verified.move_to_end(digest)
            return True
        loop = asyncio.get_running_loop()
        waiters = self._in_flight.get(digest)
        if waiters is not None:
            mine: asyncio.Future[bool] = loop.create_future()
            waiters.append(mine)
            return await mine
        waiters = self._in_flight[digest] = []
        try:
            self.hashes_computed += 1
            ok = await loop.run_in_executor(self._executor, verify_password, password, encoded)
        except BaseException as exc:
            self._release(waiters, exc)
            raise
        finally:
            self._in_flight.pop(digest, None)
        if ok:
            self._remember(digest)
        self._release(waiters, ok)
        return ok

    def _release(self, waiters: list[asyncio.Future[bool]], outcome: bool | BaseException) -> None:
        """Wake the callers that waited for the same hash, a few per loop turn.

        A storm queues hundreds of devices behind the first hash of a shared password; waking them all in one
        turn kept the window's loop busy for a quarter of a second (every wake-up is a Qt timer under qasync).
        """
        for waiter in waiters[:WAKE_CHUNK]:
            if waiter.done():
                continue  # its caller gave up (cancelled)
            if isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
        if len(waiters) > WAKE_CHUNK:
            asyncio.get_running_loop().call_soon(self._release, waiters[WAKE_CHUNK:], outcome)

    def verify_blocking(self, password: str, encoded: str) -> bool:
        """For callers without an event loop (the CLI's explainer). Uses and fills the same cache."""
        digest = self._digest(password, encoded)
        if digest in self._verified:
            return True
        self.hashes_computed += 1
        ok = verify_password(password, encoded)
        if ok:
            self._remember(digest)
        return ok

    def clear(self) -> None:
        self._verified.clear()

    def __len__(self) -> int:
        return len(self._verified)
