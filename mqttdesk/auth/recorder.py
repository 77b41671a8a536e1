"""Records decisions in the Auth log and first uses of credentials, in batches.

A CONNECT storm makes thousands of decisions a second; one SQLite transaction each would stall the event loop.
Decisions are queued and written together a moment later (or at `flush()`), then handed to in-process listeners
(the GUI's Auth log) as stored entries with their ids.

Refusals are folded: one with the same address, kind, reason, clientId, username, topic and protocol as one less than
`FOLD_WINDOW` seconds older adds to that one's count instead of adding a row (an in-memory map of recent refusals,
at most `MAX_FOLDS` of them), so a client retrying a wrong password, or a script hammering the port, costs one row
a minute, not thousands. Listeners get a folded entry again, with its id, each time its count grows. After each
write the store is held to its byte budget (`auth_log.max_bytes`), not only at the periodic housekeeping.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

from mqttdesk.core.decision import Decision
from mqttdesk.core.model import CredentialKind, CredentialRef, Device
from mqttdesk.store.auth_log_repo import SESSION_END_KINDS, AuthLogEntry, entry_from_decision
from mqttdesk.store.db import Store

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

log = logging.getLogger(__name__)

EntriesListener = Callable[[list[AuthLogEntry]], None]
# how `last_used` is written per credential kind (devices: `mark_seen`, with their address); a source whose
# records have a `last_used` needs its writer here (tests/unit/test_sources.py checks that none is missing)
USE_WRITERS: dict[CredentialKind, Callable[[Store, str, float], None]] = {
    CredentialKind.USER: lambda store, name, when: store.users.mark_used(name, when),
    CredentialKind.BOOTSTRAP: lambda store, name, when: store.bootstraps.mark_used(name, when),
}
# nothing to mark: there is no record (a token's holder or an external user is not one)
USES_NOT_WRITTEN = frozenset({CredentialKind.ANONYMOUS, CredentialKind.TOKEN, CredentialKind.EXTERNAL})
FLUSH_DELAY = 0.1
# entries (and device registrations) per transaction and per loop turn: with the window open, one batch is also the
# Auth log and Devices tables inserting its rows, so it bounds the window's longest stall. 40 against 100 took the
# stall when 1,000 clients leave at once from 148-158 to 71-137 ms (bench --only gui, 4 interleaved pairs) for
# 15 more commits per 1,000 connects
BATCH = 40
# with nobody watching (headless: no window's tables take the rows), a batch only holds the loop for its SQLite
# work: 250 rows are ~4 ms of it, in one commit instead of six (a gain within the noise of paired connect runs)
UNWATCHED_BATCH = 250
RETRY_DELAY = 1.0  # seconds before writing again when another process holds the database
_LAST_USED_RESOLUTION = 60.0  # `last_used` is minute-accurate: no write for every reconnect
# longer ids are not remembered: an authenticated client cycling 64 KB clientIds must not grow the store by that
# much per connect, and no device firmware uses such ids (MQTT guarantees 23 characters)
MAX_RECORDED_CLIENT_ID = 1024
_CLIENT_IDS_REMEMBERED = 100_000  # what was written last per clientId, to skip rewriting the same
FOLD_WINDOW = 60.0  # seconds from a refusal's first occurrence during which repeats only count
MAX_FOLDS = 4096  # recent refusals remembered for folding; beyond, the oldest is forgotten (and logged anew)

FoldKey = tuple[str | None, str, str, str | None, str | None, str | None, str | None]


@dataclass(slots=True)
class _Fold:
    """A refusal being folded: its first entry (`stored` once written) and the repeats not yet written."""

    first: AuthLogEntry
    stored: AuthLogEntry | None = None
    unwritten: int = 0
    last_time: float = 0.0


def fold_key(entry: AuthLogEntry) -> FoldKey | None:
    """What makes two refusals "the same one again"; None for what is never folded (allowed, session ends)."""
    if entry.allowed or entry.kind in SESSION_END_KINDS:
        return None
    # the protocol too: a client that falls back from MQTT 5 to 3.1.1 after a refusal is told two different things
    return (entry.address, entry.kind, entry.reason_code, entry.client_id, entry.username, entry.topic, entry.protocol)


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
        self._folds: dict[FoldKey, _Fold] = {}  # oldest first
        self._fold_of_entry: dict[int, _Fold] = {}  # queued first entries (by object id) awaiting their row
        self._dirty: dict[int, _Fold] = {}  # folds with a row and repeats to add to it (kept even once forgotten)

    def on_entries(self, listener: EntriesListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: EntriesListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def record(self, decision: Decision) -> None:
        entry = entry_from_decision(decision)
        key = fold_key(entry)
        if key is not None and self._fold(key, entry):
            self._schedule()
            return
        self._queue.append(entry)
        self._schedule()

    def _fold(self, key: FoldKey, entry: AuthLogEntry) -> bool:
        """Count `entry` into a recent refusal like it (True), or start remembering it as a new one (False)."""
        fold = self._folds.get(key)
        if fold is not None and entry.time - fold.first.time < FOLD_WINDOW:
            fold.unwritten += 1
            fold.last_time = entry.time
            if fold.stored is not None:
                self._dirty[id(fold)] = fold
            return True
        if fold is not None:
            del self._folds[key]  # expired: the entry starts a new row, remembered as the newest
        while len(self._folds) >= MAX_FOLDS:
            del self._folds[next(iter(self._folds))]
        fold = _Fold(entry, last_time=entry.time)
        self._folds[key] = fold
        self._fold_of_entry[id(entry)] = fold
        return False

    def record_use(self, credential: CredentialRef, address: str | None = None) -> None:
        """A successful authentication: inactive → active on the first one, `last_used` (and a device's address)."""
        self._uses[credential] = (time.time(), address)
        self._schedule()

    def record_client_id(self, client_id: str, credential: CredentialRef) -> None:
        """`credential` connected with `client_id`: it is the last to have used it (see core/client_ids.py)."""
        if credential.kind is CredentialKind.ANONYMOUS or len(client_id) > MAX_RECORDED_CLIENT_ID:
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
        if not self._write(BATCH if self._listeners else UNWATCHED_BATCH):
            return  # the store is busy: `_write` scheduled a retry
        if self._queue or self._registrations or self._uses or self._client_ids or self._unwritten_folds():
            self._timer = asyncio.get_running_loop().call_later(0, self._flush_a_batch)

    def _unwritten_folds(self) -> list[_Fold]:
        return list(self._dirty.values())

    def flush(self) -> None:
        """Write everything now (at shutdown, and wherever a caller needs the log to be complete)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._write(None)

    def _write(self, limit: int | None) -> bool:
        """Write up to `limit` of each kind (all with None); False when the store was busy (kept for a retry)."""
        queue, self._queue = _split(self._queue, limit)
        registrations, self._registrations = _split(self._registrations, limit)
        # (a storm's thousand clientIds in one statement, and the views' updates after it, held the window 47 ms)
        uses, self._uses = _split(self._uses, limit)
        client_ids, self._client_ids = _split(self._client_ids, limit)
        stored: list[AuthLogEntry] = []
        folds = self._unwritten_folds()
        try:
            with self._store.write():
                if registrations:
                    self._store.devices.register(registrations)
                if queue:
                    stored = self._store.auth_log.append(self._with_repeats(queue))
                stored.extend(self._write_folds(folds))
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
            for entry in queue:  # lost: their folds must not wait for rows (nor match a later object's id)
                self._fold_of_entry.pop(id(entry), None)
            return True
        self._last_written_use.update(written)
        if len(self._last_written_client_id) > _CLIENT_IDS_REMEMBERED:
            self._last_written_client_id.clear()
        self._last_written_client_id.update(client_ids_written)
        self._folded_written(queue, stored, folds)
        self._enforce_budget()
        if stored:
            for listener in list(self._listeners):
                try:
                    listener(stored)
                except Exception:
                    log.exception("Auth log listener failed")
        return True

    def _with_repeats(self, queue: list[AuthLogEntry]) -> list[AuthLogEntry]:
        """A queued first refusal goes in with the repeats counted since, so its row starts with the right count."""
        rows = []
        for entry in queue:
            fold = self._fold_of_entry.get(id(entry))
            if fold is not None and fold.unwritten:
                entry = replace(entry, count=1 + fold.unwritten, time=fold.last_time, first_time=entry.time)
            rows.append(entry)
        return rows

    def _write_folds(self, folds: list[_Fold]) -> list[AuthLogEntry]:
        """The repeats of refusals already in the log; a row pruned meanwhile is written anew with them."""
        updated: list[AuthLogEntry] = []
        for fold in folds:
            assert fold.stored is not None
            entry = self._store.auth_log.add_to_fold(fold.stored, fold.unwritten, fold.last_time)
            if entry is None:
                [entry] = self._store.auth_log.append([replace(
                    fold.first, count=fold.unwritten, time=fold.last_time, first_time=fold.first.time)])
            updated.append(entry)
        return updated

    def _folded_written(self, queue: list[AuthLogEntry], stored: list[AuthLogEntry], folds: list[_Fold]) -> None:
        """After the commit: the folds now know their rows, and their repeats are written."""
        for entry, row in zip(queue, stored[:len(queue)], strict=True):  # the queue's rows come first, in order
            fold = self._fold_of_entry.pop(id(entry), None)
            if fold is not None:
                fold.stored, fold.unwritten = row, 0
        for fold, row in zip(folds, stored[len(queue):], strict=True):
            fold.stored, fold.unwritten = row, 0
            self._dirty.pop(id(fold), None)

    def _enforce_budget(self) -> None:
        try:
            self._store.auth_log.enforce_budget(self._store.settings.auth_log_max_bytes())
        except sqlite3.OperationalError as exc:  # another process holds the database: the next write tries again
            log.warning("could not prune the Auth log to its byte budget yet: %s", exc)

    def _write_uses(self, uses: dict[CredentialRef, tuple[float, str | None]]) -> dict[CredentialRef, float]:
        """Write what is due; returns what was written (remembered only once the transaction commits)."""
        sightings: dict[str, tuple[float, str | None]] = {}
        written: dict[CredentialRef, float] = {}
        for credential, (when, address) in uses.items():
            previous = self._last_written_use.get(credential)
            if previous is not None and when - previous < _LAST_USED_RESOLUTION:
                continue
            written[credential] = when
            if credential.kind is CredentialKind.DEVICE:
                sightings[credential.name] = (when, address)  # a device's address is kept too, in one statement
            elif credential.kind in USE_WRITERS:
                USE_WRITERS[credential.kind](self._store, credential.name, when)
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


@overload
def _split(pending: list[T], limit: int | None) -> tuple[list[T], list[T]]: ...
@overload
def _split(pending: dict[K, V], limit: int | None) -> tuple[dict[K, V], dict[K, V]]: ...
def _split(pending: list[T] | dict[K, V], limit: int | None) -> tuple[Any, Any]:
    """The first `limit` of `pending` (all with None), and the rest: what one write takes, what waits."""
    if limit is None or len(pending) <= limit:
        return pending, type(pending)()
    if isinstance(pending, dict):
        items = list(pending.items())
        return dict(items[:limit]), dict(items[limit:])
    return pending[:limit], pending[limit:]
