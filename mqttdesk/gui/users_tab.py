"""The Users tab: who may log in with a password, in which state, with which roles, and how many sessions now."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import User
from mqttdesk.core.states import StateAction, allowed_actions
from mqttdesk.gui.models.sorting import sorted_proxy
from mqttdesk.gui.models.users_model import CREATED, LAST_USED, NAME, ROLES, SESSIONS, STATE, UsersTableModel
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.user_dialogs import AddUserDialog, EditRolesDialog, ResetPasswordDialog
from mqttdesk.gui.widgets.confirm import ask_confirmation
from mqttdesk.gui.widgets.state_badge import StateBadgeDelegate
from mqttdesk.gui.widgets.tables import make_table, set_column_widths

_COLUMN_WIDTHS = {NAME: 200, STATE: 120, ROLES: 220, CREATED: 140, LAST_USED: 140}


class UsersTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.dialog: QDialog | None = None  # the dialog or confirmation open right now (tests answer it)
        self.model = UsersTableModel(context.store, context.service.registry, self)
        context.bridge.store_changed.connect(self.model.on_store_changes)
        context.bridge.session_event.connect(self.model.on_session_event)
        self.proxy = sorted_proxy(self.model, self)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.add_button = self._button("Add user…", self.add_user, "Create a user with a password and roles")
        self.roles_button = self._button("Edit roles…", self.edit_roles, "Choose this user's roles")
        self.password_button = self._button("Reset password…", self.reset_password,
                                            "Set a new password; sessions using the old one are disconnected")
        self.suspend_button = self._button("Suspend", lambda: self.apply(StateAction.SUSPEND),
                                           "Refuse this user and disconnect it now; it can be activated again")
        self.activate_button = self._button("Activate", lambda: self.apply(StateAction.ACTIVATE),
                                            "Allow a suspended user again")
        self.revoke_button = self._button("Revoke…", self.revoke, "Refuse this user for good (final)")
        self.delete_button = self._button("Delete…", self.delete, "Remove this user from the store")

        self.table = make_table(self.proxy, sortable=True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setItemDelegateForColumn(STATE, StateBadgeDelegate(self.table))
        self.table.doubleClicked.connect(lambda _index: self.edit_roles())
        header = self.table.horizontalHeader()
        set_column_widths(self.table, _COLUMN_WIDTHS)
        header.setSectionResizeMode(ROLES, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(SESSIONS, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.dataChanged.connect(lambda *_: self.update_actions())
        self.model.rowsRemoved.connect(lambda *_: self.update_actions())

        bar = QHBoxLayout()
        for button in (self.add_button, self.roles_button, self.password_button, self.suspend_button,
                       self.activate_button, self.revoke_button, self.delete_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.filter_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.update_actions()

    def _button(self, text: str, slot: Callable[[], None], tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- selection ----------------------------------------------------------------------------------

    def selected_user(self) -> User | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.user_at(self.proxy.mapToSource(rows[0]).row())

    def select_user(self, name: str) -> None:
        row = self.model.row_of(name)
        if row is not None:
            self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_actions()

    def update_actions(self) -> None:
        user = self.selected_user()
        allowed = allowed_actions(user.state, ever_used=user.last_used is not None) if user else frozenset()
        for button in (self.roles_button, self.password_button, self.delete_button):
            button.setEnabled(user is not None)
        self.suspend_button.setEnabled(StateAction.SUSPEND in allowed)
        self.activate_button.setEnabled(StateAction.ACTIVATE in allowed)
        self.revoke_button.setEnabled(StateAction.REVOKE in allowed)

    # -- actions ------------------------------------------------------------------------------------

    def _open(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._closed(dialog))
        self.dialog = dialog
        dialog.open()

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def add_user(self) -> None:
        dialog = AddUserDialog(self.context, self)
        dialog.done_with.connect(self.select_user)
        dialog.done_with.connect(lambda name: self.context.show_message(f"user '{name}' added (inactive until "
                                                                       "it first connects)"))
        self._open(dialog)

    def edit_roles(self) -> None:
        user = self.selected_user()
        if user is not None:
            dialog = EditRolesDialog(self.context, user, self)
            dialog.done_with.connect(lambda name: self.context.show_message(f"roles of '{name}' saved"))
            self._open(dialog)

    def reset_password(self) -> None:
        user = self.selected_user()
        if user is not None:
            dialog = ResetPasswordDialog(self.context, user, self)
            dialog.done_with.connect(lambda name: self.context.show_message(f"password of '{name}' changed"))
            self._open(dialog)

    def apply(self, action: StateAction) -> None:
        user = self.selected_user()
        if user is None:
            return
        try:
            changed = self.context.store.users.apply(user.name, action)
        except MqttdeskError as exc:
            self.context.show_message(str(exc))
            return
        sessions = self.model.sessions_of(user.name)
        note = f"; {sessions} session(s) disconnected" if sessions and not changed.state.admits else ""
        self.context.show_message(f"user '{user.name}' is now {changed.state.value}{note}")

    def revoke(self) -> None:
        user = self.selected_user()
        if user is not None:
            self._confirm(f"Revoke user '{user.name}'?", "Revoke",
                          "Revocation is final: the user can never connect again, it can only be deleted. "
                          "Its sessions are disconnected now.",
                          lambda: self.apply(StateAction.REVOKE))

    def delete(self) -> None:
        user = self.selected_user()
        if user is not None:
            self._confirm(f"Delete user '{user.name}'?", "Delete",
                          "The user and its roles are removed from the store; its sessions are disconnected.",
                          lambda: self._delete(user.name))

    def _confirm(self, text: str, label: str, informative: str, then: Callable[[], None]) -> None:
        box = ask_confirmation(self, label + " user", text, label, then, informative=informative)
        box.finished.connect(lambda _result: self._closed(box))
        self.dialog = box

    def _delete(self, name: str) -> None:
        try:
            self.context.store.users.delete(name)
        except MqttdeskError as exc:
            self.context.show_message(str(exc))
            return
        self.context.show_message(f"user '{name}' deleted")
