"""Tasmota helpers: the role a Tasmota device needs in one click (its rules shown before it is created), and what
the device's console codes mean (`rc -2`, `rc 4` vs `rc 5`, `TLS connection error: 1/296/304`)."""

from __future__ import annotations

from collections.abc import Coroutine
from html import escape
from typing import Any

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.tasmota import (
    CLIENT_ID_TOPIC,
    RC_CODES,
    TLS_CODES,
    ConsoleCode,
    explain_console_line,
    tasmota_role_rules,
)
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.form_dialog import FormDialog
from mqttdesk.store.onboarding import create_tasmota_role


class TasmotaRoleDialog(FormDialog):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Tasmota role", "Create role", parent)
        self.setMinimumWidth(640)
        self.name = QLineEdit("tasmota")
        self.name_error = self.add_field("Role name", self.name)
        self.topic = QLineEdit(CLIENT_ID_TOPIC)
        self.topic.setToolTip("%c: each device's own clientId (the snippets set Topic DVES_%06X to match); or one "
                              "device's Tasmota topic")
        self.topic_error = self.add_field("Device topic", self.topic)
        self.discovery = QCheckBox("Home Assistant / Tasmota discovery (tasmota/discovery/#, homeassistant/#)")
        self.form.addRow("", self.discovery)
        self.rules = QLabel()
        self.rules.setWordWrap(True)
        self.form.addRow("Rules", self.rules)
        self.topic.textChanged.connect(self.show_rules)
        self.discovery.toggled.connect(self.show_rules)
        self.show_rules()

    def show_rules(self, *_args: object) -> None:
        try:
            rules = tasmota_role_rules(self.topic.text(), discovery=self.discovery.isChecked())
        except ValueError as exc:
            self.rules.setText(escape(str(exc)))
            return
        self.rules.setText("<br>".join(f"allow <b>{r.permission.value}</b> <code>{escape(r.topic_filter)}</code> — "
                                       f"{escape(r.why)}" for r in rules))

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        name, topic, discovery = self.name.text().strip(), self.topic.text().strip(), self.discovery.isChecked()
        try:
            tasmota_role_rules(topic, discovery=discovery)
        except ValueError as exc:
            self.topic_error.show_error(str(exc))
            return None
        if not name:
            self.name_error.show_error("name the role")
            return None

        async def create() -> str:
            create_tasmota_role(self.context.store, name, topic, discovery=discovery)
            return name

        return create()

    def show_store_error(self, exc: MqttdeskError) -> None:
        self.name_error.show_error(str(exc))  # the name is taken or not a valid name


def code_html(code: ConsoleCode) -> str:
    causes = "".join(f"<li>{escape(cause)}</li>" for cause in code.causes)
    return f"<p><b>{escape(code.shown)}</b>: {escape(code.meaning)}</p><ul>{causes}</ul>"


class ConsoleCodesDialog(QDialog):
    """Paste a line of the Tasmota console; the known codes are listed below."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("What the device's console says")
        self.setMinimumWidth(620)
        self.line = QLineEdit()
        self.line.setPlaceholderText("e.g. MQT: Connect failed to 192.168.1.10:1883, rc 4. Retry in 10 sec")
        self.answer = QLabel("Paste a line from the Tasmota console (Console or Web log) above.")
        self.answer.setWordWrap(True)
        self.line.textChanged.connect(self.explain)
        known = "".join(code_html(code) for code in (RC_CODES[-2], RC_CODES[4], RC_CODES[5], *TLS_CODES.values()))
        table = QLabel("<p>mqttdesk answers <b>4</b> for a wrong password and <b>5</b> for a credential that may "
                       "not connect (Mosquitto answers 5 for both). A failed TLS handshake is in the Auth log "
                       "(tls-handshake-failed) with the device's address.</p>" + known)
        table.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.line)
        layout.addWidget(self.answer)
        layout.addWidget(table)
        layout.addWidget(buttons)

    def explain(self, text: str) -> None:
        code = explain_console_line(text)
        self.answer.setText(code_html(code) if code else "No known code in that line (look for 'rc N' or "
                            "'TLS connection error: N').")
