"""Models for the Roles tab: the roles, the rules of the selected role, and the users holding it.

All three listen to store change notices: a `role` notice refreshes that role; a `user` notice can change who
holds a role, so it refreshes member counts and the member list (cheap: roles are few).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QStringListModel, Qt, Slot
from PySide6.QtGui import QColor

from mqttdesk.core.acl import Effect, Rule
from mqttdesk.core.errors import NotFoundError
from mqttdesk.core.model import Role
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

ROLE_NAME, ROLE_RULES, ROLE_USERS = range(3)
ROLE_HEADERS = ("Role", "Rules", "Users")

RULE_FILTER, RULE_PERMISSION, RULE_EFFECT = range(3)
RULE_HEADERS = ("Topic filter", "Access", "Effect")
EFFECT_COLORS = {Effect.ALLOW: "#1e7b3a", Effect.DENY: "#b3261e"}
_ACCESS_WORDS = {"read": "read (subscribe)", "write": "write (publish)", "readwrite": "read and write"}


class RolesTableModel(ListTableModel):
    HEADERS = ROLE_HEADERS

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._roles: list[Role] = []
        self._members: dict[str, int] = {}
        self.reload()

    def row_total(self) -> int:
        return len(self._roles)

    def role_at(self, row: int) -> Role:
        return self._roles[row]

    def row_of(self, name: str) -> int | None:
        return next((row for row, role in enumerate(self._roles) if role.name == name), None)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._roles):
            return None
        item = self._roles[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == ROLE_NAME:
                return item.name if role == Qt.ItemDataRole.DisplayRole else item.name.lower()
            value = len(item.rules) if column == ROLE_RULES else self._members.get(item.name, 0)
            return str(value) if role == Qt.ItemDataRole.DisplayRole else value
        if role == Qt.ItemDataRole.TextAlignmentRole and column != ROLE_NAME:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def reload(self) -> None:
        self.beginResetModel()
        self._roles = self._store.roles.list()
        self._members = {role.name: len(self._store.roles.members(role.name)) for role in self._roles}
        self.endResetModel()

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind is ChangeKind.ROLE:
                self._refresh_role(change.key)
        if any(change.kind is ChangeKind.USER for change in changes):
            self._refresh_member_counts()

    def _refresh_role(self, name: str) -> None:
        try:
            fresh: Role | None = self._store.roles.get(name)
        except NotFoundError:
            fresh = None
        row = self.row_of(name)
        if fresh is None:
            if row is not None:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._roles[row]
                self._members.pop(name, None)
                self.endRemoveRows()
        elif row is None:
            self.beginInsertRows(QModelIndex(), len(self._roles), len(self._roles))
            self._roles.append(fresh)
            self._members[name] = len(self._store.roles.members(name))
            self.endInsertRows()
        elif fresh != self._roles[row]:
            self._roles[row] = fresh
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(ROLE_HEADERS) - 1))

    def _refresh_member_counts(self) -> None:
        for row, item in enumerate(self._roles):
            count = len(self._store.roles.members(item.name))
            if self._members.get(item.name) != count:
                self._members[item.name] = count
                self.dataChanged.emit(self.index(row, ROLE_USERS), self.index(row, ROLE_USERS))


class RulesTableModel(ListTableModel):
    """The rules of one role (the one selected in the roles list), in the order they were added."""

    HEADERS = RULE_HEADERS

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._role: str | None = None
        self._rules: tuple[Rule, ...] = ()

    @property
    def role_name(self) -> str | None:
        return self._role

    def row_total(self) -> int:
        return len(self._rules)

    def rule_at(self, row: int) -> Rule:
        return self._rules[row]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rules):
            return None
        rule = self._rules[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == RULE_FILTER:
                return rule.topic_filter
            if column == RULE_PERMISSION:
                return _ACCESS_WORDS[rule.permission.value]
            return rule.effect.value
        if role == Qt.ItemDataRole.ForegroundRole and column == RULE_EFFECT:
            return QColor(EFFECT_COLORS[rule.effect])
        if role == Qt.ItemDataRole.ToolTipRole:
            return rule.describe() + (" (deny wins over any allow)" if rule.effect is Effect.DENY else "")
        return None

    def set_role(self, name: str | None) -> None:
        self._role = name
        self._reload()

    def _reload(self) -> None:
        self.beginResetModel()
        try:
            self._rules = self._store.roles.get(self._role).rules if self._role else ()
        except NotFoundError:
            self._role, self._rules = None, ()
        self.endResetModel()

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if self._role and Change(ChangeKind.ROLE, self._role) in changes:
            self._reload()


class RoleMembersModel(QStringListModel):
    """The names of the users that hold one role."""

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._role: str | None = None

    def set_role(self, name: str | None) -> None:
        self._role = name
        self._reload()

    def _reload(self) -> None:
        members = self._store.roles.members(self._role) if self._role else []
        if members != self.stringList():
            self.setStringList(members)

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if self._role and any(c.kind is ChangeKind.USER or c == Change(ChangeKind.ROLE, self._role) for c in changes):
            self._reload()
