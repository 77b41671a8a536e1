"""The Users tab: who may log in (by password, client certificate or both), in which state, with which roles, how
many sessions now, and when one of its sessions was last ended by someone else.

Everything `mqttdesk user ...` can do is here: add, roles, passwd, auth (Login…), show (History…), suspend,
activate, revoke, delete; on the buttons and on a right click on the row (see `RecordTab`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from mqttdesk.core.model import User
from mqttdesk.core.names import tenant_of
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.connect_dialog import ConnectDeviceDialog
from mqttdesk.gui.formatting import format_time, plural
from mqttdesk.gui.models.users_model import (
    CREATED,
    LAST_USED,
    LOGIN,
    NAME,
    ROLES,
    SESSIONS,
    STATE,
    TENANT,
    UsersTableModel,
)
from mqttdesk.gui.record_tab import RecordTab
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.user_dialogs import (
    AddUserDialog,
    EditRolesDialog,
    LoginDialog,
    ReservedClientIdsDialog,
    ResetPasswordDialog,
)
from mqttdesk.gui.widgets.history_dialog import HistoryDialog

# the last forced disconnect (a sentence) takes what is left; its tooltip has it whole
_COLUMN_WIDTHS = {NAME: 160, TENANT: 70, STATE: 115, LOGIN: 135, ROLES: 130, CREATED: 120, LAST_USED: 120,
                  SESSIONS: 60}


class UsersTab(RecordTab):
    model: UsersTableModel

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        model = UsersTableModel(context.store, context.service.registry)
        super().__init__(context, model, filter_hint="Filter by name or @tenant", parent=parent)
        self.filter_edit.setToolTip("Part of a name, or @tenant for the users of one tenant (name@tenant)")
        self.filter_edit.setMinimumWidth(160)  # ten buttons share the bar with it; the hint still fits

        self.add_button = self.button("Add user…", self.add_user, "Create a user: how it logs in, and its roles")
        self.login_button = self.button("Login…", self.edit_login, "Password, client certificate or both")
        self.roles_button = self.button("Edit roles…", self.edit_roles, "Choose this user's roles")
        self.password_button = self.button("Reset password…", self.reset_password,
                                           "Set a new password; sessions using the old one are disconnected")
        self.history_button = self.button("History…", self.show_history, "Every change made to this user")
        self.reserve_button = self.button("Client ids…", self.edit_reservations,
                                          "Reserve clientId patterns for this user alone (e.g. alice-*)")
        self.suspend_button = self.button("Suspend", lambda: self.apply(StateAction.SUSPEND),
                                          "Refuse this user and disconnect it now; it can be activated again")
        self.activate_button = self.button("Activate", lambda: self.apply(StateAction.ACTIVATE),
                                           "Allow a suspended user again")
        self.revoke_button = self.button("Revoke…", self.revoke, "Refuse this user for good (final)")
        self.delete_button = self.button("Delete…", self.delete, "Remove this user from the store")

        self.set_up_columns(NAME, _COLUMN_WIDTHS)
        self.table.doubleClicked.connect(lambda _index: self.edit_roles())
        self.set_state_buttons({StateAction.SUSPEND: self.suspend_button, StateAction.ACTIVATE: self.activate_button,
                                StateAction.REVOKE: self.revoke_button})
        self.set_row_menu([self.suspend_button, self.activate_button, self.revoke_button, None,
                           self.password_button, self.login_button, self.roles_button, self.reserve_button,
                           self.history_button, None, self.delete_button])
        self.lay_out([self.add_button, self.roles_button, self.password_button, self.login_button, self.reserve_button,
                      self.history_button, self.suspend_button, self.activate_button, self.revoke_button,
                      self.delete_button])
        self.update_actions()

    # -- selection ----------------------------------------------------------------------------------

    def selected_user(self) -> User | None:
        selected: User | None = self.selected()
        return selected

    def select_user(self, name: str) -> None:
        self.select(name)

    def update_actions(self) -> None:
        user = self.selected_user()
        for button in (self.roles_button, self.login_button, self.reserve_button, self.history_button,
                       self.delete_button):
            button.setEnabled(user is not None)
        # a revoked user can only be deleted: a new password would not let it in
        self.password_button.setEnabled(user is not None and user.state is not CredentialState.REVOKED)
        self.update_state_buttons(user)

    # -- dialogs ------------------------------------------------------------------------------------

    def add_user(self) -> None:
        dialog = AddUserDialog(self.context, self)
        dialog.done_with.connect(self.select_user)
        dialog.done_with.connect(lambda name: self.context.show_message(f"user '{name}' added (inactive until "
                                                                       "it first connects)"))
        dialog.done_with.connect(lambda name: self._connect_after(dialog, name))
        self.open_dialog(dialog)

    def _connect_after(self, added: AddUserDialog, name: str) -> None:
        """The snippets for the user just added, with its password: the one moment it is known in clear."""
        if added.connect_after.isChecked():
            password = added.password.text() if added.needs_password() else None
            self.open_dialog(ConnectDeviceDialog(self.context, self, name=name, kind="user", password=password))

    def edit_roles(self) -> None:
        user = self.selected_user()
        if user is not None:
            dialog = EditRolesDialog(self.context, user, self)
            dialog.done_with.connect(lambda name: self.context.show_message(f"roles of '{name}' saved"))
            self.open_dialog(dialog)

    def edit_login(self) -> None:
        user = self.selected_user()
        if user is not None:
            dialog = LoginDialog(self.context, user, self)
            dialog.done_with.connect(lambda name: self.context.show_message(f"login of '{name}' saved"))
            self.open_dialog(dialog)

    def edit_reservations(self) -> None:
        user = self.selected_user()
        if user is not None:
            dialog = ReservedClientIdsDialog(self.context, user, self)
            dialog.done_with.connect(lambda name: self.context.show_message(f"reserved clientIds of '{name}' saved"))
            self.open_dialog(dialog)

    def reset_password(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        sessions = self.model.sessions_of(user.name)
        dialog = ResetPasswordDialog(self.context, user, self, sessions=sessions)
        ended = f"; {plural(sessions, 'session')} logged in with the old one disconnected" if sessions else ""
        dialog.done_with.connect(lambda name: self.context.show_message(f"password of '{name}' changed{ended}"))
        self.open_dialog(dialog)

    def show_history(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        tenant = tenant_of(user.name)
        summary = (f"User <b>{user.name}</b>: {user.state.value} since {format_time(user.state_since)}; "
                   f"{'tenant ' + repr(tenant) if tenant else 'no tenant'}; roles "
                   f"{', '.join(user.roles) or 'none'}; last used {format_time(user.last_used)}; "
                   f"created {format_time(user.created)}.")
        self.open_dialog(HistoryDialog(f"History of {user.name}", summary, self.context.store.users.history(user.name),
                                       self))

    # -- changes ------------------------------------------------------------------------------------

    def apply(self, action: StateAction) -> None:
        user = self.selected_user()
        if user is None:
            return
        name, sessions = user.name, self.model.sessions_of(user.name)

        def change() -> str:
            changed = self.context.store.users.apply(name, action)
            note = f"; {plural(sessions, 'session')} disconnected" if sessions and not changed.state.admits else ""
            return f"user '{name}' is now {changed.state.value}{note}"

        self.run(change)

    def revoke(self) -> None:
        user = self.selected_user()
        if user is not None:
            self.confirm("Revoke user", f"Revoke user '{user.name}'?", "Revoke",
                         "Revocation is final: the user can never connect again, it can only be deleted. "
                         "Its sessions are disconnected now.",
                         lambda _box: self.apply(StateAction.REVOKE))

    def delete(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        name = user.name

        def delete_it() -> str:
            self.context.store.users.delete(name)
            return f"user '{name}' deleted"

        self.confirm("Delete user", f"Delete user '{name}'?", "Delete",
                     "The user and its roles are removed from the store; its sessions are disconnected.",
                     lambda _box: self.run(delete_it))
