"""Icons painted with QPainter (state badges, presence): no image files, sharp at any size and pixel density."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPixmap

PaintSymbol = Callable[[QPainter, int], None]  # draws into a size × size square


def painted_pixmap(paint: PaintSymbol, size: int, ratio: float) -> QPixmap:
    """A transparent, antialiased `size` × `size` pixmap with `ratio` device pixels per pixel, drawn by `paint`."""
    pixmap = QPixmap(int(size * ratio), int(size * ratio))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(ratio, ratio)
    paint(painter, size)
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap
