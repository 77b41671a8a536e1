"""Dialogs of the Users tab: add a user, reset a password, edit roles (all `FormDialog`s, see there)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

from mqttdesk.core.client_ids import validate_reservation
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import User
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import (
    FormDialog,
    NewCredentialFormDialog,
    PasswordFormDialog,
    RolesFormDialog,
)


class AddUserDialog(NewCredentialFormDialog):
    kind = "user"

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Add user", "Add user", parent, placeholder="e.g. sensor-kitchen",
                         hint="A new user is <b>inactive</b> until it first connects.")

    def taken_error(self, name: str) -> str | None:
        return f"a user named '{name}' already exists" if self.context.store.users.find(name) is not None else None

    def add_credential(self, name: str, password: str) -> Coroutine[Any, Any, str | None]:
        return self._add(name, password, self.roles.checked_roles())

    async def _add(self, name: str, password: str, roles: tuple[str, ...]) -> str:
        encoded = await self.hash_in_thread(password)
        self.context.store.users.add(name, encoded, roles)
        return name


class ResetPasswordDialog(PasswordFormDialog):
    """A new password, generated (shown once, to copy now) or typed; `sessions` is how many are logged in now."""

    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None, *, sessions: int = 0) -> None:
        if sessions:
            now = (f"<b>{plural(sessions, 'session')} logged in as '{user.name}' now will be disconnected</b> at "
                   "once and must log in again with the new password.")
        else:
            now = f"No session is logged in as '{user.name}' now."
        super().__init__(context, user.name, f"The old password stops working as soon as you press Set password. {now}",
                         lambda encoded: context.store.users.set_password(user.name, encoded), parent)


class EditRolesDialog(RolesFormDialog):
    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Roles of {user.name}", user.name, user.roles,
                         lambda roles: context.store.users.set_roles(user.name, roles), parent=parent)


class ReservedClientIdsDialog(FormDialog):
    """The clientId patterns a user reserves for itself, one per line (see `core/client_ids.py`)."""

    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Reserved clientIds of {user.name}", "Save", parent)
        self.key = user.name
        self.patterns = QPlainTextEdit("\n".join(user.reserved_client_ids))
        self.patterns.setPlaceholderText(f"{user.name}-*")
        self.patterns.setFixedHeight(110)
        self.patterns_error = self.add_field("Patterns", self.patterns)
        hint = QLabel(f"One pattern per line: * any characters, ? one character. No other credential (another user, "
                      f"a bootstrap credential's devices, anonymous clients) may connect with a matching clientId; "
                      f"{user.name} may use them all.")
        hint.setWordWrap(True)
        self.form.addRow("", hint)

    def entered(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.patterns.toPlainText().splitlines() if line.strip())

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        patterns = self.entered()
        for pattern in patterns:
            try:
                validate_reservation(pattern)
            except MqttdeskError as exc:
                self.patterns_error.show_error(str(exc))
                return None
        return self._save(patterns)

    async def _save(self, patterns: tuple[str, ...]) -> str:
        self.context.store.users.set_reservations(self.key, patterns)
        return self.key

    def show_store_error(self, exc: MqttdeskError) -> None:
        self.patterns_error.show_error(str(exc))
