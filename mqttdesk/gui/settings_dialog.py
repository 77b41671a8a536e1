"""File → Settings…: the listeners (their own dialog, which restarts only the listeners that changed), the delivery
and connection limits, notifications, and what closing the window does when there is a tray.

Limits are the same settings as `mqttdesk config set max_*` and apply from the next broker start; notifications and
the tray apply at once. Nothing is saved until every field is valid.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QSpinBox, QWidget

from mqttdesk.core.limits import MIB
from mqttdesk.gui.tray import CLOSE_TO_TRAY
from mqttdesk.gui.widgets.form_dialog import FormDialog
from mqttdesk.gui.window_state import flag

if TYPE_CHECKING:
    from mqttdesk.gui.main_window import MainWindow

# field: (label, lowest, highest, tooltip)
LIMITS: dict[str, tuple[str, int, int, str]] = {
    "max_inflight": ("In flight per client", 1, 65535, "Unacknowledged QoS 1/2 messages per client"),
    "max_queued": ("Queued per client", 0, 10_000_000, "Further QoS 1/2 messages held per client, connected or away"),
    "max_pending": ("Connections waiting", 1, 1_000_000, "Connections that may wait for their CONNECT at once"),
    "max_incoming_qos2_mib": ("QoS 2 bytes held (MiB)", 1, 1024,
                              "Payload of QoS 2 messages received but not released yet, per client"),
}


def _spin(lowest: int, highest: int, value: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lowest, highest)
    spin.setValue(value)
    spin.setToolTip(tip)
    spin.setGroupSeparatorShown(True)
    return spin


class SettingsDialog(FormDialog):
    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(window.context, "Settings", "Save", parent or window)
        self._window = window
        store = self.context.store
        listeners = QPushButton("Listeners…")
        listeners.setToolTip("TCP, TLS, WebSocket: which run, on which ports (only those you change restart)")
        listeners.clicked.connect(window.broker_bar.edit_listeners)
        self.form.addRow("Listeners", listeners)
        self.form.addRow(QLabel("<b>Limits</b> (apply when the broker starts next)"))
        session, admission = store.settings.session_limits(), store.settings.admission_limits()
        values = {"max_inflight": session.max_inflight, "max_queued": session.max_queued,
                  "max_pending": admission.max_pending, "max_incoming_qos2_mib": session.max_incoming_qos2_bytes // MIB}
        self.limits: dict[str, QSpinBox] = {}
        for field, (label, lowest, highest, tip) in LIMITS.items():
            self.limits[field] = _spin(lowest, highest, values[field], tip)
            self.add_field(label, self.limits[field])
        self.form.addRow(QLabel("<b>Desktop</b>"))
        self.notify_box = QCheckBox("Notify on refusals and forced disconnects (at most one every 10 seconds)")
        self.notify_box.setChecked(window.auth_debugging.notifier.enabled)
        self.form.addRow(self.notify_box)
        self.tray_box = QCheckBox("Closing the window keeps the broker running in the tray")
        self.tray_box.setChecked(bool(flag(window.settings, CLOSE_TO_TRAY)))
        self.tray_box.setEnabled(window.tray.available)
        if not window.tray.available:
            self.tray_box.setToolTip("This desktop shows no tray icons: closing the window quits")
        self.form.addRow(self.tray_box)

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        return self._save()

    async def _save(self) -> str:
        store = self.context.store
        session = replace(store.settings.session_limits(), max_inflight=self.limits["max_inflight"].value(),
                          max_queued=self.limits["max_queued"].value(),
                          max_incoming_qos2_bytes=self.limits["max_incoming_qos2_mib"].value() * MIB)
        admission = replace(store.settings.admission_limits(), max_pending=self.limits["max_pending"].value())
        with store.write():
            store.settings.set_session_limits(session)
            store.settings.set_admission_limits(admission)
        self._window.auth_debugging.notifier.set_enabled(self.notify_box.isChecked())
        self._window.auth_debugging.notify_toggle.setChecked(self.notify_box.isChecked())
        if self.tray_box.isEnabled():
            self._window.settings.setValue(CLOSE_TO_TRAY, self.tray_box.isChecked())
            self._window.settings.sync()
        return "settings saved"
