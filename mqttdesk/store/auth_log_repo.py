"""The Auth log: every decision worth keeping, with its reason, newest last.

Client-supplied values are clipped (`core.clip`) where an entry is built from a decision, so a 64 KB username
costs a few hundred bytes, not half a megabyte. A refusal repeated from one address can be *folded* into the entry
of the first one (`add_to_fold`): `count` says how often it happened, `first_time` when it started and `time` the
last time. How the log is kept within its row and byte bounds is in `auth_log_prune.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from mqttdesk.core.clip import clip, clip_optional, clip_sentences
from mqttdesk.core.decision import Decision
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.values import value_record
from mqttdesk.store.auth_log_prune import prune_bytes, prune_rows

if TYPE_CHECKING:
    from mqttdesk.store.db import Store


@value_record
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
    count: int = 1  # how many times this happened (a folded refusal: from `first_time` to `time`)
    first_time: float | None = None  # None: once, at `time`
    protocol: str | None = None  # "3.1.1" or "5"; None: not known (a decision before the CONNECT was read, old rows)

    @property
    def started(self) -> float:
        """When the first of the `count` decisions happened."""
        return self.time if self.first_time is None else self.first_time

    @property
    def forced_end(self) -> bool:
        """A session someone else ended: a kick, a credential change, a take-over (logged as a refusal). A session
        ended because the client broke the protocol is a refusal too, but the client's own doing: not forced."""
        return self.kind in SESSION_END_KINDS and not self.allowed and self.reason_code not in CLIENT_FAULT_ENDS

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        data["first_time"] = self.started
        return data


def entry_from_decision(decision: Decision, when: float | None = None, entry_id: int = 0) -> AuthLogEntry:
    """The entry of a decision, with every client-supplied value clipped, also where the sentences repeat it."""
    client_id, username, topic, address = decision.client_id, decision.username, decision.topic, decision.address
    reason, steps = clip_sentences(decision.reason.text, decision.steps, (client_id, username, topic, address))
    method = decision.method
    # (two entries a CONNECT: the enums' `_value_` rather than the `value` property, a third of its cost)
    return AuthLogEntry(
        entry_id, time.time() if when is None else when, decision.kind._value_, decision.allowed, clip(client_id),
        clip_optional(username), method._value_ if method else None, clip_optional(address), clip_optional(topic),
        decision.reason.code._value_, reason, steps, 1, None, decision.protocol,
    )


_COLUMNS = ("id, time, kind, allowed, client_id, username, method, address, topic, reason_code, reason, steps,"
            " count, first_time, protocol")
SESSION_END_KINDS = ("DISCONNECT", "KICK")  # the entries that end a session, normally or forced
# refused session ends that the client caused (it broke the protocol): refusals, but nobody else's doing
CLIENT_FAULT_ENDS = (ReasonCode.PROTOCOL_ERROR.value,)
_NOT_CLIENT_FAULT = f"reason_code NOT IN ({', '.join('?' for _ in CLIENT_FAULT_ENDS)})"


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
        entries = list(entries)
        if not entries:
            return []
        with self._store.write() as db:
            db.executemany(
                "INSERT INTO auth_log (time, kind, allowed, client_id, username, method, address, topic,"
                " reason_code, reason, steps, count, first_time, protocol)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(entry.time, entry.kind, int(entry.allowed), entry.client_id, entry.username, entry.method,
                  entry.address, entry.topic, entry.reason_code, entry.reason, steps_json(entry.steps),
                  entry.count, entry.first_time, entry.protocol) for entry in entries],
            )
            last = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
        # `id INTEGER PRIMARY KEY`: one transaction's rows get consecutive ids, the last of them `last`
        first = last - len(entries) + 1
        return [_with_id(entry, first + index) for index, entry in enumerate(entries)]

    def add_to_fold(self, entry: AuthLogEntry, count: int, last_time: float) -> AuthLogEntry | None:
        """`count` more of the stored refusal `entry`, the last at `last_time`: its row counts them instead of
        `count` new rows. Returns the entry as now stored, or None when its row was pruned meanwhile."""
        with self._store.write() as db:
            cursor = db.execute(
                "UPDATE auth_log SET count = count + ?, time = MAX(time, ?), first_time = COALESCE(first_time, time)"
                " WHERE id = ?", (count, last_time, entry.id))
            if not cursor.rowcount:
                return None
            row = db.execute(f"SELECT {_COLUMNS} FROM auth_log WHERE id = ?", (entry.id,)).fetchone()
        return _row_to_entry(row)

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
        """How many decisions of these kinds and outcome since a time (status bar counters at start-up); a folded
        entry counts as often as it happened."""
        marks = ", ".join("?" for _ in kinds)
        row = self._store.connection.execute(
            f"SELECT COALESCE(SUM(count), 0) FROM auth_log WHERE time >= ? AND allowed = ? AND kind IN ({marks})",
            (since, int(allowed), *kinds),
        ).fetchone()
        return int(row[0])

    def count_forced_since(self, since: float) -> int:
        """How many sessions were ended by someone else since a time (`AuthLogEntry.forced_end`)."""
        row = self._store.connection.execute(
            "SELECT COALESCE(SUM(count), 0) FROM auth_log WHERE time >= ? AND allowed = 0 AND kind IN (?, ?)"
            f" AND {_NOT_CLIENT_FAULT}",
            (since, *SESSION_END_KINDS, *CLIENT_FAULT_ENDS),
        ).fetchone()
        return int(row[0])

    def last_forced_disconnect(self, *, username: str | None = None, client_id: str | None = None
                               ) -> AuthLogEntry | None:
        """The latest session of a username or a clientId that someone else ended (`AuthLogEntry.forced_end`)."""
        column, value = ("username", username) if username is not None else ("client_id", client_id)
        row = self._store.connection.execute(
            f"SELECT {_COLUMNS} FROM auth_log WHERE {column} = ? AND allowed = 0 AND kind IN (?, ?)"
            f" AND {_NOT_CLIENT_FAULT} ORDER BY id DESC LIMIT 1",
            (value, *SESSION_END_KINDS, *CLIENT_FAULT_ENDS),
        ).fetchone()
        return None if row is None else _row_to_entry(row)

    def count(self) -> int:
        return int(self._store.connection.execute("SELECT COUNT(*) FROM auth_log").fetchone()[0])

    def prune(self, keep: int) -> int:
        """Keep at most `keep` rows, pruning noise first (see `auth_log_prune`); returns how many went."""
        return prune_rows(self._store, keep)

    def enforce_budget(self, max_bytes: int) -> int:
        """Bring the store file under `max_bytes` when it is over, noise first; returns how many rows went."""
        return prune_bytes(self._store, max_bytes)


def _with_id(entry: AuthLogEntry, entry_id: int) -> AuthLogEntry:
    # field by field: dataclasses.replace (and asdict even more) cost a tenth of a CONNECT's share of the log
    return AuthLogEntry(entry_id, entry.time, entry.kind, entry.allowed, entry.client_id, entry.username,
                        entry.method, entry.address, entry.topic, entry.reason_code, entry.reason, entry.steps,
                        entry.count, entry.first_time, entry.protocol)


def steps_json(steps: tuple[str, ...]) -> str:
    """`json.dumps(list(steps))`, byte for byte, without the encoder's set-up for every entry."""
    return "[" + ", ".join(map(encode_basestring_ascii, steps)) + "]"


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
        count=row["count"],
        first_time=row["first_time"],
        protocol=row["protocol"],
    )
