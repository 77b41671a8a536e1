"""The Auth log: every decision worth keeping, with its reason, newest last."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mqttdesk.core.decision import Decision

if TYPE_CHECKING:
    from mqttdesk.store.db import Store


@dataclass(frozen=True, slots=True)
class AuthLogEntry:
    id: int
    time: float
    kind: str
    allowed: bool
    client_id: str | None
    username: str | None
    method: str | None
    address: str | None
    topic: str | None
    reason_code: str
    reason: str
    steps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data


def entry_from_decision(decision: Decision, when: float | None = None, entry_id: int = 0) -> AuthLogEntry:
    return AuthLogEntry(
        id=entry_id,
        time=time.time() if when is None else when,
        kind=decision.kind.value,
        allowed=decision.allowed,
        client_id=decision.client_id,
        username=decision.username,
        method=decision.method.value if decision.method else None,
        address=decision.address,
        topic=decision.topic,
        reason_code=decision.reason.code.value,
        reason=decision.reason.text,
        steps=decision.steps,
    )


_COLUMNS = "id, time, kind, allowed, client_id, username, method, address, topic, reason_code, reason, steps"


class AuthLogRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def append(self, entries: Iterable[AuthLogEntry]) -> list[AuthLogEntry]:
        """Store entries in one transaction; returns them with their ids."""
        stored: list[AuthLogEntry] = []
        with self._store.write() as db:
            for entry in entries:
                cursor = db.execute(
                    "INSERT INTO auth_log (time, kind, allowed, client_id, username, method, address, topic,"
                    " reason_code, reason, steps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry.time, entry.kind, int(entry.allowed), entry.client_id, entry.username, entry.method,
                     entry.address, entry.topic, entry.reason_code, entry.reason, json.dumps(list(entry.steps))),
                )
                stored.append(_with_id(entry, int(cursor.lastrowid or 0)))
        return stored

    def recent(self, limit: int = 100, before_id: int | None = None) -> list[AuthLogEntry]:
        """The newest `limit` entries (older than `before_id` when given), oldest first."""
        if before_id is None:
            rows = self._store.connection.execute(
                f"SELECT {_COLUMNS} FROM auth_log ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self._store.connection.execute(
                f"SELECT {_COLUMNS} FROM auth_log WHERE id < ? ORDER BY id DESC LIMIT ?", (before_id, limit)
            ).fetchall()
        return [_row_to_entry(row) for row in reversed(rows)]

    def count(self) -> int:
        return int(self._store.connection.execute("SELECT COUNT(*) FROM auth_log").fetchone()[0])

    def prune(self, keep: int) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM auth_log WHERE id <= (SELECT MAX(id) FROM auth_log) - ?", (keep,))


def _with_id(entry: AuthLogEntry, entry_id: int) -> AuthLogEntry:
    data = asdict(entry)
    data["id"] = entry_id
    return AuthLogEntry(**data)


def _row_to_entry(row: Any) -> AuthLogEntry:
    return AuthLogEntry(
        id=row["id"],
        time=row["time"],
        kind=row["kind"],
        allowed=bool(row["allowed"]),
        client_id=row["client_id"],
        username=row["username"],
        method=row["method"],
        address=row["address"],
        topic=row["topic"],
        reason_code=row["reason_code"],
        reason=row["reason"],
        steps=tuple(json.loads(row["steps"])),
    )
