"""The auth service switch (Integrations tab): mqttdesk answering EMQX's or Mosquitto's (go-auth) auth questions
over HTTP beside the broker, as `mqttdesk auth-service` does, and the configuration those brokers need.

The switch is remembered (`auth_service.enabled`): the window starts the service again when it opens. A port that
cannot be bound is said next to the switch, which goes back off.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QPlainTextEdit, QWidget

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.interop.broker_hooks import config_for
from mqttdesk.store.settings_repo import validate_host, validate_port

BROKERS = (("EMQX 5", "emqx"), ("Mosquitto with go-auth", "mosquitto"))


class AuthServicePanel(QGroupBox):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__("Auth service for another broker", parent)
        self.context = context
        self.enabled = QCheckBox("Answer EMQX's and Mosquitto's (go-auth) login and topic checks over HTTP")
        self.enabled.setToolTip("the same decisions and Auth log as this broker's; loopback only unless the host "
                                "says otherwise")
        host, port = context.store.settings.auth_service_address()
        self.host, self.port = QLineEdit(host), QLineEdit(str(port))
        self.status = QLabel("off")
        self.error = FieldError()
        self.broker = QComboBox()
        for label, key in BROKERS:
            self.broker.addItem(label, key)
        self.config = QPlainTextEdit()
        self.config.setReadOnly(True)
        self.config.setFixedHeight(140)
        form = QFormLayout(self)
        form.addRow(self.enabled)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Status", self.status)
        form.addRow(self.error)
        form.addRow("Configuration for", self.broker)
        form.addRow(self.config)
        self.broker.currentIndexChanged.connect(self.show_config)
        self.show_config()
        self.enabled.setChecked(context.store.settings.auth_service_enabled())
        self.enabled.toggled.connect(self.switch)
        if self.enabled.isChecked():
            self.switch(True)

    def show_config(self) -> None:
        settings = self.context.store.settings
        host, port = settings.auth_service_address()
        service = self.context.service.auth_service
        if service is not None and service.address is not None:
            host, port = service.address
        self.config.setPlainText(config_for(str(self.broker.currentData()), host, port,
                                            settings.auth_service_secret()))

    def switch(self, on: bool) -> None:
        self.error.clear_error()
        settings = self.context.store.settings
        if not on:
            settings.set_auth_service_enabled(False)
            self.context.runner.start(self._stop(), "stop the auth service")
            return
        try:
            host, port = validate_host(self.host.text().strip()), validate_port(int(self.port.text().strip()))
        except (MqttdeskError, ValueError) as exc:
            self._failed(str(exc) if isinstance(exc, MqttdeskError) else "the port is a number")
            return
        settings.set_auth_service_address(host, port)
        settings.set_auth_service_enabled(True)
        self.status.setText("starting…")
        self.context.runner.start(self._start(host, port), "start the auth service")

    async def _start(self, host: str, port: int) -> None:
        try:
            bound_host, bound_port = await self.context.service.start_auth_service(host, port)
        except OSError as exc:
            self._failed(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
            return
        self.status.setText(f"answering on http://{bound_host}:{bound_port}")
        self.show_config()

    async def _stop(self) -> None:
        await self.context.service.stop_auth_service()
        self.status.setText("off")

    def _failed(self, message: str) -> None:
        self.error.show_error(message)
        self.status.setText("off")
        self.context.store.settings.set_auth_service_enabled(False)
        self.enabled.blockSignals(True)
        self.enabled.setChecked(False)
        self.enabled.blockSignals(False)
