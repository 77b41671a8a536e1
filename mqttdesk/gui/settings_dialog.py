"""File → Settings…: the listeners (their own dialog, which restarts only the listeners that changed), the delivery
and connection limits, the broker's bounds, persistence, notifications, and what closing the window does when there
is a tray.

Limits and persistence are the same settings as `mqttdesk config set max_*` / `persistence` and apply from the next
broker start; notifications and the tray apply at once. Nothing is saved until every field is valid.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QSpinBox, QWidget

from mqttdesk.core.limits import MIB, MQTT_MAX_PACKET_SIZE
from mqttdesk.gui.tray import CLOSE_TO_TRAY
from mqttdesk.gui.widgets.form_dialog import FormDialog
from mqttdesk.gui.window_state import flag

if TYPE_CHECKING:
    from mqttdesk.gui.main_window import MainWindow

# field: (label, lowest, highest, tooltip, whether 0 means no limit)
LIMITS: dict[str, tuple[str, int, int, str, bool]] = {
    "max_inflight": ("In flight per client", 1, 65535, "Unacknowledged QoS 1/2 messages per client", False),
    "max_queued": ("Queued per client", 0, 10_000_000, "Further QoS 1/2 messages held per client, connected or away",
                   False),
    "max_pending": ("Connections waiting", 1, 1_000_000, "Connections that may wait for their CONNECT at once", False),
    "max_incoming_qos2_mib": ("QoS 2 bytes held (MiB)", 1, 1024,
                              "Payload of QoS 2 messages received but not released yet, per client", False),
    "max_packet_mib": ("Largest packet (MiB)", 1, 255, "A client sending a larger packet is disconnected (MQTT 5: "
                       "announced as Maximum Packet Size)", False),
    "max_connections": ("Connections in all", 0, 10_000_000, "Clients connected at once", True),
    "max_connections_per_address": ("Connections per address", 0, 10_000_000,
                                    "Clients connected at once from one address", True),
    "max_retained_messages": ("Retained messages", 0, 1_000_000_000, "Topics with a retained message", True),
    "max_retained_mib": ("Retained bytes (MiB)", 0, 65536, "Topics and payloads of the retained messages", True),
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
        broker = store.settings.broker_limits()
        values = {"max_inflight": session.max_inflight, "max_queued": session.max_queued,
                  "max_pending": admission.max_pending, "max_incoming_qos2_mib": session.max_incoming_qos2_bytes // MIB,
                  "max_packet_mib": max(1, session.max_packet_size // MIB),
                  "max_connections": broker.max_connections,
                  "max_connections_per_address": broker.max_connections_per_address,
                  "max_retained_messages": broker.max_retained_messages,
                  "max_retained_mib": broker.max_retained_bytes // MIB}
        self.limits: dict[str, QSpinBox] = {}
        for field, (label, lowest, highest, tip, zero_is_no_limit) in LIMITS.items():
            self.limits[field] = _spin(lowest, highest, values[field], tip + ("; 0: no limit" if zero_is_no_limit
                                                                               else ""))
            if zero_is_no_limit:
                self.limits[field].setSpecialValueText("no limit")
            self.add_field(label, self.limits[field])
        self.persistence_box = QCheckBox("Keep retained messages and persistent sessions across restarts")
        self.persistence_box.setChecked(store.settings.persistence())
        self.persistence_box.setToolTip("Written to sessions.sqlite in the data directory about every half second")
        self.form.addRow(self.persistence_box)
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
                          max_incoming_qos2_bytes=self.limits["max_incoming_qos2_mib"].value() * MIB,
                          max_packet_size=min(MQTT_MAX_PACKET_SIZE, self.limits["max_packet_mib"].value() * MIB))
        admission = replace(store.settings.admission_limits(), max_pending=self.limits["max_pending"].value())
        broker = replace(store.settings.broker_limits(), max_connections=self.limits["max_connections"].value(),
                         max_connections_per_address=self.limits["max_connections_per_address"].value(),
                         max_retained_messages=self.limits["max_retained_messages"].value(),
                         max_retained_bytes=self.limits["max_retained_mib"].value() * MIB)
        with store.write():
            store.settings.set_session_limits(session)
            store.settings.set_admission_limits(admission)
            store.settings.set_broker_limits(broker)
            store.settings.set_persistence(self.persistence_box.isChecked())
        self._window.auth_debugging.notifier.set_enabled(self.notify_box.isChecked())
        self._window.auth_debugging.notify_toggle.setChecked(self.notify_box.isChecked())
        if self.tray_box.isEnabled():
            self._window.settings.setValue(CLOSE_TO_TRAY, self.tray_box.isChecked())
            self._window.settings.sync()
        return "settings saved"
