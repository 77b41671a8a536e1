"""The Devices table: registered devices, online or offline, kept in step with the store and the session registry.

A device is online while the registry holds a session admitted as that device (credential kind `device`, named by
its clientId); the CONNECT that registers a device is already admitted as the device. That first CONNECT reaches
the registry before the device's record reaches the store (the recorder writes in batches), so the row is
inserted by the DEVICE change notice and finds its session in the registry at that moment.

"Last seen" and "Last address" come from the store (written at connect time, minute-accurate and not announced)
and from the session events seen since the window opened: online shows "now", a disconnect remembers its time.
"Last forced disconnect" is looked up by clientId (see `forced_disconnects`). "Device", "Device IP" and "Device says"
come from what the device published (the service's device book, linked by the clientId that published it): Tasmota's
INFO1/INFO2 and its LWT, whose retained Offline is its will.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot

from mqttdesk.broker.registry import LiveSession, SessionEvent, SessionEventKind, SessionRegistry
from mqttdesk.core.device_traffic import DeviceBook, DeviceFacts
from mqttdesk.core.model import CredentialKind, Device
from mqttdesk.gui.formatting import format_duration, format_time, state_tooltip
from mqttdesk.gui.models import forced_disconnects
from mqttdesk.gui.models.credential_model import STATE_ORDER, CredentialTableModel
from mqttdesk.gui.models.forced_disconnects import forced_text, forced_tooltip
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex
from mqttdesk.gui.widgets.presence import presence_icon
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_icon
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

(CLIENT_ID, LABEL, ONLINE, DEVICE_SAYS, DEVICE, DEVICE_IP, STATE, BOOTSTRAP, LAST_SEEN, LAST_ADDRESS, ROLES,
 FORCED) = range(12)


class DevicesTableModel(CredentialTableModel[Device]):
    STATE_COLUMN = STATE
    FORCED_COLUMN = FORCED
    FILTER_COLUMN = -1  # "kitchen", "offline", "tasmota", an IP: whatever a cell shows
    HEADERS = ("Client id", "Label", "Online", "Device says", "Device", "Device IP", "State", "Bootstrap", "Last seen",
               "Last address", "Roles", forced_disconnects.HEADER)
    HEADER_TIPS = (
        "The MQTT clientId: it identifies the device",
        "A name people recognise (Label… to change it)",
        "Whether the device is connected right now",
        "Online or offline as the device's own LWT says (retained Online/Offline; Offline is its will, published "
        "when its connection is lost)",
        "What it is, from what it publishes: Tasmota firmware and module (INFO1), ESPHome, Home Assistant discovery",
        "The IP address the device reports (Tasmota INFO2)",
        "The device's own state (hover a cell for since when)",
        "The bootstrap credential it registered through",
        "When the device was last connected",
        "The address it last connected from",
        "Its own roles, plus those of its bootstrap credential",
        forced_disconnects.HEADER_TIP,
    )

    def __init__(self, store: Store, registry: SessionRegistry, parent: QObject | None = None,
                 devices: DeviceBook | None = None) -> None:
        super().__init__(store, registry, "client_id", parent)
        self._devices = devices if devices is not None else DeviceBook()
        self._bootstrap_roles: dict[str, tuple[str, ...]] = {}
        self._seen: dict[str, tuple[float, str | None]] = {}  # clientId -> (disconnected at, from address)
        # kept per (batched) session event; the cells show it too, so the rows and "n online" never disagree
        self._online: set[str] = set()
        self.reload()

    @staticmethod
    def key_of(record: Device) -> str:
        return record.client_id

    # -- reading ------------------------------------------------------------------------------------

    def session_of(self, client_id: str) -> LiveSession | None:
        """The device's live session, or None while it is offline."""
        live = self._registry.get(client_id)
        if live is None or live.credential.kind is not CredentialKind.DEVICE or live.credential.name != client_id:
            return None
        return live

    def is_online(self, client_id: str) -> bool:
        return self.session_of(client_id) is not None

    @property
    def online_count(self) -> int:
        return len(self._online)

    def bootstrap_roles(self, device: Device) -> tuple[str, ...] | None:
        """The roles it gets from its bootstrap credential; None when it has none (any more)."""
        return None if device.bootstrap is None else self._bootstrap_roles.get(device.bootstrap)

    def last_seen(self, device: Device) -> tuple[float | None, str | None]:
        seen = self._seen.get(device.client_id)
        if seen is not None and seen[0] >= (device.last_used or 0.0):
            return seen
        return device.last_used, device.last_address

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        device = self._record_of(index)
        if device is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(device, column)
        if role == SORT_ROLE:
            return self._sort_key(device, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(device, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == ONLINE:
                return presence_icon(device.client_id in self._online)
            if column == STATE:
                return state_icon(device.state)
        if role == STATE_ROLE and column == STATE:
            return device.state
        return None

    def facts_of(self, client_id: str) -> DeviceFacts | None:
        """What the device said about itself (firmware, IP, LWT), when it published any of it."""
        return self._devices.for_client(client_id)

    def _device_text(self, device: Device, column: int) -> str:
        facts = self.facts_of(device.client_id)
        if facts is None:
            return "—"
        if column == DEVICE:
            return facts.summary().rsplit(", ", 1)[0] if facts.online is not None else facts.summary()
        if column == DEVICE_IP:
            return facts.ip or "—"
        return {True: "online", False: "offline", None: "—"}[facts.online]

    def _display(self, device: Device, column: int) -> str:
        if column in (DEVICE, DEVICE_IP, DEVICE_SAYS):
            return self._device_text(device, column)
        if column == CLIENT_ID:
            return device.client_id
        if column == LABEL:
            return device.label
        if column == ONLINE:
            return "online" if device.client_id in self._online else "offline"
        if column == STATE:
            return device.state.value
        if column == BOOTSTRAP:
            if device.bootstrap is None:
                return "—"
            return device.bootstrap if device.bootstrap in self._bootstrap_roles else f"{device.bootstrap} (deleted)"
        live = self.session_of(device.client_id)
        if column == LAST_SEEN:
            return "now" if live is not None else format_time(self.last_seen(device)[0])
        if column == LAST_ADDRESS:
            address = live.address if live is not None else self.last_seen(device)[1]
            return address or "—"
        if column == FORCED:
            return forced_text(self.last_forced_disconnect(device))
        return self._roles_text(device)

    def _roles_text(self, device: Device) -> str:
        own = ", ".join(device.roles)
        inherited = self.bootstrap_roles(device)
        if not inherited:  # None or ()
            return own or "—"
        via = f"{', '.join(inherited)} (via bootstrap)"  # which one is in the Bootstrap column
        return f"{own} + {via}" if own else via

    def _sort_key(self, device: Device, column: int) -> Any:
        if column == STATE:
            return STATE_ORDER[device.state]
        if column == ONLINE:
            return 0 if device.client_id in self._online else 1
        if column == LAST_SEEN:
            return float("inf") if device.client_id in self._online else self.last_seen(device)[0] or 0.0
        if column == FORCED:
            return self._forced_sort_key(device)
        return self._display(device, column).lower()

    def _tooltip(self, device: Device, column: int) -> str | None:
        if column == STATE:  # read on hover only: one small query
            return state_tooltip(device.state, device.state_since, self._store.devices.history(device.client_id))
        if column == ONLINE:
            live = self.session_of(device.client_id)
            if live is None:
                return "offline: not connected now"
            return (f"online for {format_duration(time.time() - live.connected_since)}, from {live.address or '?'} "
                    f"(logged in as '{live.username}', method {live.method})")
        if column == ROLES:
            own = ", ".join(device.roles) or "none"
            if device.bootstrap is None or device.bootstrap not in self._bootstrap_roles:
                return f"Own roles: {own}.\nIts bootstrap credential is gone, so only its own roles apply."
            inherited = ", ".join(self.bootstrap_roles(device) or ()) or "none"
            return (f"Own roles: {own}.\nFrom bootstrap credential '{device.bootstrap}': {inherited}.\n"
                    "The device gets both.")
        if column == BOOTSTRAP and device.bootstrap is not None:
            return (f"Registered through '{device.bootstrap}' on {format_time(device.created)}; it logs in with "
                    f"username '{device.username}' and the password that credential had then.")
        if column == FORCED:
            return forced_tooltip(self.last_forced_disconnect(device))
        if column in (DEVICE, DEVICE_SAYS):
            return self._device_tooltip(device)
        return None

    def _device_tooltip(self, device: Device) -> str:
        facts = self.facts_of(device.client_id)
        if facts is None:
            return ("It has published nothing mqttdesk recognises (Tasmota tele/<topic>/LWT, INFO1, STATE; ESPHome "
                    "status)")
        lines = [facts.summary(), f"topic '{facts.topic}'" + (f", hostname {facts.hostname}" if facts.hostname else "")]
        if facts.power:
            lines.append(f"power {facts.power}" + (f", up {facts.uptime}" if facts.uptime else ""))
        if facts.restart_reason:
            lines.append(f"last restart: {facts.restart_reason}")
        if facts.last_answer is not None:
            lines.append(f"last answer (stat/{facts.topic}/RESULT): {facts.last_answer}")
        return "\n".join(lines)

    @Slot(object)
    def on_device_changed(self, facts: DeviceFacts) -> None:
        if facts.client_id is not None:
            self._key_changed(facts.client_id, DEVICE_SAYS, DEVICE_IP)

    # -- updating -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read everything again (at start; after that, changes arrive one device at a time)."""
        self._bootstrap_roles = {b.name: b.roles for b in self._store.bootstraps.list()}
        self._reset_records(self._store.devices.list())
        self._online = {device.client_id for device in self.all_items() if self.is_online(device.client_id)}

    def _put(self, key: str, record: Device | None) -> None:
        self._note_presence(key, record)
        super()._put(key, record)

    def _put_many(self, records: dict[str, Device | None]) -> None:
        for key, record in records.items():
            self._note_presence(key, record)
        super()._put_many(records)

    def _note_presence(self, key: str, record: Device | None) -> None:
        if record is not None and self.is_online(key):
            self._online.add(key)
        else:
            self._online.discard(key)

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        kinds = {change.kind for change in changes}
        if ChangeKind.ROLE in kinds:  # a deleted role leaves devices and credentials without a notice of their own
            self._bootstrap_roles = {b.name: b.roles for b in self._store.bootstraps.list()}
            self._sync(self._store.devices.list())
            self._columns_changed(BOOTSTRAP, ROLES)
            return
        bootstraps = [change.key for change in changes if change.kind is ChangeKind.BOOTSTRAP]
        for name in bootstraps:
            bootstrap = self._store.bootstraps.find(name)
            if bootstrap is None:
                self._bootstrap_roles.pop(name, None)
            else:
                self._bootstrap_roles[name] = bootstrap.roles
        if bootstraps:
            # one notice for the range of rows, not one per device: a fleet's bootstrap has a thousand of them
            concerned = set(bootstraps)
            fleet = [device.client_id for device in self.all_items() if device.bootstrap in concerned]
            if fleet:
                self._keys_changed(fleet, BOOTSTRAP, ROLES)
        keys = [change.key for change in changes if change.kind is ChangeKind.DEVICE]
        if keys:
            self._put_many(self._store.devices.find_many(keys))

    @Slot(object)
    def on_session_event(self, event: SessionEvent) -> None:
        if event.kind is SessionEventKind.UPDATED or (event.client_id not in self._rows
                                                       and event.client_id not in self._hidden):
            return
        live = event.session
        if event.kind is SessionEventKind.DISCONNECTED and live.credential.kind is CredentialKind.DEVICE:
            self._seen[event.client_id] = (time.time(), live.address)
        if self.is_online(event.client_id):
            self._online.add(event.client_id)
        else:
            self._online.discard(event.client_id)
        self._key_changed(event.client_id, ONLINE, LAST_ADDRESS)
