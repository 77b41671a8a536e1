"""One log line, not a traceback per socket, when the process runs out of file descriptors to accept connections.

On uvloop, which reports no failed accept at all, the same line comes from the descriptors of the connections it
does accept (`AcceptErrorFilter.accepted`).

When `accept()` fails with EMFILE/ENFILE (or ENOBUFS/ENOMEM), asyncio's accept loop reports it through the loop's
exception handler with a traceback, once per attempt of its batch, and then stops listening for a second before
it tries again by itself. Under a flood of sockets that was 7,998 traceback lines in 13 s on stderr. This
filter, installed on the loop while the broker runs, turns such a burst into one warning line (and an INFO line
when it is over), and hands every other error on to the handler that was there before, unchanged.

asyncio's retry is a timer holding the listening socket: if the broker stops meanwhile, the timer fires on a closed
socket and fails with a traceback of its own. So the filter stays a little longer after a burst to drop that too.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from typing import Any

log = logging.getLogger(__name__)

OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
BURST_QUIET = 5.0  # seconds without a failed accept that end a burst
RETRY_GRACE = 2.0  # asyncio retries a failed accept after 1 s: by then every retry timer has fired
DESCRIPTOR_HEADROOM = 2  # an accepted socket this close to the limit: the next accept has no descriptor left
_ACCEPT_MESSAGE = "socket.accept() out of system resource"  # asyncio's message for these (3.11-3.13)


def _is_retry_on_a_closed_socket(context: dict[str, Any]) -> bool:
    handle = context.get("handle")
    callback = getattr(handle, "_callback", None)
    return isinstance(context.get("exception"), ValueError) and getattr(callback, "__name__", "") == "_start_serving"


def is_accept_exhaustion(context: dict[str, Any]) -> bool:
    exc = context.get("exception")
    return (isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES
            and str(context.get("message", "")).startswith(_ACCEPT_MESSAGE))


class AcceptErrorFilter:
    """The loop's exception handler while installed: quiet about exhausted accepts, the previous one for the rest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd_limit: int | None) -> None:
        self._loop = loop
        self._fd_limit = fd_limit
        self._previous: Any = None
        self._failures = 0
        self._started = 0.0
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def install(self) -> None:
        self._previous = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self)

    def uninstall(self) -> None:
        """Hand the loop back to the previous handler (after `RETRY_GRACE` if accepts failed just now)."""
        if self._timer is not None:
            self._timer.cancel()
            self._end_burst()
        if self._last:  # an accept failed: its retry timers may still be due
            self._loop.call_later(max(0.0, RETRY_GRACE - (time.monotonic() - self._last)), self._restore)
        else:
            self._restore()

    def _restore(self) -> None:
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _is_retry_on_a_closed_socket(context):
            log.debug("a retry of accept() found its listener closed")
            return
        if not is_accept_exhaustion(context):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        exc = context["exception"]
        self._failed(exc.strerror or str(exc), "new clients wait in the listen queue, retrying every second")

    def accepted(self, descriptor: int) -> None:
        """A connection was accepted on file descriptor `descriptor`: the highest ones mean the next accept fails.

        uvloop (libuv) never reports a failed accept: it closes the connections it cannot take (accepting them on
        a descriptor it keeps in reserve), so the lowest-numbered descriptor the kernel hands out is what says the
        broker is out of them.
        """
        if self._fd_limit is not None and descriptor >= self._fd_limit - DESCRIPTOR_HEADROOM:
            self._failed(os.strerror(errno.EMFILE), "new clients are refused until connections close")

    def _failed(self, why: str, meanwhile: str) -> None:
        now = time.monotonic()
        self._failures += 1
        self._last = now
        if self._timer is None:
            self._started = now
            limit = f" (limit {self._fd_limit})" if self._fd_limit is not None else ""
            log.warning("cannot accept connections: %s%s; %s", why, limit, meanwhile)
            self._timer = self._loop.call_later(BURST_QUIET, self._check)

    def _check(self) -> None:
        quiet = time.monotonic() - self._last
        if quiet >= BURST_QUIET:
            self._timer = None
            self._end_burst()
        else:
            self._timer = self._loop.call_later(BURST_QUIET - quiet, self._check)

    def _end_burst(self) -> None:
        self._timer = None
        log.info("no failed accept for %g s (%d failed attempts over %.1f s)", BURST_QUIET,
                    self._failures, self._last - self._started)
        self._failures = 0
