"""The Auth log table: a bounded window of stored decisions, newest first by default.

Rows are `AuthLogEntry` values as the store returns them. New entries arrive in batches from the recorder (one
`beginInsertRows` per batch) and push the oldest rows out once `max_rows` is reached; "Load older" pages rows in at
the other end and pushes the newest out. So memory stays bounded however long the window is open, and everything
pushed out can be paged back from the store.

Internally the list is oldest first (as `AuthLogRepo.query` returns it); `newest_first` only changes how rows map.

A folded refusal (one entry counting many) arrives again each time its count grows: a row with that id is updated
in place, showing "×37" and the time range. Values the broker clipped carry their marker ("… (65,535 characters)")
and say so in their tooltip.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QColor, QFont

from mqttdesk.core.clip import CLIP_LENGTH, clipped_length
from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel
from mqttdesk.store.auth_log_repo import SESSION_END_KINDS, AuthLogEntry

MAX_ROWS = 5000
SHORT_CLIP = 8  # characters of a clipped value shown in its cell (the tooltip and the details have 200)

(TIME, RESULT, KIND, CLIENT_ID, USERNAME, METHOD, ADDRESS, TOPIC, REASON) = range(9)
HEADERS = ("Time", "Result", "Kind", "Client id", "Username", "Method", "Address", "Topic", "Reason")
HEADER_TIPS = (
    "When the broker decided (local time; the date is shown for other days)",
    "allowed, refused (also a session ended for a protocol error), ended (a normal disconnect) or forced (kicked, "
    "ended by a credential change or taken over)",
    "CONNECT, SUBSCRIBE, PUBLISH, DISCONNECT or KICK",
    "The MQTT client identifier",
    "The username the client sent (— for none)",
    "How the client authenticated",
    "The client's IP address",
    "The topic or topic filter of a SUBSCRIBE or PUBLISH",
    "Why, in words: select the row for the whole decision path and a suggested fix",
)


class Outcome(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    ENDED = "ended"  # a session ended normally (or the connection was lost)
    FORCED = "forced"  # a session was ended by someone else: kicked, its credential changed, taken over


OUTCOME_SYMBOL = {Outcome.ALLOWED: "✓", Outcome.REFUSED: "✗", Outcome.ENDED: "•", Outcome.FORCED: "✗"}
OUTCOME_COLOR = {Outcome.ALLOWED: "#1f7a3a", Outcome.REFUSED: "#c42b1c", Outcome.ENDED: "#5f6670",
                 Outcome.FORCED: "#b35900"}


def outcome_of(entry: AuthLogEntry) -> Outcome:
    if entry.kind in SESSION_END_KINDS:
        if entry.allowed:
            return Outcome.ENDED
        return Outcome.FORCED if entry.forced_end else Outcome.REFUSED  # refused: it broke the protocol
    return Outcome.ALLOWED if entry.allowed else Outcome.REFUSED


def outcome_text(entry: AuthLogEntry) -> str:
    outcome = outcome_of(entry)
    times = f" ×{entry.count:,}" if entry.count > 1 else ""
    return f"{OUTCOME_SYMBOL[outcome]} {outcome.value}{times}"


def entry_time_text(entry: AuthLogEntry, now: float | None = None) -> str:
    """The time of an entry, or for a folded one the range it covers: `10:02:13–10:03:09`."""
    last = format_entry_time(entry.time, now)
    if entry.count <= 1 or int(entry.started) == int(entry.time):
        return last
    return f"{format_entry_time(entry.started, now)}–{last}"


def repeat_text(entry: AuthLogEntry) -> str | None:
    """`37 times from 2026-11-23 10:02:13 to 10:03:09`, for a folded entry; None for a single one."""
    if entry.count <= 1:
        return None
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.started))
    same_day = time.localtime(entry.started)[:3] == time.localtime(entry.time)[:3]
    end = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
    return f"{entry.count:,} times from {start} to {end}"


def short_clipped(value: str | None) -> str | None:
    """A clipped value as a narrow cell shows it, its length still in sight: `uuuuuuuu… (65,535 chars)`."""
    length = clipped_length(value)
    if value is None or length is None:
        return value
    return f"{value[:SHORT_CLIP]}… ({length:,} chars)"


def clipped_tip(value: str | None) -> str | None:
    """The tooltip of a value the broker clipped: how long it really was."""
    length = clipped_length(value)
    if length is None:
        return None
    return f"{value}\n\nclipped: the client sent {length:,} characters; the first {CLIP_LENGTH} are kept"


def format_entry_time(timestamp: float, now: float | None = None) -> str:
    """`10:02:13` for today, `2026-11-23 10:02:13` otherwise: the table stays narrow, the date is never ambiguous."""
    today = time.localtime(time.time() if now is None else now)[:3]
    local = time.localtime(timestamp)
    return time.strftime("%H:%M:%S" if local[:3] == today else "%Y-%m-%d %H:%M:%S", local)


class AuthLogTableModel(ListTableModel):
    HEADERS = HEADERS
    HEADER_TIPS = HEADER_TIPS

    def __init__(self, max_rows: int = MAX_ROWS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self._entries: list[AuthLogEntry] = []  # oldest first
        self._newest_first = True
        self._bold = QFont()
        self._bold.setBold(True)

    # -- Qt -------------------------------------------------------------------------------------

    def row_total(self) -> int:
        return len(self._entries)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._entries):
            return None
        entry = self.entry_at(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(entry, column)
        if role == Qt.ItemDataRole.ForegroundRole and column in (RESULT, REASON):
            outcome = outcome_of(entry)
            if column == RESULT or outcome in (Outcome.REFUSED, Outcome.FORCED):
                return QColor(OUTCOME_COLOR[outcome])
        if role == Qt.ItemDataRole.FontRole and column == RESULT:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, column)
        return None

    @staticmethod
    def _display(entry: AuthLogEntry, column: int) -> str:
        if column == TIME:
            return entry_time_text(entry)
        if column == RESULT:
            return outcome_text(entry)
        if column == KIND:
            return entry.kind
        values = {CLIENT_ID: entry.client_id, USERNAME: entry.username, METHOD: entry.method,
                  ADDRESS: entry.address, TOPIC: entry.topic, REASON: entry.reason}
        value = values.get(column)
        if column == REASON:
            return value or "—"
        return short_clipped(value) or "—"

    @staticmethod
    def _tooltip(entry: AuthLogEntry, column: int) -> str | None:
        if column == TIME:
            return repeat_text(entry) or time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.time))
        if column == RESULT:
            repeats = repeat_text(entry)
            return f"reason code: {entry.reason_code}" + (f"\n{repeats}" if repeats else "")
        if column == REASON:
            return entry.reason
        if column in (CLIENT_ID, USERNAME, ADDRESS):
            return clipped_tip({CLIENT_ID: entry.client_id, USERNAME: entry.username, ADDRESS: entry.address}[column])
        if column == TOPIC and entry.topic:
            return clipped_tip(entry.topic) or entry.topic
        return None

    # -- reading ----------------------------------------------------------------------------------

    @property
    def newest_first(self) -> bool:
        return self._newest_first

    def _position(self, row: int) -> int:
        return len(self._entries) - 1 - row if self._newest_first else row

    def entry_at(self, row: int) -> AuthLogEntry:
        return self._entries[self._position(row)]

    def row_of(self, entry_id: int) -> int | None:
        for position, entry in enumerate(self._entries):
            if entry.id == entry_id:
                return self._position(position)  # the mapping is its own inverse
        return None

    def entries(self) -> list[AuthLogEntry]:
        """The rows in the order they are shown."""
        return list(reversed(self._entries)) if self._newest_first else list(self._entries)

    @property
    def oldest_id(self) -> int | None:
        return self._entries[0].id if self._entries else None

    # -- changing ---------------------------------------------------------------------------------

    def set_newest_first(self, newest_first: bool) -> None:
        if newest_first != self._newest_first:
            self.layoutAboutToBeChanged.emit()
            previous = [(index, self._position(index.row())) for index in self.persistentIndexList()]
            self._newest_first = newest_first
            for index, position in previous:
                self.changePersistentIndex(index, self.index(self._position(position), index.column()))
            self.layoutChanged.emit()

    def replace(self, entries: list[AuthLogEntry]) -> None:
        """Show these entries (oldest first, as the store returns them) instead of the current ones."""
        self.beginResetModel()
        self._entries = list(entries[-self.max_rows:])
        self.endResetModel()

    def add_newer(self, entries: list[AuthLogEntry]) -> int:
        """A batch newer than every row (oldest first): one insert, then the oldest rows beyond the bound go.
        Entries with the id of a row already shown (a folded refusal counting up) update that row instead.

        Returns how many rows were pushed out.
        """
        entries = self.update_rows(entries)
        if not entries:
            return 0
        if len(entries) >= self.max_rows:
            dropped = len(self._entries) + len(entries) - self.max_rows
            self.replace(entries)
            return dropped
        count = len(self._entries)
        first = 0 if self._newest_first else count
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self._entries.extend(entries)
        self.endInsertRows()
        return self._trim(oldest=True)

    def update_rows(self, entries: list[AuthLogEntry]) -> list[AuthLogEntry]:
        """Put the entries whose id is shown into their rows; returns the others (new rows), in order."""
        newest = self._entries[-1].id if self._entries else 0
        latest = {entry.id: entry for entry in entries}  # a row that counted up twice: its last state, once
        if len(latest) == len(entries) and all(entry.id > newest for entry in entries):
            return entries  # the usual case: all new, no lookup
        entries = list(latest.values())
        positions = {entry.id: position for position, entry in enumerate(self._entries)}
        new: list[AuthLogEntry] = []
        for entry in entries:
            position = positions.get(entry.id)
            if position is None:
                if entry.id > newest:
                    new.append(entry)
                continue  # an older row this view does not hold: nothing to show
            self._entries[position] = entry
            row = self._position(position)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
        return new

    def add_older(self, entries: list[AuthLogEntry]) -> int:
        """A page older than every row (oldest first), from "Load older"; the newest rows beyond the bound go."""
        if not entries:
            return 0
        entries = entries[-self.max_rows:]
        count = len(self._entries)
        first = count if self._newest_first else 0
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self._entries[0:0] = entries
        self.endInsertRows()
        return self._trim(oldest=False)

    def _trim(self, *, oldest: bool) -> int:
        excess = len(self._entries) - self.max_rows
        if excess <= 0:
            return 0
        count = len(self._entries)
        # positions of the rows to drop: the first `excess` (oldest) or the last `excess` (newest) of the list
        at_top = oldest == (not self._newest_first)
        first, last = (0, excess - 1) if at_top else (count - excess, count - 1)
        self.beginRemoveRows(QModelIndex(), first, last)
        if oldest:
            del self._entries[:excess]
        else:
            del self._entries[count - excess:]
        self.endRemoveRows()
        return excess
