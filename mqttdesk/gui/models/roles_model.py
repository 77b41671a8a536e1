"""Models for the Roles tab: the roles, the rules of the selected role, and who holds it.

A role is held by users, bootstrap credentials, devices with roles of their own and anonymous access (when the
anonymous setting names it); `RoleHolders` keeps that index. It follows store change notices incrementally: a
`user`, `bootstrap` or `device` notice re-reads just those credentials (a registration storm's batch in two
queries), a `settings` notice re-reads the anonymous roles, and a `role` notice (rare, made by a person) re-reads
everything, since deleting a role silently drops it from every holder. The roles table shows the holder counts,
the members list the holders of the selected role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QStringListModel, Qt, Signal, Slot
from PySide6.QtGui import QColor

from mqttdesk.core.acl import Effect, Rule
from mqttdesk.core.errors import NotFoundError
from mqttdesk.core.model import Role
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

ROLE_NAME, ROLE_RULES, ROLE_USERS = range(3)
ROLE_HEADERS = ("Role", "Rules", "Holders")
HOLDERS_TOOLTIP = ("Who has the role: users, bootstrap credentials, devices with roles of their own, "
                   "and anonymous access when anonymous clients get it")

RULE_FILTER, RULE_PERMISSION, RULE_EFFECT = range(3)
RULE_HEADERS = ("Topic filter", "Access", "Effect")
EFFECT_COLORS = {Effect.ALLOW: "#1e7b3a", Effect.DENY: "#b3261e"}
_ACCESS_WORDS = {"read": "read (subscribe)", "write": "write (publish)", "readwrite": "read and write"}


USER, BOOTSTRAP, DEVICE, ANONYMOUS = "user", "bootstrap", "device", "anonymous"
_KIND_ORDER = {USER: 0, BOOTSTRAP: 1, DEVICE: 2, ANONYMOUS: 3}
_ANONYMOUS_KEY = (ANONYMOUS, "")


@dataclass(frozen=True, slots=True)
class Holder:
    """One credential (or anonymous access) that has a role, as a person reads it: "user 'lamp'"."""

    kind: str
    key: str
    label: str

    @property
    def sort_key(self) -> tuple[int, str]:
        return _KIND_ORDER[self.kind], self.key.lower()


def describe_holders(holders: Sequence[Holder], limit: int = 5) -> str:
    """"2 holders lose it: user 'lamp', anonymous access." for a delete confirmation."""
    if not holders:
        return "Nobody has this role: no user, bootstrap credential, device or anonymous access."
    shown = ", ".join(holder.label for holder in holders[:limit])
    more = f" and {len(holders) - limit} more" if len(holders) > limit else ""
    noun = "holder loses" if len(holders) == 1 else "holders lose"
    return f"{len(holders)} {noun} it: {shown}{more}."


class RoleHolders(QObject):
    """Who holds which role, kept up to date from store change notices; `changed` names the roles affected."""

    changed = Signal(object)  # frozenset[str]: the roles whose holders changed

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._roles_of: dict[tuple[str, str], tuple[str, ...]] = {}
        self._by_role: dict[str, dict[tuple[str, str], Holder]] = {}
        self._reload()

    def of(self, role: str) -> list[Holder]:
        return sorted(self._by_role.get(role, {}).values(), key=lambda holder: holder.sort_key)

    def count(self, role: str) -> int:
        return len(self._by_role.get(role, ()))

    def _set(self, key: tuple[str, str], holder: Holder | None, roles: Iterable[str], touched: set[str]) -> None:
        for role in self._roles_of.pop(key, ()):
            self._by_role.get(role, {}).pop(key, None)
            touched.add(role)
        wanted = tuple(dict.fromkeys(roles)) if holder is not None else ()
        if wanted and holder is not None:
            self._roles_of[key] = wanted
            for role in wanted:
                self._by_role.setdefault(role, {})[key] = holder
                touched.add(role)

    def _reload(self) -> frozenset[str]:
        before = {role: dict(holders) for role, holders in self._by_role.items()}
        self._roles_of, self._by_role = {}, {}
        touched: set[str] = set()
        with self._store.read():
            for user in self._store.users.list():
                self._set((USER, user.name), Holder(USER, user.name, f"user '{user.name}'"), user.roles, touched)
            for bootstrap in self._store.bootstraps.list():
                self._set((BOOTSTRAP, bootstrap.name),
                          Holder(BOOTSTRAP, bootstrap.name, f"bootstrap '{bootstrap.name}'"), bootstrap.roles,
                          touched)
            for device in self._store.devices.list():
                self._set((DEVICE, device.client_id), Holder(DEVICE, device.client_id, device.display_name),
                          device.roles, touched)
            self._load_anonymous(touched)
        return frozenset(role for role in set(before) | set(self._by_role)
                         if before.get(role, {}) != self._by_role.get(role, {}))

    def _load_anonymous(self, touched: set[str]) -> None:
        setting = self._store.settings.anonymous()
        label = "anonymous access" if setting.effective else "anonymous access (off at the moment)"
        self._set(_ANONYMOUS_KEY, Holder(ANONYMOUS, "", label), setting.roles, touched)

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind is ChangeKind.ROLE for change in changes):
            touched = set(self._reload())
        else:
            touched = set()
            self._refresh(USER, self._store.users.find_many, changes, ChangeKind.USER, touched)
            self._refresh(BOOTSTRAP, self._store.bootstraps.find_many, changes, ChangeKind.BOOTSTRAP, touched)
            self._refresh(DEVICE, self._store.devices.find_many, changes, ChangeKind.DEVICE, touched)
            if any(change.kind is ChangeKind.SETTINGS for change in changes):
                self._load_anonymous(touched)
        if touched:
            self.changed.emit(frozenset(touched))

    def _refresh(self, kind: str, find_many: Callable[[list[str]], Mapping[str, Any]], changes: Sequence[Change],
                 change_kind: ChangeKind, touched: set[str]) -> None:
        keys = [change.key for change in changes if change.kind is change_kind]
        if not keys:
            return
        for key, record in find_many(keys).items():
            if record is None:
                self._set((kind, key), None, (), touched)
            elif kind == DEVICE:
                self._set((kind, key), Holder(kind, key, record.display_name), record.roles, touched)
            else:
                self._set((kind, key), Holder(kind, key, f"{kind} '{key}'"), record.roles, touched)


class RolesTableModel(ListTableModel):
    HEADERS = ROLE_HEADERS
    HEADER_TIPS = ("The role's name", "How many topic rules the role has", HOLDERS_TOOLTIP)

    def __init__(self, store: Store, parent: QObject | None = None, holders: RoleHolders | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._own_holders = holders is None
        self.holders = holders if holders is not None else RoleHolders(store, self)
        self._roles: list[Role] = []
        self._members: dict[str, int] = {}
        self.holders.changed.connect(self._holders_changed)
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
        if role == Qt.ItemDataRole.ToolTipRole and column == ROLE_USERS:
            holders = self.holders.of(item.name)
            return "\n".join(holder.label for holder in holders[:20]) + ("\n…" if len(holders) > 20 else "") \
                if holders else "nobody has this role"
        return None

    def reload(self) -> None:
        self.beginResetModel()
        self._roles = self._store.roles.list()
        self._members = {role.name: self.holders.count(role.name) for role in self._roles}
        self.endResetModel()

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if self._own_holders:
            self.holders.on_store_changes(changes)
        for change in changes:
            if change.kind is ChangeKind.ROLE:
                self._refresh_role(change.key)

    @Slot(object)
    def _holders_changed(self, _roles: frozenset[str]) -> None:
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
            self._members[name] = self.holders.count(name)
            self.endInsertRows()
        elif fresh != self._roles[row]:
            self._roles[row] = fresh
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(ROLE_HEADERS) - 1))

    def _refresh_member_counts(self) -> None:
        for row, item in enumerate(self._roles):
            count = self.holders.count(item.name)
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
    """Who holds one role: users, bootstrap credentials, devices and anonymous access, one line each."""

    def __init__(self, store: Store, parent: QObject | None = None, holders: RoleHolders | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._own_holders = holders is None
        self.holders = holders if holders is not None else RoleHolders(store, self)
        self._role: str | None = None
        self.holders.changed.connect(self._holders_changed)

    def set_role(self, name: str | None) -> None:
        self._role = name
        self._reload()

    def _reload(self) -> None:
        members = [holder.label for holder in self.holders.of(self._role)] if self._role else []
        if members != self.stringList():
            self.setStringList(members)

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if self._own_holders:
            self.holders.on_store_changes(changes)

    @Slot(object)
    def _holders_changed(self, roles: frozenset[str]) -> None:
        if self._role in roles:
            self._reload()
