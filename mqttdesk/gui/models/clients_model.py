"""The Clients table: live sessions and the persistent sessions kept for clients that are away, kept in step with
`SessionRegistry` events row by row.

CONNECTED inserts a row (or replaces it when the clientId was taken over or its kept session resumed),
DISCONNECTED removes it, OFFLINE puts it back as an offline row (a persistent session kept with its queued messages),
DISCARDED removes that, UPDATED (batched by the broker a few times a second) emits `dataChanged` for the counters.
Rows hold the registry's own `LiveSession` objects, so a repaint always shows the current counters. The model sorts
(`sort`, what a header click calls) and filters (`set_filter`) its rows itself; the view shows it directly.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QBrush, QPalette

from mqttdesk.broker.registry import LiveSession, SessionEvent, SessionEventKind, SessionRegistry
from mqttdesk.core.device_traffic import DeviceBook, DeviceFacts
from mqttdesk.core.tasmota import is_tasmota_client_id
from mqttdesk.gui.formatting import format_duration, format_time
from mqttdesk.gui.models.sorted_rows import SortedRowsModel
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex

(CLIENT_ID, USERNAME, METHOD, PROTOCOL, ADDRESS, CONNECTED_SINCE, CLEAN_SESSION, SUBSCRIPTIONS, MESSAGES_IN,
 MESSAGES_OUT, DEVICE) = range(11)
HEADERS = ("Client id", "Username", "Method", "Protocol", "Address", "Connected since", "Clean", "Subscriptions",
           "Msgs in", "Msgs out", "Device")
HEADER_TIPS = (
    "The MQTT client identifier",
    "The username the client logged in with (— for anonymous and certificate clients)",
    "How the client authenticated (virtual: an unregistered device admitted by a bootstrap credential; "
    "registered: this connect registered the device)",
    "The MQTT version the client connected with: 3.1.1 or 5",
    "The client's IP address",
    "When this session started (for a persistent session kept while its client is away: since when it is away)",
    "Clean session: the broker forgets the client's subscriptions when it leaves",
    "How many topic filters the client subscribes to (hover a cell for the list)",
    "Messages the client published",
    "Messages delivered to the client",
    "What the client is, from what it publishes (Tasmota firmware and its LWT's online state, ESPHome, ...)",
)
_NUMERIC = (SUBSCRIPTIONS, MESSAGES_IN, MESSAGES_OUT)
_COUNTED = _NUMERIC  # the columns an UPDATED event changes
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_SORT = int(SORT_ROLE)
_SERVED_ROLES = frozenset((_DISPLAY, _TOOLTIP, _ALIGNMENT, _FOREGROUND, _SORT))
_RIGHT_ALIGNED = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class ClientsTableModel(SortedRowsModel[LiveSession]):
    HEADERS = HEADERS
    HEADER_TIPS = HEADER_TIPS

    def __init__(self, registry: SessionRegistry, parent: QObject | None = None,
                 devices: DeviceBook | None = None) -> None:
        super().__init__(parent)
        self._devices = devices if devices is not None else DeviceBook()
        # the model sorts and filters its rows itself: see sorted_rows
        self._items = registry.snapshot() + registry.offline()
        self._reindex()

    @staticmethod
    def item_key(item: LiveSession) -> str:
        return item.client_id

    @staticmethod
    def _matches(item: LiveSession, text: str) -> bool:
        return text in item.client_id.lower()

    def session_total(self) -> int:
        """Every session the table knows, shown or left out by the filter."""
        return self.item_total()

    def session_at(self, row: int) -> LiveSession:
        return self._items[row]

    def row_of(self, client_id: str) -> int | None:
        return self._rows.get(client_id)

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        # A repaint asks every visible cell for seven roles; four of them (font, check state, icon, background)
        # are never ours, and a storm repaints this table several times a second: those go first, and the roles
        # are compared as plain ints (an enum member's lookup costs more than the rest of a cell).
        if role not in _SERVED_ROLES or not index.isValid():
            return None
        row = index.row()
        if row >= len(self._items):
            return None
        live = self._items[row]
        column = index.column()
        if role == _SORT:
            return self._sort_key(live, column)
        if column == DEVICE:
            return self._device_data(live, role)
        if role == _DISPLAY:
            return self._display(live, column)
        if role == _ALIGNMENT:
            return _RIGHT_ALIGNED if column in _NUMERIC else None
        if role == _FOREGROUND:
            return None if live.offline_since is None else \
                QBrush(QPalette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        return self._tooltip(live, column)

    def _device_data(self, live: LiveSession, role: int) -> str | None:
        if role not in (_DISPLAY, _TOOLTIP):
            return None
        facts = self._devices.for_client(live.client_id)
        if facts is None:
            if role == _TOOLTIP:
                return None
            return "Tasmota (DVES_ clientId)" if is_tasmota_client_id(live.client_id) else "—"
        if role == _TOOLTIP:
            return f"topic '{facts.topic}'" + (f", IP {facts.ip}" if facts.ip else "")
        return facts.summary() + (f" · {facts.ip}" if facts.ip else "")

    @Slot(object)
    def on_device_changed(self, facts: DeviceFacts) -> None:
        row = None if facts.client_id is None else self._rows.get(facts.client_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, DEVICE), self.index(row, DEVICE))
            if self._sort_column == DEVICE:
                self._resort()

    def connected_count(self) -> int:
        """Connected clients, shown or left out by the filter."""
        return sum(1 for live in self.all_items() if live.offline_since is None)

    @staticmethod
    def _display(live: LiveSession, column: int) -> str:
        if column == CLIENT_ID:
            return live.client_id
        if column == USERNAME:
            return live.username or "—"
        if column == METHOD:
            if live.virtual:
                return f"{live.method} (virtual)"
            if live.grant.valid_until is not None:  # a token: until when it admits the session
                return f"{live.method} (until {time.strftime('%H:%M:%S', time.localtime(live.grant.valid_until))})"
            return f"{live.method} (registered)" if live.grant.registers else live.method
        if column == PROTOCOL:
            return live.protocol
        if column == ADDRESS:
            return live.address or "—"
        if column == CONNECTED_SINCE:
            if live.offline_since is not None:  # since when: in the tooltip (the column stays narrow)
                return f"offline · {live.queued} queued" if live.queued else "offline"
            return format_time(live.connected_since, seconds=True)
        if column == CLEAN_SESSION:
            return "yes" if live.clean_session else "no"
        if column == SUBSCRIPTIONS:
            return str(len(live.subscriptions))
        return str(live.messages_in if column == MESSAGES_IN else live.messages_out)

    def _sort_key(self, live: LiveSession, column: int) -> Any:
        """What `column` sorts `live` by (the rows' order, and SORT_ROLE)."""
        if column == DEVICE:
            return (self._device_data(live, _DISPLAY) or "").lower()
        if column == CONNECTED_SINCE:
            return live.connected_since if live.offline_since is None else live.offline_since
        if column == SUBSCRIPTIONS:
            return len(live.subscriptions)
        if column == MESSAGES_IN:
            return live.messages_in
        if column == MESSAGES_OUT:
            return live.messages_out
        return self._display(live, column).lower()

    @staticmethod
    def _tooltip(live: LiveSession, column: int) -> str | None:
        if column == SUBSCRIPTIONS:
            if not live.subscriptions:
                return "no subscriptions"
            return "\n".join(f"{topic_filter}  (QoS {subscription.qos})"
                             for topic_filter, subscription in live.subscriptions.items())
        if column == CONNECTED_SINCE:
            if live.offline_since is not None:
                return (f"offline since {format_time(live.offline_since, seconds=True)}: "
                        f"persistent session kept for {live.username or 'an anonymous client'} while it is away "
                        f"({format_duration(time.time() - live.offline_since)}): {live.queued} messages wait for it. "
                        "Only the same credential may resume it; Discard session frees the clientId")
            return f"connected for {format_duration(time.time() - live.connected_since)}"
        if column == METHOD and live.virtual:
            return (f"virtual device admitted by bootstrap credential '{live.credential.name}': not registered, "
                    "its session ends with the connection")
        if column == METHOD and live.grant.valid_until is not None:
            until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(live.grant.valid_until))
            return f"admitted by {live.credential.kind.value} '{live.credential.name}', valid until {until}: " \
                "the session ends then"
        if column == METHOD and live.grant.registers:
            return (f"this connect registered the device through bootstrap credential '{live.grant.registers}'; "
                    "from its next connect on it logs in as a device (see the Devices tab)")
        if column == CLEAN_SESSION:
            return ("clean session: the broker forgets this client's subscriptions when it leaves" if live.clean_session
                    else "persistent session: subscriptions and queued messages survive a reconnect")
        return None

    @Slot(object)
    def on_session_events(self, events: list[SessionEvent]) -> None:
        """A batch: sessions that left are removed as blocks of rows, new ones inserted as blocks where the sort
        order puts them (appended when unsorted)."""
        arrivals: dict[str, LiveSession] = {}
        leaving: set[str] = set()
        updated: set[str] = set()
        for event in events:
            client_id = event.client_id
            if event.kind in (SessionEventKind.CONNECTED, SessionEventKind.OFFLINE):
                arrivals[client_id] = event.session
                leaving.discard(client_id)
            elif event.kind in (SessionEventKind.DISCONNECTED, SessionEventKind.DISCARDED):
                if arrivals.get(client_id) is event.session:
                    del arrivals[client_id]  # came and went within the batch
                elif self._hidden.get(client_id) is event.session:
                    del self._hidden[client_id]
                else:
                    row = self._rows.get(client_id)
                    if row is not None and self._items[row] is event.session:
                        leaving.add(client_id)
            else:
                updated.add(client_id)
        self._remove_rows(sorted((self._rows[c] for c in leaving), reverse=True))
        new = []
        moved = False  # a row replaced in place may now be out of order
        for client_id, session in arrivals.items():
            row = self._rows.get(client_id)
            if row is not None:  # a take-over, or the session went offline: same clientId, new row
                self._items[row] = session
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
                moved = True
            elif not self._shows(session):
                self._hidden[client_id] = session
            else:
                self._hidden.pop(client_id, None)
                new.append(session)
        if new:
            self._insert_sorted(new)
        rows = [self._rows[c] for c in updated if c in self._rows]
        if rows:
            self.dataChanged.emit(self.index(min(rows), SUBSCRIPTIONS), self.index(max(rows), MESSAGES_OUT))
        if moved or (rows and self._sort_column in _COUNTED):
            self._resort()

    @Slot(object)
    def on_session_event(self, event: SessionEvent) -> None:
        self.on_session_events([event])

