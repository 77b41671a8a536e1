"""Dialogs of the Users tab: add a user, choose how it logs in, reset a password, edit roles (all `FormDialog`s,
see there)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QPlainTextEdit, QWidget

from mqttdesk.core.client_ids import validate_reservation
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import AuthMode, User
from mqttdesk.core.passwords import generate_password
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import (
    FormDialog,
    NewCredentialFormDialog,
    PasswordFormDialog,
    RolesFormDialog,
)

LOGIN_LABELS = {AuthMode.PASSWORD: "password", AuthMode.CERTIFICATE: "client certificate (mutual TLS)",
                AuthMode.BOTH: "password or client certificate"}
OWN_CA = "mqttdesk's CA"


class LoginChoice:
    """How a user logs in, as two rows of a form: password / certificate / both, and whose certificates count
    (mqttdesk's own CA, or one trusted CA the user is bound to). The CA row is shown only for certificate logins."""

    def __init__(self, dialog: FormDialog, context: TabContext, mode: AuthMode = AuthMode.PASSWORD,
                 ca: str | None = None) -> None:
        self.mode_box = QComboBox()
        for choice, label in LOGIN_LABELS.items():
            self.mode_box.addItem(label, choice.value)
        self.mode_box.setCurrentIndex(list(LOGIN_LABELS).index(mode))
        self.mode_error = dialog.add_field("Login", self.mode_box)
        self.ca_box = QComboBox()
        self.ca_box.addItem(OWN_CA, None)
        for trusted in context.store.pki.repo.trusted():
            self.ca_box.addItem(f"trusted CA '{trusted.name}'", trusted.name)
        if ca is not None:
            index = self.ca_box.findData(ca)
            self.ca_box.setCurrentIndex(max(index, 0))
        self.ca_box.setToolTip("Whose certificates log this user in: a trusted CA's only for users bound to it")
        self.ca_error = dialog.add_field("Certificates from", self.ca_box)
        self._form = dialog.form
        self._ca_row = dialog.form.rowCount() - 1
        self.mode_box.currentIndexChanged.connect(self._changed)
        self._changed()

    def mode(self) -> AuthMode:
        return AuthMode(self.mode_box.currentData())

    def ca(self) -> str | None:
        data = self.ca_box.currentData()
        return str(data) if data and self.mode().takes_certificate else None

    def _changed(self, *_args: object) -> None:
        self._form.setRowVisible(self._ca_row, self.mode().takes_certificate)


class AddUserDialog(NewCredentialFormDialog):
    kind = "user"

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Add user", "Add user", parent, placeholder="e.g. sensor-kitchen",
                         hint="A new user is <b>inactive</b> until it first connects. One that logs in by "
                              "certificate needs one issued for it (Certificates tab, Issue…).")

    def add_options(self) -> None:
        self.login = LoginChoice(self, self.context)
        self._password_row = self.form.rowCount() - 3  # name, password, then the two login rows
        self.login.mode_box.currentIndexChanged.connect(self._login_changed)

    def _login_changed(self, *_args: object) -> None:
        # certificate only: no password is asked (a hash of a secret nobody is shown is stored, as by the CLI)
        self.form.setRowVisible(self._password_row, self.needs_password())

    def needs_password(self) -> bool:
        return self.login.mode().needs_password

    def taken_error(self, name: str) -> str | None:
        return f"a user named '{name}' already exists" if self.context.store.users.find(name) is not None else None

    def add_credential(self, name: str, password: str) -> Coroutine[Any, Any, str | None]:
        if not self.needs_password():
            password = generate_password()
        return self._add(name, password, self.roles.checked_roles(), self.login.mode(), self.login.ca())

    async def _add(self, name: str, password: str, roles: tuple[str, ...], mode: AuthMode, ca: str | None) -> str:
        encoded = await self.hash_in_thread(password)
        self.context.store.users.add(name, encoded, roles, auth=mode, certificate_ca=ca)
        return name

    def show_store_error(self, exc: MqttdeskError) -> None:
        if "trusted CA" in str(exc):  # removed while the dialog was open
            self.login.ca_error.show_error(str(exc))
        else:
            super().show_store_error(exc)


class LoginDialog(FormDialog):
    """How an existing user logs in; its sessions are re-checked at once (one logged in a way it lost ends)."""

    def __init__(self, context: TabContext, user: User, parent: QWidget | None = None) -> None:
        super().__init__(context, f"Login of {user.name}", "Save", parent)
        self.key = user.name
        self.was = user.auth
        self.login = LoginChoice(self, context, user.auth, user.certificate_ca)
        hint = QLabel("Certificate: a client certificate whose CN is the user's name logs it in, with no password "
                      "(Tasmota sends none). A user that logged in by certificate only has no password anyone "
                      "knows: after choosing password or both, use Reset password….")
        hint.setWordWrap(True)
        self.form.addRow("", hint)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        return self._save(self.login.mode(), self.login.ca())

    async def _save(self, mode: AuthMode, ca: str | None) -> str:
        self.context.store.users.set_auth(self.key, mode, ca)
        return self.key

    def show_store_error(self, exc: MqttdeskError) -> None:
        (self.login.ca_error if "CA" in str(exc) else self.login.mode_error).show_error(str(exc))


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
