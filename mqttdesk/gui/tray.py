"""The tray icon: the broker's state (listening / stopped / error) as its icon, the counts (connected, refused in
the last minute) in its tooltip, and a menu to show the window, start and stop the broker, and quit.

Closing the window may keep the broker running in the tray: asked once, the answer remembered
(`CLOSE_TO_TRAY` in window.ini); Quit, here or in the File menu, always stops the broker and ends mqttdesk. Where
the desktop has no tray, closing the window quits, as before.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from mqttdesk.broker.service import BrokerState, BrokerStatus
from mqttdesk.gui.auth_status import is_refusal
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.icons import action_icon, icon
from mqttdesk.store.auth_log_repo import AuthLogEntry

if TYPE_CHECKING:
    from mqttdesk.gui.main_window import MainWindow

CLOSE_TO_TRAY = "tray/close_to_tray"
REFUSED_WINDOW = 60.0  # seconds: "refused in the last minute"
_STATE_ICONS = {BrokerState.LISTENING: "broker-listening", BrokerState.ERROR: "broker-error"}


def broker_icon(state: BrokerState) -> QIcon:
    return icon(_STATE_ICONS.get(state, "broker-stopped"))


class BrokerTray(QObject):
    def __init__(self, window: MainWindow, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(window)
        self._window = window
        self._clock = clock
        self._refusals: deque[float] = deque()
        self._shown_state: BrokerState | None = None
        self.icon = QSystemTrayIcon(broker_icon(window.service.status.state), self)
        self.menu = QMenu()
        self.show_action = self._add("Show mqttdesk", window.show_window)
        self.menu.addSeparator()
        self.start_action = self._add("Start the broker", window.broker_bar.start, "start")
        self.stop_action = self._add("Stop the broker", window.broker_bar.stop, "stop")
        self.menu.addSeparator()
        self.quit_action = self._add("Quit", window.quit, "quit")
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self._decay = QTimer(self)
        self._decay.setSingleShot(True)
        self._decay.timeout.connect(self.update)
        window.bridge.status_changed.connect(lambda _status: self.update())
        window.bridge.session_events.connect(lambda _events: self.update())
        window.bridge.auth_entries.connect(self.on_entries)
        self.update()
        if self.available:
            self.icon.show()

    def _add(self, text: str, slot: Callable[[], object], icon_name: str | None = None) -> QAction:
        action = self.menu.addAction(text)
        if icon_name is not None:
            action.setIcon(action_icon(icon_name))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    @property
    def available(self) -> bool:
        """Whether the desktop shows tray icons (not offscreen, not every Wayland compositor)."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def on_entries(self, entries: list[AuthLogEntry]) -> None:
        now = self._clock()
        self._refusals.extend(now for entry in entries if is_refusal(entry))
        self.update()

    @property
    def refused_last_minute(self) -> int:
        cutoff = self._clock() - REFUSED_WINDOW
        while self._refusals and self._refusals[0] < cutoff:
            self._refusals.popleft()
        return len(self._refusals)

    def tooltip(self) -> str:
        status: BrokerStatus = self._window.service.status
        connected = len(self._window.service.registry)
        return (f"mqttdesk — {status.describe()}\n{plural(connected, 'client')} connected · "
                f"{self.refused_last_minute} refused in the last minute")

    def update(self) -> None:
        state = self._window.service.status.state
        if state is not self._shown_state:  # session events come in storms: the icon changes with the state only
            self._shown_state = state
            self.icon.setIcon(broker_icon(state))
        self.icon.setToolTip(self.tooltip())
        self.start_action.setEnabled(state in (BrokerState.STOPPED, BrokerState.ERROR))
        self.stop_action.setEnabled(state is BrokerState.LISTENING)
        if self._refusals:  # the count goes down as the minute passes: look again when the oldest one leaves it
            self._decay.start(max(100, int((self._refusals[0] + REFUSED_WINDOW - self._clock()) * 1000) + 50))

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self._window.show_window()

    def close(self) -> None:
        self._decay.stop()
        self.icon.hide()
