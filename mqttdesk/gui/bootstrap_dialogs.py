"""Dialogs of the Bootstrap tab: add a bootstrap credential, give it a new password (see `FormDialog`)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QStyle, QVBoxLayout, QWidget

from mqttdesk.core.errors import AlreadyExistsError, MqttdeskError, NotFoundError, ValidationError
from mqttdesk.core.model import Bootstrap
from mqttdesk.core.names import validate_name
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import FormDialog, PasswordFormDialog
from mqttdesk.gui.widgets.password_field import PasswordField
from mqttdesk.gui.widgets.role_picker import RolePicker

# a bootstrap password is typed into the firmware of a whole fleet: losing it means reflashing every device
STORE_IT_NOW = ("<b>Store it now</b> (copy it into your firmware settings or password manager): mqttdesk keeps "
                "only a hash and cannot show this password again once the dialog is closed.")
REGISTER_EXPLAINED = "Then rename, suspend or give roles to each one in the Devices tab; off: devices stay virtual."
REGISTER_TIP = ("A registered device gets its own credential (same username and password) and keeps its session "
                "across reconnects. A virtual device is admitted as long as its clientId is free, and nothing is "
                "kept about it after it disconnects.")


def taken_name_error(context: TabContext, name: str) -> str | None:
    """Users and bootstrap credentials share one namespace, because both are MQTT usernames."""
    if context.store.bootstraps.find(name) is not None:
        return f"a bootstrap credential named '{name}' already exists"
    if context.store.users.find(name) is not None:
        return (f"a user named '{name}' already exists (users and bootstrap credentials share one set of names: "
                "both are MQTT usernames)")
    return None


class AddBootstrapDialog(FormDialog):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Add bootstrap credential", "Add credential", parent)
        self.setMinimumWidth(560)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.name_edit.setPlaceholderText("e.g. tasmota-fleet (the MQTT username of every device)")
        self.name_error = self.add_field("Name", self.name_edit)
        self.password = PasswordField(generated_note=STORE_IT_NOW)
        self.password_error = self.add_field("Password", self.password)
        self.register_box = QCheckBox("Register each device on its first connect")
        self.register_box.setToolTip(REGISTER_TIP)
        register_hint = QLabel(REGISTER_EXPLAINED)
        register_hint.setToolTip(REGISTER_TIP)
        register_hint.setWordWrap(True)
        register_hint.setIndent(self.register_box.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + 4)
        register = QVBoxLayout()
        register.setContentsMargins(0, 0, 0, 0)
        register.setSpacing(0)
        register.addWidget(self.register_box)
        register.addWidget(register_hint)
        self.form.addRow("Devices", register)
        self.roles = RolePicker(context.store.roles.names())
        self.roles_error = self.add_field("Roles", self.roles)
        hint = QLabel("Devices admitted by it get these roles. The credential is <b>inactive</b> until a device "
                      "first connects with it.")
        hint.setWordWrap(True)
        self.form.addRow("", hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        name, password = self.name_edit.text(), self.password.text()
        ok = True
        try:
            validate_name("bootstrap credential", name)
            taken = taken_name_error(self.context, name)
            if taken is not None:
                raise AlreadyExistsError(taken)
        except MqttdeskError as exc:
            self.name_error.show_error(str(exc))
            ok = False
        if not password:
            self.password_error.show_error("the password must not be empty (type one or press Generate)")
            ok = False
        if not ok:
            return None
        return self._add(name, password, self.roles.checked_roles(), self.register_box.isChecked())

    async def _add(self, name: str, password: str, roles: tuple[str, ...], register: bool) -> str:
        encoded = await self.hash_in_thread(password)
        self.context.store.bootstraps.add(name, encoded, roles, register_devices=register)
        return name

    def show_store_error(self, exc: MqttdeskError) -> None:
        if isinstance(exc, AlreadyExistsError | ValidationError):
            self.name_error.show_error(str(exc))
        elif isinstance(exc, NotFoundError):
            self.roles_error.show_error(str(exc))
        else:
            super().show_store_error(exc)


class BootstrapPasswordDialog(PasswordFormDialog):
    """`devices`: registered through it (they keep their password); `sessions`: virtual devices connected now."""

    def __init__(self, context: TabContext, bootstrap: Bootstrap, devices: int, parent: QWidget | None = None,
                 *, sessions: int = 0) -> None:
        if devices:
            kept = (f"its {plural(devices, 'registered device')} {'keeps' if devices == 1 else 'keep'} the password "
                    "they registered with, so their firmware needs no change")
        else:
            kept = "devices it registers keep the password they registered with"
        if sessions:
            virtual = (f"<b>{plural(sessions, 'virtual device')} connected with the old password "
                       f"{'is' if sessions == 1 else 'are'} disconnected</b> at once.")
        else:
            virtual = "No virtual device is connected with the old password now."
        name = bootstrap.name
        super().__init__(context, name, f"Devices connecting through this credential from now on need the new "
                         f"password; {kept}. {virtual}",
                         lambda encoded: context.store.bootstraps.set_password(name, encoded), parent,
                         generated_note=STORE_IT_NOW)
        self.setMinimumWidth(560)
