"""The SVG icons in mqttdesk/resources/icons, loaded as package data (so a PyInstaller build carries them too).

Coloured icons (the app, credential and broker states, presence, forced disconnect) are used as they are. Action
icons are drawn in one colour, `ACTION_COLOR` in the files, replaced by the palette's text colour when they are
loaded, so they read on a light and on a dark theme alike (`action_icon` is called again when the theme changes).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

ACTION_COLOR = "#4b5563"
ACTION_SIZES = (16, 24, 32, 48)

APP_ICON = "mqttdesk"
STATE_ICONS = ("state-inactive", "state-active", "state-suspended", "state-revoked")
BROKER_ICONS = ("broker-listening", "broker-stopped", "broker-error")
ACTIONS = ("add", "delete", "suspend", "activate", "revoke", "kick", "start", "stop", "settings", "test", "quit",
           "about")


def icons_dir() -> Path:
    return Path(str(resources.files("mqttdesk") / "resources" / "icons"))


def icon_path(name: str) -> Path:
    path = icons_dir() / f"{name}.svg"
    if not path.is_file():
        raise FileNotFoundError(f"no icon {name!r} in {icons_dir()}")
    return path


@cache
def icon(name: str) -> QIcon:
    """A coloured icon by file name (without .svg), sharp at any size (Qt's SVG icon engine)."""
    return QIcon(str(icon_path(name)))


def app_icon() -> QIcon:
    return icon(APP_ICON)


def text_color() -> QColor:
    app = QGuiApplication.instance()
    palette = app.palette() if isinstance(app, QGuiApplication) else QPalette()
    return palette.color(QPalette.ColorRole.WindowText)


def action_icon(action: str, color: QColor | None = None) -> QIcon:
    """The icon of an action ("add", "quit", …) drawn in `color` (the palette's text colour by default)."""
    svg = icon_path(f"action-{action}").read_text(encoding="utf-8")
    return _tinted(svg, (color or text_color()).name())


@cache
def _tinted(svg: str, color: str) -> QIcon:
    renderer = QSvgRenderer(QByteArray(svg.replace(ACTION_COLOR, color).encode("utf-8")))
    result = QIcon()
    for size in ACTION_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        result.addPixmap(pixmap)
    return result
