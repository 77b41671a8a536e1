"""The first-run wizard: where clients connect from (this computer only, or the network, with its addresses shown),
the port, TLS with mqttdesk's own CA, the first user or anonymous access on loopback only, then a "connect with"
page with copyable lines for that user.

Shown once, on a first start with an empty store; Skip (or closing it) counts as done too: it never comes back
(`FIRST_RUN_DONE` in window.ini). The set-up itself is first_run_setup.apply, run when "Set up" is pressed.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from mqttdesk.broker.service import BrokerState
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.names import validate_name
from mqttdesk.gui.first_run_setup import (
    FIRST_RUN_DONE,
    FIRST_USER_ROLE,
    LOOPBACK,
    FirstRunChoice,
    apply,
    connect_lines,
    lan_addresses,
)
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.copy_line import CopyLine
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.password_field import PasswordField
from mqttdesk.gui.window_state import flag
from mqttdesk.store.pki_files import CA_CERT


def should_run(settings: QSettings, context: TabContext) -> bool:
    """Only on a first start: never done before, and nothing set up yet (no user, no bootstrap credential)."""
    store = context.store
    return not flag(settings, FIRST_RUN_DONE) and not store.users.list() and not store.bootstraps.list()


class WherePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Who connects?")
        self.setSubTitle("mqttdesk runs an MQTT broker. Choose who may reach it; every choice can be changed later.")
        self.local_radio = QRadioButton("This computer only (127.0.0.1)")
        self.local_radio.setChecked(True)
        addresses = lan_addresses()
        shown = ", ".join(addresses) if addresses else "no network address found"
        self.network_radio = QRadioButton(f"My network too (devices reach it at {shown})")
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.network_radio)
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(1883)
        self.port.setToolTip("1883 is MQTT's usual port; 0 picks a free one")
        self.tls_box = QCheckBox("Also MQTT over TLS on port 8883, with mqttdesk's own certificate authority")
        self.tls_box.setToolTip("The CA is created now; clients need its certificate (ca.crt) to trust the broker")
        form = QFormLayout(self)
        form.addRow(self.local_radio)
        form.addRow(self.network_radio)
        form.addRow("Port", self.port)
        form.addRow(self.tls_box)


class WhoPage(QWizardPage):
    def __init__(self, wizard: FirstRunWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("The first user")
        self.setSubTitle(f"Clients log in with a username and password. The first user gets the role "
                         f"'{FIRST_USER_ROLE}': read and write every topic (narrow it in the Roles tab).")
        self.user_radio = QRadioButton("Create a user")
        self.user_radio.setChecked(True)
        self.anonymous_radio = QRadioButton("No login: allow anonymous clients (this computer only)")
        group = QButtonGroup(self)
        group.addButton(self.user_radio)
        group.addButton(self.anonymous_radio)
        self.name_edit = QLineEdit("me")
        self.password = PasswordField()
        self.password.generate()
        self.error = FieldError()
        self.busy = QLabel()
        form = QFormLayout(self)
        form.addRow(self.user_radio)
        form.addRow("Username", self.name_edit)
        form.addRow("Password", self.password)
        form.addRow(self.anonymous_radio)
        form.addRow(self.error)
        form.addRow(self.busy)
        self.user_radio.toggled.connect(self._user_toggled)
        self.setButtonText(QWizard.WizardButton.NextButton, "Set up")

    def initializePage(self) -> None:  # noqa: N802
        network = self._wizard.where.network_radio.isChecked()
        self.anonymous_radio.setEnabled(not network)  # anonymous never reaches past loopback here
        if network:
            self.user_radio.setChecked(True)

    def _user_toggled(self, on: bool) -> None:
        self.name_edit.setEnabled(on)
        self.password.setEnabled(on)

    def choice(self) -> FirstRunChoice | None:
        where = self._wizard.where
        self.error.clear_error()
        username: str | None = None
        if self.user_radio.isChecked():
            try:
                username = validate_name("user", self.name_edit.text().strip())
            except MqttdeskError as exc:
                self.error.show_error(str(exc))
                return None
            if not self.password.text():
                self.error.show_error("type a password or press Generate")
                return None
        return FirstRunChoice(network=where.network_radio.isChecked(), port=where.port.value(),
                              tls=where.tls_box.isChecked(), username=username, password=self.password.text())

    def validatePage(self) -> bool:  # noqa: N802
        """"Set up" runs the set-up (asynchronously) the first time and moves on when it is done."""
        if self._wizard.applied is not None:
            return True
        choice = self.choice()
        if choice is None or self._wizard.applying:
            return False
        self._wizard.start_applying(choice)
        return False


class ConnectPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Connect a client")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.lines: dict[str, QWidget] = {}
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(self.status)

    def show_lines(self, status: str, lines: dict[str, str]) -> None:
        self.status.setText(status)
        for title, text in lines.items():
            self._layout.addWidget(QLabel(f"<b>{title}</b>"))
            if "\n" in text:
                view = QPlainTextEdit(text)
                view.setReadOnly(True)
                view.setMaximumHeight(view.fontMetrics().height() * (text.count("\n") + 3))
                self.lines[title] = view
            else:
                self.lines[title] = CopyLine(text)
            self._layout.addWidget(self.lines[title])
        self._layout.addStretch(1)


class FirstRunWizard(QWizard):
    def __init__(self, context: TabContext, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.settings = settings
        self.setWindowTitle("Welcome to mqttdesk")
        self.setButtonText(QWizard.WizardButton.CancelButton, "Skip")
        self.where = WherePage()
        self.who = WhoPage(self)
        self.connect_page = ConnectPage()
        for page in (self.where, self.who, self.connect_page):
            self.addPage(page)
        self.applied: FirstRunChoice | None = None
        self.applying = False
        self.finished.connect(self._done)

    def start_applying(self, choice: FirstRunChoice) -> None:
        self.applying = True
        self.who.busy.setText("Setting up…")
        self.button(QWizard.WizardButton.NextButton).setEnabled(False)
        self.context.runner.start(self._apply(choice), "set up mqttdesk")

    async def _apply(self, choice: FirstRunChoice) -> str | None:
        try:
            status = await apply(self.context, choice)
        except MqttdeskError as exc:
            self.who.error.show_error(str(exc))
            return None
        finally:
            self.applying = False
            self.who.busy.setText("")
            self.button(QWizard.WizardButton.NextButton).setEnabled(True)
        self.applied = choice
        host = LOOPBACK
        if choice.network:
            addresses = lan_addresses()
            host = addresses[0] if addresses else LOOPBACK
        port = choice.port
        ca_file = None
        if status.state is BrokerState.LISTENING:
            kinds = {info.kind: info.port for info in status.listeners}
            port = kinds.get("tcp", port)
            if choice.tls and "tls" in kinds:
                port, ca_file = kinds["tls"], str(self.context.store.pki.files.path(CA_CERT))
        self.connect_page.show_lines(status.describe(), connect_lines(choice, host, port, ca_file))
        self.next()
        return "mqttdesk is set up"

    def _done(self, _result: int) -> None:
        self.settings.setValue(FIRST_RUN_DONE, True)
        self.settings.sync()
