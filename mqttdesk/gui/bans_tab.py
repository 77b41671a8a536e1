"""The Banned tab: who is refused at CONNECT (an address, a username or a clientId), why, until when, and Unban.

The same bans as `mqttdesk ban list|add|remove`: the login guard's (an address that kept guessing passwords, a
clientId that kept reconnecting) and an administrator's, added here with **Ban**. Unbanning an address also
forgets the failed logins that led to its ban; banning one disconnects its sessions (see `BrokerService.add_ban`).
Expired bans leave the list by themselves (a timer re-reads it every few seconds; a change anywhere at once).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from mqttdesk.core.bans import Ban, BanKind
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.formatting import format_duration
from mqttdesk.gui.models.bans_model import KIND_WORDS, UNTIL, BansModel
from mqttdesk.gui.models.sorting import sorted_proxy
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.tables import make_table, selected_source_row, set_column_widths

REFRESH_MS = 5000
DURATIONS = (("10 minutes", 600.0), ("1 hour", 3600.0), ("1 day", 86400.0), ("until removed", None))


def _duration(seconds: float) -> str:
    """"10 min", "1 h", "90 s"; two units where a round one does not fit ("2 h 5 min")."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return format_duration(seconds)


class BansTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.model = BansModel(context.service.bans, self)
        context.bridge.store_changed.connect(self.model.on_store_changes)
        self.proxy = sorted_proxy(self.model, self)
        self.table = make_table(self.proxy, sortable=True)
        self.table.sortByColumn(UNTIL, Qt.SortOrder.DescendingOrder)
        set_column_widths(self.table, {0: 180, 1: 80, 2: 420, 3: 150, 4: 150})
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.unban_button = QPushButton("Unban")
        self.unban_button.setToolTip("Lift the selected ban now (an address also starts again with no failed "
                                     "logins counted)")
        self.unban_button.clicked.connect(self.unban_selected)
        self.unban_error = FieldError()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by who…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)

        self.who = QLineEdit()
        self.who.setPlaceholderText("address, username or clientId")
        self.kind = QComboBox()
        for kind in BanKind:
            self.kind.addItem(KIND_WORDS[kind], kind)
        self.duration = QComboBox()
        for label, seconds in DURATIONS:
            self.duration.addItem(label, seconds)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why (optional; the client is told)")
        self.ban_button = QPushButton("Ban")
        self.ban_button.setToolTip("Refuse its CONNECTs from now on; its connected sessions are disconnected")
        self.ban_button.clicked.connect(self.add_ban)
        self.ban_error = FieldError()

        bar = QHBoxLayout()
        bar.addWidget(self.unban_button)
        bar.addStretch(1)
        bar.addWidget(self.filter_edit)
        add = QHBoxLayout()
        add.addWidget(QLabel("Ban"))
        add.addWidget(self.kind)
        add.addWidget(self.who, 2)
        add.addWidget(self.duration)
        add.addWidget(self.reason, 2)
        add.addWidget(self.ban_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(bar)
        layout.addWidget(self.unban_error)
        layout.addWidget(self.table, 1)
        layout.addLayout(add)
        layout.addWidget(self.ban_error)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)
        self.refresh()

    def refresh(self) -> None:
        self.model.refresh()
        settings = self.context.service.guard.rules.settings
        loopback = ("Loopback addresses are exempt." if settings.exempt_loopback else
                    "Loopback addresses are not exempt (guard.exempt_loopback).")
        self.note.setText(
            f"An address with {settings.throttle_after} failed logins in {settings.window:g} s is slowed down and "
            f"its passwords are not checked; with {settings.ban_after} it is banned for "
            f"{_duration(settings.ban_seconds)}. A clientId connecting {settings.flap_ban_after} times in "
            f"{settings.window:g} s (flapping) is banned for {_duration(settings.flap_ban_seconds)}. {loopback}")
        self._update_actions()

    def selected(self) -> Ban | None:
        row = selected_source_row(self.table, self.proxy)
        return None if row is None else self.model.record_at(row)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_actions()

    def _update_actions(self) -> None:
        self.unban_button.setEnabled(self.selected() is not None)

    def unban_selected(self) -> None:
        self.unban_error.clear_error()
        ban = self.selected()
        if ban is None:
            self.unban_error.show_error("select a ban first")
            return
        try:
            self.context.service.remove_ban(ban.kind, ban.value)
        except MqttdeskError as exc:
            self.unban_error.show_error(str(exc))
            return
        self.context.show_message(f"lifted the ban of {ban.who()}")
        self.refresh()

    def add_ban(self) -> None:
        self.ban_error.clear_error()
        kind = BanKind(self.kind.currentData())  # (Qt hands a StrEnum back as its str)
        seconds: float | None = self.duration.currentData()
        try:
            ban, ending = self.context.service.add_ban(kind, self.who.text(), seconds=seconds,
                                                       reason=self.reason.text(), by="admin")
        except MqttdeskError as exc:
            self.ban_error.show_error(str(exc))
            return
        self.context.show_message(f"banned {ban.who()}" + (f"; disconnecting {', '.join(ending)}" if ending else ""))
        self.who.clear()
        self.reason.clear()
        self.refresh()
