"""Registered devices: first-class credentials created when a device connects through a bootstrap credential."""

from __future__ import annotations

import sqlite3

from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.core.model import Device
from mqttdesk.core.states import CredentialState
from mqttdesk.store import history
from mqttdesk.store.changes import ChangeKind
from mqttdesk.store.credentials_repo import CredentialRepo, in_slices

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
        """Store devices registered on first contact, in one transaction: a storm registers many at once.

        A clientId registered already (e.g. by another instance meanwhile), or twice in `devices`, keeps the first
        registration. The batch is three statements, not three a device: per device they were a twentieth of a
        storm's CPU.
        """
        first: dict[str, Device] = {}
        for device in devices:
            first.setdefault(device.client_id, device)
        with self._store.write() as db:
            # in slices: a recorder's `flush()` hands over all it holds
            for chunk, marks in in_slices(list(first)):
                for (client_id,) in db.execute(f"SELECT client_id FROM devices WHERE client_id IN ({marks})",
                                               chunk).fetchall():
                    del first[client_id]
            if not first:
                return
            db.executemany(
                "INSERT INTO devices (client_id, label, bootstrap, username, password_hash, state, created,"
                " state_since, last_used, last_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(device.client_id, device.label, device.bootstrap, device.username, device.password_hash,
                  device.state.value, device.created, device.state_since, device.last_used, device.last_address)
                 for device in first.values()],
            )
            history.record_many(db, [
                (self.CHANGE.value, device.client_id, f"registered via bootstrap '{device.bootstrap}'", None,
                 device.state.value, actor) for device in first.values()])
            for client_id in first:
                self._store.note(self._change(client_id))

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
