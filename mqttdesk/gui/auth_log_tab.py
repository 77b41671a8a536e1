"""The Auth log tab: every decision live, filtered, with the selected row explained below the table.

Filters run in SQL for what is loaded from the store and through `LogFilter.matches` for rows arriving live, so
both agree. Paused, new matching rows are only counted ("12 new"); resuming adds them (or reloads the newest page
when more arrived than the view holds). "Load older" pages back with `before_id`; once that pushed the newest rows
out of the bounded model, live rows are held back like a pause until Resume, so the view never has a hole in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.gui.auth_details import AuthDetailsPane
from mqttdesk.gui.auth_log_export import write_export
from mqttdesk.gui.explainer_dialog import ExplainerDialog
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.models.auth_log_model import (
    ADDRESS,
    CLIENT_ID,
    KIND,
    METHOD,
    REASON,
    RESULT,
    TIME,
    TOPIC,
    USERNAME,
    AuthLogTableModel,
)
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.timeline_dialog import TimelineDialog
from mqttdesk.gui.widgets.tables import make_table, select_row, selected_row, set_column_widths
from mqttdesk.store.auth_log_repo import AuthLogEntry, LogFilter

D = TypeVar("D", bound=QDialog)

PAGE = 500
FILTER_DELAY_MS = 250  # typing in a filter field reloads once the typing pauses, not on every key
_KINDS = ("CONNECT", "SUBSCRIBE", "PUBLISH", "DISCONNECT", "KICK")
_RESULTS = (("All results", None), ("Refused only", False), ("Allowed only", True))
_COLUMN_WIDTHS = {TIME: 132, RESULT: 110, KIND: 92, CLIENT_ID: 150, USERNAME: 110, METHOD: 84, ADDRESS: 96,
                  TOPIC: 130}


class AuthLogTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.dialog: QDialog | None = None  # the last dialog opened from here (tests drive it)
        self.model = AuthLogTableModel(parent=self)
        self.log_filter = LogFilter()
        self._pending: list[AuthLogEntry] = []
        self._pending_count = 0
        self._must_reload = False  # more arrived while paused than the view holds, or older pages pushed new ones out
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self.apply_filter)

        self.result_combo = QComboBox()
        for label, allowed in _RESULTS:
            self.result_combo.addItem(label, allowed)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("All kinds", None)
        for kind in _KINDS:
            self.kind_combo.addItem(kind, kind)
        self.client_edit = self._filter_edit("Client id contains…")
        self.username_edit = self._filter_edit("Username contains…")
        self.text_edit = self._filter_edit("Reason, topic or address contains…")
        for combo in (self.result_combo, self.kind_combo):
            combo.currentIndexChanged.connect(lambda _index: self.apply_filter())

        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Hold new rows back while you read; they are counted and added on Resume")
        self.pause_button.toggled.connect(self.set_paused)
        self.new_label = QLabel()
        self.new_label.setStyleSheet("color: #b35900; font-weight: 600;")
        self.older_button = QPushButton("Load older")
        self.older_button.setToolTip(f"Add the {PAGE} next older matching rows from the store")
        self.older_button.clicked.connect(self.load_older)
        self.newest_first = QCheckBox("Newest first")
        self.newest_first.setChecked(True)
        self.newest_first.toggled.connect(self.model.set_newest_first)
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setToolTip("Save the rows shown (as filtered) as CSV or JSON")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction("As CSV…", lambda: self.export("csv"))
        export_menu.addAction("As JSON…", lambda: self.export("json"))
        self.export_button.setMenu(export_menu)
        self.test_button = QPushButton("Test access…")
        self.test_button.setToolTip("Would a username, password and clientId get in? A dry run of the broker's "
                                    "decision, prefilled with the selected row's username, clientId and topic")
        self.test_button.clicked.connect(lambda: self.open_explainer(self.selected_entry()))
        self.count_label = QLabel()

        self.table = make_table(self.model)
        set_column_widths(self.table, _COLUMN_WIDTHS)
        self.table.horizontalHeader().setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.details = AuthDetailsPane(context)
        self.table.doubleClicked.connect(lambda _index: self.details.setFocus())
        self.details.timeline_requested.connect(self.open_timeline)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([360, 340])  # the details need room: the path and the fix are why this tab exists

        filters = QHBoxLayout()
        for filter_widget in (self.result_combo, self.kind_combo, self.client_edit, self.username_edit):
            filters.addWidget(filter_widget)
        filters.addWidget(self.text_edit, 2)
        actions = QHBoxLayout()
        for widget in (self.pause_button, self.new_label, self.older_button, self.newest_first):
            actions.addWidget(widget)
        actions.addWidget(self.count_label)
        actions.addStretch(1)
        actions.addWidget(self.export_button)
        actions.addWidget(self.test_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(actions)
        layout.addWidget(self.splitter, 1)

        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            signal.connect(self._update_count)
        context.bridge.auth_entries.connect(self.on_entries)
        self.apply_filter()

    def _filter_edit(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        edit.textChanged.connect(lambda _text: self._filter_timer.start())
        return edit

    # -- filtering and live rows ------------------------------------------------------------------

    def current_filter(self) -> LogFilter:
        kind = self.kind_combo.currentData()
        return LogFilter(allowed=self.result_combo.currentData(), kinds=(kind,) if kind else (),
                         client_id=self.client_edit.text().strip() or None,
                         username=self.username_edit.text().strip() or None,
                         text=self.text_edit.text().strip() or None)

    def apply_filter(self) -> None:
        """Reload the newest page matching the filters (also how Resume catches up after a long pause)."""
        self._filter_timer.stop()
        self.log_filter = self.current_filter()
        self.model.replace(self.context.store.auth_log.query(self.log_filter, limit=PAGE))
        self._pending, self._pending_count, self._must_reload = [], 0, False
        self.older_button.setEnabled(True)
        self._update_new_label()

    def show_refusals(self) -> None:
        """What the status bar's "N refused" opens: every refusal, nothing else filtered, live."""
        for edit in (self.client_edit, self.username_edit, self.text_edit):
            edit.blockSignals(True)
            edit.clear()
            edit.blockSignals(False)
        for combo, index in ((self.kind_combo, 0), (self.result_combo, 1)):
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)
        self.pause_button.setChecked(False)
        self.apply_filter()

    def on_entries(self, entries: list[AuthLogEntry]) -> None:
        matching = [entry for entry in entries if self.log_filter.matches(entry)]
        if not matching:
            return
        if self.paused:
            self._pending_count += len(matching)
            self._pending.extend(matching)
            if len(self._pending) > self.model.max_rows:  # the store has them all: reload on Resume instead
                self._pending.clear()
                self._must_reload = True
            self._update_new_label()
        else:
            self.model.add_newer(matching)

    @property
    def paused(self) -> bool:
        return self.pause_button.isChecked()

    def set_paused(self, paused: bool) -> None:
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)  # comes back here through `toggled`
            return
        self.pause_button.setText("Resume" if paused else "Pause")
        if not paused:
            if self._must_reload:
                self.apply_filter()
            else:
                self.model.add_newer(self._pending)
            self._pending, self._pending_count = [], 0
        self._update_new_label()

    def load_older(self) -> int:
        """Page older matching rows in from the store; returns how many were added."""
        older = self.context.store.auth_log.query(self.log_filter, limit=PAGE, before_id=self.model.oldest_id)
        if not older:
            self.older_button.setEnabled(False)
            self.context.show_message("no older rows match the filters")
            return 0
        if self.model.add_older(older):
            # the newest rows were pushed out: hold live rows back until Resume reloads the newest page
            self._must_reload = True
            self.set_paused(True)
        return len(older)

    def _update_new_label(self) -> None:
        if not self.paused:
            self.new_label.setText("")
        elif self._pending_count:
            self.new_label.setText(f"{self._pending_count} new")
        else:
            self.new_label.setText("paused")

    def _update_count(self) -> None:
        self.count_label.setText(plural(self.model.rowCount(), "row") + " shown")

    # -- selection, dialogs, export ---------------------------------------------------------------------

    def selected_entry(self) -> AuthLogEntry | None:
        row = selected_row(self.table)
        return None if row is None else self.model.entry_at(row)

    def select_entry(self, entry_id: int) -> None:
        select_row(self.table, self.model.row_of(entry_id))

    def _selection_changed(self) -> None:
        self.details.show_entry(self.selected_entry())

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        entry = self.model.entry_at(index.row())
        menu = QMenu(self)
        menu.addAction("Test access…", lambda: self.open_explainer(entry))
        timeline = menu.addAction("Client timeline…", lambda: self.open_timeline(entry.client_id or ""))
        timeline.setEnabled(bool(entry.client_id))
        menu.popup(self.table.viewport().mapToGlobal(position))

    def open_explainer(self, entry: AuthLogEntry | None = None) -> ExplainerDialog:
        dialog = ExplainerDialog(self.context, self.window())
        if entry is not None:
            dialog.prefill_from_entry(entry)
        return self._show(dialog)

    def open_timeline(self, client_id: str) -> TimelineDialog | None:
        if not client_id:
            return None
        return self._show(TimelineDialog(self.context, client_id, self.window()))

    def _show(self, dialog: D) -> D:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.show()
        return dialog

    def export(self, kind: str) -> None:
        suffix = "json" if kind == "json" else "csv"
        path, _selected = QFileDialog.getSaveFileName(self, "Export the Auth log view", f"auth-log.{suffix}",
                                                      "JSON (*.json)" if suffix == "json" else "CSV (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> int:
        """Write the rows shown, in the order shown (JSON for a .json path, CSV otherwise); returns the count."""
        entries = self.model.entries()
        try:
            written = write_export(entries, path)
        except OSError as exc:
            self.context.show_message(f"could not export to {path}: {exc.strerror or exc}")
            return 0
        self.context.show_message(f"exported {plural(len(entries), 'row')} as {written} to {path}")
        return len(entries)
