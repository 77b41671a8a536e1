"""The status bar's word on password guessing: "Under a password-guessing attack: 312 refusals from 20 addresses in
the last minute", in red, while the login guard counts that many refusals (failed logins, throttled and banned
attempts) in its window; nothing otherwise.

The figure decays with time, not with events, so it is read on a timer (an in-memory count: no store access).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from mqttdesk.broker.service import BrokerService
from mqttdesk.gui.widgets.field_error import ERROR_COLOR

REFRESH_MS = 1000


class AttackStatus(QLabel):
    def __init__(self, service: BrokerService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._service = service
        self.setObjectName("attack_status")
        self.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: 600;")
        self.setContentsMargins(0, 0, 12, 0)  # room before the client count next to it
        self.setToolTip("Refusals of the last minute: wrong passwords and unknown usernames, and attempts the login "
                        "guard throttled or refused as banned (see the Banned tab)")
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)
        self.refresh()

    def refresh(self) -> None:
        attack = self._service.guard.attack()
        self.setText("" if attack is None else attack.sentence())
        # a crowded status bar squeezes its widgets: this sentence is the one that must be read whole
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance(self.text()) + 20)
        self.setVisible(attack is not None)
