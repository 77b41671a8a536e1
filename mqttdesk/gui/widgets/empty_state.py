"""What an empty table says, over its viewport: what belongs there and what to do ("No users yet — Add user…").

The line is shown while the table's model has no row, and says "Nothing matches the filter" when a filter hides
every row of a model that has some. The action, when given, is a link that runs it.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QAbstractItemModel, QEvent, QObject, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel

from mqttdesk.gui.decision_text import MUTED, escape
from mqttdesk.gui.models.sorted_rows import SortedRowsModel


class EmptyState(QObject):
    def __init__(self, view: QAbstractItemView, text: str, action: tuple[str, Callable[[], None]] | None = None
                 ) -> None:
        super().__init__(view)
        self._view = view
        self._text = text
        self._action = action
        self.label = QLabel(view.viewport())
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setStyleSheet(f"color: {MUTED}; font-size: 11pt; background: transparent;")
        self.label.linkActivated.connect(self._run)
        view.viewport().installEventFilter(self)
        model = view.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.layoutChanged):
            signal.connect(self.update)
        self.update()

    @property
    def text(self) -> str:
        """What the table says right now ("" while it has rows)."""
        return self.label.text() if self.label.isVisibleTo(self._view) else ""

    def update(self) -> None:
        if not shiboken6.isValid(self._view):
            return  # a QTableWidget's own model empties itself while the table is being destroyed
        model: QAbstractItemModel = self._view.model()
        if model.rowCount():
            self.label.hide()
            return
        if _filtered_out(model):
            self.label.setText("Nothing matches the filter")
        elif self._action is not None:
            self.label.setText(f"{escape(self._text)} — <a href='run'>{escape(self._action[0])}</a>")
        else:
            self.label.setText(escape(self._text))
        self._place()
        self.label.show()

    def _place(self) -> None:
        self.label.setGeometry(self._view.viewport().rect().adjusted(16, 16, -16, -16))

    def _run(self, _link: str) -> None:
        if self._action is not None:
            self._action[1]()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() is QEvent.Type.Resize:
            self._place()
        return False


def _filtered_out(model: QAbstractItemModel) -> bool:
    """Whether the (empty) table hides rows behind a filter: a proxy's or the model's own."""
    if isinstance(model, QSortFilterProxyModel):
        return model.sourceModel().rowCount() > 0
    return isinstance(model, SortedRowsModel) and model.item_total() > 0
