"""Render the app icon (mqttdesk/resources/icons/mqttdesk.svg) into the icon set packages need:
icons/hicolor/N×N/apps/org.mqttdesk.mqttdesk.png (freedesktop), icons/hicolor/scalable, icons/mqttdesk.ico
(Windows) and icons/mqttdesk.icns (macOS), with Qt's own image writers. Run after changing the SVG:

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "mqttdesk" / "resources" / "icons" / "mqttdesk.svg"
OUT = ROOT / "packaging" / "icons"
APP_ID = "org.mqttdesk.mqttdesk"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def main() -> None:
    _app = QGuiApplication([])
    renderer = QSvgRenderer(str(SOURCE))
    for size in SIZES:
        folder = OUT / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        render(renderer, size).save(str(folder / f"{APP_ID}.png"))
    scalable = OUT / "hicolor" / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable / f"{APP_ID}.svg")
    if not render(renderer, 256).save(str(OUT / "mqttdesk.ico"), "ICO"):
        raise SystemExit("Qt could not write mqttdesk.ico")
    if not render(renderer, 512).save(str(OUT / "mqttdesk.icns"), "ICNS"):
        raise SystemExit("Qt could not write mqttdesk.icns")
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
