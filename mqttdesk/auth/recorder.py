"""Records decisions in the Auth log and first uses of credentials, in batches.

A CONNECT storm makes thousands of decisions a second; one SQLite transaction each would stall the event loop.
Decisions are queued and written together a moment later (or at `flush()`), then handed to in-process listeners
(the GUI's Auth log) as stored entries with their ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mqttdesk.core.decision import Decision
from mqttdesk.core.model import CredentialKind, CredentialRef
from mqttdesk.store.auth_log_repo import AuthLogEntry, entry_from_decision
from mqttdesk.store.db import Store

log = logging.getLogger(__name__)

EntriesListener = Callable[[list[AuthLogEntry]], None]
FLUSH_DELAY = 0.1
_LAST_USED_RESOLUTION = 60.0  # `last_used` is minute-accurate: no write for every reconnect


class DecisionRecorder:
    def __init__(self, store: Store, flush_delay: float = FLUSH_DELAY) -> None:
        self._store = store
        self._flush_delay = flush_delay
        self._queue: list[AuthLogEntry] = []
        self._uses: dict[CredentialRef, float] = {}
        self._last_written_use: dict[CredentialRef, float] = {}
        self._listeners: list[EntriesListener] = []
        self._timer: asyncio.TimerHandle | None = None

    def on_entries(self, listener: EntriesListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: EntriesListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def record(self, decision: Decision) -> None:
        self._queue.append(entry_from_decision(decision))
        self._schedule()

    def record_use(self, credential: CredentialRef) -> None:
        """A successful authentication: inactive → active on the first one, and `last_used`."""
        self._uses[credential] = time.time()
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer = loop.call_later(self._flush_delay, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        queue, self._queue = self._queue, []
        uses, self._uses = self._uses, {}
        stored: list[AuthLogEntry] = []
        try:
            with self._store.write():
                if queue:
                    stored = self._store.auth_log.append(queue)
                for credential, when in uses.items():
                    self._write_use(credential, when)
        except Exception:
            log.exception("could not write %d Auth log entries", len(queue))
            return
        if stored:
            for listener in list(self._listeners):
                try:
                    listener(stored)
                except Exception:
                    log.exception("Auth log listener failed")

    def _write_use(self, credential: CredentialRef, when: float) -> None:
        previous = self._last_written_use.get(credential)
        if previous is not None and when - previous < _LAST_USED_RESOLUTION:
            return
        self._last_written_use[credential] = when
        if credential.kind is CredentialKind.USER:
            self._store.users.mark_used(credential.name, when)
