"""The "Connect a device…" dialog: the settings to paste into Tasmota, ESPHome, mosquitto, paho, Home Assistant or
MQTTX for one credential, each with its own Copy button (see `core/snippets.py`).

The host is what a device uses: one of this machine's LAN addresses (or any typed in). While the broker listens on
loopback only, the dialog says plainly that no device can reach it and offers to listen on the network (0.0.0.0;
anonymous access in its automatic mode goes off there, as it does from the top bar). A password appears in the
snippets only when typed here now, or handed in by the dialog that just showed it once: stored ones are hashes.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.broker.network import device_hosts
from mqttdesk.broker.service import BrokerState
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.snippets import Snippet, SnippetFormat, render_all
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.store.onboarding import credential_for, endpoint_for, reachability
from mqttdesk.store.settings_repo import is_loopback

NETWORK_HOST = "0.0.0.0"
TAB_LABELS = {SnippetFormat.TASMOTA: "Tasmota", SnippetFormat.ESPHOME: "ESPHome", SnippetFormat.MOSQUITTO: "mosquitto",
              SnippetFormat.PAHO: "paho-mqtt", SnippetFormat.HOME_ASSISTANT: "Home Assistant",
              SnippetFormat.MQTTX: "MQTTX"}


def credential_key(kind: str, name: str) -> str:
    """The combo box's data for a credential: "bootstrap:plugs" (a kind has no colon)."""
    return f"{kind}:{name}"


class SnippetPage(QWidget):
    """One format: the text (monospace, read-only), a Copy button, and the notes that are not copied."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy this snippet to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        row = QHBoxLayout()
        row.addWidget(self.notes, 1)
        row.addWidget(self.copy_button)
        layout.addLayout(row)

    def show_snippet(self, snippet: Snippet) -> None:
        self.text.setPlainText(snippet.text)
        self.notes.setText("\n".join(f"• {note}" for note in snippet.notes))
        self.copy_button.setText("Copy")

    def copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.text.toPlainText())
            self.copy_button.setText("Copied")


class ConnectDeviceDialog(QDialog):
    def __init__(self, context: TabContext, parent: QWidget | None = None, *, name: str | None = None,
                 kind: str | None = None, password: str | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Connect a device")
        self.setMinimumSize(760, 520)
        self.credential = QComboBox()
        self._fill_credentials(name, kind)
        self.host = QComboBox()
        self.host.setEditable(True)
        self.host.setToolTip("The address a device reaches this machine at (MqttHost): one of its LAN addresses")
        self.tls = QCheckBox("over TLS (Tasmota: SetOption103/132 and the server's fingerprint)")
        self.topic = QLineEdit()
        self.topic.setPlaceholderText("DVES_%06X: each device's clientId (Tasmota Topic / ESPHome topic prefix)")
        self.password = QLineEdit(password or "")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("only if you have it now: mqttdesk keeps hashes, never passwords")
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #a15c00;")
        self.listen_button = QPushButton("Listen on the network")
        self.listen_button.setToolTip(f"Listen on {NETWORK_HOST} (every address of this machine); the broker "
                                      "restarts if it runs. Anonymous access goes off unless turned on explicitly")
        self.listen_button.clicked.connect(self.listen_on_network)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.tabs = QTabWidget()
        self.pages: dict[SnippetFormat, SnippetPage] = {}
        for snippet_format in SnippetFormat:
            page = SnippetPage()
            self.pages[snippet_format] = page
            self.tabs.addTab(page, TAB_LABELS[snippet_format])

        form = QFormLayout()
        form.addRow("Credential", self.credential)
        form.addRow("Host", self.host)
        form.addRow("", self.tls)
        form.addRow("Topic", self.topic)
        form.addRow("Password", self.password)
        warning_row = QHBoxLayout()
        warning_row.addWidget(self.warning, 1)
        warning_row.addWidget(self.listen_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(warning_row)
        layout.addWidget(self.error)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)

        for signal in (self.credential.currentIndexChanged, self.host.currentTextChanged, self.tls.toggled,
                       self.topic.textChanged, self.password.textChanged):
            signal.connect(self.refresh)
        context.bridge.store_changed.connect(self._store_changed)
        context.bridge.status_changed.connect(self._store_changed)
        self._fill_hosts()

    def _fill_credentials(self, name: str | None, kind: str | None) -> None:
        store = self.context.store
        entries = ([("bootstrap", b.name) for b in store.bootstraps.list()]
                   + [("user", u.name) for u in store.users.list()]
                   + [("device", d.client_id) for d in store.devices.list()]
                   + [("token", t.name) for t in store.token_issuers.list()])
        for entry_kind, entry_name in entries:
            self.credential.addItem(f"{entry_name}  ({entry_kind})", credential_key(entry_kind, entry_name))
            if entry_name == name and kind in (None, entry_kind):
                self.credential.setCurrentIndex(self.credential.count() - 1)

    def _fill_hosts(self) -> None:
        listeners = self.context.store.settings.listeners()
        current = self.host.currentText()
        hosts = device_hosts(listeners.host)  # a wildcard listener: the LAN addresses
        self.host.blockSignals(True)
        self.host.clear()
        self.host.addItems(hosts)
        if current and (current in hosts or not is_loopback(current)):  # one typed in stays (a DNS name, ...)
            self.host.setCurrentText(current)
        self.host.blockSignals(False)
        self.tls.setEnabled(listeners.tls)
        if not listeners.tls:
            self.tls.setChecked(False)
        elif not listeners.tcp:
            self.tls.setChecked(True)
        state = reachability(self.context.store)
        self.warning.setText((state.warning or "")[:1].upper() + (state.warning or "")[1:])
        self.warning.setVisible(state.loopback_only)
        self.listen_button.setVisible(state.loopback_only)
        self.refresh()

    def _store_changed(self, _changes: object) -> None:
        self._fill_hosts()

    def snippets(self) -> dict[SnippetFormat, Snippet]:
        """What the pages show now (empty when the fields do not make a snippet; `error` says why)."""
        chosen = self.credential.currentData()
        if chosen is None:
            raise MqttdeskError("add a user or a bootstrap credential first")
        kind, name = str(chosen).split(":", 1)
        credential = credential_for(self.context.store, name, kind=kind, password=self.password.text() or None,
                                    topic=self.topic.text().strip() or None)
        status = self.context.service.status
        listening = {info.kind: info.port for info in status.listeners} \
            if status.state is BrokerState.LISTENING else None
        endpoint = endpoint_for(self.context.store, self.host.currentText().strip() or None,
                                tls=self.tls.isChecked(), listening=listening)
        return {snippet.format: snippet for snippet in render_all(endpoint, credential)}

    def refresh(self, *_args: object) -> None:
        try:
            found = self.snippets()
        except MqttdeskError as exc:
            self.error.setText(str(exc))
            self.error.setVisible(True)
            self.tabs.setEnabled(False)
            return
        self.error.setVisible(False)
        self.tabs.setEnabled(True)
        for snippet_format, snippet in found.items():
            self.pages[snippet_format].show_snippet(snippet)

    def listen_on_network(self) -> None:
        settings = self.context.store.settings
        settings.set_listener(NETWORK_HOST, settings.listener()[1])
        if self.context.service.status.state is BrokerState.LISTENING:
            self.context.runner.start(self._restart(), "restart the broker on the network")
        self.context.show_message(f"the broker listens on {NETWORK_HOST} from now on")

    async def _restart(self) -> None:
        await self.context.service.stop()
        await self.context.service.start()
