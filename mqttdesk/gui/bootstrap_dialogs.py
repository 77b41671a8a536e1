"""Dialogs of the Bootstrap tab: add a bootstrap credential, give it a new password (see `FormDialog`)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QCheckBox, QLabel, QStyle, QVBoxLayout, QWidget

from mqttdesk.core.model import Bootstrap
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import NewCredentialFormDialog, PasswordFormDialog

# a bootstrap password is typed into the firmware of a whole fleet: losing it means reflashing every device
STORE_IT_NOW = ("<b>Store it now</b> (copy it into your firmware settings or password manager): mqttdesk keeps "
                "only a hash and cannot show this password again once the dialog is closed.")
REGISTER_EXPLAINED = "Then label, suspend or give roles to each one in the Devices tab; off: devices stay virtual."
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


class AddBootstrapDialog(NewCredentialFormDialog):
    kind = "bootstrap credential"

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Add bootstrap credential", "Add credential", parent,
                         placeholder="e.g. tasmota-fleet (the MQTT username of every device)",
                         hint="Devices admitted by it get these roles. The credential is <b>inactive</b> until a "
                              "device first connects with it.",
                         generated_note=STORE_IT_NOW)
        self.setMinimumWidth(560)

    def add_options(self) -> None:
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

    def taken_error(self, name: str) -> str | None:
        return taken_name_error(self.context, name)

    def add_credential(self, name: str, password: str) -> Coroutine[Any, Any, str | None]:
        return self._add(name, password, self.roles.checked_roles(), self.register_box.isChecked())

    async def _add(self, name: str, password: str, roles: tuple[str, ...], register: bool) -> str:
        encoded = await self.hash_in_thread(password)
        self.context.store.bootstraps.add(name, encoded, roles, register_devices=register)
        return name


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
            virtual = (f"<b>{plural(sessions, 'virtual device')} connected with the old password will be "
                       "disconnected</b> at once.")
        else:
            virtual = "No virtual device is connected with the old password now."
        name = bootstrap.name
        super().__init__(context, name, f"Devices connecting through this credential from now on need the new "
                         f"password; {kept}. {virtual}",
                         lambda encoded: context.store.bootstraps.set_password(name, encoded), parent,
                         generated_note=STORE_IT_NOW)
        self.setMinimumWidth(560)
