"""Credential transition history: who did what to which credential, and when."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    credential_kind: str
    name: str
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    time: float


HistoryRow = tuple[str, str, str, str | None, str | None, str]  # kind, name, action, from, to, actor


def record(
    db: sqlite3.Connection, kind: str, name: str, action: str, from_state: str | None, to_state: str | None, actor: str
) -> None:
    record_many(db, [(kind, name, action, from_state, to_state, actor)])


def record_many(db: sqlite3.Connection, rows: Sequence[HistoryRow]) -> None:
    """Several transitions at the same moment (a storm's registrations), in one statement."""
    now = time.time()
    db.executemany(
        "INSERT INTO credential_history (credential_kind, name, action, from_state, to_state, actor, time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(*row, now) for row in rows],
    )


def entries(db: sqlite3.Connection, kind: str, name: str) -> list[HistoryEntry]:
    # a name can be deleted and used again: show the history of the credential that has it now
    rows = db.execute(
        "SELECT credential_kind, name, action, from_state, to_state, actor, time FROM credential_history"
        " WHERE credential_kind = ? AND name = ? AND id >= COALESCE((SELECT MAX(id) FROM credential_history"
        " WHERE credential_kind = ? AND name = ? AND (action = 'create' OR action LIKE 'registered via %')), 0)"
        " ORDER BY id",
        (kind, name, kind, name),
    ).fetchall()
    return [HistoryEntry(*row) for row in rows]
