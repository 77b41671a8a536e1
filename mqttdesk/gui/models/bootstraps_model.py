"""The Bootstrap table: one row per bootstrap credential, with its registered devices and its sessions now.

Rows follow BOOTSTRAP change notices one key at a time; DEVICE notices (a device registered or deleted) move the
device counts, which are re-read in one grouped query per batch; ROLE notices (a deleted role disappears from
every credential without a notice of its own) re-read the list and apply the difference.

"Virtual sessions" counts the connections the credential admitted itself: virtual devices. A registering bootstrap
admits each device once, as that device (its session is the device's own, see the Devices tab), so its count stays
0 while its devices are online; the header says so, rather than a bare "Sessions now" that reads as "nobody".
The count is kept from session events, O(1) each, because a fleet connecting at once sends thousands of them.

"Last forced disconnect" is the latest session ended by someone else under this username: its virtual devices, and
registered devices too (they log in with the same username), so the cell names the clientId.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot

from mqttdesk.broker.registry import LiveSession, SessionEvent, SessionEventKind, SessionRegistry
from mqttdesk.core.model import Bootstrap, CredentialKind
from mqttdesk.core.names import tenant_of
from mqttdesk.gui.formatting import format_time, plural, state_tooltip
from mqttdesk.gui.models import forced_disconnects
from mqttdesk.gui.models.credential_model import STATE_ORDER, CredentialTableModel
from mqttdesk.gui.models.forced_disconnects import forced_text, forced_tooltip
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_icon
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

NAME, TENANT, STATE, REGISTERS, ROLES, DEVICES, SESSIONS, LAST_USED, FORCED = range(9)
SESSIONS_TIP = ("Virtual devices connected through this credential right now. Registered devices connect as "
                "themselves and are not counted here: see them online in the Devices tab")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class BootstrapsTableModel(CredentialTableModel[Bootstrap]):
    STATE_COLUMN = STATE
    FORCED_COLUMN = FORCED
    HEADERS = ("Name", "Tenant", "State", "Registers devices", "Roles", "Devices", "Virtual sessions", "Last used",
               forced_disconnects.HEADER)
    HEADER_TIPS = (
        "The MQTT username every device of the fleet logs in with",
        "The part after '@' in name@tenant: %t in a topic filter stands for it",
        "The credential's state (hover a cell for since when)",
        "yes: each device is registered on its first connect and managed on its own in the Devices tab; "
        "no: devices stay virtual and nothing is kept after they disconnect",
        "The topic permissions its devices get",
        "Devices registered through this credential",
        SESSIONS_TIP,
        "When a device last logged in with this credential",
        forced_disconnects.HEADER_TIP,
    )

    def __init__(self, store: Store, registry: SessionRegistry, parent: QObject | None = None) -> None:
        super().__init__(store, registry, "username", parent)
        self._device_counts: dict[str, int] = {}
        self._admitted: dict[str, tuple[str, LiveSession]] = {}  # clientId -> (bootstrap, its live session)
        self._sessions: dict[str, int] = {}
        self._last_connect: dict[str, float] = {}  # newer than the stored last_used, which is minute-accurate
        self.reload()

    @staticmethod
    def key_of(record: Bootstrap) -> str:
        return record.name

    # -- reading ------------------------------------------------------------------------------------

    def device_count(self, name: str) -> int:
        return self._device_counts.get(name, 0)

    def sessions_of(self, name: str) -> int:
        return self._sessions.get(name, 0)

    def last_used(self, bootstrap: Bootstrap) -> float | None:
        connected = self._last_connect.get(bootstrap.name)
        if connected is None:
            return bootstrap.last_used
        return max(connected, bootstrap.last_used or 0.0)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        bootstrap = self._record_of(index)
        if bootstrap is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(bootstrap, column)
        if role == SORT_ROLE:
            return self._sort_key(bootstrap, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(bootstrap, column)
        if column == STATE:
            if role == STATE_ROLE:
                return bootstrap.state
            if role == Qt.ItemDataRole.DecorationRole:
                return state_icon(bootstrap.state)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (DEVICES, SESSIONS):
            return _RIGHT
        return None

    def _tenant(self, bootstrap: Bootstrap) -> str:
        return tenant_of(bootstrap.name) or ""

    def _display(self, bootstrap: Bootstrap, column: int) -> str:
        if column == NAME:
            return bootstrap.name
        if column == TENANT:
            return tenant_of(bootstrap.name) or "—"
        if column == STATE:
            return bootstrap.state.value
        if column == REGISTERS:
            return "yes" if bootstrap.register_devices else "no (virtual)"
        if column == ROLES:
            return ", ".join(bootstrap.roles) or "—"
        if column == DEVICES:
            return str(self.device_count(bootstrap.name))
        if column == SESSIONS:
            return str(self.sessions_of(bootstrap.name))
        if column == LAST_USED:
            return format_time(self.last_used(bootstrap))
        return forced_text(self.last_forced_disconnect(bootstrap), with_client=True)

    def _sort_key(self, bootstrap: Bootstrap, column: int) -> Any:
        if column == STATE:
            return STATE_ORDER[bootstrap.state]
        if column == DEVICES:
            return self.device_count(bootstrap.name)
        if column == SESSIONS:
            return self.sessions_of(bootstrap.name)
        if column == LAST_USED:
            return self.last_used(bootstrap) or 0.0
        if column == FORCED:
            return self._forced_sort_key(bootstrap)
        return self._display(bootstrap, column).lower()

    def _tooltip(self, bootstrap: Bootstrap, column: int) -> str | None:
        if column == STATE:  # read on hover only: one small query
            return state_tooltip(bootstrap.state, bootstrap.state_since, self._store.bootstraps.history(bootstrap.name))
        if column == REGISTERS:
            if bootstrap.register_devices:
                return "Each new device is registered on its first connect and then managed in the Devices tab."
            return "Devices stay virtual: their session ends with the connection and nothing is kept about them."
        if column == ROLES and not bootstrap.roles:
            return "No roles: its devices may connect but not publish or subscribe (deny by default)."
        if column == DEVICES:
            return plural(self.device_count(bootstrap.name), "registered device") + " (see the Devices tab)"
        if column == SESSIONS:
            sessions = plural(self.sessions_of(bootstrap.name), "virtual device") + " connected now."
            if bootstrap.register_devices:
                return (sessions + " It registers devices: each connects as itself, online or offline in the "
                        "Devices tab, and is not counted here.")
            return sessions
        if column == TENANT:
            tenant = tenant_of(bootstrap.name)
            return f"Tenant '{tenant}': %t in a topic filter means '{tenant}' for its devices" if tenant else (
                "No tenant: the name has no '@tenant' part, so %t matches nothing for its devices")
        if column == FORCED:
            return forced_tooltip(self.last_forced_disconnect(bootstrap))
        return None

    # -- updating -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read everything again (at start; after that, changes arrive one credential at a time)."""
        self._device_counts = self._store.bootstraps.device_counts()
        self._admitted.clear()
        self._sessions.clear()
        for live in self._registry:
            self._track(live)
        self._reset_records(self._store.bootstraps.list())

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        kinds = {change.kind for change in changes}
        if ChangeKind.ROLE in kinds:
            self._sync(self._store.bootstraps.list())
        else:
            for change in changes:
                if change.kind is ChangeKind.BOOTSTRAP:
                    self._put(change.key, self._store.bootstraps.find(change.key))
        if ChangeKind.DEVICE in kinds:
            self._refresh_device_counts()

    def _refresh_device_counts(self) -> None:
        counts = self._store.bootstraps.device_counts()
        moved = {name for name in counts.keys() | self._device_counts.keys()
                 if counts.get(name, 0) != self._device_counts.get(name, 0)}
        self._device_counts = counts
        for name in moved:
            self._key_changed(name, DEVICES, DEVICES)

    @Slot(object)
    def on_session_event(self, event: SessionEvent) -> None:
        if event.kind is SessionEventKind.UPDATED:
            return
        live = event.session
        if event.kind is SessionEventKind.CONNECTED:
            replaced = self._admitted.pop(event.client_id, None)  # a take-over sends no DISCONNECTED
            if replaced is not None:
                self._count(replaced[0], -1)
            self._track(live)
            origin = live.credential.name if live.credential.kind is CredentialKind.BOOTSTRAP else live.grant.registers
            if origin is not None:
                self._last_connect[origin] = live.connected_since
                self._key_changed(origin, LAST_USED, LAST_USED)
        else:
            admitted = self._admitted.get(event.client_id)
            if admitted is not None and admitted[1] is live:
                del self._admitted[event.client_id]
                self._count(admitted[0], -1)

    def _track(self, live: LiveSession) -> None:
        if live.credential.kind is CredentialKind.BOOTSTRAP:
            self._admitted[live.client_id] = (live.credential.name, live)
            self._count(live.credential.name, +1)

    def _count(self, name: str, delta: int) -> None:
        self._sessions[name] = max(0, self._sessions.get(name, 0) + delta)
        self._key_changed(name, SESSIONS, SESSIONS)
