"""A small round indicator; it always sits next to words saying the same thing (colour is never alone)."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget


class StatusDot(QWidget):
    def __init__(self, color: str = "#8a8f98", diameter: int = 12, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._color = QColor(color)
        self._diameter = diameter
        self.setFixedSize(QSize(diameter + 2, diameter + 2))

    @property
    def color(self) -> str:
        return self._color.name()

    def set_color(self, color: str) -> None:
        self._color = QColor(color)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._color.darker(130))
        painter.setBrush(self._color)
        painter.drawEllipse(1, 1, self._diameter, self._diameter)
        painter.end()
