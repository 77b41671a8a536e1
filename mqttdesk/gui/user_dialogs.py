"""Dialogs of the Users tab: add a user, reset a password, edit roles (all `FormDialog`s, see there)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from mqttdesk.core.errors import AlreadyExistsError, MqttdeskError, NotFoundError, ValidationError
from mqttdesk.core.model import User
from mqttdesk.core.names import validate_name
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import FormDialog, PasswordFormDialog, RolesFormDialog
from mqttdesk.gui.widgets.password_field import PasswordField
from mqttdesk.gui.widgets.role_picker import RolePicker


class AddUserDialog(FormDialog):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Add user", "Add user", parent)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.name_edit.setPlaceholderText("e.g. sensor-kitchen")
        self.name_error = self.add_field("Name", self.name_edit)
        self.password = PasswordField()
        self.password_error = self.add_field("Password", self.password)
        self.roles = RolePicker(context.store.roles.names())
        self.roles_error = self.add_field("Roles", self.roles)
        hint = QLabel("A new user is <b>inactive</b> until it first connects.")
        hint.setWordWrap(True)
        self.form.addRow("", hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        name, password = self.name_edit.text(), self.password.text()
        ok = True
        try:
            validate_name("user", name)
            if self.context.store.users.find(name) is not None:
                raise AlreadyExistsError(f"a user named '{name}' already exists")
        except MqttdeskError as exc:
            self.name_error.show_error(str(exc))
            ok = False
        if not password:
            self.password_error.show_error("the password must not be empty (type one or press Generate)")
            ok = False
        return self._add(name, password, self.roles.checked_roles()) if ok else None

    async def _add(self, name: str, password: str, roles: tuple[str, ...]) -> str:
        encoded = await self.hash_in_thread(password)
        self.context.store.users.add(name, encoded, roles)
        return name

    def show_store_error(self, exc: MqttdeskError) -> None:
        if isinstance(exc, AlreadyExistsError | ValidationError):
            self.name_error.show_error(str(exc))
        elif isinstance(exc, NotFoundError):
            self.roles_error.show_error(str(exc))
        else:
            super().show_store_error(exc)


class ResetPasswordDialog(PasswordFormDialog):
    """A new password, generated (shown once, to copy now) or typed; `sessions` is how many are logged in now."""

    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None, *, sessions: int = 0) -> None:
        if sessions:
            now = (f"<b>{plural(sessions, 'session')} logged in as '{user.name}' now {'is' if sessions == 1 else 'are'}"
                   " disconnected</b> at once and must log in again with the new password.")
        else:
            now = f"No session is logged in as '{user.name}' now."
        super().__init__(context, user.name, f"The old password stops working as soon as you press Set password. {now}",
                         lambda encoded: context.store.users.set_password(user.name, encoded), parent)


class EditRolesDialog(RolesFormDialog):
    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Roles of {user.name}", user.name, user.roles,
                         lambda roles: context.store.users.set_roles(user.name, roles), parent=parent)
