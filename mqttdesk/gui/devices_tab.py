"""The Devices tab: devices registered through bootstrap credentials, online or offline, managed one by one.

Everything `mqttdesk device ...` can do is here: label (Label…), roles, show (History…), suspend, activate,
revoke, delete; and, like the Clients tab, kick one that is online. On the buttons and on a right click on the row
(see `RecordTab`).

The second row onboards devices: Connect a device… (the snippets to paste), Tasmota role… (the role in one click),
Console codes… (what `rc 4` means), and quick actions that publish `cmnd/<topic>/...` as the broker to the selected
device: Toggle (`Power TOGGLE`), Status (`Status 0`), Restart (`Restart 1`). The device's answer on
`stat/<topic>/RESULT` is shown as it arrives.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mqttdesk.broker.devices import QUICK_COMMANDS
from mqttdesk.core.device_traffic import DeviceFacts, DeviceKind
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import Device
from mqttdesk.core.states import StateAction
from mqttdesk.gui.connect_dialog import ConnectDeviceDialog
from mqttdesk.gui.device_dialogs import DeviceLabelDialog, device_roles_dialog
from mqttdesk.gui.formatting import format_time, plural
from mqttdesk.gui.models.devices_model import (
    BOOTSTRAP,
    CLIENT_ID,
    DEVICE,
    DEVICE_IP,
    DEVICE_SAYS,
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
from mqttdesk.gui.tasmota_dialogs import ConsoleCodesDialog, TasmotaRoleDialog
from mqttdesk.gui.widgets.history_dialog import HistoryDialog

# no ResizeToContents: with a thousand devices it would measure every cell on each change; the last forced
# disconnect (a sentence) takes what is left, its tooltip has it whole
_COLUMN_WIDTHS = {CLIENT_ID: 130, LABEL: 100, ONLINE: 85, STATE: 115, BOOTSTRAP: 120, LAST_SEEN: 120,
                  LAST_ADDRESS: 90, ROLES: 150, DEVICE: 170, DEVICE_IP: 95, DEVICE_SAYS: 85}


class DevicesTab(RecordTab):
    model: DevicesTableModel

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        model = DevicesTableModel(context.store, context.service.registry, devices=context.service.devices.book)
        # every column: "offline", "suspended" or a bootstrap name narrow the list as well as a clientId does
        super().__init__(context, model, filter_hint="Filter devices", parent=parent)
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
        # (and on every store change: a device the filter leaves out comes and goes without a row)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.dataChanged,
                       context.bridge.store_changed):
            signal.connect(self._update_count)
        self.lay_out([self.label_button, self.roles_button, self.history_button, self.suspend_button,
                      self.activate_button, self.revoke_button, self.delete_button, self.kick_button],
                     status=self.count_label)
        self._add_onboarding_row()
        context.bridge.device_changed.connect(model.on_device_changed)
        context.bridge.device_changed.connect(self._device_changed)
        self._update_count()
        self.update_actions()

    def _add_onboarding_row(self) -> None:
        self.connect_button = self.button("Connect a device…", self.open_connect,
                                          "What to paste into Tasmota, ESPHome, mosquitto, paho, Home Assistant or "
                                          "MQTTX to connect with a credential")
        self.role_button = self.button("Tasmota role…", self.open_tasmota_role,
                                       "Create the role a Tasmota device needs (its rules are shown first)")
        self.codes_button = self.button("Console codes…", self.open_console_codes,
                                        "What the device's console means by rc -2, rc 4, rc 5, TLS connection error")
        self.quick_buttons = {
            "toggle": self.button("Toggle", lambda: self.quick("toggle"), "Publish cmnd/<topic>/Power TOGGLE"),
            "status": self.button("Status", lambda: self.quick("status"), "Publish cmnd/<topic>/Status 0"),
            "restart": self.button("Restart", lambda: self.quick("restart"), "Publish cmnd/<topic>/Restart 1"),
        }
        self.answer_label = QLabel()
        self.answer_label.setWordWrap(True)
        self.answer_label.setMinimumWidth(260)
        bar = QHBoxLayout()
        for button in (self.connect_button, self.role_button, self.codes_button, *self.quick_buttons.values()):
            bar.addWidget(button)
        bar.addWidget(self.answer_label, 1)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertLayout(1, bar)

    def selected_device(self) -> Device | None:
        selected: Device | None = self.selected()
        return selected

    def select_device(self, client_id: str) -> None:
        self.select(client_id)

    def _update_count(self, *_args: object) -> None:
        total, shown = self.model.item_total(), self.model.rowCount()
        devices = plural(total, "device") if shown == total else f"{shown} of {plural(total, 'device')} shown"
        self.count_label.setText(f"{devices}, {self.model.online_count} online")

    def update_actions(self) -> None:
        device = self.selected_device()
        for button in (self.label_button, self.roles_button, self.history_button, self.delete_button):
            button.setEnabled(device is not None)
        self.update_state_buttons(device)
        self.kick_button.setEnabled(device is not None and self.model.is_online(device.client_id))
        if not hasattr(self, "quick_buttons"):
            return  # still being built
        facts = self.selected_facts()
        for button in self.quick_buttons.values():
            button.setEnabled(facts is not None and facts.kind is DeviceKind.TASMOTA)
        self._show_answer(facts)

    def selected_facts(self) -> DeviceFacts | None:
        device = self.selected_device()
        return None if device is None else self.model.facts_of(device.client_id)

    def _show_answer(self, facts: DeviceFacts | None) -> None:
        if facts is None or facts.last_answer is None:
            self.answer_label.setText("")
            return
        self.answer_label.setText(f"stat/{facts.topic}/RESULT: {facts.last_answer}")

    def _device_changed(self, facts: DeviceFacts) -> None:
        selected = self.selected_device()
        if selected is not None and facts.client_id == selected.client_id:
            self.update_actions()

    # -- onboarding ---------------------------------------------------------------------------------

    def open_connect(self) -> None:
        device = self.selected_device()
        self.open_dialog(ConnectDeviceDialog(self.context, self, name=device.client_id if device else None,
                                             kind="device" if device else None))

    def open_tasmota_role(self) -> None:
        dialog = TasmotaRoleDialog(self.context, self)
        dialog.done_with.connect(lambda name: self.context.show_message(f"added role '{name}'"))
        self.open_dialog(dialog)

    def open_console_codes(self) -> None:
        self.open_dialog(ConsoleCodesDialog(self))

    def quick(self, action: str) -> None:
        """Publish a quick command to the selected Tasmota device as the broker; its answer shows when it comes."""
        facts = self.selected_facts()
        if facts is None:
            return
        command, payload = QUICK_COMMANDS[action]
        try:
            topic = self.context.service.device_command(facts.topic, command, payload)
        except MqttdeskError as exc:
            self.context.show_message(str(exc))
            return
        self.answer_label.setText(f"sent {topic} {payload}; waiting for stat/{facts.topic}/RESULT…")
        self.context.show_message(f"published {topic} {payload}")

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
