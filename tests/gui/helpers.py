"""Small helpers for driving the GUI in tests."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractButton, QTableView
from pytestqt.qtbot import QtBot


def click(qtbot: QtBot, button: QAbstractButton) -> None:
    assert button.isEnabled(), f"button {button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def column_values(model: QAbstractItemModel, column: int, role: int = Qt.ItemDataRole.DisplayRole) -> list[object]:
    return [model.index(row, column).data(role) for row in range(model.rowCount())]


def cell(view: QTableView, key: str, column: int, role: int = Qt.ItemDataRole.DisplayRole) -> object:
    """The value in `column` of the row whose first column reads `key` (as the view shows it, sorted/filtered)."""
    model = view.model()
    for row in range(model.rowCount()):
        if model.index(row, 0).data() == key:
            return model.index(row, column).data(role)
    raise KeyError(key)


def has_row(view: QTableView, key: str) -> bool:
    model = view.model()
    return any(model.index(row, 0).data() == key for row in range(model.rowCount()))


def select_row(view: QTableView, key: str) -> None:
    model = view.model()
    for row in range(model.rowCount()):
        if model.index(row, 0).data() == key:
            view.selectRow(row)
            return
    raise KeyError(key)
