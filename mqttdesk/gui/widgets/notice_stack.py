"""Brief notices over a table ("DVES_1A2B3C disconnected: device was suspended (by admin)") that fade on their own.

A status-bar message is overwritten by the next one and is easy to miss; a forced disconnect deserves to be seen
where the client just vanished from. Notices stack at the bottom right of the table's viewport, newest lowest, each
fading out a few seconds after it could first be seen (one that arrives while the tab is hidden waits for the tab;
a click dismisses one at once). Beyond `limit` the oldest goes, so a storm of disconnects cannot bury the table.
The stack is a child of the scroll area, not of its viewport, so scrolling the table does not move it.
"""

from __future__ import annotations

from PySide6.QtCore import QEasingCurve, QEvent, QObject, QPropertyAnimation, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QAbstractScrollArea, QGraphicsOpacityEffect, QLabel, QVBoxLayout, QWidget

_STYLE = ("background: #fff4ce; color: #3b2a00; border: 1px solid #d99100; border-left: 5px solid #d99100;"
          " border-radius: 4px; padding: 6px 10px;")
_MARGIN = 12
_MAX_WIDTH = 620
_FADE_MS = 700


class Notice(QLabel):
    """One notice; clicking it dismisses it."""

    def __init__(self, text: str, stack: NoticeStack) -> None:
        super().__init__(text)
        self._stack = stack
        self.setObjectName("notice")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setStyleSheet(_STYLE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.opacity = QGraphicsOpacityEffect(self)
        self.opacity.setOpacity(1.0)
        self.setGraphicsEffect(self.opacity)
        self.fade = QPropertyAnimation(self.opacity, b"opacity", self)
        self.fade.setDuration(_FADE_MS)
        self.fade.setStartValue(1.0)
        self.fade.setEndValue(0.0)
        self.fade.setEasingCurve(QEasingCurve.Type.InQuad)
        self.fade.finished.connect(lambda: self._stack.remove(self))
        self.countdown = QTimer(self)
        self.countdown.setSingleShot(True)
        self.countdown.timeout.connect(self.fade.start)
        self.seen = False

    def start_countdown(self, seconds: float) -> None:
        """Fade out `seconds` from now; only the first call counts."""
        if not self.seen:
            self.seen = True
            self.countdown.start(int(seconds * 1000))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._stack.remove(self)


class NoticeStack(QWidget):
    def __init__(self, host: QAbstractScrollArea, *, seconds: float = 6.0, limit: int = 4) -> None:
        super().__init__(host)
        self._host = host
        self.seconds = seconds
        self.limit = limit
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._notices: list[Notice] = []
        host.installEventFilter(self)
        self.hide()

    def texts(self) -> list[str]:
        """What is shown now, oldest first."""
        return [notice.text() for notice in self._notices]

    def show_notice(self, text: str, tooltip: str = "") -> Notice:
        notice = Notice(text, self)
        notice.setToolTip(tooltip or text)
        self._notices.append(notice)
        self._layout.addWidget(notice)
        while len(self._notices) > self.limit:
            self.remove(self._notices[0])
        if self._host.isVisible():
            notice.start_countdown(self.seconds)
        notice.ensurePolished()  # its style sheet's padding counts in its height
        self._place()
        self.show()
        self.raise_()
        QTimer.singleShot(0, self, self._place)  # again once Qt has laid the new notice out
        return notice

    def remove(self, notice: Notice) -> None:
        if notice not in self._notices:
            return
        self._notices.remove(notice)
        notice.fade.stop()
        self._layout.removeWidget(notice)
        notice.hide()
        notice.deleteLater()
        if self._notices:
            self._place()
        else:
            self.hide()

    def _place(self) -> None:
        if not self._notices:
            return
        viewport = self._host.viewport().geometry()
        width = max(120, min(_MAX_WIDTH, viewport.width() - 2 * _MARGIN))
        self.setFixedWidth(width)
        height = self._layout.heightForWidth(width) if self._layout.hasHeightForWidth() else self.sizeHint().height()
        self.setFixedHeight(max(height, self._layout.minimumSize().height()))
        self.move(viewport.right() - width - _MARGIN + 1, viewport.bottom() - self.height() - _MARGIN + 1)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self._host and self._notices and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            # the filter runs before the scroll area lays out its viewport: place the notices once it has
            QTimer.singleShot(0, self, self._place)
            if event.type() is QEvent.Type.Show:
                for notice in self._notices:
                    notice.start_countdown(self.seconds)
        return False
