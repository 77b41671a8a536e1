"""Users: name, salted password hash, state, roles."""

from __future__ import annotations

import builtins
import sqlite3
import time
from typing import TYPE_CHECKING

from mqttdesk.core.errors import AlreadyExistsError, NotFoundError
from mqttdesk.core.model import User
from mqttdesk.core.names import validate_name
from mqttdesk.core.passwords import parse_hash
from mqttdesk.core.states import CredentialState, StateAction, next_state
from mqttdesk.store import history
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.history import HistoryEntry

if TYPE_CHECKING:
    from mqttdesk.store.db import Store

_KIND = "user"


class UsersRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def _row_to_user(self, row: sqlite3.Row, roles: tuple[str, ...]) -> User:
        return User(
            name=row["name"],
            password_hash=row["password_hash"],
            state=CredentialState(row["state"]),
            roles=roles,
            created=row["created"],
            state_since=row["state_since"],
            last_used=row["last_used"],
        )

    def _roles_by_user(self) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        for row in self._store.connection.execute("SELECT user, role FROM user_roles ORDER BY user, position, role"):
            grouped.setdefault(row["user"], []).append(row["role"])
        return {name: tuple(roles) for name, roles in grouped.items()}

    def list(self) -> list[User]:
        with self._store.read() as db:
            roles = self._roles_by_user()
            rows = db.execute("SELECT * FROM users ORDER BY name").fetchall()
            return [self._row_to_user(row, roles.get(row["name"], ())) for row in rows]

    def find(self, name: str) -> User | None:
        with self._store.read() as db:
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            roles = tuple(
                r["role"] for r in db.execute("SELECT role FROM user_roles WHERE user = ? ORDER BY position", (name,))
            )
            return self._row_to_user(row, roles)

    def get(self, name: str) -> User:
        user = self.find(name)
        if user is None:
            raise NotFoundError(f"no user named '{name}'")
        return user

    def add(self, name: str, password_hash: str, roles: tuple[str, ...] = (), *, actor: str = "admin") -> User:
        validate_name("user", name)
        parse_hash(password_hash)
        now = time.time()
        with self._store.write(Change(ChangeKind.USER, name)) as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AlreadyExistsError(f"a user named '{name}' already exists")
            db.execute(
                "INSERT INTO users (name, password_hash, state, created, state_since) VALUES (?, ?, ?, ?, ?)",
                (name, password_hash, CredentialState.INACTIVE.value, now, now),
            )
            self._write_roles(db, name, roles)
            history.record(db, _KIND, name, "create", None, CredentialState.INACTIVE.value, actor)
        return self.get(name)

    def _write_roles(self, db: sqlite3.Connection, name: str, roles: tuple[str, ...]) -> None:
        unique = tuple(dict.fromkeys(roles))
        known = {row["name"] for row in db.execute("SELECT name FROM roles")}
        missing = [role for role in unique if role not in known]
        if missing:
            raise NotFoundError(f"no role named '{missing[0]}' (create it first with: mqttdesk role add {missing[0]})")
        db.execute("DELETE FROM user_roles WHERE user = ?", (name,))
        db.executemany(
            "INSERT INTO user_roles (user, role, position) VALUES (?, ?, ?)",
            [(name, role, position) for position, role in enumerate(unique)],
        )

    def set_roles(self, name: str, roles: tuple[str, ...], *, actor: str = "admin") -> User:
        with self._store.write(Change(ChangeKind.USER, name)) as db:
            self._require(db, name)
            self._write_roles(db, name, roles)
            history.record(db, _KIND, name, "roles: " + (", ".join(roles) or "none"), None, None, actor)
        return self.get(name)

    def set_password(self, name: str, password_hash: str, *, actor: str = "admin") -> None:
        parse_hash(password_hash)
        with self._store.write(Change(ChangeKind.USER, name)) as db:
            self._require(db, name)
            db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))
            history.record(db, _KIND, name, "password reset", None, None, actor)

    def apply(self, name: str, action: StateAction, *, actor: str = "admin") -> User:
        """Run a state-machine action (suspend, activate, revoke, or `use` on first authentication)."""
        with self._store.write(Change(ChangeKind.USER, name)) as db:
            row = self._require(db, name)
            current = CredentialState(row["state"])
            target = next_state(current, action, ever_used=row["last_used"] is not None)
            now = time.time()
            if action is StateAction.USE:
                db.execute("UPDATE users SET last_used = ? WHERE name = ?", (now, name))
            if target is not current:
                db.execute("UPDATE users SET state = ?, state_since = ? WHERE name = ?", (target.value, now, name))
                history.record(db, _KIND, name, action.value, current.value, target.value, actor)
        return self.get(name)

    def mark_used(self, name: str, when: float | None = None) -> None:
        """Record a successful authentication: `last_used`, and inactive → active on the first one.

        Only the first use is announced as a change (the state moves); later ones just update `last_used`,
        which nobody needs to react to at once. A user suspended or revoked since the decision is left alone, so
        "never used" stays true for one that had not authenticated before.
        """
        when = time.time() if when is None else when
        with self._store.write() as db:
            row = db.execute("SELECT state FROM users WHERE name = ?", (name,)).fetchone()
            if row is None:
                return
            if row["state"] == CredentialState.INACTIVE.value:
                db.execute(
                    "UPDATE users SET state = ?, state_since = ?, last_used = ? WHERE name = ?",
                    (CredentialState.ACTIVE.value, when, when, name),
                )
                history.record(db, _KIND, name, "first use", "inactive", "active", "broker")
                self._store.note(Change(ChangeKind.USER, name))
            elif row["state"] == CredentialState.ACTIVE.value:
                db.execute("UPDATE users SET last_used = ? WHERE name = ?", (when, name))

    def delete(self, name: str, *, actor: str = "admin") -> None:
        with self._store.write(Change(ChangeKind.USER, name)) as db:
            row = self._require(db, name)
            db.execute("DELETE FROM users WHERE name = ?", (name,))
            history.record(db, _KIND, name, "delete", row["state"], None, actor)

    def history(self, name: str) -> builtins.list[HistoryEntry]:
        return history.entries(self._store.connection, _KIND, name)

    @staticmethod
    def _require(db: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no user named '{name}'")
        return row  # type: ignore[no-any-return]

