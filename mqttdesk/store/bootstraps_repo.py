"""Bootstrap credentials: one shared username + password that admits a fleet of devices, each with its own id."""

from __future__ import annotations

import sqlite3
import time

from mqttdesk.core.errors import AlreadyExistsError, InvalidTransitionError
from mqttdesk.core.model import Bootstrap
from mqttdesk.core.names import validate_name
from mqttdesk.core.passwords import validate_hash
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.store import history
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.credentials_repo import CredentialRepo, username_taken


class BootstrapsRepo(CredentialRepo[Bootstrap]):
    TABLE = "bootstraps"
    KEY = "name"
    ROLES_TABLE = "bootstrap_roles"
    ROLES_OWNER = "bootstrap"
    CHANGE = ChangeKind.BOOTSTRAP
    LABEL = "bootstrap credential"

    def _record(self, row: sqlite3.Row, roles: tuple[str, ...]) -> Bootstrap:
        return Bootstrap(
            name=row["name"],
            password_hash=row["password_hash"],
            state=CredentialState(row["state"]),
            roles=roles,
            register_devices=bool(row["register_devices"]),
            created=row["created"],
            state_since=row["state_since"],
            last_used=row["last_used"],
        )

    def add(self, name: str, password_hash: str, roles: tuple[str, ...] = (), *, register_devices: bool = False,
            actor: str = "admin") -> Bootstrap:
        validate_name("bootstrap credential", name)
        validate_hash(password_hash)
        now = time.time()
        with self._store.write(self._change(name)) as db:
            holder = username_taken(db, name)
            if holder is not None:
                raise AlreadyExistsError(f"{holder} named '{name}' already exists")
            db.execute(
                "INSERT INTO bootstraps (name, password_hash, state, register_devices, created, state_since)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, password_hash, CredentialState.INACTIVE.value, int(register_devices), now, now),
            )
            self._write_roles(db, name, roles)
            history.record(db, self.CHANGE.value, name, "create", None, CredentialState.INACTIVE.value, actor)
        return self.get(name)

    def set_register_devices(self, name: str, register: bool, *, actor: str = "admin") -> Bootstrap:
        with self._store.write(self._change(name)) as db:
            self._require(db, name)
            db.execute("UPDATE bootstraps SET register_devices = ? WHERE name = ?", (int(register), name))
            history.record(db, self.CHANGE.value, name, "register devices: " + ("on" if register else "off"),
                           None, None, actor)
        return self.get(name)

    def delete(self, key: str, *, actor: str = "admin") -> None:
        """Delete the credential; the devices it registered stay, on their own (they no longer get its roles).

        Their link is cleared rather than kept as a name: a new credential of the same name must not hand its
        roles to devices it never registered.
        """
        with self._store.write():
            orphans = [row[0] for row in self._store.connection.execute(
                "SELECT client_id FROM devices WHERE bootstrap = ?", (key,))]
            super().delete(key, actor=actor)
            self._store.connection.execute("UPDATE devices SET bootstrap = NULL WHERE bootstrap = ?", (key,))
            for client_id in orphans:
                self._store.note(Change(ChangeKind.DEVICE, client_id))

    def device_count(self, name: str) -> int:
        row = self._store.connection.execute("SELECT COUNT(*) FROM devices WHERE bootstrap = ?", (name,)).fetchone()
        return int(row[0])

    def device_counts(self) -> dict[str, int]:
        rows = self._store.connection.execute("SELECT bootstrap, COUNT(*) FROM devices GROUP BY bootstrap")
        return {row[0]: int(row[1]) for row in rows if row[0] is not None}

    def apply_with_devices(self, name: str, action: StateAction, *, actor: str = "admin") -> tuple[Bootstrap, int]:
        """Suspend or revoke a bootstrap credential *and* every device it registered ("also its devices").

        Devices already in the target state, or for which the action is not allowed, are left as they are.
        Returns the credential and how many devices changed.
        """
        changed = 0
        with self._store.write():
            bootstrap = self.apply(name, action, actor=actor)
            for (client_id,) in self._store.connection.execute(
                    "SELECT client_id FROM devices WHERE bootstrap = ?", (name,)).fetchall():
                try:
                    self._store.devices.apply(client_id, action, actor=f"{actor} (via bootstrap '{name}')")
                except InvalidTransitionError:
                    continue
                changed += 1
        return bootstrap, changed
