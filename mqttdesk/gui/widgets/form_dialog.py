"""The base of every form dialog: OK validates, the change runs as a task, errors stay next to their fields.

Dialogs are opened with `open()` (no nested event loop, so asyncio keeps running). OK validates first and shows
each problem under its field; the slow part (hashing) runs in a thread while the buttons are disabled; the dialog
closes only when the store accepted the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from mqttdesk.core.errors import AlreadyExistsError, MqttdeskError, NotFoundError, ValidationError
from mqttdesk.core.names import validate_name
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.password_field import GENERATED_NOTE, PasswordField
from mqttdesk.gui.widgets.role_picker import RolePicker

EMPTY_PASSWORD = "the password must not be empty (type one or press Generate)"


class FormDialog(QDialog):
    """A dialog whose OK may take a moment: buttons are disabled while `submit()` runs, errors stay on the form."""

    done_with = Signal(str)  # the key of what was changed: a user or bootstrap name, a device's clientId

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


class RolesFormDialog(FormDialog):
    """Choose the roles of one credential; `save(roles)` writes them (bootstrap credentials and devices use it)."""

    def __init__(self, context: TabContext, title: str, key: str, current: tuple[str, ...],
                 save: Callable[[tuple[str, ...]], object], *, note: str = "", parent: QWidget | None = None) -> None:
        super().__init__(context, title, "Save roles", parent)
        self.key = key
        self._save_roles = save
        self.roles = RolePicker(context.store.roles.names(), current)
        self.roles_error = self.add_field("Roles", self.roles)
        if note:
            hint = QLabel(note)
            hint.setWordWrap(True)
            self.form.addRow("", hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        return self._save(self.roles.checked_roles())

    async def _save(self, roles: tuple[str, ...]) -> str:
        self._save_roles(roles)
        return self.key

    def show_store_error(self, exc: MqttdeskError) -> None:
        self.roles_error.show_error(str(exc))


class PasswordFormDialog(FormDialog):
    """A new password for one credential, generated (shown once, to copy now) or typed; `save(encoded)` stores its
    hash (users and bootstrap credentials use it). `hint` says what happens to whoever uses the old one."""

    def __init__(self, context: TabContext, key: str, hint: str, save: Callable[[str], object],
                 parent: QWidget | None = None, *, generated_note: str = GENERATED_NOTE) -> None:
        super().__init__(context, f"Reset password of {key}", "Set password", parent)
        self.key = key
        self._save_password = save
        self.password = PasswordField(generated_note=generated_note)
        self.password_error = self.add_field("New password", self.password)
        self.hint = QLabel(hint)
        self.hint.setWordWrap(True)
        self.form.addRow("", self.hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        password = self.password.text()
        if not password:
            self.password_error.show_error(EMPTY_PASSWORD)
            return None
        return self._reset(password)

    async def _reset(self, password: str) -> str:
        encoded = await self.hash_in_thread(password)
        self._save_password(encoded)
        return self.key


class NewCredentialFormDialog(FormDialog):
    """Name, password and roles of a new user or bootstrap credential, then a hint.

    OK checks the name (`validate_name` for `kind`, then `taken_error`) and that a password was given before
    anything is hashed; `add_credential(name, password)` reads the other fields and returns the change to make.
    `add_options()` may add rows between the password and the roles.
    """

    kind = ""  # how the name is called in its errors: "user", "bootstrap credential"

    def __init__(self, context: TabContext, title: str, ok_label: str, parent: QWidget | None = None, *,
                 placeholder: str, hint: str, generated_note: str = GENERATED_NOTE) -> None:
        super().__init__(context, title, ok_label, parent)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.name_edit.setPlaceholderText(placeholder)
        self.name_error = self.add_field("Name", self.name_edit)
        self.password = PasswordField(generated_note=generated_note)
        self.password_error = self.add_field("Password", self.password)
        self.add_options()
        self.roles = RolePicker(context.store.roles.names())
        self.roles_error = self.add_field("Roles", self.roles)
        hint_label = QLabel(hint)
        hint_label.setWordWrap(True)
        self.form.addRow("", hint_label)
        # the one moment the password is known in clear: the tab may open the connection snippets with it
        self.connect_after = QCheckBox("Then show how to connect a device (this password goes into the snippets, "
                                       "this once)")
        self.form.addRow("", self.connect_after)

    def add_options(self) -> None:
        """Rows between the password and the roles; none by default."""

    def taken_error(self, name: str) -> str | None:
        """Why `name` cannot be used because something already has it, or None."""
        raise NotImplementedError

    def needs_password(self) -> bool:
        """Whether the password must be given (a user that logs in by certificate only has none to give)."""
        return True

    def add_credential(self, name: str, password: str) -> Coroutine[Any, Any, str | None]:
        """The coroutine that hashes `password` and adds the credential (the other fields are read now)."""
        raise NotImplementedError

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        name, password = self.name_edit.text(), self.password.text()
        ok = True
        try:
            validate_name(self.kind, name)
            taken = self.taken_error(name)
            if taken is not None:
                raise AlreadyExistsError(taken)
        except MqttdeskError as exc:
            self.name_error.show_error(str(exc))
            ok = False
        if not password and self.needs_password():
            self.password_error.show_error(EMPTY_PASSWORD)
            ok = False
        return self.add_credential(name, password) if ok else None

    def show_store_error(self, exc: MqttdeskError) -> None:
        if isinstance(exc, AlreadyExistsError | ValidationError):
            self.name_error.show_error(str(exc))
        elif isinstance(exc, NotFoundError):
            self.roles_error.show_error(str(exc))
        else:
            super().show_store_error(exc)
