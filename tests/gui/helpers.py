"""Small helpers for driving the GUI in tests."""

from __future__ import annotations

from typing import Protocol, TypeVar

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractButton, QTableView, QWidget
from pytestqt.qtbot import QtBot

from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.widgets.confirm import ConfirmationBox

W = TypeVar("W", bound=QWidget)


class OpensDialogs(Protocol):
    """A tab (or panel) that keeps the dialog or confirmation it has open in `dialog`."""

    @property
    def dialog(self) -> QWidget | None: ...


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


def tab_of(window: MainWindow, title: str, kind: type[W], *, current: bool = True) -> W:
    """The tab titled `title`, which must be a `kind`; made the current tab unless `current` is False."""
    tab = window.tab(title)
    assert isinstance(tab, kind)
    if current:
        window.tabs.setCurrentWidget(tab)
    return tab


def open_dialog(qtbot: QtBot, owner: OpensDialogs, button: QAbstractButton, kind: type[W]) -> W:
    """Click `button` and return the dialog it opened in `owner`, which must be a `kind`, once it is shown."""
    click(qtbot, button)
    dialog = owner.dialog
    assert isinstance(dialog, kind)
    qtbot.waitExposed(dialog)
    return dialog


def confirmation(owner: OpensDialogs) -> ConfirmationBox:
    """The confirmation `owner` is asking right now."""
    box = owner.dialog
    assert isinstance(box, ConfirmationBox)
    return box

