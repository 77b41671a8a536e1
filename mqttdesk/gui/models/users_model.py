"""The Users table: one row per user, refreshed row by row from store change notices and session events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Slot

from mqttdesk.broker.registry import SessionEvent, SessionEventKind, SessionRegistry
from mqttdesk.core.model import CredentialKind, User
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.formatting import format_time
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_icon
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

NAME, STATE, ROLES, CREATED, LAST_USED, SESSIONS = range(6)
HEADERS = ("Name", "State", "Roles", "Created", "Last used", "Sessions now")
_STATE_ORDER = {state: order for order, state in enumerate(CredentialState)}

AnyIndex = QModelIndex | QPersistentModelIndex


class UsersTableModel(QAbstractTableModel):
    def __init__(self, store: Store, registry: SessionRegistry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._registry = registry
        self._users: list[User] = []
        self._sessions: dict[str, int] = {}
        self.reload()

    # -- reading ------------------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._users)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def user_at(self, row: int) -> User:
        return self._users[row]

    def row_of(self, name: str) -> int | None:
        for row, user in enumerate(self._users):
            if user.name == name:
                return row
        return None

    def sessions_of(self, name: str) -> int:
        return self._sessions.get(name, 0)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._users):
            return None
        user = self._users[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(user, column)
        if role == SORT_ROLE:
            return self._sort_key(user, column)
        if column == STATE:
            if role == STATE_ROLE:
                return user.state
            if role == Qt.ItemDataRole.DecorationRole:
                return state_icon(user.state)
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{user.state.value} since {format_time(user.state_since)}"
        if role == Qt.ItemDataRole.ToolTipRole and column == ROLES and not user.roles:
            return "No roles: this user may connect but not publish or subscribe (deny by default)."
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SESSIONS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, user: User, column: int) -> str:
        if column == NAME:
            return user.name
        if column == STATE:
            return user.state.value
        if column == ROLES:
            return ", ".join(user.roles) or "—"
        if column == CREATED:
            return format_time(user.created)
        if column == LAST_USED:
            return format_time(user.last_used)
        return str(self._sessions.get(user.name, 0))

    def _sort_key(self, user: User, column: int) -> Any:
        if column == STATE:
            return _STATE_ORDER[user.state]
        if column == CREATED:
            return user.created
        if column == LAST_USED:
            return user.last_used or 0.0
        if column == SESSIONS:
            return self._sessions.get(user.name, 0)
        return self._display(user, column).lower()

    # -- updating -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read everything again (at start; after that, changes arrive one user at a time)."""
        self.beginResetModel()
        self._users = self._store.users.list()
        self._sessions = {}
        for live in self._registry:
            if live.credential.kind is CredentialKind.USER:
                self._sessions[live.credential.name] = self._sessions.get(live.credential.name, 0) + 1
        self.endResetModel()

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind is ChangeKind.USER:
                self._refresh_user(change.key)

    def _refresh_user(self, name: str) -> None:
        user = self._store.users.find(name)
        row = self.row_of(name)
        if user is None:
            if row is not None:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._users[row]
                self.endRemoveRows()
        elif row is None:
            self.beginInsertRows(QModelIndex(), len(self._users), len(self._users))
            self._users.append(user)
            self.endInsertRows()
        elif user != self._users[row]:
            self._users[row] = user
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    @Slot(object)
    def on_session_event(self, event: SessionEvent) -> None:
        if event.kind is SessionEventKind.UPDATED or event.session.credential.kind is not CredentialKind.USER:
            return
        name = event.session.credential.name
        # counted from the registry, not +1/-1: a take-over replaces a session without a DISCONNECTED event
        count = len(self._registry.by_credential(event.session.credential))
        if self._sessions.get(name, 0) == count:
            return
        self._sessions[name] = count
        row = self.row_of(name)
        if row is not None:
            self.dataChanged.emit(self.index(row, SESSIONS), self.index(row, SESSIONS))
