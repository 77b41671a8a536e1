"""The Devices tab: devices registered through bootstrap credentials, online or offline, managed one by one.

Everything `mqttdesk device ...` can do is here: label (Label…), roles, show (History…), suspend, activate,
revoke, delete; and, like the Clients tab, kick one that is online. On the buttons and on a right click on the row
(see `RecordTab`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from mqttdesk.core.model import Device
from mqttdesk.core.states import StateAction
from mqttdesk.gui.device_dialogs import DeviceLabelDialog, device_roles_dialog
from mqttdesk.gui.formatting import format_time, plural
from mqttdesk.gui.models.devices_model import (
    BOOTSTRAP,
    CLIENT_ID,
    LABEL,
    LAST_ADDRESS,
    LAST_SEEN,
    ONLINE,
    ROLES,
    STATE,
    DevicesTableModel,
)
from mqttdesk.gui.record_tab import RecordTab
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.history_dialog import HistoryDialog

# no ResizeToContents: with a thousand devices it would measure every cell on each change; the last forced
# disconnect (a sentence) takes what is left, its tooltip has it whole
_COLUMN_WIDTHS = {CLIENT_ID: 130, LABEL: 100, ONLINE: 85, STATE: 115, BOOTSTRAP: 120, LAST_SEEN: 120,
                  LAST_ADDRESS: 90, ROLES: 150}


class DevicesTab(RecordTab):
    model: DevicesTableModel

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        model = DevicesTableModel(context.store, context.service.registry)
        # every column: "offline", "suspended" or a bootstrap name narrow the list as well as a clientId does
        super().__init__(context, model, filter_hint="Filter devices", filter_column=-1, parent=parent)
        self.filter_edit.setToolTip("Matches any column: client id, label, online/offline, state, bootstrap, "
                                    "address, roles")

        self.label_button = self.button("Label…", self.edit_label, "Give this device a label people recognise "
                                        "(`mqttdesk device label`)")
        self.roles_button = self.button("Edit roles…", self.edit_roles,
                                        "Roles of its own, on top of its bootstrap credential's")
        self.history_button = self.button("History…", self.show_history, "Every change made to this device")
        self.suspend_button = self.button("Suspend", lambda: self.apply(StateAction.SUSPEND),
                                          "Refuse this device and disconnect it now; it can be activated again")
        self.activate_button = self.button("Activate", lambda: self.apply(StateAction.ACTIVATE),
                                           "Allow a suspended device again")
        self.revoke_button = self.button("Revoke…", self.revoke, "Refuse this device for good (final)")
        self.delete_button = self.button("Delete…", self.delete,
                                         "Forget this device; its clientId becomes free again")
        self.kick_button = self.button("Kick", self.kick, "Disconnect the device now (it may reconnect)")
        self.count_label = QLabel()

        self.set_up_columns(CLIENT_ID, _COLUMN_WIDTHS)
        self.table.doubleClicked.connect(lambda _index: self.edit_label())
        self.set_state_buttons({StateAction.SUSPEND: self.suspend_button, StateAction.ACTIVATE: self.activate_button,
                                StateAction.REVOKE: self.revoke_button})
        self.set_row_menu([self.kick_button, None, self.suspend_button, self.activate_button, self.revoke_button, None,
                           self.label_button, self.roles_button, self.history_button, None, self.delete_button])
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.dataChanged):
            signal.connect(self._update_count)
        self.lay_out([self.label_button, self.roles_button, self.history_button, self.suspend_button,
                      self.activate_button, self.revoke_button, self.delete_button, self.kick_button],
                     status=self.count_label)
        self._update_count()
        self.update_actions()

    def selected_device(self) -> Device | None:
        selected: Device | None = self.selected()
        return selected

    def select_device(self, client_id: str) -> None:
        self.select(client_id)

    def _update_count(self, *_args: object) -> None:
        total = self.model.rowCount()
        self.count_label.setText(f"{plural(total, 'device')}, {self.model.online_count} online")

    def update_actions(self) -> None:
        device = self.selected_device()
        for button in (self.label_button, self.roles_button, self.history_button, self.delete_button):
            button.setEnabled(device is not None)
        self.update_state_buttons(device)
        self.kick_button.setEnabled(device is not None and self.model.is_online(device.client_id))

    # -- dialogs ------------------------------------------------------------------------------------

    def edit_label(self) -> None:
        device = self.selected_device()
        if device is not None:
            dialog = DeviceLabelDialog(self.context, device, self)
            dialog.done_with.connect(lambda client_id: self.context.show_message(f"device '{client_id}' relabelled"))
            self.open_dialog(dialog)

    def edit_roles(self) -> None:
        device = self.selected_device()
        if device is not None:
            dialog = device_roles_dialog(self.context, device, self.model.bootstrap_roles(device), self)
            dialog.done_with.connect(lambda client_id: self.context.show_message(f"roles of '{client_id}' saved"))
            self.open_dialog(dialog)

    def show_history(self) -> None:
        device = self.selected_device()
        if device is None:
            return
        origin = f"registered through '{device.bootstrap}'" if device.bootstrap else "no bootstrap credential"
        label = f" ({device.label})" if device.label else ""
        summary = (f"Device <b>{device.client_id}</b>{label}: {device.state.value} since "
                   f"{format_time(device.state_since)}; {origin} on {format_time(device.created)}; logs in as "
                   f"'{device.username}'.")
        self.open_dialog(HistoryDialog(f"History of {device.client_id}", summary,
                                       self.context.store.devices.history(device.client_id), self))

    # -- changes ------------------------------------------------------------------------------------

    def apply(self, action: StateAction) -> None:
        device = self.selected_device()
        if device is None:
            return
        client_id, online = device.client_id, self.model.is_online(device.client_id)

        def change() -> str:
            changed = self.context.store.devices.apply(client_id, action)
            note = "; disconnected" if online and not changed.state.admits else ""
            return f"device '{client_id}' is now {changed.state.value}{note}"

        self.run(change)

    def revoke(self) -> None:
        device = self.selected_device()
        if device is not None:
            self.confirm("Revoke device", f"Revoke device '{device.client_id}'?", "Revoke",
                         "Revocation is final: the device can never connect again, it can only be deleted (which "
                         "frees its clientId). If it is connected, it will be disconnected at once.",
                         lambda _box: self.apply(StateAction.REVOKE))

    def delete(self) -> None:
        device = self.selected_device()
        if device is None:
            return
        client_id = device.client_id

        def delete_it() -> str:
            self.context.store.devices.delete(client_id)
            return f"device '{client_id}' deleted; its clientId is free again"

        self.confirm("Delete device", f"Delete device '{client_id}'?", "Delete",
                     f"The device, its label and its own roles are removed, and the clientId '{client_id}' is free "
                     "again: the next client presenting it through a bootstrap credential is admitted as a new "
                     "device. If it is connected, it will be disconnected at once.",
                     lambda _box: self.run(delete_it))

    def kick(self) -> None:
        device = self.selected_device()
        if device is not None and self.model.is_online(device.client_id):
            self.context.runner.start(self._kick(device.client_id), f"kick {device.client_id}")

    async def _kick(self, client_id: str) -> None:
        kicked = await self.context.service.kick(client_id)
        self.context.show_message(f"kicked '{client_id}'" if kicked else f"'{client_id}' was no longer connected")
