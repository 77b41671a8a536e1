"""Light and dark follow the system: where the platform theme does not darken Qt's palette itself (Fusion on a dark
desktop), mqttdesk sets a dark palette; a change of the system's scheme while the app runs applies at once, and
`theme_changed` lets action icons be redrawn in the new text colour."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#2b2d31",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f2023",
    QPalette.ColorRole.AlternateBase: "#27292d",
    QPalette.ColorRole.ToolTipBase: "#3a3d42",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#33363b",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#6cb4ff",
    QPalette.ColorRole.Highlight: "#2f6fbf",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.PlaceholderText: "#8a8f98",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7f87"))
    return palette


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class Theme(QObject):
    """Keeps the application's palette in line with the system's colour scheme."""

    theme_changed = Signal()

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self._system_palette = QPalette(app.palette())
        app.styleHints().colorSchemeChanged.connect(self.apply)
        self.apply(app.styleHints().colorScheme())

    def apply(self, scheme: Qt.ColorScheme) -> None:
        wants_dark = scheme is Qt.ColorScheme.Dark
        if wants_dark and not is_dark(self._system_palette):
            self._app.setStyle("Fusion")  # the native styles ignore a dark palette in places (Windows' vista)
            self._app.setPalette(dark_palette())
        else:
            self._app.setPalette(self._system_palette)
        self.theme_changed.emit()

    @property
    def dark(self) -> bool:
        app = QGuiApplication.instance()
        return isinstance(app, QGuiApplication) and is_dark(app.palette())
