"""Wires the auth-debugging pieces that live outside the tabs into the main window, in one call.

The status bar counters (click: Auth log, refusals only), the Tools menu (Test access…, notifications on or off)
and the notifier. Kept here so `main_window.py`, which every tab touches, only needs one line for all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QStatusBar

from mqttdesk.gui.auth_log_tab import AuthLogTab
from mqttdesk.gui.auth_status import AuthCounters, AuthStatusWidgets
from mqttdesk.gui.notifier import RefusalNotifier
from mqttdesk.gui.tab_context import TabContext

AUTH_LOG_TITLE = "Auth log"


class PoliteFlash:
    """Shows the notifier's status-bar line, but never over a message that is still on screen.

    The message there answers something the user just did ("kicked 'lamp-1'"); the summary of refusals waits
    until it is gone instead of replacing it a tenth of a second later.
    """

    def __init__(self, bar: QStatusBar, show: Callable[[str], None]) -> None:
        self._bar = bar
        self._show = show
        self._waiting: str | None = None
        bar.messageChanged.connect(self._message_changed)

    def __call__(self, text: str) -> None:
        if self._bar.currentMessage():
            self._waiting = text
        else:
            self._show(text)

    def _message_changed(self, message: str) -> None:
        if not message and self._waiting is not None:
            text, self._waiting = self._waiting, None
            self._show(text)


@dataclass(frozen=True)
class AuthDebugging:
    counters: AuthCounters
    status: AuthStatusWidgets
    notifier: RefusalNotifier
    test_access: QAction
    notify_toggle: QAction


def install_auth_debugging(window: QMainWindow, context: TabContext, auth_log: AuthLogTab) -> AuthDebugging:
    def open_refusals() -> None:
        window.tabs.setCurrentWidget(auth_log)  # type: ignore[attr-defined]
        auth_log.show_refusals()

    counters = AuthCounters(context.store, parent=window)
    status = AuthStatusWidgets(counters, open_refusals, window)
    window.statusBar().addPermanentWidget(status.refused_button)
    window.statusBar().addPermanentWidget(status.forced_label)
    flash = PoliteFlash(window.statusBar(), context.show_message)
    notifier = RefusalNotifier(context.store, flash, window.windowIcon(), parent=window)
    context.bridge.auth_entries.connect(counters.on_entries)
    context.bridge.auth_entries.connect(notifier.on_entries)

    tools = window.menuBar().addMenu("&Tools")
    test_access = QAction("&Test access…", window)
    test_access.setShortcut(QKeySequence("Ctrl+T"))
    test_access.setStatusTip("Would a username, password and clientId get in? A dry run of the broker's decision")
    test_access.triggered.connect(lambda: auth_log.open_explainer(
        auth_log.selected_entry() if window.tabs.currentWidget() is auth_log else None))  # type: ignore[attr-defined]
    tools.addAction(test_access)
    tools.addSeparator()
    notify_toggle = QAction("&Notify on refusals and forced disconnects", window)
    notify_toggle.setCheckable(True)
    notify_toggle.setChecked(notifier.enabled)
    notify_toggle.setStatusTip("A desktop notification (or a status bar message) at most every 10 seconds")
    notify_toggle.toggled.connect(notifier.set_enabled)
    tools.addAction(notify_toggle)
    return AuthDebugging(counters, status, notifier, test_access, notify_toggle)
