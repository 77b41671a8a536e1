"""The red line under (or beside) a field that says what is wrong with it, in the user's words."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

ERROR_COLOR = "#c42b1c"


class FieldError(QLabel):
    """Hidden while empty, so a form does not reserve space for errors it does not have."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {ERROR_COLOR};")
        self.setVisible(False)

    def show_error(self, message: str) -> None:
        self.setText(message)
        self.setVisible(bool(message))

    def clear_error(self) -> None:
        self.show_error("")

    @property
    def message(self) -> str:
        """What the label says now ("" while hidden), independent of whether its window is on screen."""
        return "" if self.isHidden() else self.text()
