"""Registered devices: first-class credentials created when a device connects through a bootstrap credential."""

from __future__ import annotations

import sqlite3

from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.core.model import Device
from mqttdesk.core.states import CredentialState
from mqttdesk.store import history
from mqttdesk.store.changes import ChangeKind
from mqttdesk.store.credentials_repo import CredentialRepo

MAX_LABEL_LENGTH = 200


class DevicesRepo(CredentialRepo[Device]):
    TABLE = "devices"
    KEY = "client_id"
    ROLES_TABLE = "device_roles"
    ROLES_OWNER = "device"
    CHANGE = ChangeKind.DEVICE
    LABEL = "device"

    def _not_found(self, key: str) -> NotFoundError:
        return NotFoundError(f"no registered device with clientId '{key}'")

    def _record(self, row: sqlite3.Row, roles: tuple[str, ...]) -> Device:
        return Device(
            client_id=row["client_id"],
            label=row["label"],
            bootstrap=row["bootstrap"],
            username=row["username"],
            password_hash=row["password_hash"],
            state=CredentialState(row["state"]),
            roles=roles,
            created=row["created"],
            state_since=row["state_since"],
            last_used=row["last_used"],
            last_address=row["last_address"],
        )

    def register(self, devices: list[Device], *, actor: str = "broker") -> None:
        """Store devices registered on first contact (in one transaction: a storm registers many at once)."""
        with self._store.write() as db:
            for device in devices:
                if db.execute("SELECT 1 FROM devices WHERE client_id = ?", (device.client_id,)).fetchone():
                    continue  # registered meanwhile (e.g. by another instance): the first one wins
                db.execute(
                    "INSERT INTO devices (client_id, label, bootstrap, username, password_hash, state, created,"
                    " state_since, last_used, last_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (device.client_id, device.label, device.bootstrap, device.username, device.password_hash,
                     device.state.value, device.created, device.state_since, device.last_used, device.last_address),
                )
                history.record(db, self.CHANGE.value, device.client_id,
                               f"registered via bootstrap '{device.bootstrap}'", None, device.state.value, actor)
                self._store.note(self._change(device.client_id))

    def add(self, device: Device, *, actor: str = "admin") -> Device:
        """Register one device by hand (the GUI and the CLI use `register` through the broker normally)."""
        if self.find(device.client_id) is not None:
            raise AlreadyExistsError(f"a device with clientId '{device.client_id}' is already registered")
        self.register([device], actor=actor)
        return self.get(device.client_id)

    def set_label(self, client_id: str, label: str, *, actor: str = "admin") -> Device:
        label = label.strip()
        if len(label) > MAX_LABEL_LENGTH:
            raise ValidationError(f"a label must be at most {MAX_LABEL_LENGTH} characters")
        with self._store.write(self._change(client_id)) as db:
            self._require(db, client_id)
            db.execute("UPDATE devices SET label = ? WHERE client_id = ?", (label, client_id))
            history.record(db, self.CHANGE.value, client_id, f"label: {label or '(none)'}", None, None, actor)
        return self.get(client_id)

    def mark_seen(self, sightings: dict[str, tuple[float, str | None]]) -> None:
        """Last seen time and address of devices that connected (batched: not announced as changes)."""
        with self._store.write() as db:
            db.executemany(
                "UPDATE devices SET last_used = ?, last_address = ? WHERE client_id = ?",
                [(when, address, client_id) for client_id, (when, address) in sightings.items()],
            )
