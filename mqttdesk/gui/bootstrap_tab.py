"""The Bootstrap tab: shared credentials that admit a fleet of devices, whether they register them, and how many.

Everything `mqttdesk bootstrap ...` can do is here: add, roles, register on/off, passwd, show (History…),
suspend / revoke (optionally with every device it registered), activate, delete; on the buttons and on a right click
on the row (see `RecordTab`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from mqttdesk.core.model import Bootstrap
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.bootstrap_dialogs import AddBootstrapDialog, BootstrapPasswordDialog
from mqttdesk.gui.connect_dialog import ConnectDeviceDialog
from mqttdesk.gui.formatting import format_time, plural
from mqttdesk.gui.models.bootstraps_model import (
    DEVICES,
    LAST_USED,
    NAME,
    REGISTERS,
    ROLES,
    SESSIONS,
    STATE,
    TENANT,
    BootstrapsTableModel,
)
from mqttdesk.gui.record_tab import RecordTab
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import RolesFormDialog
from mqttdesk.gui.widgets.history_dialog import HistoryDialog

# the last forced disconnect (a sentence) takes what is left; its tooltip has it whole
_COLUMN_WIDTHS = {NAME: 140, TENANT: 70, STATE: 115, REGISTERS: 120, ROLES: 100, DEVICES: 60, SESSIONS: 100,
                  LAST_USED: 120}


class BootstrapTab(RecordTab):
    model: BootstrapsTableModel

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        model = BootstrapsTableModel(context.store, context.service.registry)
        super().__init__(context, model, filter_hint="Filter by name or @tenant", parent=parent)
        self.filter_edit.setToolTip("Part of a name, or @tenant for the credentials of one tenant (name@tenant)")

        self.add_button = self.button("Add credential…", self.add_bootstrap,
                                      "Create a shared username + password for a fleet of devices")
        self.roles_button = self.button("Edit roles…", self.edit_roles, "Choose the roles its devices get")
        self.register_button = self.button("Register devices", self.toggle_register, "")
        self.password_button = self.button("Reset password…", self.reset_password,
                                           "Set a new password for devices connecting from now on; virtual devices "
                                           "connected with the old one are disconnected")
        self.history_button = self.button("History…", self.show_history, "Every change made to this credential")
        self.suspend_button = self.button("Suspend…", lambda: self.ask_state_change(StateAction.SUSPEND),
                                          "Refuse new devices and disconnect its virtual devices; it can be "
                                          "activated again")
        self.activate_button = self.button("Activate", self.activate, "Admit devices again")
        self.revoke_button = self.button("Revoke…", lambda: self.ask_state_change(StateAction.REVOKE),
                                         "Refuse this credential for good (final)")
        self.delete_button = self.button("Delete…", self.delete, "Remove this credential from the store")

        self.set_up_columns(NAME, _COLUMN_WIDTHS)
        self.table.doubleClicked.connect(lambda _index: self.edit_roles())
        self.set_state_buttons({StateAction.SUSPEND: self.suspend_button, StateAction.ACTIVATE: self.activate_button,
                                StateAction.REVOKE: self.revoke_button})
        self.set_row_menu([self.suspend_button, self.activate_button, self.revoke_button, None,
                           self.password_button, self.roles_button, self.register_button, self.history_button, None,
                           self.delete_button])
        self.lay_out([self.add_button, self.roles_button, self.register_button, self.password_button,
                      self.history_button, self.suspend_button, self.activate_button, self.revoke_button,
                      self.delete_button])
        self.update_actions()

    def selected_bootstrap(self) -> Bootstrap | None:
        selected: Bootstrap | None = self.selected()
        return selected

    def select_bootstrap(self, name: str) -> None:
        self.select(name)

    def update_actions(self) -> None:
        bootstrap = self.selected_bootstrap()
        for button in (self.roles_button, self.register_button, self.history_button, self.delete_button):
            button.setEnabled(bootstrap is not None)
        # a revoked credential can only be deleted: a new password would not let anyone in
        self.password_button.setEnabled(bootstrap is not None and bootstrap.state is not CredentialState.REVOKED)
        registers = bootstrap is not None and bootstrap.register_devices
        self.register_button.setText("Stop registering" if registers else "Register devices")
        self.register_button.setToolTip(
            "New devices stay virtual from now on; devices registered so far are kept" if registers
            else "Register each new device on its first connect, so it can be managed in the Devices tab")
        self.update_state_buttons(bootstrap)

    # -- dialogs ------------------------------------------------------------------------------------

    def add_bootstrap(self) -> None:
        dialog = AddBootstrapDialog(self.context, self)
        dialog.done_with.connect(self.select_bootstrap)
        dialog.done_with.connect(lambda name: self.context.show_message(
            f"bootstrap credential '{name}' added (inactive until a device first connects with it)"))
        dialog.done_with.connect(lambda name: self._connect_after(dialog, name))
        self.open_dialog(dialog)

    def _connect_after(self, added: AddBootstrapDialog, name: str) -> None:
        """The snippets for the credential just added, with its password: the one moment it is known in clear."""
        if added.connect_after.isChecked():
            self.open_dialog(ConnectDeviceDialog(self.context, self, name=name, kind="bootstrap",
                                                 password=added.password.text()))

    def edit_roles(self) -> None:
        bootstrap = self.selected_bootstrap()
        if bootstrap is None:
            return
        name = bootstrap.name
        dialog = RolesFormDialog(
            self.context, f"Roles of {name}", name, bootstrap.roles,
            lambda roles: self.context.store.bootstraps.set_roles(name, roles),
            note="Every device admitted by this credential gets these roles, registered devices included "
                 "(on top of their own).", parent=self)
        dialog.done_with.connect(lambda key: self.context.show_message(f"roles of '{key}' saved"))
        self.open_dialog(dialog)

    def reset_password(self) -> None:
        bootstrap = self.selected_bootstrap()
        if bootstrap is not None:
            sessions = self.model.sessions_of(bootstrap.name)
            dialog = BootstrapPasswordDialog(self.context, bootstrap, self.model.device_count(bootstrap.name), self,
                                             sessions=sessions)
            ended = f"; {plural(sessions, 'virtual device')} disconnected" if sessions else ""
            dialog.done_with.connect(lambda name: self.context.show_message(
                f"password of '{name}' changed{ended}; registered devices keep the password they registered with"))
            self.open_dialog(dialog)

    def show_history(self) -> None:
        bootstrap = self.selected_bootstrap()
        if bootstrap is None:
            return
        registers = "registers devices" if bootstrap.register_devices else "virtual devices (not registered)"
        summary = (f"Bootstrap credential <b>{bootstrap.name}</b>: {bootstrap.state.value} since "
                   f"{format_time(bootstrap.state_since)}; {registers}; "
                   f"{plural(self.model.device_count(bootstrap.name), 'registered device')}; "
                   f"created {format_time(bootstrap.created)}.")
        self.open_dialog(HistoryDialog(f"History of {bootstrap.name}", summary,
                                       self.context.store.bootstraps.history(bootstrap.name), self))

    # -- quick changes ------------------------------------------------------------------------------

    def toggle_register(self) -> None:
        bootstrap = self.selected_bootstrap()
        if bootstrap is None:
            return
        name, register = bootstrap.name, not bootstrap.register_devices

        def change() -> str:
            self.context.store.bootstraps.set_register_devices(name, register)
            if register:
                return f"'{name}' registers new devices from now on"
            return f"'{name}' no longer registers devices: new ones stay virtual (registered ones are kept)"

        self.run(change)

    def activate(self) -> None:
        bootstrap = self.selected_bootstrap()
        if bootstrap is not None:
            self.run(lambda: self._apply(bootstrap.name, StateAction.ACTIVATE, with_devices=False))

    def ask_state_change(self, action: StateAction) -> None:
        """Suspend or revoke; with registered devices, the confirmation asks whether they go too."""
        bootstrap = self.selected_bootstrap()
        if bootstrap is None:
            return
        name, verb = bootstrap.name, action.value
        devices = self.model.device_count(name)
        sessions = self.model.sessions_of(name)
        revoke = action is StateAction.REVOKE
        if not devices and not revoke:  # nothing more to ask: suspending can be undone
            self.run(lambda: self._apply(name, action, with_devices=False))
            return
        effect = ("Revocation is final: no device can connect with it again; it can only be deleted." if revoke
                  else "New devices are refused until it is activated again.")
        if sessions:
            effect += f" Its {plural(sessions, 'connected virtual device')} {_be(sessions)} disconnected now."
        if devices:
            effect += (f" Its {plural(devices, 'registered device')} {_keep(devices)} working on their own unless "
                       f"you {verb} {'it' if devices == 1 else 'them'} too.")
        check = f"Also {verb} its {plural(devices, 'registered device')}" if devices else ""
        self.confirm(f"{verb.capitalize()} bootstrap credential", f"{verb.capitalize()} bootstrap credential "
                     f"'{name}'?", verb.capitalize(), effect,
                     lambda box: self.run(lambda: self._apply(name, action, with_devices=box.checked)),
                     check_label=check)

    def _apply(self, name: str, action: StateAction, *, with_devices: bool) -> str:
        sessions = self.model.sessions_of(name)
        if with_devices:
            changed, devices = self.context.store.bootstraps.apply_with_devices(name, action)
            note = f"; {plural(devices, 'of its devices', 'of its devices')} too"
        else:
            changed = self.context.store.bootstraps.apply(name, action)
            note = ""
        if sessions and not changed.state.admits:
            note += f"; {plural(sessions, 'virtual device')} disconnected"
        return f"bootstrap credential '{name}' is now {changed.state.value}{note}"

    def delete(self) -> None:
        bootstrap = self.selected_bootstrap()
        if bootstrap is None:
            return
        name = bootstrap.name
        devices = self.model.device_count(name)
        informative = "The credential and its roles are removed; its virtual devices are disconnected."
        if devices:
            informative += (f" Its {plural(devices, 'registered device')} {_keep(devices)} working with the password "
                            "they registered with; delete them in the Devices tab if they should go too.")

        def delete_it() -> str:
            self.context.store.bootstraps.delete(name)
            return f"bootstrap credential '{name}' deleted"

        self.confirm("Delete bootstrap credential", f"Delete bootstrap credential '{name}'?", "Delete",
                     informative, lambda _box: self.run(delete_it))


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def _keep(count: int) -> str:
    return "keeps" if count == 1 else "keep"
