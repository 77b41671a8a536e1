"""Dialogs of the Users tab: add a user, reset a password, edit roles.

They are opened with `open()` (no nested event loop, so asyncio keeps running). OK validates first and shows
each problem under its field; the slow part (hashing) runs in a thread while the buttons are disabled; the dialog
closes only when the store accepted the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from mqttdesk.core.errors import AlreadyExistsError, MqttdeskError, NotFoundError, ValidationError
from mqttdesk.core.model import User
from mqttdesk.core.names import validate_name
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.password_field import PasswordField
from mqttdesk.gui.widgets.role_picker import RolePicker


class FormDialog(QDialog):
    """A dialog whose OK may take a moment: buttons are disabled while `submit()` runs, errors stay on the form."""

    done_with = Signal(str)  # the name of the user that was changed

    def __init__(self, context: TabContext, title: str, ok_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_label)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.busy = QLabel()
        self.busy.setVisible(False)
        self.general_error = FieldError()
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.general_error)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)
        self._task: asyncio.Task[None] | None = None

    @property
    def working(self) -> bool:
        return self._task is not None and not self._task.done()

    def accept(self) -> None:
        if self.working:
            return
        for error in self.findChildren(FieldError):
            error.clear_error()
        coro = self.submit()
        if coro is not None:
            self._set_busy(True)
            self._task = self.context.runner.start(self._run(coro), self.windowTitle().lower())

    def reject(self) -> None:
        if not self.working:  # the change is half-way into the store: let it finish
            super().reject()

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        """Validate; show errors and return None, or return the coroutine that makes the change."""
        raise NotImplementedError

    async def _run(self, coro: Coroutine[Any, Any, str | None]) -> None:
        try:
            name = await coro
        except MqttdeskError as exc:
            self.show_store_error(exc)
            return
        finally:
            self._set_busy(False)
        if name is not None:
            super().accept()
            self.done_with.emit(name)

    def show_store_error(self, exc: MqttdeskError) -> None:
        self.general_error.show_error(str(exc))

    def _set_busy(self, busy: bool, text: str = "Working…") -> None:
        self.ok_button.setEnabled(not busy)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(not busy)
        self.busy.setText(text)
        self.busy.setVisible(busy)

    async def hash_in_thread(self, password: str) -> str:
        self.busy.setText("Hashing the password…")
        return await asyncio.get_running_loop().run_in_executor(None, self.context.hash_password, password)

    def add_field(self, label: str, field: QWidget) -> FieldError:
        """A row with its own error line under the field."""
        error = FieldError()
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field)
        column.addWidget(error)
        holder = QWidget()
        holder.setLayout(column)
        self.form.addRow(label, holder)
        return error


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


class ResetPasswordDialog(FormDialog):
    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Reset password of {user.name}", "Set password", parent)
        self.user_name = user.name
        self.password = PasswordField()
        self.password_error = self.add_field("New password", self.password)
        hint = QLabel("Sessions that logged in with the old password are disconnected.")
        hint.setWordWrap(True)
        self.form.addRow("", hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        password = self.password.text()
        if not password:
            self.password_error.show_error("the password must not be empty (type one or press Generate)")
            return None
        return self._reset(password)

    async def _reset(self, password: str) -> str:
        encoded = await self.hash_in_thread(password)
        self.context.store.users.set_password(self.user_name, encoded)
        return self.user_name


class EditRolesDialog(FormDialog):
    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Roles of {user.name}", "Save roles", parent)
        self.user_name = user.name
        self.roles = RolePicker(context.store.roles.names(), user.roles)
        self.roles_error = self.add_field("Roles", self.roles)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        return self._save(self.roles.checked_roles())

    async def _save(self, roles: tuple[str, ...]) -> str:
        self.context.store.users.set_roles(self.user_name, roles)
        return self.user_name

    def show_store_error(self, exc: MqttdeskError) -> None:
        self.roles_error.show_error(str(exc))
