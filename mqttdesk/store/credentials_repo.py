"""What every credential table shares: password hash, state machine with history, roles, first use, deletion.

Users, bootstrap credentials and registered devices are different things to a person but the same thing to the
state machine; this base class holds the rules once, and each repository adds what is its own (a device's label,
a bootstrap credential's `register devices` flag). Table and column names come from class constants, never input.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from mqttdesk.core.errors import InvalidTransitionError, NotFoundError
from mqttdesk.core.passwords import validate_hash
from mqttdesk.core.states import CredentialState, StateAction, next_state
from mqttdesk.store import history
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.history import HistoryEntry

if TYPE_CHECKING:
    from mqttdesk.store.db import Store

T = TypeVar("T")
_SQL_VARIABLES = 500  # keys per IN (...) query, well under SQLite's limit


def in_slices(keys: builtins.list[str]) -> Iterator[tuple[builtins.list[str], str]]:
    """`keys` in slices of `_SQL_VARIABLES`, each with its `?, ?, …` for an `IN (...)`: SQLite limits the values one
    statement binds (999 before SQLite 3.32)."""
    for start in range(0, len(keys), _SQL_VARIABLES):
        chunk = keys[start:start + _SQL_VARIABLES]
        yield chunk, ", ".join("?" * len(chunk))


class CredentialRepo(Generic[T]):
    TABLE: ClassVar[str]  # e.g. "users"
    KEY: ClassVar[str]  # its primary key column, e.g. "name"
    ROLES_TABLE: ClassVar[str]  # e.g. "user_roles"
    ROLES_OWNER: ClassVar[str]  # the column of ROLES_TABLE naming the owner, e.g. "user"
    CHANGE: ClassVar[ChangeKind]
    LABEL: ClassVar[str]  # how a sentence names one: "user", "bootstrap credential", "device"

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- reading --------------------------------------------------------------------------------

    def _record(self, row: sqlite3.Row, roles: tuple[str, ...]) -> T:
        raise NotImplementedError

    def _not_found(self, key: str) -> NotFoundError:
        return NotFoundError(f"no {self.LABEL} named '{key}'")

    def _roles_by_owner(self, db: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        query = f"SELECT {self.ROLES_OWNER} AS owner, role FROM {self.ROLES_TABLE} ORDER BY owner, position, role"
        for row in db.execute(query):
            grouped.setdefault(row["owner"], []).append(row["role"])
        return {owner: tuple(roles) for owner, roles in grouped.items()}

    def list(self) -> builtins.list[T]:
        with self._store.read() as db:
            roles = self._roles_by_owner(db)
            rows = db.execute(f"SELECT * FROM {self.TABLE} ORDER BY {self.KEY}").fetchall()
            return [self._record(row, roles.get(row[self.KEY], ())) for row in rows]

    def find(self, key: str) -> T | None:
        with self._store.read() as db:
            row = db.execute(f"SELECT * FROM {self.TABLE} WHERE {self.KEY} = ?", (key,)).fetchone()
            if row is None:
                return None
            roles = tuple(r["role"] for r in db.execute(
                f"SELECT role FROM {self.ROLES_TABLE} WHERE {self.ROLES_OWNER} = ? ORDER BY position", (key,)))
            return self._record(row, roles)

    def find_many(self, keys: Iterable[str]) -> dict[str, T | None]:
        """Several records in two queries (a storm's batch of changed devices, not a query per device)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, T | None] = dict.fromkeys(wanted)
        with self._store.read() as db:
            for chunk, marks in in_slices(wanted):
                roles: dict[str, list[str]] = {}
                for row in db.execute(f"SELECT {self.ROLES_OWNER} AS owner, role FROM {self.ROLES_TABLE}"
                                      f" WHERE {self.ROLES_OWNER} IN ({marks}) ORDER BY owner, position", chunk):
                    roles.setdefault(row["owner"], []).append(row["role"])
                for row in db.execute(f"SELECT * FROM {self.TABLE} WHERE {self.KEY} IN ({marks})", chunk):
                    found[row[self.KEY]] = self._record(row, tuple(roles.get(row[self.KEY], ())))
        return found

    def get(self, key: str) -> T:
        record = self.find(key)
        if record is None:
            raise self._not_found(key)
        return record

    def history(self, key: str) -> builtins.list[HistoryEntry]:
        return history.entries(self._store.connection, self.CHANGE.value, key)

    def _require(self, db: sqlite3.Connection, key: str) -> sqlite3.Row:
        row = db.execute(f"SELECT * FROM {self.TABLE} WHERE {self.KEY} = ?", (key,)).fetchone()
        if row is None:
            raise self._not_found(key)
        return row  # type: ignore[no-any-return]

    def _change(self, key: str) -> Change:
        return Change(self.CHANGE, key)

    # -- roles ----------------------------------------------------------------------------------

    def _write_roles(self, db: sqlite3.Connection, key: str, roles: tuple[str, ...]) -> None:
        unique = tuple(dict.fromkeys(roles))
        known = {row["name"] for row in db.execute("SELECT name FROM roles")}
        missing = [role for role in unique if role not in known]
        if missing:
            raise NotFoundError(f"no role named '{missing[0]}' (create it first with: mqttdesk role add {missing[0]})")
        db.execute(f"DELETE FROM {self.ROLES_TABLE} WHERE {self.ROLES_OWNER} = ?", (key,))
        db.executemany(
            f"INSERT INTO {self.ROLES_TABLE} ({self.ROLES_OWNER}, role, position) VALUES (?, ?, ?)",
            [(key, role, position) for position, role in enumerate(unique)],
        )

    def set_roles(self, key: str, roles: tuple[str, ...], *, actor: str = "admin") -> T:
        with self._store.write(self._change(key)) as db:
            self._require(db, key)
            self._write_roles(db, key, roles)
            history.record(db, self.CHANGE.value, key, "roles: " + (", ".join(roles) or "none"), None, None, actor)
        return self.get(key)

    # -- secrets and the state machine ------------------------------------------------------------

    def set_password(self, key: str, password_hash: str, *, actor: str = "admin") -> None:
        validate_hash(password_hash)
        with self._store.write(self._change(key)) as db:
            row = self._require(db, key)
            if row["state"] == CredentialState.REVOKED.value:
                raise InvalidTransitionError(f"{self.LABEL} '{key}' is revoked: a new password cannot let it back "
                                             "in (revocation is final; delete it and add a new one)")
            db.execute(f"UPDATE {self.TABLE} SET password_hash = ? WHERE {self.KEY} = ?", (password_hash, key))
            history.record(db, self.CHANGE.value, key, "password reset", None, None, actor)

    def apply(self, key: str, action: StateAction, *, actor: str = "admin") -> T:
        """Run a state-machine action (suspend, activate, revoke, or `use` on first authentication)."""
        with self._store.write(self._change(key)) as db:
            row = self._require(db, key)
            current = CredentialState(row["state"])
            try:
                target = next_state(current, action, ever_used=row["last_used"] is not None)
            except InvalidTransitionError as exc:
                raise InvalidTransitionError(f"{self.LABEL} '{key}': {exc}") from None
            now = time.time()
            if action is StateAction.USE:
                db.execute(f"UPDATE {self.TABLE} SET last_used = ? WHERE {self.KEY} = ?", (now, key))
            if target is not current:
                db.execute(f"UPDATE {self.TABLE} SET state = ?, state_since = ? WHERE {self.KEY} = ?",
                           (target.value, now, key))
                history.record(db, self.CHANGE.value, key, action.value, current.value, target.value, actor)
        return self.get(key)

    def mark_used(self, key: str, when: float | None = None) -> None:
        """Record a successful authentication: `last_used`, and inactive → active on the first one.

        Only the first use is announced as a change (the state moves); later ones just update `last_used`,
        which nobody needs to react to at once. A credential suspended or revoked since the decision is left
        alone, so "never used" stays true for one that had not authenticated before.
        """
        when = time.time() if when is None else when
        with self._store.write() as db:
            row = db.execute(f"SELECT state FROM {self.TABLE} WHERE {self.KEY} = ?", (key,)).fetchone()
            if row is None:
                return
            if row["state"] == CredentialState.INACTIVE.value:
                db.execute(
                    f"UPDATE {self.TABLE} SET state = ?, state_since = ?, last_used = ? WHERE {self.KEY} = ?",
                    (CredentialState.ACTIVE.value, when, when, key),
                )
                history.record(db, self.CHANGE.value, key, "first use", "inactive", "active", "broker")
                self._store.note(self._change(key))
            elif row["state"] == CredentialState.ACTIVE.value:
                db.execute(f"UPDATE {self.TABLE} SET last_used = ? WHERE {self.KEY} = ?", (when, key))

    def delete(self, key: str, *, actor: str = "admin") -> None:
        with self._store.write(self._change(key)) as db:
            row = self._require(db, key)
            db.execute(f"DELETE FROM {self.TABLE} WHERE {self.KEY} = ?", (key,))
            history.record(db, self.CHANGE.value, key, "delete", row["state"], None, actor)


def username_taken(db: sqlite3.Connection, name: str) -> str | None:
    """Users and bootstrap credentials share one namespace (both are MQTT usernames): who has `name` already?"""
    if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        return "a user"
    if db.execute("SELECT 1 FROM bootstraps WHERE name = ?", (name,)).fetchone():
        return "a bootstrap credential"
    return None
