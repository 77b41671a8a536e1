"""Users: name, salted password hash, state, roles (the shared parts live in `credentials_repo`)."""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace

from mqttdesk.core.client_ids import validate_reservation
from mqttdesk.core.errors import AlreadyExistsError, NotFoundError
from mqttdesk.core.model import AuthMode, User
from mqttdesk.core.names import validate_name
from mqttdesk.core.passwords import validate_hash
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
            auth=AuthMode(row["auth"]),
            certificate_ca=row["certificate_ca"],
        )

    def add(self, name: str, password_hash: str, roles: tuple[str, ...] = (), *, actor: str = "admin",
            auth: AuthMode = AuthMode.PASSWORD, certificate_ca: str | None = None) -> User:
        """A new user (Inactive until its first login). A certificate-only user still gets a hash (of a secret
        nobody knows), so that no password can ever log it in."""
        validate_name("user", name)
        validate_hash(password_hash)
        now = time.time()
        with self._store.write(self._change(name)) as db:
            holder = username_taken(db, name)
            if holder is not None:
                raise AlreadyExistsError(f"{holder} named '{name}' already exists")
            self._check_ca(db, certificate_ca)
            db.execute(
                "INSERT INTO users (name, password_hash, state, created, state_since, auth, certificate_ca)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, password_hash, CredentialState.INACTIVE.value, now, now, auth.value, certificate_ca),
            )
            self._write_roles(db, name, roles)
            history.record(db, self.CHANGE.value, name, "create", None, CredentialState.INACTIVE.value, actor)
        return self.get(name)

    # -- how it logs in ----------------------------------------------------------------------------

    def set_auth(self, name: str, auth: AuthMode, certificate_ca: str | None = None, *, actor: str = "admin") -> User:
        """Password, certificate or both; `certificate_ca` names the trusted CA whose certificates log it in (None:
        mqttdesk's own CA). Its live sessions are re-checked (the change notification): one logged in by a way it
        no longer has ends."""
        with self._store.write(self._change(name)) as db:
            self._require(db, name)
            self._check_ca(db, certificate_ca)
            db.execute("UPDATE users SET auth = ?, certificate_ca = ? WHERE name = ?",
                       (auth.value, certificate_ca, name))
            history.record(db, self.CHANGE.value, name, f"auth {auth.value}", None, None, actor)
        return self.get(name)

    @staticmethod
    def _check_ca(db: sqlite3.Connection, certificate_ca: str | None) -> None:
        if certificate_ca is not None and db.execute("SELECT 1 FROM trusted_cas WHERE name = ?",
                                                     (certificate_ca,)).fetchone() is None:
            raise NotFoundError(f"no trusted CA named '{certificate_ca}' (mqttdesk trust list)")

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
