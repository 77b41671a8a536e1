"""A client's timeline: every connect, refusal, granted or denied subscription, denied publish and disconnect the
Auth log holds for one clientId, with counters, kept up to date while the dialog is open.

Opened from the Clients tab (a connected client) or from an Auth log row (a client that may be long gone).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLabel, QVBoxLayout, QWidget

from mqttdesk.broker.registry import SessionEvent
from mqttdesk.gui.decision_text import MUTED, escape
from mqttdesk.gui.formatting import format_duration, format_time, plural
from mqttdesk.gui.models.auth_log_model import OUTCOME_COLOR, Outcome
from mqttdesk.gui.models.timeline_model import DETAIL, EVENT, MAX_EVENTS, TIME, TOPIC, USERNAME, TimelineModel
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.tables import make_table, set_column_widths
from mqttdesk.store.auth_log_repo import AuthLogEntry, LogFilter

_COLUMN_WIDTHS = {TIME: 80, EVENT: 230, TOPIC: 190, USERNAME: 110}


def _plural_phrase(what: str) -> str:
    """"refused connect" → "refused connects", "subscription granted" → "subscriptions granted"."""
    words = what.split(" ")
    index = 0 if words[-1] == "granted" else len(words) - 1
    words[index] += "s"
    return " ".join(words)


class TimelineDialog(QDialog):
    def __init__(self, context: TabContext, client_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.client_id = client_id
        self.filter = LogFilter(exact_client_id=client_id)
        self.setWindowTitle(f"Timeline of client '{client_id}'")
        self.resize(1000, 520)
        self.presence = QLabel()
        self.presence.setWordWrap(True)
        self.presence.setTextFormat(Qt.TextFormat.RichText)
        self.counters = QLabel()
        self.counters.setWordWrap(True)
        self.model = TimelineModel(parent=self)
        self.table = make_table(self.model)
        set_column_widths(self.table, _COLUMN_WIDTHS)
        self.table.horizontalHeader().setSectionResizeMode(DETAIL, QHeaderView.ResizeMode.Stretch)
        self.limit_note = QLabel()
        self.limit_note.setStyleSheet(f"color: {MUTED};")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.presence)
        layout.addWidget(self.counters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.limit_note)
        layout.addWidget(buttons)

        entries = context.store.auth_log.query(self.filter, limit=MAX_EVENTS)
        self.model.replace(entries)
        self.table.setCurrentIndex(self.model.index(-1, -1))  # no focus frame on a cell nobody chose
        self.limit_note.setText(f"showing the latest {MAX_EVENTS} events" if len(entries) >= MAX_EVENTS else "")
        self.limit_note.setVisible(len(entries) >= MAX_EVENTS)
        context.bridge.auth_entries.connect(self.on_entries)
        context.bridge.session_events.connect(self.on_session_events)
        self._update_presence()
        self._update_counters()

    def on_entries(self, entries: list[AuthLogEntry]) -> None:
        mine = [entry for entry in entries if self.filter.matches(entry)]
        if mine:
            self.model.add_newer(mine)
            self._update_counters()

    def on_session_events(self, events: list[SessionEvent]) -> None:
        if any(event.client_id == self.client_id for event in events):
            self._update_presence()

    def _update_counters(self) -> None:
        parts = []
        for what, count, bad, detail in self.model.counters.items():
            color = OUTCOME_COLOR[Outcome.REFUSED] if bad and count else "inherit"
            noun = plural(count, what, _plural_phrase(what))
            number, _space, words = noun.partition(" ")
            extra = f" <span style='color:{MUTED};'>({escape(detail)})</span>" if detail else ""
            parts.append(f"<b style='color:{color};'>{number}</b> {escape(words)}{extra}")
        self.counters.setText("&nbsp;&nbsp;·&nbsp;&nbsp;".join(parts))

    def _update_presence(self) -> None:
        live = self.context.service.registry.get(self.client_id)
        if live is None:
            self.presence.setText(f"Client <b>'{escape(self.client_id)}'</b> is not connected now.")
            return
        who = f"as '{live.username}'" if live.username else "anonymously"
        since = format_time(live.connected_since, seconds=True)
        duration = format_duration(time.time() - live.connected_since)
        self.presence.setText(
            f"Client <b>'{escape(self.client_id)}'</b> is <span style='color:#1f7a3a;font-weight:600;'>connected"
            f"</span> {escape(who)} by {escape(live.method)} from {escape(live.address or '?')}, since {since} "
            f"({duration}), {plural(len(live.subscriptions), 'subscription')}.")
