"""What the Bootstrap and Devices tabs share: a sorted, filtered table of keyed records, a button bar whose buttons
follow the selection, and at most one dialog or confirmation open at a time (`dialog`, which tests answer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.models.keyed_model import KeyedTableModel
from mqttdesk.gui.models.sorting import sorted_proxy
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.confirm import ConfirmationBox, ask_confirmation
from mqttdesk.gui.widgets.tables import make_table


class RecordTab(QWidget):
    def __init__(self, context: TabContext, model: KeyedTableModel[Any], *, filter_hint: str, filter_column: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.dialog: QDialog | None = None  # the dialog or confirmation open right now (tests answer it)
        self.model = model
        self.proxy = sorted_proxy(model, self, filter_column=filter_column)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(filter_hint)
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMinimumWidth(200)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = make_table(self.proxy, sortable=True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.dataChanged.connect(lambda *_: self.update_actions())
        self.model.rowsRemoved.connect(lambda *_: self.update_actions())

    def button(self, text: str, slot: Callable[[], None], tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def lay_out(self, buttons: list[QPushButton], *, status: QWidget | None = None) -> None:
        """Buttons left, then `status` (e.g. a count), the filter right, the table below."""
        bar = QHBoxLayout()
        for button in buttons:
            bar.addWidget(button)
        bar.addStretch(1)
        if status is not None:
            bar.addWidget(status)
        bar.addWidget(self.filter_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)

    # -- selection ----------------------------------------------------------------------------------

    def selected(self) -> Any:
        """The record of the selected row, or None."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.record_at(self.proxy.mapToSource(rows[0]).row())

    def select(self, key: str) -> None:
        row = self.model.row_of(key)
        if row is not None:
            self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.update_actions()

    def update_actions(self) -> None:
        """Enable the buttons that make sense for the selection."""
        raise NotImplementedError

    # -- dialogs ------------------------------------------------------------------------------------

    def open_dialog(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._closed(dialog))
        self.dialog = dialog
        dialog.open()

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def confirm(self, title: str, text: str, label: str, informative: str, then: Callable[[ConfirmationBox], None],
                *, check_label: str = "") -> ConfirmationBox:
        """Ask first; `then(box)` runs on confirmation and may read `box.checked`."""
        box: ConfirmationBox | None = None

        def confirmed() -> None:
            assert box is not None
            then(box)

        box = ask_confirmation(self, title, text, label, confirmed, informative=informative, check_label=check_label)
        box.finished.connect(lambda _result: self._closed(box))
        self.dialog = box
        return box

    def run(self, change: Callable[[], str]) -> None:
        """Make a quick store change; its sentence, or the user's mistake, goes to the status bar."""
        try:
            message = change()
        except MqttdeskError as exc:
            self.context.show_message(str(exc))
            return
        self.context.show_message(message)
