"""Records decisions in the Auth log and first uses of credentials, in batches.

A CONNECT storm makes thousands of decisions a second; one SQLite transaction each would stall the event loop.
Decisions are queued and written together a moment later (or at `flush()`), then handed to in-process listeners
(the GUI's Auth log) as stored entries with their ids.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

from mqttdesk.core.decision import Decision
from mqttdesk.core.model import CredentialKind, CredentialRef, Device
from mqttdesk.store.auth_log_repo import AuthLogEntry, entry_from_decision
from mqttdesk.store.db import Store

log = logging.getLogger(__name__)

EntriesListener = Callable[[list[AuthLogEntry]], None]
FLUSH_DELAY = 0.1
BATCH = 100
RETRY_DELAY = 1.0  # seconds before writing again when another process holds the database
_LAST_USED_RESOLUTION = 60.0  # `last_used` is minute-accurate: no write for every reconnect
_CLIENT_IDS_REMEMBERED = 100_000  # what was written last per clientId, to skip rewriting the same


class DecisionRecorder:
    def __init__(self, store: Store, flush_delay: float = FLUSH_DELAY) -> None:
        self._store = store
        self._flush_delay = flush_delay
        self._queue: list[AuthLogEntry] = []
        self._uses: dict[CredentialRef, tuple[float, str | None]] = {}
        self._registrations: list[Device] = []
        self._last_written_use: dict[CredentialRef, float] = {}
        self._client_ids: dict[str, tuple[CredentialRef, float]] = {}
        self._last_written_client_id: dict[str, tuple[CredentialRef, float]] = {}
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

    def record_use(self, credential: CredentialRef, address: str | None = None) -> None:
        """A successful authentication: inactive → active on the first one, `last_used` (and a device's address)."""
        self._uses[credential] = (time.time(), address)
        self._schedule()

    def record_client_id(self, client_id: str, credential: CredentialRef) -> None:
        """`credential` connected with `client_id`: it is the last to have used it (see core/client_ids.py)."""
        if credential.kind is CredentialKind.ANONYMOUS:
            return
        self._client_ids[client_id] = (credential, time.time())
        self._schedule()

    def record_registration(self, device: Device) -> None:
        self._registrations.append(device)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer = loop.call_later(self._flush_delay, self._flush_a_batch)

    def _flush_a_batch(self) -> None:
        """The timed flush writes at most BATCH of each kind, then lets the loop breathe before the rest.

        One transaction for a whole storm's worth of entries held the event loop — the window's, under qasync —
        for a fifth of a second (the views update from the same call); a hundred at a time keeps it short.
        """
        self._timer = None
        if not self._write(BATCH):
            return  # the store is busy: `_write` scheduled a retry
        if self._queue or self._registrations or self._uses or self._client_ids:
            self._timer = asyncio.get_running_loop().call_later(0, self._flush_a_batch)

    def flush(self) -> None:
        """Write everything now (at shutdown, and wherever a caller needs the log to be complete)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write(None)

    def _write(self, limit: int | None) -> bool:
        """Write up to `limit` of each kind (all with None); False when the store was busy (kept for a retry)."""
        if limit is None or len(self._queue) <= limit:
            queue, self._queue = self._queue, []
        else:
            queue, self._queue = self._queue[:limit], self._queue[limit:]
        if limit is None or len(self._registrations) <= limit:
            registrations, self._registrations = self._registrations, []
        else:
            registrations, self._registrations = self._registrations[:limit], self._registrations[limit:]
        uses, self._uses = self._uses, {}
        client_ids, self._client_ids = self._client_ids, {}
        stored: list[AuthLogEntry] = []
        try:
            with self._store.write():
                if registrations:
                    self._store.devices.register(registrations)
                if queue:
                    stored = self._store.auth_log.append(queue)
                written = self._write_uses(uses)
                client_ids_written = self._write_client_ids(client_ids)
        except sqlite3.OperationalError as exc:
            # another process holds the database (a long CLI transaction): keep everything and try again later,
            # oldest first, rather than lose Auth log entries and device registrations
            log.warning("store busy (%s); keeping %d Auth log entries for a retry", exc, len(queue))
            self._queue[:0] = queue
            self._registrations[:0] = registrations
            self._uses = {**uses, **self._uses}
            self._client_ids = {**client_ids, **self._client_ids}
            if self._timer is None:
                try:
                    self._timer = asyncio.get_running_loop().call_later(RETRY_DELAY, self._flush_a_batch)
                except RuntimeError:  # no loop (shutting down): nothing will retry; say what is lost
                    log.error("Auth log: %d entries could not be written", len(self._queue))
            return False
        except Exception:
            log.exception("could not write %d Auth log entries", len(queue))
            return True
        self._last_written_use.update(written)
        if len(self._last_written_client_id) > _CLIENT_IDS_REMEMBERED:
            self._last_written_client_id.clear()
        self._last_written_client_id.update(client_ids_written)
        if stored:
            for listener in list(self._listeners):
                try:
                    listener(stored)
                except Exception:
                    log.exception("Auth log listener failed")
        return True

    def _write_uses(self, uses: dict[CredentialRef, tuple[float, str | None]]) -> dict[CredentialRef, float]:
        """Write what is due; returns what was written (remembered only once the transaction commits)."""
        sightings: dict[str, tuple[float, str | None]] = {}
        written: dict[CredentialRef, float] = {}
        for credential, (when, address) in uses.items():
            previous = self._last_written_use.get(credential)
            if previous is not None and when - previous < _LAST_USED_RESOLUTION:
                continue
            written[credential] = when
            if credential.kind is CredentialKind.USER:
                self._store.users.mark_used(credential.name, when)
            elif credential.kind is CredentialKind.BOOTSTRAP:
                self._store.bootstraps.mark_used(credential.name, when)
            elif credential.kind is CredentialKind.DEVICE:
                sightings[credential.name] = (when, address)
        if sightings:
            self._store.devices.mark_seen(sightings)
        return written

    def _write_client_ids(self, uses: dict[str, tuple[CredentialRef, float]]) -> dict[str, tuple[CredentialRef, float]]:
        due: dict[str, tuple[CredentialRef, float]] = {}
        for client_id, (credential, when) in uses.items():
            previous = self._last_written_client_id.get(client_id)
            if previous is not None and previous[0] == credential and when - previous[1] < _LAST_USED_RESOLUTION:
                continue
            due[client_id] = (credential, when)
        self._store.client_ids.record(due)
        return due
