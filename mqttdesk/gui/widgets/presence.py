"""Online / offline as an icon whose *shape* differs, always next to the word: colour is never the only signal.

online: a filled green disc with a white centre ring (a "live" dot); offline: a hollow grey ring crossed by a
slash. Neither shape is used by the credential state icons, which sit in the column next to it.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from mqttdesk.gui.widgets.painted_icon import painted_pixmap

ONLINE_COLOR = "#2e9d4f"
OFFLINE_COLOR = "#8a8f98"


def _paint(painter: QPainter, online: bool, size: int) -> None:
    margin = size * 0.12
    circle = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
    if online:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(ONLINE_COLOR))
        painter.drawEllipse(circle)
        painter.setPen(QPen(QColor("white"), max(1.2, size / 10)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        inner = size * 0.18
        painter.drawEllipse(QPointF(size / 2, size / 2), inner, inner)
        return
    color = QColor(OFFLINE_COLOR)
    pen = QPen(color, max(1.4, size / 8), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    inset = size / 14
    painter.drawEllipse(circle.adjusted(inset, inset, -inset, -inset))
    painter.drawLine(QPointF(size * 0.28, size * 0.72), QPointF(size * 0.72, size * 0.28))


@cache
def presence_pixmap(online: bool, size: int = 16, ratio: float = 2.0) -> QPixmap:
    return painted_pixmap(lambda painter, side: _paint(painter, online, side), size, ratio)


@cache
def presence_icon(online: bool) -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32):
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected):  # no tint on a selected row: the shape must stay
            icon.addPixmap(presence_pixmap(online, size), mode)
    return icon
