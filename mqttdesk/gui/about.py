"""Help → About: what this mqttdesk is made of (its version, Qt's, PySide6's, Python's, the MQTT versions it speaks),
in a box whose text can be copied into a bug report."""

from __future__ import annotations

import platform

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

from mqttdesk.core.version import __version__

MQTT_VERSIONS = ("3.1.1", "5")  # the protocol levels the broker accepts (4 and 5)


def versions() -> list[tuple[str, str]]:
    return [("mqttdesk", __version__), ("Qt", qVersion()), ("PySide6", PySide6.__version__),
            ("Python", platform.python_version()), ("MQTT", " and ".join(MQTT_VERSIONS))]


def about_text() -> str:
    rows = "".join(f"<tr><td>{name}</td><td>&nbsp;{version}</td></tr>" for name, version in versions())
    return ("<p><b>mqttdesk</b>: a desktop MQTT broker with real authentication you can see.</p>"
            f"<table>{rows}</table>")


def about_box(parent: QWidget) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About mqttdesk", about_text(), QMessageBox.StandardButton.Close,
                      parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    return box
