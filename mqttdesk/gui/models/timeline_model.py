"""One client's timeline: its Auth log entries, newest first, each named as an event a person recognises
("connect refused", "subscription denied", "disconnected: keep-alive timeout"), with running counters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QColor

from mqttdesk.gui.formatting import plural
from mqttdesk.gui.models.auth_log_model import (
    OUTCOME_COLOR,
    OUTCOME_SYMBOL,
    entry_time_text,
    outcome_of,
    repeat_text,
)
from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel
from mqttdesk.store.auth_log_repo import SESSION_END_KINDS, AuthLogEntry

MAX_EVENTS = 2000

(TIME, EVENT, TOPIC, USERNAME, DETAIL) = range(5)
HEADERS = ("Time", "Event", "Topic", "Username", "Detail")

END_LABELS = {
    "client-disconnect": "normal",
    "connection-lost": "connection lost",
    "keepalive-timeout": "keep-alive timeout",
    "kicked": "kicked",
    "credential-changed": "forced by a credential change",
    "taken-over": "taken over by a new connection",
    "protocol-error": "protocol error",
    "broker-stopped": "broker stopped",
}
_TOPIC_EVENTS = {("SUBSCRIBE", True): "subscription granted", ("SUBSCRIBE", False): "subscription denied",
                 ("PUBLISH", True): "publish allowed", ("PUBLISH", False): "publish denied",
                 ("CONNECT", True): "connected", ("CONNECT", False): "connect refused"}


def end_label(entry: AuthLogEntry) -> str:
    return END_LABELS.get(entry.reason_code, entry.reason_code)


def event_label(entry: AuthLogEntry) -> str:
    if entry.kind in SESSION_END_KINDS:
        return "disconnected: " + end_label(entry)
    return _TOPIC_EVENTS.get((entry.kind, entry.allowed), f"{entry.kind} {'allowed' if entry.allowed else 'refused'}")


@dataclass
class TimelineCounters:
    """What a person asks first about a flaky client: how often it got in, was refused, hit a wall, left."""

    connects: int = 0
    refusals: int = 0
    subscriptions: int = 0
    denied_topics: int = 0
    disconnects: Counter[str] = field(default_factory=Counter)

    def add(self, entry: AuthLogEntry, times: int | None = None) -> None:
        """Count an entry `times` times (default: as often as it happened, a folded refusal more than once)."""
        times = entry.count if times is None else times
        if entry.kind == "CONNECT":
            if entry.allowed:
                self.connects += times
            else:
                self.refusals += times
        elif entry.kind in ("SUBSCRIBE", "PUBLISH"):
            if not entry.allowed:
                self.denied_topics += times
            elif entry.kind == "SUBSCRIBE":
                self.subscriptions += times
        else:
            self.disconnects[end_label(entry)] += times

    def items(self) -> list[tuple[str, int, bool, str]]:
        """(what, how many, whether a non-zero count is bad news, detail) in reading order."""
        ends = sum(self.disconnects.values())
        detail = ", ".join(f"{count} {label}" for label, count in self.disconnects.most_common())
        return [("connect", self.connects, False, ""), ("refused connect", self.refusals, True, ""),
                ("subscription granted", self.subscriptions, False, ""), ("denied topic", self.denied_topics, True, ""),
                ("disconnect", ends, False, detail)]

    def describe(self) -> str:
        parts = [plural(self.connects, "connect"), plural(self.refusals, "refused connect"),
                 plural(self.subscriptions, "subscription") + " granted", plural(self.denied_topics, "denied topic")]
        ends = sum(self.disconnects.values())
        detail = ", ".join(f"{count} {label}" for label, count in self.disconnects.most_common())
        parts.append(plural(ends, "disconnect") + (f" ({detail})" if detail else ""))
        return " · ".join(parts)


class TimelineModel(ListTableModel):
    HEADERS = HEADERS

    def __init__(self, max_events: int = MAX_EVENTS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_events = max_events
        self._entries: list[AuthLogEntry] = []  # newest first
        self.counters = TimelineCounters()

    def row_total(self) -> int:
        return len(self._entries)

    def entry_at(self, row: int) -> AuthLogEntry:
        return self._entries[row]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._entries):
            return None
        entry = self._entries[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == TIME:
                return entry_time_text(entry)
            if column == EVENT:
                times = f" ×{entry.count:,}" if entry.count > 1 else ""
                return f"{OUTCOME_SYMBOL[outcome_of(entry)]} {event_label(entry)}{times}"
            if column == TOPIC:
                return entry.topic or ""
            if column == USERNAME:
                return entry.username or "—"
            return entry.reason
        if role == Qt.ItemDataRole.ForegroundRole and column == EVENT:
            return QColor(OUTCOME_COLOR[outcome_of(entry)])
        if role == Qt.ItemDataRole.ToolTipRole and column == DETAIL:
            return entry.reason
        if role == Qt.ItemDataRole.ToolTipRole and column in (TIME, EVENT):
            return repeat_text(entry)
        return None

    def replace(self, entries: list[AuthLogEntry]) -> None:
        """Entries oldest first, as the store returns them."""
        self.beginResetModel()
        self._entries = list(reversed(entries[-self.max_events:]))
        self.counters = TimelineCounters()
        for entry in self._entries:
            self.counters.add(entry)
        self.endResetModel()

    def add_newer(self, entries: list[AuthLogEntry]) -> None:
        """Newer entries (oldest first); one with the id of a row shown (a folded refusal counting up) updates it."""
        latest = {entry.id: entry for entry in entries}
        rows = {entry.id: row for row, entry in enumerate(self._entries)} if self._entries else {}
        entries = []
        for entry in latest.values():
            row = rows.get(entry.id)
            if row is None:
                entries.append(entry)
                continue
            self.counters.add(entry, entry.count - self._entries[row].count)
            self._entries[row] = entry
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
        if not entries:
            return
        self.beginInsertRows(QModelIndex(), 0, len(entries) - 1)
        self._entries[0:0] = reversed(entries)
        for entry in entries:
            self.counters.add(entry)
        self.endInsertRows()
        excess = len(self._entries) - self.max_events
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), len(self._entries) - excess, len(self._entries) - 1)
            del self._entries[-excess:]
            self.endRemoveRows()
