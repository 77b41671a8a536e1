"""The top bar: broker state in words with a coloured dot, Start/Stop, where to listen, and anonymous access.

Anonymous access with no roles lets anyone who reaches the port read and write every topic; that lab default is
always shown as a warning while it applies (README, "Anonymous access").

Anonymous access is one switch with two named sides, "Allow anonymous clients" and "Require authentication" (its
inverse, as the Kaa platform calls it). Choosing "Require authentication" calls `service.require_authentication()`,
which ends the anonymous sessions connected now, and says how many next to the switch. The "auto" mode (anonymous on
only while listening on loopback) is kept as long as the user does not choose the other side.

While the broker listens, the host and port fields show where it actually listens (the status's bound address),
not the stored setting: the two differ after `mqttdesk gui --port N` (an override for one run) or with port 0
(a free port picked at start). Start uses what the fields show. When they still show the address the broker last
listened on, it restarts there without storing it (the override stays an override, port 0 stays "pick one");
anything else typed into them is stored as the listener setting, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QRadioButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.broker.service import BrokerState, BrokerStatus
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.listeners_dialog import ListenersDialog
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.status_dot import StatusDot
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.settings_repo import AnonymousSetting

STATE_COLORS = {
    BrokerState.STOPPED: "#8a8f98",
    BrokerState.STARTING: "#d99100",
    BrokerState.LISTENING: "#2e9d4f",
    BrokerState.STOPPING: "#d99100",
    BrokerState.ERROR: "#d13438",
}
ALLOW_TIP = "Clients that send no username are admitted, with the anonymous roles."
REQUIRE_TIP = ("Every client must log in (user, bootstrap credential or device); anonymous clients connected now "
               "are disconnected.")
HOST_TIP = "Address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 (all IPv4), ::1, …"
PORT_TIP = "TCP port (1883 is the MQTT default; 0 picks a free one)"
UNRESTRICTED_WARNING = ("Anonymous access is on without roles: anyone can read and write every topic. "
                        "Give anonymous clients roles, or turn anonymous access off.")


class BrokerBar(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.store = context.store
        self._last_listened: tuple[str, int] | None = None  # where the fields show the broker last listened
        self._build()
        context.bridge.status_changed.connect(self.show_status)
        context.bridge.store_changed.connect(self._store_changed)
        self.show_status(context.service.status)
        self._load_listener()

    def _build(self) -> None:
        self.dot = StatusDot()
        self.status_label = QLabel()
        self.status_label.setObjectName("broker_status")
        self.status_label.setStyleSheet("font-weight: 600;")
        self.status_label.setWordWrap(True)
        self.host_edit = QLineEdit()
        self.host_edit.setObjectName("listen_host")
        self.host_edit.setFixedWidth(150)
        self.host_edit.setToolTip(HOST_TIP)
        self.port_edit = QLineEdit()
        self.port_edit.setObjectName("listen_port")
        self.port_edit.setFixedWidth(70)
        self.port_edit.setToolTip(PORT_TIP)
        for edit in (self.host_edit, self.port_edit):
            edit.returnPressed.connect(self.start)
        self.start_button = QPushButton("Start")
        self.start_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.stop_button.clicked.connect(self.stop)
        self.listener_error = FieldError()
        self.listeners_button = QPushButton("Listeners…")
        self.listeners_button.setToolTip("TCP, TLS and WebSocket listeners: on/off, ports, certificate files")
        self.listeners_button.clicked.connect(self.edit_listeners)
        self.listeners_dialog: ListenersDialog | None = None

        self.allow_anonymous_radio = QRadioButton("Allow anonymous clients")
        self.allow_anonymous_radio.clicked.connect(self.allow_anonymous)
        self.require_auth_radio = QRadioButton("Require authentication")
        self.require_auth_radio.clicked.connect(self.require_authentication)
        self.access_group = QButtonGroup(self)
        self.access_group.addButton(self.allow_anonymous_radio)
        self.access_group.addButton(self.require_auth_radio)
        self.auth_result = QLabel()
        self.auth_result.setObjectName("auth_result")
        self.auth_result.setStyleSheet("color: #1e6b35; font-weight: 600;")
        self.auth_result.setVisible(False)
        self.anonymous_note = QLabel()
        self.anonymous_note.setStyleSheet("color: #5f6368;")
        self.anonymous_roles_button = QPushButton()
        self.anonymous_roles_button.setToolTip("The roles anonymous clients get; with none they may do anything")
        self.anonymous_roles_menu = QMenu(self)
        self.anonymous_roles_menu.aboutToShow.connect(self._fill_roles_menu)
        self.anonymous_roles_button.setMenu(self.anonymous_roles_menu)
        self.anonymous_error = FieldError()
        self.warning = QLabel("⚠  " + UNRESTRICTED_WARNING)
        self.warning.setObjectName("anonymous_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("background: #fff4ce; color: #5c3c00; border: 1px solid #d99100;"
                                   " border-radius: 4px; padding: 6px;")

        top = QGridLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.dot, 0, 0)
        top.addWidget(self.status_label, 0, 1)
        top.setColumnStretch(1, 1)
        top.addWidget(QLabel("Listen on"), 0, 2)
        top.addWidget(self.host_edit, 0, 3)
        top.addWidget(QLabel("port"), 0, 4)
        top.addWidget(self.port_edit, 0, 5)
        top.addWidget(self.start_button, 0, 6)
        top.addWidget(self.stop_button, 0, 7)
        top.addWidget(self.listeners_button, 0, 8)
        top.addWidget(self.listener_error, 1, 2, 1, 7)
        anonymous = QHBoxLayout()
        anonymous.addWidget(QLabel("Access:"))
        anonymous.addWidget(self.allow_anonymous_radio)
        anonymous.addWidget(self.require_auth_radio)
        anonymous.addSpacing(8)
        anonymous.addWidget(self.anonymous_roles_button)
        anonymous.addWidget(self.anonymous_note)
        anonymous.addWidget(self.auth_result)
        anonymous.addWidget(self.anonymous_error)
        anonymous.addStretch(1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.addLayout(top)
        layout.addLayout(anonymous)
        layout.addWidget(self.warning)
        layout.addWidget(line)

    def edit_listeners(self) -> None:
        dialog = ListenersDialog(self.context, self)
        dialog.done_with.connect(self.context.show_message)
        self.listeners_dialog = dialog
        dialog.open()

    # -- broker state -------------------------------------------------------------------------------

    def show_status(self, status: BrokerStatus) -> None:
        self.dot.set_color(STATE_COLORS[status.state])
        self.status_label.setText(status.describe())
        self.status_label.setToolTip(status.describe())
        stopped = status.state in (BrokerState.STOPPED, BrokerState.ERROR)
        self.listeners_button.setEnabled(status.state not in (BrokerState.STARTING, BrokerState.STOPPING))
        self.start_button.setEnabled(stopped)
        self.stop_button.setEnabled(status.state is BrokerState.LISTENING)
        self.host_edit.setEnabled(stopped)
        self.port_edit.setEnabled(stopped)
        # the fields are the TCP listener's; the TLS and WebSocket ones are in the status line and in `config set`
        tcp = tuple((info.host, info.port) for info in status.listeners if info.kind == "tcp")
        if status.state is BrokerState.LISTENING and tcp:
            self._show_listening(tcp)
        self._show_anonymous()

    def _show_listening(self, addresses: tuple[tuple[str, int], ...]) -> None:
        """The fields show where the broker listens now (a name that resolved to several addresses is kept)."""
        host = addresses[0][0] if len(addresses) == 1 else self.host_edit.text().strip()
        port = addresses[0][1]
        for edit, value in ((self.host_edit, host), (self.port_edit, str(port))):
            edit.setText(value)
            edit.setModified(False)
        self._last_listened = (host, port)
        stored_host, stored_port = self.store.settings.listener()
        note = "" if (stored_host, stored_port) == (host, port) else \
            f"\nListening here for this run; the stored setting is {stored_host} port {stored_port}."
        self.port_edit.setToolTip(PORT_TIP + note)
        self.host_edit.setToolTip(HOST_TIP + note)

    def listen_host(self) -> str:
        """Where anonymous access is judged: the address listened on now, else the stored one."""
        status = self.context.service.status
        if status.state is BrokerState.LISTENING and status.addresses:
            return status.addresses[0][0]
        return self.store.settings.listener()[0]

    def start(self) -> None:
        if not self.start_button.isEnabled():
            return
        self.listener_error.clear_error()
        try:
            port_text = self.port_edit.text().strip()
            if not port_text.isdigit():
                raise MqttdeskError(f"port must be a number between 0 and 65535, not {port_text!r}")
            shown = (self.host_edit.text().strip(), int(port_text))
            if shown != self._last_listened:
                self.store.settings.set_listener(self.host_edit.text(), int(port_text))
        except MqttdeskError as exc:
            self.listener_error.show_error(str(exc))
            return
        self.start_button.setEnabled(False)
        if shown == self._last_listened:  # where it listened last (an override or a picked port): not stored
            self.context.runner.start(self.context.service.start(*shown), "start the broker")
            return
        self._load_listener()
        self.context.runner.start(self.context.service.start(), "start the broker")

    def stop(self) -> None:
        self.stop_button.setEnabled(False)
        self.context.runner.start(self.context.service.stop(), "stop the broker")

    def _load_listener(self) -> None:
        if self.context.service.status.state is BrokerState.LISTENING:
            return  # the fields show where it listens; the setting applies at the next start
        host, port = self.store.settings.listener()
        for edit, value in ((self.host_edit, host), (self.port_edit, str(port))):
            if not edit.hasFocus() or not edit.isModified():  # do not overwrite what the user is typing
                edit.setText(value)
                edit.setModified(False)

    # -- anonymous access ---------------------------------------------------------------------------

    def _store_changed(self, changes: Sequence[Change]) -> None:
        if any(change.kind is ChangeKind.SETTINGS and change.key.startswith("listener.") for change in changes):
            self._load_listener()
        if any(change.kind in (ChangeKind.SETTINGS, ChangeKind.ROLE) for change in changes):
            self._show_anonymous()

    def anonymous_setting(self) -> AnonymousSetting:
        return self.store.settings.anonymous(self.listen_host())

    def _show_anonymous(self) -> None:
        setting = self.anonymous_setting()
        (self.allow_anonymous_radio if setting.effective else self.require_auth_radio).setChecked(True)
        now = "\nAnonymous access now: " + setting.describe()
        self.allow_anonymous_radio.setToolTip(ALLOW_TIP + now)
        self.require_auth_radio.setToolTip(REQUIRE_TIP + now)
        if setting.effective:
            self.auth_result.setVisible(False)
        if setting.mode == "auto":
            self.anonymous_note.setText("automatic: on only while listening on this machine (loopback)")
        else:
            self.anonymous_note.setText("")
        self.anonymous_roles_button.setEnabled(setting.effective)
        roles = ", ".join(setting.roles) if setting.roles else "none (every topic)"
        self.anonymous_roles_button.setText(f"Anonymous roles: {roles}")
        self.warning.setVisible(setting.effective and not setting.roles)

    def allow_anonymous(self) -> None:
        if not self.anonymous_setting().effective:  # a click on the side already chosen changes nothing
            self._change_anonymous(True, self.anonymous_setting().roles)

    def require_authentication(self) -> None:
        """Anonymous access off; the anonymous sessions connected now are ended, and the bar says how many."""
        if not self.anonymous_setting().effective:
            self._show_anonymous()
            return
        self.anonymous_error.clear_error()
        try:
            terminated = self.context.service.require_authentication()
        except MqttdeskError as exc:
            self.anonymous_error.show_error(str(exc))
            self._show_anonymous()
            return
        text = f"Authentication required: {plural(terminated, 'anonymous session')} terminated"
        self.auth_result.setText(text)
        self.auth_result.setVisible(True)
        self.context.show_message(text)
        self._show_anonymous()

    def _change_anonymous(self, enabled: bool, roles: tuple[str, ...]) -> None:
        self.anonymous_error.clear_error()
        try:
            setting = self.anonymous_setting()
            if enabled and setting.mode == "auto" and setting.effective:
                # keep "auto" (loopback only) rather than switching anonymous access on everywhere
                self.store.settings.set_anonymous_roles(roles)
            else:
                self.store.settings.set_anonymous(enabled, roles)
        except MqttdeskError as exc:
            self.anonymous_error.show_error(str(exc))
        self._show_anonymous()

    def _fill_roles_menu(self) -> None:
        menu = self.anonymous_roles_menu
        menu.clear()
        current = self.anonymous_setting().roles
        names = self.store.roles.names()
        if not names:
            menu.addAction("(no roles yet: add them in the Roles tab)").setEnabled(False)
        for name in names:
            action = QAction(name, menu)
            action.setCheckable(True)
            action.setChecked(name in current)
            action.toggled.connect(lambda on, role=name: self._toggle_role(role, on))
            menu.addAction(action)

    def _toggle_role(self, role: str, on: bool) -> None:
        roles = [name for name in self.anonymous_setting().roles if name != role]
        if on:
            roles.append(role)
        self._change_anonymous(True, tuple(roles))
