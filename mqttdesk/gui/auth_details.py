"""The details of one Auth log row: what happened, why, the decision path step by step, and what to change.

The fix is derived from the stored entry and judged against the store as it is now (`suggest_fix_for_entry`), so a
row whose cause was fixed meanwhile offers no stale button; it is recomputed when the store changes.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from mqttdesk.core.clip import CLIP_LENGTH, clipped_length
from mqttdesk.core.decision import Kind
from mqttdesk.core.fixes import Fix, suggest_fix_for_entry
from mqttdesk.core.tasmota import console_line_for
from mqttdesk.gui.decision_text import MUTED, client_answer, colored, escape, path_html, who_html
from mqttdesk.gui.fix_panel import FixPanel
from mqttdesk.gui.formatting import format_time
from mqttdesk.gui.models.auth_log_model import OUTCOME_SYMBOL, Outcome, outcome_of, repeat_text
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.store.auth_log_repo import SESSION_END_KINDS, AuthLogEntry

_HEADLINE = {Outcome.ALLOWED: "allowed", Outcome.REFUSED: "refused", Outcome.ENDED: "session ended",
             Outcome.FORCED: "session ended by the broker"}


def fix_for(entry: AuthLogEntry, context: TabContext) -> Fix | None:
    if entry.allowed:
        return None
    if any(clipped_length(value) is not None for value in (entry.client_id, entry.username, entry.topic)):
        return None  # a fix must name the real value, and the log keeps only its start
    return suggest_fix_for_entry(entry.kind, entry.reason_code, entry.client_id, entry.username, entry.topic,
                                 context.service.pipeline.directory, reason=entry.reason)


def entry_html(entry: AuthLogEntry) -> str:
    """Headline, who, why (and what the client was told), then the numbered decision path."""
    outcome = outcome_of(entry)
    ended_by_client = outcome is Outcome.REFUSED and entry.kind in SESSION_END_KINDS  # it broke the protocol
    headline_text = "session ended: the client broke the protocol" if ended_by_client else _HEADLINE[outcome]
    stamp = escape(repeat_text(entry) or format_time(entry.time, seconds=True))
    headline = (f"<p style='font-size:large; margin-bottom:4px;'>{colored(OUTCOME_SYMBOL[outcome], outcome)} "
                f"<b>{escape(entry.kind)}</b> {colored(headline_text, outcome)}"
                f"&nbsp;&nbsp;<span style='color:{MUTED}; font-size:medium;'>{stamp}</span></p>")
    topic = f" · topic <b>'{escape(entry.topic)}'</b>" if entry.topic else ""
    who = who_html(entry.client_id, entry.username, entry.method, entry.address, entry.protocol)
    clipped = [f"{what} ({length:,} characters)" for what, length in (
        ("clientId", clipped_length(entry.client_id)), ("username", clipped_length(entry.username)),
        ("topic", clipped_length(entry.topic))) if length is not None]
    note = (f"<br><span style='color:{MUTED};'>The client sent an overlong {', '.join(clipped)}: the first "
            f"{CLIP_LENGTH} characters are kept, here and in the steps.</span>") if clipped else ""
    who = f"<p style='margin-top:0;'>{who}{topic}{note}</p>"
    answer = client_answer(entry.kind, entry.reason_code, entry.allowed)
    told = f"<br><span style='color:{MUTED};'>{escape(answer)}</span>" if answer else ""
    console = console_line_for(entry.reason_code, entry.allowed) if entry.kind == Kind.CONNECT.value else None
    if console:  # what a hobbyist looks at first: the device's own console
        told += f"<br><span style='color:{MUTED};'>A Tasmota console shows this as {escape(console)}.</span>"
    why = (f"<p><b>Why:</b> {escape(entry.reason)} <span style='color:{MUTED};'>(reason code "
           f"<code>{escape(entry.reason_code)}</code>)</span>{told}</p>")
    path = "<p style='margin-bottom:0;'><b>Decision path</b></p>" + path_html([("", entry.steps)])
    return headline + who + why + path


class AuthDetailsPane(QWidget):
    """Shows one entry; `timeline_requested` lets the tab open the client's timeline (Test access… is the tab's own
    button, prefilled from the selected row: one button for it, not two)."""

    timeline_requested = Signal(str)  # clientId

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.entry: AuthLogEntry | None = None
        # one scrolling document for the explanation (a long path scrolls; the fix and buttons stay in view)
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.setFrameShape(QTextBrowser.Shape.NoFrame)
        self.text.document().setDocumentMargin(8)
        self.no_fix = QLabel()
        self.no_fix.setWordWrap(True)
        self.no_fix.setStyleSheet(f"color: {MUTED};")
        self.fix_panel = FixPanel(context)
        self.timeline_button = QPushButton("Client timeline…")
        self.timeline_button.setToolTip("Everything the Auth log knows about this clientId: connects, refusals, "
                                        "denied topics, disconnects")
        self.timeline_button.clicked.connect(
            lambda: self.entry and self.entry.client_id and self.timeline_requested.emit(self.entry.client_id))

        buttons = QHBoxLayout()
        buttons.addWidget(self.timeline_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.fix_panel)
        layout.addWidget(self.no_fix)
        layout.addLayout(buttons)
        context.bridge.store_changed.connect(lambda _changes: self._refresh_fix())
        self.show_entry(None)

    def show_entry(self, entry: AuthLogEntry | None) -> None:
        self.entry = entry
        self.timeline_button.setVisible(entry is not None)
        if entry is None:
            self.text.setHtml(f"<p style='color:{MUTED};'>Select a row to see why it was decided that way, step by "
                              "step, and what to change.</p>")
            self.fix_panel.set_fix(None)
            self.no_fix.setVisible(False)
            return
        self.text.setHtml(entry_html(entry))
        self.fix_panel.set_fix(None)  # forget what was done for the previous row
        self.timeline_button.setEnabled(bool(entry.client_id))
        self._refresh_fix()

    def _refresh_fix(self) -> None:
        """After any store change: the fix may have been applied (here, or from the CLI) or become different."""
        entry = self.entry
        if entry is None:
            return
        if self.fix_panel.applied_message is not None:
            return  # keep showing what was just done until another row is selected
        fix = fix_for(entry, self.context)
        self.fix_panel.set_fix(fix)
        refused = not entry.allowed and entry.kind in ("CONNECT", "SUBSCRIBE", "PUBLISH")
        self.no_fix.setVisible(refused and fix is None)
        self.no_fix.setText("No suggested fix: nothing in the current settings refuses this for the same reason any "
                            "more (it was changed since), or it has no automatic fix. Test access… (above the table) "
                            "shows how it would be decided now.")
