"""How a credential or certificate state looks everywhere in the GUI: colour, icon and word together, never colour
alone.

Credentials: inactive grey (hollow ring: never used), active green (check), suspended amber (pause bars), revoked red
(cross). Certificates: valid green (check), expiring soon amber (exclamation mark), expired grey (clock), revoked red
(cross), so a revoked certificate reads like a revoked user. Icons are painted with QPainter, so no image files are
needed and they scale to any size.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from mqttdesk.core.states import CredentialState
from mqttdesk.gui.widgets.painted_icon import painted_pixmap
from mqttdesk.pki.certificate_states import CertificateState

Badge = CredentialState | CertificateState

STATE_COLORS: dict[Badge, str] = {
    CredentialState.INACTIVE: "#8a8f98",
    CredentialState.ACTIVE: "#2e9d4f",
    CredentialState.SUSPENDED: "#d99100",
    CredentialState.REVOKED: "#d13438",
    CertificateState.VALID: "#2e9d4f",
    CertificateState.EXPIRING: "#d99100",
    CertificateState.EXPIRED: "#6e7480",
    CertificateState.REVOKED: "#d13438",
}
# the word on the badge where the state's own value is too terse
_WORDS: dict[Badge, str] = {CertificateState.EXPIRING: "expiring soon"}

AnyIndex = QModelIndex | QPersistentModelIndex
# models return the CredentialState or CertificateState under this role (read it with state_of)
STATE_ROLE = Qt.ItemDataRole.UserRole + 10


def state_of(value: object) -> Badge | None:
    """The state a model returned under `STATE_ROLE`. Qt hands a StrEnum back as a plain str, so the enum is told
    by its value; "revoked" reads as the credential state, which looks exactly like the certificate's."""
    if isinstance(value, CredentialState | CertificateState):
        return value
    if not isinstance(value, str):
        return None
    for kind in (CredentialState, CertificateState):
        try:
            return kind(value)
        except ValueError:
            continue
    return None


def state_word(state: Badge) -> str:
    """What the badge says: the state's value, "expiring soon" for a certificate that expires within 30 days."""
    return _WORDS.get(state, state.value)


def state_color(state: Badge) -> QColor:
    return QColor(STATE_COLORS[state])


def state_text_color(state: Badge) -> QColor:
    """A darker shade of the state colour, readable as text on a light background."""
    return state_color(state).darker(150)


def _paint_symbol(painter: QPainter, state: Badge, size: int) -> None:
    color = state_color(state)
    margin = size * 0.08
    circle = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
    white = QPen(QColor("white"), max(1.5, size / 8), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                 Qt.PenJoinStyle.RoundJoin)
    if state is CredentialState.INACTIVE:
        painter.setPen(QPen(color, max(1.5, size / 7)))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        inset = size / 14
        painter.drawEllipse(circle.adjusted(inset, inset, -inset, -inset))
        return
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawEllipse(circle)
    painter.setPen(white)
    s = size
    if state in (CredentialState.ACTIVE, CertificateState.VALID):
        path = QPainterPath(QPointF(0.28 * s, 0.52 * s))
        path.lineTo(0.44 * s, 0.68 * s)
        path.lineTo(0.72 * s, 0.36 * s)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
    elif state is CredentialState.SUSPENDED:
        painter.drawLine(QPointF(0.40 * s, 0.32 * s), QPointF(0.40 * s, 0.68 * s))
        painter.drawLine(QPointF(0.60 * s, 0.32 * s), QPointF(0.60 * s, 0.68 * s))
    elif state is CertificateState.EXPIRING:
        painter.drawLine(QPointF(0.50 * s, 0.28 * s), QPointF(0.50 * s, 0.56 * s))
        painter.drawPoint(QPointF(0.50 * s, 0.72 * s))
    elif state is CertificateState.EXPIRED:
        painter.drawLine(QPointF(0.50 * s, 0.50 * s), QPointF(0.50 * s, 0.28 * s))
        painter.drawLine(QPointF(0.50 * s, 0.50 * s), QPointF(0.68 * s, 0.60 * s))
    else:
        painter.drawLine(QPointF(0.34 * s, 0.34 * s), QPointF(0.66 * s, 0.66 * s))
        painter.drawLine(QPointF(0.66 * s, 0.34 * s), QPointF(0.34 * s, 0.66 * s))


@cache
def state_pixmap(state: Badge, size: int = 16, ratio: float = 2.0) -> QPixmap:
    return painted_pixmap(lambda painter, side: _paint_symbol(painter, state, side), size, ratio)


@cache
def state_icon(state: Badge) -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32):
        icon.addPixmap(state_pixmap(state, size))
    return icon


class StateBadge(QWidget):
    """Icon + word for one state, e.g. in a dialog header or the details of a credential."""

    def __init__(self, state: Badge | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self._icon = QLabel()
        self._text = QLabel()
        layout.addWidget(self._icon)
        layout.addWidget(self._text)
        layout.addStretch(1)
        self._state: Badge | None = None
        if state is not None:
            self.set_state(state)

    @property
    def state(self) -> Badge | None:
        return self._state

    def text(self) -> str:
        return self._text.text()

    def set_state(self, state: Badge) -> None:
        self._state = state
        self._icon.setPixmap(state_pixmap(state, 16))
        self._text.setText(state_word(state))
        self._text.setStyleSheet(f"color: {state_text_color(state).name()}; font-weight: 600;")


class StateBadgeDelegate(QStyledItemDelegate):
    """Paints a state cell as a tinted pill with the state's icon and word.

    The model provides the state under `STATE_ROLE`; cells without one are painted the default way.
    """

    _PAD = 6

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        state = state_of(index.data(STATE_ROLE))
        if state is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:  # background, selection and focus as usual
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(opt.font)
        font.setWeight(QFont.Weight.DemiBold)
        metrics = QFontMetrics(font)
        icon_size = 14
        word = state_word(state)
        text_width = metrics.horizontalAdvance(word)
        height = min(opt.rect.height() - 4, metrics.height() + 6)
        width = min(opt.rect.width() - 2 * self._PAD + 4, icon_size + text_width + 3 * self._PAD)
        pill = QRect(opt.rect.left() + self._PAD - 2, opt.rect.center().y() - height // 2 + 1, width, height)
        tint = state_color(state)
        tint.setAlpha(40)
        if opt.state & QStyle.StateFlag.State_Selected:  # a tint on the selection colour would be unreadable
            tint = QColor(255, 255, 255, 235)
        painter.setPen(QPen(state_color(state), 1))
        painter.setBrush(tint)
        painter.drawRoundedRect(QRectF(pill).adjusted(0.5, 0.5, -0.5, -0.5), height / 2, height / 2)
        icon_rect = QRect(pill.left() + self._PAD, pill.center().y() - icon_size // 2 + 1, icon_size, icon_size)
        painter.drawPixmap(icon_rect, state_pixmap(state, icon_size))
        text_rect = pill.adjusted(self._PAD + icon_size + 4, 0, -self._PAD // 2, 0)
        painter.setPen(state_text_color(state))
        painter.setFont(font)
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         metrics.elidedText(word, Qt.TextElideMode.ElideRight, text_rect.width()))
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        state = state_of(index.data(STATE_ROLE))
        if state is not None:
            font = QFont(option.font)
            font.setWeight(QFont.Weight.DemiBold)
            width = QFontMetrics(font).horizontalAdvance(state_word(state)) + 14 + 5 * self._PAD
            hint.setWidth(max(hint.width(), width))
        return hint
