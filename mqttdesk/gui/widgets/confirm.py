"""A non-blocking confirmation box: no nested event loop, so asyncio keeps running and tests can answer it.

An optional check box asks one more question with the same answer ("also suspend its 3 devices"); the
confirm callback reads `check_box.isChecked()`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QMessageBox, QPushButton, QWidget


class ConfirmationBox(QMessageBox):
    """Asks once; calls `on_confirm` only when the confirm button was pressed."""

    def __init__(self, parent: QWidget, title: str, text: str, confirm_label: str, on_confirm: Callable[[], None],
                 *, informative: str = "", destructive: bool = True, check_label: str = "") -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setIcon(QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question)
        self.setWindowTitle(title)
        self.setText(text)
        if informative:
            self.setInformativeText(informative)
        self.check_box: QCheckBox | None = None
        if check_label:
            self.check_box = QCheckBox(check_label)
            self.setCheckBox(self.check_box)
        role = QMessageBox.ButtonRole.DestructiveRole if destructive else QMessageBox.ButtonRole.AcceptRole
        self.confirm_button: QPushButton = self.addButton(confirm_label, role)
        self.cancel_button: QPushButton | None = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel_button)
        self._on_confirm = on_confirm
        self.buttonClicked.connect(self._clicked)

    @property
    def checked(self) -> bool:
        return self.check_box is not None and self.check_box.isChecked()

    def _clicked(self, button: object) -> None:
        if button is self.confirm_button:
            self._on_confirm()


def ask_confirmation(parent: QWidget, title: str, text: str, confirm_label: str, on_confirm: Callable[[], None],
                     *, informative: str = "", destructive: bool = True, check_label: str = "") -> ConfirmationBox:
    box = ConfirmationBox(parent, title, text, confirm_label, on_confirm, informative=informative,
                          destructive=destructive, check_label=check_label)
    box.open()
    return box
