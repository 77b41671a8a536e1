"""Users: name, salted password hash, state, roles (the shared parts live in `credentials_repo`)."""

from __future__ import annotations

import sqlite3
import time

from mqttdesk.core.errors import AlreadyExistsError
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
