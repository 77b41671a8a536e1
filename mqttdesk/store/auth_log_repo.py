"""The Auth log: every decision worth keeping, with its reason, newest last."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
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

    @property
    def forced_end(self) -> bool:
        """A session ended by a kick or a credential change (logged as a refusal), not by the client or network."""
        return self.kind in SESSION_END_KINDS and not self.allowed

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
SESSION_END_KINDS = ("DISCONNECT", "KICK")  # the entries that end a session, normally or forced


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the Auth log view asks for; every field narrows, None means "any"."""

    allowed: bool | None = None
    kinds: tuple[str, ...] = ()
    client_id: str | None = None  # substring, case-insensitive
    username: str | None = None  # substring, case-insensitive
    text: str | None = None  # substring of the reason, topic, address or reason code
    exact_client_id: str | None = None  # one client's timeline

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.allowed is not None:
            clauses.append("allowed = ?")
            params.append(int(self.allowed))
        if self.kinds:
            clauses.append(f"kind IN ({', '.join('?' for _ in self.kinds)})")
            params.extend(self.kinds)
        if self.exact_client_id is not None:
            clauses.append("client_id = ?")
            params.append(self.exact_client_id)
        for column, value in (("client_id", self.client_id), ("username", self.username)):
            if value:
                clauses.append(f"{column} LIKE ? ESCAPE '\\'")
                params.append(f"%{_like_escape(value)}%")
        if self.text:
            clauses.append("(reason LIKE ? ESCAPE '\\' OR topic LIKE ? ESCAPE '\\' OR address LIKE ? ESCAPE '\\'"
                           " OR reason_code LIKE ? ESCAPE '\\')")
            params.extend([f"%{_like_escape(self.text)}%"] * 4)
        return (" AND ".join(clauses) or "1"), params

    def matches(self, entry: AuthLogEntry) -> bool:
        """The same filter applied to an entry in memory (for live rows that never went through SQL)."""
        if self.allowed is not None and entry.allowed != self.allowed:
            return False
        if self.kinds and entry.kind not in self.kinds:
            return False
        if self.exact_client_id is not None and entry.client_id != self.exact_client_id:
            return False
        if self.client_id and self.client_id.lower() not in (entry.client_id or "").lower():
            return False
        if self.username and self.username.lower() not in (entry.username or "").lower():
            return False
        if self.text:
            needle = self.text.lower()
            haystack = " ".join(v for v in (entry.reason, entry.topic, entry.address, entry.reason_code) if v)
            return needle in haystack.lower()
        return True


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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

    def query(self, log_filter: LogFilter, limit: int = 200, before_id: int | None = None) -> list[AuthLogEntry]:
        """The newest `limit` entries matching the filter (older than `before_id` when given), oldest first."""
        where, params = log_filter.where()
        if before_id is not None:
            where += " AND id < ?"
            params.append(before_id)
        rows = self._store.connection.execute(
            f"SELECT {_COLUMNS} FROM auth_log WHERE {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [_row_to_entry(row) for row in reversed(rows)]

    def count_since(self, since: float, *, kinds: tuple[str, ...], allowed: bool) -> int:
        """How many entries of these kinds and outcome since a time (status bar counters at start-up)."""
        marks = ", ".join("?" for _ in kinds)
        row = self._store.connection.execute(
            f"SELECT COUNT(*) FROM auth_log WHERE time >= ? AND allowed = ? AND kind IN ({marks})",
            (since, int(allowed), *kinds),
        ).fetchone()
        return int(row[0])

    def last_forced_disconnect(self, *, username: str | None = None, client_id: str | None = None
                               ) -> AuthLogEntry | None:
        """The latest kick or credential-change disconnect of a username or a clientId."""
        column, value = ("username", username) if username is not None else ("client_id", client_id)
        row = self._store.connection.execute(
            f"SELECT {_COLUMNS} FROM auth_log WHERE {column} = ? AND allowed = 0 AND kind IN (?, ?)"
            " ORDER BY id DESC LIMIT 1",
            (value, *SESSION_END_KINDS),
        ).fetchone()
        return None if row is None else _row_to_entry(row)

    def count(self) -> int:
        return int(self._store.connection.execute("SELECT COUNT(*) FROM auth_log").fetchone()[0])

    def prune(self, keep: int) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM auth_log WHERE id <= (SELECT MAX(id) FROM auth_log) - ?", (keep,))


def _with_id(entry: AuthLogEntry, entry_id: int) -> AuthLogEntry:
    return replace(entry, id=entry_id)  # not asdict(): it deep-copies every field, measurable in a storm


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
