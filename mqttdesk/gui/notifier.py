"""Notifications on refusals and forced disconnects: a desktop notification where the desktop has a system tray,
a status-bar flash otherwise; at most one per `COOLDOWN_SECONDS`, the rest summarised in the next one.

A reconnect storm of a misconfigured device must not become a storm of pop-ups: the first event after a quiet spell
is shown at once, everything within the cool-down is collected and shown as one summary when it ends
("3 refused: 'lamp' …"). On or off is a setting in the store (`NOTIFY_SETTING`), so it survives a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QSystemTrayIcon

from mqttdesk.core.states import CredentialState
from mqttdesk.gui.auth_status import is_refusal
from mqttdesk.gui.formatting import plural, reason_phrase
from mqttdesk.gui.widgets.state_badge import state_icon
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store

NOTIFY_SETTING = "gui.notify_on_refusals"
COOLDOWN_SECONDS = 10.0
_LISTED = 3

Flash = Callable[[str], None]


def _who(entry: AuthLogEntry) -> str:
    if entry.username:
        return f"'{entry.username}' ({entry.client_id})" if entry.client_id else f"'{entry.username}'"
    return f"client '{entry.client_id}'" if entry.client_id else "a client"


def summarise(entries: Sequence[AuthLogEntry]) -> tuple[str, str]:
    """(title, message) for a batch, e.g. ("2 refused, 1 forced disconnect", "'lamp' (lamp-1): user 'lamp' is …")."""
    refused = [entry for entry in entries if is_refusal(entry)]
    forced = [entry for entry in entries if entry.forced_end]
    parts = []
    if refused:
        parts.append(f"{len(refused)} refused")
    if forced:
        parts.append(plural(len(forced), "forced disconnect"))
    shown = (refused + forced)[:_LISTED]
    lines = [f"{_who(entry)}: {entry.reason}" for entry in shown]
    rest = len(refused) + len(forced) - len(shown)
    if rest:
        lines.append(f"… and {rest} more: see the Auth log")
    return ", ".join(parts), "\n".join(lines)


def flash_text(title: str, latest: AuthLogEntry) -> str:
    """One short status-bar line (it shares the bar with the counters, so no long sentence)."""
    # short enough not to run into the permanent counters on the right (the counter opens the Auth log)
    return f"⚠ {title} — {_who(latest)}: {reason_phrase(latest.reason_code)}"


class RefusalNotifier(QObject):
    def __init__(self, store: Store, flash: Flash, icon: QIcon | None = None, *,
                 clock: Callable[[], float] = time.monotonic, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._flash = flash
        self._clock = clock
        self._icon = icon if icon is not None and not icon.isNull() else state_icon(CredentialState.REVOKED)
        self._pending: list[AuthLogEntry] = []
        self._last_sent: float | None = None
        self._tray: QSystemTrayIcon | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._send)
        self.sent: list[tuple[str, str]] = []  # what was shown, newest last (the GUI tests read it)

    def use_tray(self, tray: QSystemTrayIcon) -> None:
        """Show notifications from the app's tray icon (else one is made for them)."""
        self._tray = tray

    @property
    def enabled(self) -> bool:
        return bool(self._store.settings.get(NOTIFY_SETTING, True))

    def set_enabled(self, enabled: bool) -> None:
        if enabled != self.enabled:
            self._store.settings.set(NOTIFY_SETTING, enabled)
        if not enabled:
            self._pending.clear()
            self._timer.stop()

    def on_entries(self, entries: list[AuthLogEntry]) -> None:
        relevant = [entry for entry in entries if is_refusal(entry) or entry.forced_end]
        if not relevant or not self.enabled:
            return
        self._pending.extend(relevant)
        if self._timer.isActive():
            return
        since = None if self._last_sent is None else self._clock() - self._last_sent
        if since is None or since >= COOLDOWN_SECONDS:
            self._send()
        else:
            self._timer.start(int((COOLDOWN_SECONDS - since) * 1000))

    def _send(self) -> None:
        if not self._pending:
            return
        title, message = summarise(self._pending)
        latest = self._pending[-1]
        self._pending.clear()
        self._last_sent = self._clock()
        self.sent.append((title, message))
        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            if self._tray is None:
                self._tray = QSystemTrayIcon(self._icon, self)
                self._tray.setToolTip("mqttdesk")
            self._tray.show()
            self._tray.showMessage(f"mqttdesk: {title}", message, self._icon, 8000)
        else:
            self._flash(flash_text(title, latest))
