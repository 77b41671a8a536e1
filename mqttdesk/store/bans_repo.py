"""Bans: addresses, usernames and clientIds refused before any credential is looked at (see core/guard.py).

The login guard of the running instance writes the bans it makes (password guessing, flapping), administrators add
and lift them (`mqttdesk ban`, the Banned tab); they outlive a restart. An expired ban is ignored, and deleted by
`prune` (the store's housekeeping).
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from typing import TYPE_CHECKING

from mqttdesk.core.bans import Ban, BanKind, ban_value
from mqttdesk.core.errors import NotFoundError
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    from mqttdesk.store.db import Store


class BansRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, now: float | None = None) -> builtins.list[Ban]:
        """The bans in force (at `now`, default the present), newest first."""
        now = time.time() if now is None else now
        with self._store.read() as db:
            rows = db.execute("SELECT * FROM bans WHERE until IS NULL OR until > ? ORDER BY since DESC", (now,))
            return [_ban(row) for row in rows]

    def get(self, kind: BanKind, value: str) -> Ban | None:
        row = self._store.connection.execute("SELECT * FROM bans WHERE kind = ? AND value = ?",
                                             (kind.value, value)).fetchone()
        return None if row is None else _ban(row)

    def add(self, ban: Ban) -> Ban:
        """Add or replace the ban of its kind and value (a second ban of one address extends or shortens it)."""
        ban_value(ban.kind, ban.value)
        with self._store.write(Change(ChangeKind.BAN, ban.key)) as db:
            db.execute("INSERT INTO bans (kind, value, reason, since, until, actor) VALUES (?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT(kind, value) DO UPDATE SET reason = excluded.reason, since = excluded.since, "
                       "until = excluded.until, actor = excluded.actor",
                       (ban.kind.value, ban.value, ban.reason, ban.since, ban.until, ban.actor))
        return ban

    def remove(self, kind: BanKind, value: str) -> Ban:
        """Lift a ban (an expired one too); NotFoundError when there is none."""
        ban = self.get(kind, value)
        if ban is None:
            raise NotFoundError(f"no {kind.value} {value!r} is banned")
        with self._store.write(Change(ChangeKind.BAN, ban.key)) as db:
            db.execute("DELETE FROM bans WHERE kind = ? AND value = ?", (kind.value, value))
        return ban

    def prune(self, now: float | None = None) -> None:
        """Forget bans that have expired (no change notice: nobody treats them as bans any more)."""
        now = time.time() if now is None else now
        with self._store.write() as db:
            db.execute("DELETE FROM bans WHERE until IS NOT NULL AND until <= ?", (now,))


def _ban(row: sqlite3.Row) -> Ban:
    return Ban(kind=BanKind(row["kind"]), value=row["value"], reason=row["reason"], since=float(row["since"]),
               until=None if row["until"] is None else float(row["until"]), actor=row["actor"])
