"""Dialogs of the Devices tab: give a device a label, choose its own roles (see `FormDialog`)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import Device
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import FormDialog, RolesFormDialog
from mqttdesk.store.devices_repo import MAX_LABEL_LENGTH


class DeviceLabelDialog(FormDialog):
    def __init__(self, context: TabContext, device: Device, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Label device {device.client_id}", "Save label", parent)
        self.client_id = device.client_id
        self.label_edit = QLineEdit(device.label)
        self.label_edit.setObjectName("label")
        self.label_edit.setMaxLength(MAX_LABEL_LENGTH)
        self.label_edit.setPlaceholderText("e.g. kitchen plug")
        self.label_edit.selectAll()
        self.label_error = self.add_field("Label", self.label_edit)
        hint = QLabel("The label is only for people: the device still connects with clientId "
                      f"<b>{device.client_id}</b>. Leave it empty to remove the label.")
        hint.setWordWrap(True)
        self.form.addRow("", hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        return self._save(self.label_edit.text())

    async def _save(self, label: str) -> str:
        self.context.store.devices.set_label(self.client_id, label)
        return self.client_id

    def show_store_error(self, exc: MqttdeskError) -> None:
        self.label_error.show_error(str(exc))


def device_roles_dialog(context: TabContext, device: Device, inherited: tuple[str, ...] | None,
                        parent: QWidget | None = None) -> RolesFormDialog:
    """Its own roles; the note says which roles it also gets from its bootstrap credential, so none is doubled.

    `inherited` is None when the device has no bootstrap credential (any more).
    """
    if inherited is None:
        note = "Its bootstrap credential no longer exists: only these roles apply."
    elif inherited:
        note = (f"It also gets the roles of its bootstrap credential '{device.bootstrap}': "
                f"<b>{', '.join(inherited)}</b>. Check only what this device needs on top of those.")
    else:
        note = f"Its bootstrap credential '{device.bootstrap}' gives it no roles: only these apply."
    return RolesFormDialog(context, f"Roles of {device.client_id}", device.client_id, device.roles,
                           lambda roles: context.store.devices.set_roles(device.client_id, roles), note=note,
                           parent=parent)
