"""The Integrations page: the external HTTP auth/ACL service (the same settings as `mqttdesk external set`), with a
Test button that runs the CONNECT decision through the service and shows the request sent and the answer.

Headers are shown masked: the field holds only what is typed to replace them; Remove headers drops them. Below,
the switch for the other direction: mqttdesk as the auth service of EMQX or Mosquitto (auth_service_panel.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.decision import ConnectRequest, Decision
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.external import ExternalSettings, parse_header
from mqttdesk.gui.auth_service_panel import AuthServicePanel
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError


class IntegrationsTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.enabled = QCheckBox("Ask the external HTTP service about usernames no local credential has")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://auth.example (certificates are verified)")
        self.user_route, self.acl_route = QLineEdit(), QLineEdit()
        self.timeout, self.cache_seconds = QLineEdit(), QLineEdit()
        self.headers = QPlainTextEdit()
        self.headers.setFixedHeight(60)
        self.remove_headers = QPushButton("Remove headers")
        self.remove_headers.clicked.connect(self._remove_headers)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.flush_button = QPushButton("Forget cached answers")
        self.flush_button.clicked.connect(self.flush)
        self.error = FieldError()
        settings_box = QGroupBox("External HTTP auth and ACL")
        form = QFormLayout(settings_box)
        form.addRow(self.enabled)
        form.addRow("Base URL", self.url)
        form.addRow("User route", self.user_route)
        form.addRow("ACL route", self.acl_route)
        form.addRow("Timeout (s)", self.timeout)
        form.addRow("Cache (s)", self.cache_seconds)
        form.addRow("Extra headers", self.headers)
        form.addRow(self.error)
        row = QHBoxLayout()
        for button in (self.save_button, self.flush_button, self.remove_headers):
            row.addWidget(button)
        row.addStretch(1)
        form.addRow(row)

        self.test_username, self.test_password, self.test_client_id = QLineEdit(), QLineEdit(), QLineEdit("test-1")
        self.test_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Run the CONNECT decision through the service (nothing is logged or changed)")
        self.test_button.clicked.connect(self.test)
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        test_box = QGroupBox("Test a CONNECT")
        test_form = QFormLayout(test_box)
        test_form.addRow("Username", self.test_username)
        test_form.addRow("Password", self.test_password)
        test_form.addRow("Client id", self.test_client_id)
        test_form.addRow(self.test_button)
        test_form.addRow(self.result)
        self._test_task: asyncio.Task[Decision] | None = None

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(settings_box)
        layout.addWidget(test_box, 1)
        self.auth_service = AuthServicePanel(context)
        layout.addWidget(self.auth_service)
        # three panels are taller than a laptop's window: they scroll rather than make the window that tall
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.load()

    def load(self) -> None:
        settings = self.context.store.settings.external()
        self.enabled.setChecked(settings.enabled)
        self.url.setText(settings.url)
        self.user_route.setText(settings.user_route)
        self.acl_route.setText(settings.acl_route)
        self.timeout.setText(f"{settings.timeout:g}")
        self.cache_seconds.setText(str(settings.cache_seconds))
        self.headers.clear()
        masked = settings.masked_headers()
        self.headers.setPlaceholderText("\n".join(masked) if masked else "Name: value, one a line (e.g. an API key)")

    def _entered(self, current: ExternalSettings) -> ExternalSettings:
        try:
            timeout, cache = float(self.timeout.text()), int(self.cache_seconds.text())
        except ValueError:
            raise MqttdeskError("the timeout and the cache time are numbers of seconds") from None
        typed = [line for line in self.headers.toPlainText().splitlines() if line.strip()]
        headers = tuple(parse_header(line) for line in typed) if typed else current.headers
        return replace(current, url=self.url.text().strip(), user_route=self.user_route.text().strip(),
                       acl_route=self.acl_route.text().strip(), timeout=timeout, cache_seconds=cache,
                       headers=headers, enabled=self.enabled.isChecked())

    def save(self) -> None:
        self.error.clear_error()
        settings_repo = self.context.store.settings
        try:
            settings_repo.set_external(self._entered(settings_repo.external()))
        except MqttdeskError as exc:
            self.error.show_error(str(exc))
            return
        self.context.show_message("external HTTP service settings saved")
        self.load()

    def _remove_headers(self) -> None:
        settings_repo = self.context.store.settings
        settings_repo.set_external(replace(settings_repo.external(), headers=()))
        self.load()

    def flush(self) -> None:
        self.context.store.settings.flush_external()
        self.context.show_message("cached answers of the external HTTP service forgotten")

    def test(self) -> None:
        """The decision a CONNECT with these values gets now, through the service (not logged, nothing changes)."""
        self.result.setPlainText("asking…")
        request = ConnectRequest(self.test_client_id.text().strip() or "test-1",
                                 self.test_username.text().strip() or None, self.test_password.text() or None)
        pipeline = self.context.service.pipeline
        before = pipeline.external.calls
        task = self.context.runner.start(pipeline.decide_connect(request), "testing the external HTTP service")
        self._test_task = task

        def show(done: asyncio.Task[Decision]) -> None:
            if done.cancelled() or done.exception() is not None:
                self.result.setPlainText(f"the test failed: {done.exception()!r}")
                return
            decision = done.result()
            source = "answered from the cache" if pipeline.external.calls == before else "the service was called"
            verdict = "allowed" if decision.allowed else f"refused ({decision.reason_code.value})"
            self.result.setPlainText("\n".join((f"{verdict}: {decision.reason.text}", f"({source})", "",
                                                *decision.steps)))

        task.add_done_callback(show)

    @property
    def result_text(self) -> str:
        return self.result.toPlainText()
