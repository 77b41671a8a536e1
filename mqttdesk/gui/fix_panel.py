"""The suggested fix, as a panel with one button: say what would change, ask, do it through the store, say what
was done.

Used by the Auth log's details pane and by the Test access dialog, so a fix looks and behaves the same wherever it
is offered. Every fix asks first (a non-blocking confirmation, or the existing Add user / Reset password dialog for
fixes that need a password); nothing is changed by selecting a row.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mqttdesk.core.acl import Effect, Permission
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.fixes import Fix, FixAction
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.decision_text import colored, escape
from mqttdesk.gui.models.auth_log_model import Outcome
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.user_dialogs import AddUserDialog, ResetPasswordDialog
from mqttdesk.gui.widgets.confirm import ask_confirmation

_PERMISSIONS = {"read": Permission.READ, "write": Permission.WRITE, "readwrite": Permission.READWRITE}


def fix_button_label(fix: Fix) -> str:
    """The button names the change itself ("Activate user 'lamp'…"), not a generic "Apply"."""
    p = fix.params
    labels = {
        FixAction.ACTIVATE_USER: lambda: f"Activate user '{p['user']}'…",
        FixAction.ACTIVATE_BOOTSTRAP: lambda: f"Activate bootstrap credential '{p['bootstrap']}'…",
        FixAction.ACTIVATE_DEVICE: lambda: f"Activate device '{p['device']}'…",
        FixAction.RESET_PASSWORD: lambda: f"Set a new password for '{p['user']}'…",
        FixAction.ADD_USER: lambda: f"Add user '{p['user']}'…",
        FixAction.ANONYMOUS_ON: lambda: "Turn anonymous access on…",
        FixAction.KICK: lambda: f"Kick the client holding '{p['client_id']}'…",
        FixAction.DELETE_DEVICE: lambda: f"Delete device '{p['client_id']}'…",
        FixAction.DISCARD_SESSION: lambda: f"Release clientId '{p['client_id']}'…",
        FixAction.ALLOW: lambda: f"Allow {p['permission']} on '{p['topic_filter']}' in role '{p['role']}'…",
        FixAction.REMOVE_DENY: lambda: f"Remove the deny rule on '{p['topic_filter']}' from role '{p['role']}'…",
    }
    label: Callable[[], str] | None = labels.get(fix.action) if fix.action is not None else None
    return label() if label is not None else ""


# (question, what it means, destructive) per action; `{…}` are the fix's params
_CONFIRMATIONS: dict[FixAction, tuple[str, str, bool]] = {
    FixAction.ACTIVATE_USER: ("Activate user '{user}'?", "It may connect again with its password right away.", False),
    FixAction.ACTIVATE_BOOTSTRAP: ("Activate bootstrap credential '{bootstrap}'?",
                                   "Every device using it may connect again.", False),
    FixAction.ACTIVATE_DEVICE: ("Activate device '{device}'?", "It may connect again right away.", False),
    FixAction.ANONYMOUS_ON: ("Turn anonymous access on?",
                             "Any client without a username may connect and read and write every topic, unless "
                             "anonymous roles are set. Meant for a lab, not for a network others can reach.", True),
    FixAction.KICK: ("Kick the client holding clientId '{client_id}'?",
                     "It will be disconnected at once; it may reconnect if its credential allows.", True),
    FixAction.DELETE_DEVICE: ("Delete device '{client_id}'?",
                              "Its record will be removed and its clientId freed; if online, it will be disconnected.",
                              True),
    FixAction.DISCARD_SESSION: ("Release clientId '{client_id}'?",
                                "The session kept for it is discarded with its queued messages, and the record of "
                                "who used it last is forgotten: the next client with this id starts afresh.", True),
    FixAction.ALLOW: ("Allow {permission} on '{topic_filter}' in role '{role}'?",
                      "Every credential with role '{role}' gains this permission at once.", False),
    FixAction.REMOVE_DENY: ("Remove the deny rule on '{topic_filter}' from role '{role}'?",
                            "Allow rules of the role then decide (deny by default when none applies).", True),
}


def _now_in(what: str, state: CredentialState) -> str:
    """A credential never used goes back to inactive (not active) when activated: say which, and that it admits."""
    if state is CredentialState.INACTIVE:
        return f"{what} is no longer suspended (inactive until its first connect, which is allowed)"
    return f"{what} is now {state.value}"


class FixApplier:
    """Asks, then applies a `Fix` through the store or the service; `done(message)` says what was done."""

    def __init__(self, context: TabContext, parent: QWidget, done: Callable[[str], None]) -> None:
        self.context = context
        self.parent = parent
        self._done = done
        self.dialog: QDialog | None = None  # the confirmation or form open right now (tests answer it)

    def request(self, fix: Fix) -> None:
        action = fix.action
        if action is None:
            return
        if action is FixAction.RESET_PASSWORD:
            self._open_reset_password(fix.params["user"])
        elif action is FixAction.ADD_USER:
            self._open_add_user(fix.params["user"])
        else:
            question, informative, destructive = _CONFIRMATIONS[action]
            label = fix_button_label(fix).rstrip("…")
            box = ask_confirmation(self.parent, "Apply the suggested fix", question.format(**fix.params),
                                   label, lambda: self.apply(fix), informative=informative.format(**fix.params),
                                   destructive=destructive)
            self._track(box)

    def apply(self, fix: Fix) -> None:
        """Make the change now (after the confirmation). Failures are reported, never raised into Qt."""
        try:
            message = self._apply(fix)
        except MqttdeskError as exc:
            self._done(f"not applied: {exc}")
            return
        if message is not None:
            self._done(message)

    def _apply(self, fix: Fix) -> str | None:
        store, p = self.context.store, fix.params
        if fix.action is FixAction.ACTIVATE_USER:
            return _now_in(f"user '{p['user']}'", store.users.apply(p["user"], StateAction.ACTIVATE).state)
        if fix.action is FixAction.ACTIVATE_BOOTSTRAP:
            changed = store.bootstraps.apply(p["bootstrap"], StateAction.ACTIVATE)
            return _now_in(f"bootstrap credential '{p['bootstrap']}'", changed.state)
        if fix.action is FixAction.ACTIVATE_DEVICE:
            return _now_in(f"device '{p['device']}'", store.devices.apply(p["device"], StateAction.ACTIVATE).state)
        if fix.action is FixAction.ANONYMOUS_ON:
            store.settings.set_anonymous(True)
            return "anonymous access is now on"
        if fix.action is FixAction.DELETE_DEVICE:
            store.devices.delete(p["client_id"])
            return f"device '{p['client_id']}' deleted: its clientId is free"
        if fix.action is FixAction.ALLOW:
            store.roles.allow(p["role"], p["topic_filter"], _PERMISSIONS[p["permission"]])
            return f"role '{p['role']}' now allows {p['permission']} on '{p['topic_filter']}'"
        if fix.action is FixAction.REMOVE_DENY:
            store.roles.remove_rule(p["role"], p["topic_filter"], Effect.DENY)
            return f"the deny rule on '{p['topic_filter']}' was removed from role '{p['role']}'"
        if fix.action is FixAction.DISCARD_SESSION:
            done = self.context.service.release_client_id(p["client_id"], by="admin (suggested fix)")
            return "; ".join(done) if done else f"nothing holds '{p['client_id']}' any more: the clientId is free"
        if fix.action is FixAction.KICK:
            client_id = p["client_id"]
            self.context.runner.start(self._kick(client_id), f"kick {client_id}")
        return None

    async def _kick(self, client_id: str) -> None:
        kicked = await self.context.service.kick(client_id)
        self._done(f"the client holding '{client_id}' was kicked: the clientId is free" if kicked
                   else f"nobody holds '{client_id}' any more: the clientId is free")

    def _open_reset_password(self, name: str) -> None:
        user = self.context.store.users.find(name)
        if user is None:
            self._done(f"not applied: there is no user '{name}' any more")
            return
        dialog = ResetPasswordDialog(self.context, user, self.parent)
        dialog.done_with.connect(lambda changed: self._done(f"password of '{changed}' changed: configure the same "
                                                             "one on the client"))
        self._open(dialog)

    def _open_add_user(self, name: str) -> None:
        dialog = AddUserDialog(self.context, self.parent)
        dialog.name_edit.setText(name)
        dialog.done_with.connect(lambda added: self._done(f"user '{added}' added (inactive until it first connects); "
                                                          "give it roles for the topics it needs"))
        self._open(dialog)

    def _open(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._track(dialog)
        dialog.open()

    def _track(self, dialog: QDialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _result: self._closed(dialog))

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None


class FixPanel(QFrame):
    """"Suggested fix: …", the equivalent command, one button; after applying, what was done."""

    applied = Signal(str)

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fixPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#fixPanel { background: #fff8e6; border: 1px solid #e3c46b; border-radius: 4px; }")
        self.applier = FixApplier(context, self, self._applied)
        self.fix: Fix | None = None
        self.applied_message: str | None = None  # what applying the fix did, until another fix is shown
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.command = QLabel()
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.command.setStyleSheet("color: #5f6670;")
        self.button = QPushButton()
        self.button.clicked.connect(self.request)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setVisible(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.description)
        layout.addWidget(self.command)
        layout.addLayout(row)
        layout.addWidget(self.result)
        self.set_fix(None)

    def set_fix(self, fix: Fix | None) -> None:
        self.fix = fix
        self.applied_message = None
        self.setVisible(fix is not None)
        self.result.setVisible(False)
        if fix is None:
            return
        self.description.setText(f"<b>Suggested fix:</b> {escape(fix.description)}")
        self.command.setText(f"same from a shell: {fix.command}" if fix.command else "")
        self.command.setVisible(bool(fix.command))
        self.button.setText(fix_button_label(fix))
        self.button.setVisible(fix.applicable)
        self.button.setEnabled(True)

    def request(self) -> None:
        if self.fix is not None:
            self.applier.request(self.fix)

    def _applied(self, message: str) -> None:
        self.applied_message = message
        failed = message.startswith("not applied")
        done = "" if failed else "Done: "
        self.result.setText(colored(("✗ " if failed else "✓ ") + done + message,
                                    Outcome.REFUSED if failed else Outcome.ALLOWED))
        self.result.setVisible(True)
        self.button.setEnabled(failed)
        self.applier.context.show_message(message)
        self.applied.emit(message)
