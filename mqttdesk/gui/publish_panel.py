"""Publish a test message as a chosen identity, through exactly that identity's permissions.

`BrokerService.publish_as` acts as the user (or an anonymous client) without its password, decides the PUBLISH
like the broker would, records the decision in the Auth log, and routes the message only when it is allowed. So
"my sensor cannot publish to x" is reproduced here in one click, and the refusal says which rule or role is missing.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from mqttdesk.broker.service import BrokerState
from mqttdesk.core.decision import Decision
from mqttdesk.gui.decision_text import colored, escape
from mqttdesk.gui.models.auth_log_model import Outcome
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.store.changes import Change, ChangeKind

ANONYMOUS = "(anonymous)"
DEFAULT_CLIENT_ID = "mqttdesk-test"


class PublishPanel(QGroupBox):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__("Publish a test message as…", parent)
        self.context = context
        self.identity = QComboBox()
        self.identity.setEditable(True)
        self.identity.setToolTip("A user or bootstrap credential name, or (anonymous): the message goes through its "
                                 "permissions, without its password")
        self.client_id = QLineEdit(DEFAULT_CLIENT_ID)
        self.client_id.setToolTip("Patterns like %c in rules expand to this clientId")
        self.topic = QLineEdit()
        self.topic.setPlaceholderText("e.g. home/kitchen/light")
        self.payload = QLineEdit()
        self.payload.setPlaceholderText('text or JSON, e.g. {"on": true}')
        self.qos = QComboBox()
        self.qos.addItems(["QoS 0", "QoS 1", "QoS 2"])
        self.retain = QCheckBox("Retain")
        self.publish_button = QPushButton("Publish")
        self.publish_button.clicked.connect(self.publish)
        self.payload.returnPressed.connect(self.publish)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.last_decision: Decision | None = None

        grid = QGridLayout(self)
        grid.addWidget(QLabel("Identity"), 0, 0)
        grid.addWidget(self.identity, 0, 1)
        grid.addWidget(QLabel("Client id"), 0, 2)
        grid.addWidget(self.client_id, 0, 3)
        grid.addWidget(self.qos, 0, 4)
        grid.addWidget(self.retain, 0, 5)
        grid.addWidget(QLabel("Topic"), 1, 0)
        grid.addWidget(self.topic, 1, 1)
        grid.addWidget(QLabel("Payload"), 1, 2)
        grid.addWidget(self.payload, 1, 3)
        grid.addWidget(self.publish_button, 1, 4, 1, 2)
        grid.addWidget(self.result, 2, 0, 1, 6)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(3, 3)
        self._fill_identities()
        context.bridge.store_changed.connect(self._store_changed)

    def _store_changed(self, changes: tuple[Change, ...]) -> None:
        if any(change.kind in (ChangeKind.USER, ChangeKind.BOOTSTRAP) for change in changes):
            self._fill_identities()

    def _fill_identities(self) -> None:
        current = self.identity.currentText()
        store = self.context.store
        names = [user.name for user in store.users.list()] + [b.name for b in store.bootstraps.list()]
        self.identity.blockSignals(True)
        self.identity.clear()
        self.identity.addItem(ANONYMOUS)
        self.identity.addItems(sorted(set(names)))
        self.identity.setCurrentText(current or ANONYMOUS)
        self.identity.blockSignals(False)

    def set_identity(self, username: str | None) -> None:
        self.identity.setCurrentText(username or ANONYMOUS)

    def publish(self) -> Decision:
        name = self.identity.currentText().strip()
        username = None if name in ("", ANONYMOUS) else name
        client_id = self.client_id.text().strip() or DEFAULT_CLIENT_ID
        topic = self.topic.text().strip()
        decision = self.context.service.publish_as(username, client_id, topic, self.payload.text().encode("utf-8"),
                                                   self.qos.currentIndex(), self.retain.isChecked())
        self.last_decision = decision
        self.result.setText(self.describe(decision, username))
        return decision

    def describe(self, decision: Decision, username: str | None) -> str:
        who = f"'{username}'" if username else "an anonymous client"
        if not decision.allowed:
            why = f"<b>Why:</b> {escape(decision.reason.text)}."
            if decision.topic is None:  # the identity itself is refused: publish_as logs no topic decision then
                return (f"{colored('✗ Refused', Outcome.REFUSED)}: {escape(who)} is refused before any topic is "
                        f"checked. {why} Nothing was delivered.")
            return (f"{colored('✗ Refused', Outcome.REFUSED)}: {escape(who)} may not publish to "
                    f"'{escape(decision.topic)}'. {why} Nothing was delivered; the Auth log has this refusal with "
                    "its decision path and a suggested fix.")
        if self.context.service.status.state is not BrokerState.LISTENING:
            return (f"{colored('✓ Allowed', Outcome.ALLOWED)}, but the broker is not running: nothing was "
                    f"delivered. ({escape(decision.reason.text)})")
        return f"{colored('✓ Published', Outcome.ALLOWED)} as {escape(who)}: {escape(decision.reason.text)}"
