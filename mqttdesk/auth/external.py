"""Calls to the external HTTP auth/ACL service (aiohttp), with the cache in front of them.

- Nothing blocks the event loop: each call is a task; a CONNECT or a packet waiting for one waits alone.
- Allow *and* deny answers are cached for the settings' cache time (0: not at all), keyed by an HMAC of the request
  with a key made for this process, so the cache never holds a plain password. A cached denial never outlives the
  cache time.
- Identical requests made while one is in flight share that one call.
- A settings change, `mqttdesk external flush` and a failed call (unreachable, timeout, 5xx) empty the cache; a
  failed answer is never cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from mqttdesk.core.external import Answer, ExternalSettings, interpret, shown_body, timed_out, unreachable

log = logging.getLogger(__name__)

MAX_CACHED = 100_000  # answers; the oldest go first
MAX_ANSWER_BYTES = 64 * 1024  # of a body that is read (the service's `error` text is what matters)
MAX_CONCURRENT_CALLS = 32  # a SUBSCRIBE with thousands of filters must not open thousands of connections at once


@dataclass(frozen=True, slots=True)
class Exchange:
    """One call as the Integrations page's Test button shows it (the password replaced)."""

    url: str
    request: str
    answer: Answer
    seconds: float


class ExternalService:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._cache: dict[bytes, tuple[float, Answer]] = {}  # key -> (monotonic expiry, answer)
        self._inflight: dict[bytes, asyncio.Task[Answer]] = {}
        self._generation = 0  # moved by `clear`: a call started before it does not fill the cache after it
        self.clock = time.monotonic  # of the cache times (tests move it on)
        self.calls = 0  # HTTP requests made
        self.last_exchange: Exchange | None = None
        self._limit: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _calls_allowed(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()  # one per loop: the CLI runs a loop per dry run
        if self._limit is None or self._limit[0] is not loop:
            self._limit = (loop, asyncio.Semaphore(MAX_CONCURRENT_CALLS))
        return self._limit[1]

    def clear(self) -> None:
        self._cache.clear()
        self._generation += 1

    def _key_of(self, url: str, body: dict[str, Any]) -> bytes:
        message = json.dumps([url, body], sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def cached(self, url: str, body: dict[str, Any]) -> Answer | None:
        """The cached answer to this request, if it has not expired."""
        key = self._key_of(url, body)
        found = self._cache.get(key)
        if found is None:
            return None
        if found[0] <= self.clock():
            del self._cache[key]
            return None
        return found[1]

    async def ask(self, settings: ExternalSettings, url: str, body: dict[str, Any]) -> Answer:
        """The cached answer, else the service's (sharing a call already in flight for the same request)."""
        key = self._key_of(url, body)
        found = self._cache.get(key)
        if found is not None and found[0] > self.clock():
            return found[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._call(settings, url, body, key, self._generation))
            self._inflight[key] = task
            task.add_done_callback(lambda _task: self._inflight.pop(key, None))
        # shielded: a CONNECT whose client left must not cancel the call others wait for
        return await asyncio.shield(task)

    async def _call(self, settings: ExternalSettings, url: str, body: dict[str, Any], key: bytes,
                    generation: int) -> Answer:
        async with self._calls_allowed():
            return self._remember(settings, url, body, key, generation, await self._post(settings, url, body))

    async def _post(self, settings: ExternalSettings, url: str, body: dict[str, Any]) -> Answer:
        import aiohttp  # imported on first use: most brokers never call a service, and it costs ~0.2 s to import

        self.calls += 1
        started = time.monotonic()
        try:
            timeout = aiohttp.ClientTimeout(total=settings.timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.post(url, json=body, headers=dict(settings.headers)) as response:
                answer = interpret(response.status, await response.content.read(MAX_ANSWER_BYTES))
        except TimeoutError:
            answer = timed_out(settings.timeout)
        except aiohttp.ClientConnectorError as exc:
            answer = unreachable(exc.os_error.strerror or type(exc.os_error).__name__)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            answer = unreachable(type(exc).__name__)
        self.last_exchange = Exchange(url, shown_body(body), answer, time.monotonic() - started)
        return answer

    def _remember(self, settings: ExternalSettings, url: str, body: dict[str, Any], key: bytes, generation: int,
                  answer: Answer) -> Answer:
        if answer.failed:
            log.info("external HTTP service: %s (%s)", answer.text, url)
            self.clear()
        elif generation == self._generation and settings.cache_seconds > 0:
            if len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = (self.clock() + settings.cache_seconds, answer)
        return answer
