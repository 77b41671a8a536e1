"""Users: name, salted password hash, state, roles (the shared parts live in `credentials_repo`)."""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace

from mqttdesk.core.client_ids import validate_reservation
from mqttdesk.core.errors import AlreadyExistsError, NotFoundError
from mqttdesk.core.model import User
from mqttdesk.core.names import validate_name
from mqttdesk.core.passwords import parse_hash
from mqttdesk.core.states import CredentialState
from mqttdesk.store import history
from mqttdesk.store.changes import ChangeKind
from mqttdesk.store.credentials_repo import CredentialRepo, username_taken


class UsersRepo(CredentialRepo[User]):
    TABLE = "users"
    KEY = "name"
    ROLES_TABLE = "user_roles"
    ROLES_OWNER = "user"
    CHANGE = ChangeKind.USER
    LABEL = "user"

    def _record(self, row: sqlite3.Row, roles: tuple[str, ...]) -> User:
        return User(
            name=row["name"],
            password_hash=row["password_hash"],
            state=CredentialState(row["state"]),
            roles=roles,
            created=row["created"],
            state_since=row["state_since"],
            last_used=row["last_used"],
        )

    def add(self, name: str, password_hash: str, roles: tuple[str, ...] = (), *, actor: str = "admin") -> User:
        validate_name("user", name)
        parse_hash(password_hash)
        now = time.time()
        with self._store.write(self._change(name)) as db:
            holder = username_taken(db, name)
            if holder is not None:
                raise AlreadyExistsError(f"{holder} named '{name}' already exists")
            db.execute(
                "INSERT INTO users (name, password_hash, state, created, state_since) VALUES (?, ?, ?, ?, ?)",
                (name, password_hash, CredentialState.INACTIVE.value, now, now),
            )
            self._write_roles(db, name, roles)
            history.record(db, self.CHANGE.value, name, "create", None, CredentialState.INACTIVE.value, actor)
        return self.get(name)

    # -- reserved clientIds -----------------------------------------------------------------------

    def _reservations(self, names: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        with self._store.read() as db:
            for row in db.execute("SELECT user, pattern FROM user_client_ids ORDER BY user, pattern"):
                grouped.setdefault(row["user"], []).append(row["pattern"])
        wanted = None if names is None else set(names)
        return {user: tuple(patterns) for user, patterns in grouped.items() if wanted is None or user in wanted}

    def _with_reservations(self, users: builtins.list[User]) -> builtins.list[User]:
        reserved = self._reservations(user.name for user in users)
        return [replace(user, reserved_client_ids=reserved[user.name]) if user.name in reserved else user
                for user in users]

    def list(self) -> builtins.list[User]:
        return self._with_reservations(super().list())

    def find(self, key: str) -> User | None:
        user = super().find(key)
        return None if user is None else self._with_reservations([user])[0]

    def reserve(self, name: str, pattern: str, *, actor: str = "admin") -> User:
        """Reserve clientIds matching `pattern` for user `name`: no other credential may connect with them."""
        validate_reservation(pattern)
        with self._store.write(self._change(name)) as db:
            self._require(db, name)
            row = db.execute("SELECT user FROM user_client_ids WHERE pattern = ? AND user != ?",
                             (pattern, name)).fetchone()
            if row is not None:
                raise AlreadyExistsError(f"clientId pattern '{pattern}' is already reserved for user '{row['user']}'")
            db.execute("INSERT OR IGNORE INTO user_client_ids (user, pattern) VALUES (?, ?)", (name, pattern))
            history.record(db, self.CHANGE.value, name, f"reserve clientIds '{pattern}'", None, None, actor)
        return self.get(name)

    def unreserve(self, name: str, pattern: str, *, actor: str = "admin") -> User:
        with self._store.write(self._change(name)) as db:
            self._require(db, name)
            if db.execute("DELETE FROM user_client_ids WHERE user = ? AND pattern = ?", (name, pattern)).rowcount == 0:
                raise NotFoundError(f"user '{name}' has no clientId reservation '{pattern}'")
            history.record(db, self.CHANGE.value, name, f"release clientIds '{pattern}'", None, None, actor)
        return self.get(name)

    def set_reservations(self, name: str, patterns: tuple[str, ...], *, actor: str = "admin") -> User:
        """Replace the user's clientId reservations (the window edits them as one list)."""
        wanted = tuple(dict.fromkeys(validate_reservation(p) for p in patterns))
        current = set(self.get(name).reserved_client_ids)
        with self._store.write(self._change(name)):
            for pattern in current - set(wanted):
                self.unreserve(name, pattern, actor=actor)
            for pattern in wanted:
                if pattern not in current:
                    self.reserve(name, pattern, actor=actor)
        return self.get(name)
