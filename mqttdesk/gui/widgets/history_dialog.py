"""A credential's history (what the CLI's `show` prints): every transition and change, oldest first, read-only."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLabel, QVBoxLayout, QWidget

from mqttdesk.gui.formatting import format_time
from mqttdesk.gui.widgets.tables import make_table, set_column_widths
from mqttdesk.store.history import HistoryEntry

HEADERS = ("Time", "Change", "State", "By")


class HistoryDialog(QDialog):
    """A snapshot taken when opened; open it again to see later changes."""

    def __init__(self, title: str, summary: str, entries: Sequence[HistoryEntry],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(640, 360)
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(HEADERS)
        for entry in entries:
            if entry.from_state and entry.to_state and entry.from_state != entry.to_state:
                state = f"{entry.from_state} → {entry.to_state}"
            else:
                state = entry.to_state or ("deleted" if entry.action == "delete" else "")
            row = [QStandardItem(text) for text in (format_time(entry.time, seconds=True), entry.action, state,
                                                     entry.actor)]
            self.model.appendRow(row)
        self.table = make_table(self.model)
        set_column_widths(self.table, {0: 150, 2: 150, 3: 110})
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.scrollToBottom()
        label = QLabel(summary)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
