"""The Clients tab: who is connected right now, how, since when, what they subscribe to; kick one.

Persistent sessions kept for clients that are away are listed too, greyed, as "offline since …" with their queued
messages; Discard session drops one and releases its clientId (only its own identity may resume it otherwise).

A session ended by someone else (a kick, a credential suspended, revoked, deleted or given a new password, a
take-over) leaves a brief notice over the table saying who and why, read from the Auth log entries as they are
stored: those say whether an end was forced, which the registry's disconnect event does not.

Under the bar, a line counts what the broker's limits refused or dropped since the app started ("refused: 3 over
the connection limit · dropped: 12 retained over the limit"), read from the registry once a second (a drop happens
per message: announcing each one would cost more than the message).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.broker.registry import LiveSession
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.models.clients_model import (
    ADDRESS,
    CLEAN_SESSION,
    CLIENT_ID,
    CONNECTED_SINCE,
    DEVICE,
    MESSAGES_IN,
    MESSAGES_OUT,
    METHOD,
    PROTOCOL,
    SUBSCRIPTIONS,
    USERNAME,
    ClientsTableModel,
)
from mqttdesk.gui.models.forced_disconnects import forced_notices
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.timeline_dialog import TimelineDialog
from mqttdesk.gui.widgets.confirm import ask_confirmation
from mqttdesk.gui.widgets.notice_stack import NoticeStack
from mqttdesk.gui.widgets.tables import make_table, select_row, selected_row, set_column_widths
from mqttdesk.store.auth_log_repo import AuthLogEntry

# the client id column stretches; the others get what their content usually needs (no ResizeToContents: with
# a thousand rows it would measure every cell on each change)
_COLUMN_WIDTHS = {USERNAME: 125, METHOD: 170, PROTOCOL: 60, ADDRESS: 100, CONNECTED_SINCE: 160, CLEAN_SESSION: 50,
                  SUBSCRIPTIONS: 60, MESSAGES_IN: 60, MESSAGES_OUT: 60, DEVICE: 220}
LONGEST_METHOD = "bootstrap (registered)"  # the Method column fits it whatever the font
LIMITS_REFRESH_MS = 1000


class ClientsTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.model = ClientsTableModel(context.service.registry, self, context.service.devices.book)
        context.bridge.session_events.connect(self.model.on_session_events)
        context.bridge.device_changed.connect(self.model.on_device_changed)

        self.kick_button = QPushButton("Kick")
        self.kick_button.setToolTip("Disconnect the selected client now (it may reconnect if its credential allows)")
        self.kick_button.clicked.connect(self.kick_selected)
        self.discard_button = QPushButton("Discard session…")
        self.discard_button.setToolTip("Drop the session kept for the selected offline client, with its queued "
                                       "messages, and release its clientId for any credential")
        self.discard_button.clicked.connect(self.discard_selected)
        self.timeline_button = QPushButton("Timeline…")
        self.timeline_button.setToolTip("This client's connects, refusals, denied topics and disconnects")
        self.timeline_button.clicked.connect(self.open_timeline)
        self.timeline: TimelineDialog | None = None
        self.count_label = QLabel()
        self.limits_label = QLabel()
        self.limits_label.setObjectName("limitCounts")
        self.limits_label.setToolTip("What the broker's limits refused or dropped since the app started "
                                     "(mqttdesk config show: max_connections, max_retained_messages, ...)")
        self.limits_label.setWordWrap(True)
        self._limits_timer = QTimer(self)
        self._limits_timer.setInterval(LIMITS_REFRESH_MS)
        self._limits_timer.timeout.connect(self.refresh_limit_counts)
        self._limits_timer.start()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by client id")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.model.set_filter)

        self.table = make_table(self.model, sortable=True)  # (the model sorts and filters itself: no proxy)
        self.table.sortByColumn(CONNECTED_SINCE, Qt.SortOrder.DescendingOrder)
        method_width = self.table.fontMetrics().horizontalAdvance(LONGEST_METHOD) + 24  # + cell padding
        set_column_widths(self.table, {**_COLUMN_WIDTHS, METHOD: max(_COLUMN_WIDTHS[METHOD], method_width)})
        self.table.horizontalHeader().setSectionResizeMode(CLIENT_ID, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            signal.connect(self._rows_changed)
        self.model.dataChanged.connect(self._row_changed)
        self.notices = NoticeStack(self.table)
        context.bridge.auth_entries.connect(self._show_forced_disconnects)

        bar = QHBoxLayout()
        bar.addWidget(self.kick_button)
        bar.addWidget(self.discard_button)
        bar.addWidget(self.timeline_button)
        bar.addWidget(self.count_label)
        bar.addStretch(1)
        bar.addWidget(self.filter_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.limits_label)
        layout.addWidget(self.table)
        self._rows_changed()
        self.refresh_limit_counts()

    def selected_session(self) -> LiveSession | None:
        row = selected_row(self.table)
        return None if row is None else self.model.session_at(row)

    def select_client(self, client_id: str) -> None:
        select_row(self.table, self.model.row_of(client_id))

    def _rows_changed(self) -> None:
        connected = self.model.connected_count()
        kept = self.model.session_total() - connected
        text = plural(connected, "client") + " connected"
        self.count_label.setText(text + (f", {plural(kept, 'session')} kept for clients away" if kept else ""))
        self._update_actions()

    def refresh_limit_counts(self) -> None:
        text = self.context.service.registry.limit_counts.describe()
        self.limits_label.setVisible(bool(text))
        if text != self.limits_label.text():
            self.limits_label.setText(text)

    def _row_changed(self, first: QModelIndex, *_: object) -> None:
        if first.column() == 0:  # a whole row replaced: a session went offline or resumed
            self._rows_changed()

    def _show_forced_disconnects(self, entries: list[AuthLogEntry]) -> None:
        for text, tooltip in forced_notices(entries):
            self.notices.show_notice(text, tooltip)

    def _update_actions(self) -> None:
        live = self.selected_session()
        self.kick_button.setEnabled(live is not None and live.offline_since is None)
        self.discard_button.setEnabled(live is not None and live.offline_since is not None)
        self.timeline_button.setEnabled(live is not None)

    def open_timeline(self) -> None:
        live = self.selected_session()
        if live is not None:
            self.timeline = TimelineDialog(self.context, live.client_id, self.window())
            self.timeline.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.timeline.show()

    def kick_selected(self) -> None:
        live = self.selected_session()
        if live is not None:
            self.context.runner.start(self._kick(live.client_id), f"kick {live.client_id}")

    def discard_selected(self) -> None:
        live = self.selected_session()
        if live is None or live.offline_since is None:
            return
        client_id = live.client_id
        who = f"user '{live.username}'" if live.username else "the client"
        self.confirmation = ask_confirmation(
            self, "Discard session", f"Discard the session kept for '{client_id}'?", "Discard session",
            lambda: self._discard(client_id),
            informative=f"Its {plural(live.queued, 'queued message')} and subscriptions are lost, and the clientId is "
                        f"released: any credential may use it next, not only {who}.", destructive=True)

    def _discard(self, client_id: str) -> None:
        try:
            done = self.context.service.release_client_id(client_id, by="admin")
        except MqttdeskError as exc:
            self.context.show_message(f"not discarded: {exc}")
            return
        self.context.show_message("; ".join(done) if done else f"nothing held '{client_id}' any more")

    async def _kick(self, client_id: str) -> None:
        kicked = await self.context.service.kick(client_id)
        self.context.show_message(f"kicked '{client_id}'" if kicked else f"'{client_id}' was no longer connected")
