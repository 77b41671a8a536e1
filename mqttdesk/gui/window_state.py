"""Remembered window geometry, splitter positions, column widths and the current tab, and the GUI's own choices
(close to the tray asked once, the first-run wizard done), in `window.ini` in the data directory.

QSettings in INI format at a path we choose, not Qt's default place: the window state goes with the data it shows
(another `--data-dir` is another window layout), and tests, whose data directory is temporary, never write to the
real home. Splitters and table headers are keyed by their tab and their order in it, which the code fixes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QHeaderView, QMainWindow, QSplitter, QTabWidget

SETTINGS_FILE = "window.ini"


def gui_settings(data_dir: Path) -> QSettings:
    return QSettings(str(data_dir / SETTINGS_FILE), QSettings.Format.IniFormat)


def _parts(tabs: QTabWidget) -> list[tuple[str, QSplitter | QHeaderView]]:
    """Every splitter and horizontal table header of every tab, with a stable key ("Roles/header1")."""
    found: list[tuple[str, QSplitter | QHeaderView]] = []
    for index in range(tabs.count()):
        tab = tabs.widget(index)
        if tab is None:
            continue
        title = "-".join(tabs.tabText(index).lower().split())
        # only what the window itself shows: a dialog made by the tab (its own window) would shift the numbering
        window = tabs.window()
        splitters = [s for s in tab.findChildren(QSplitter) if s.window() is window]
        found += [(f"{title}/splitter{n}", s) for n, s in enumerate(splitters)]
        headers = [h for h in tab.findChildren(QHeaderView)
                   if h.orientation() is Qt.Orientation.Horizontal and h.window() is window]
        found += [(f"{title}/header{n}", h) for n, h in enumerate(headers)]
    return found


def save_window_state(settings: QSettings, window: QMainWindow, tabs: QTabWidget) -> None:
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/tab", tabs.currentIndex())
    for key, part in _parts(tabs):
        settings.setValue(key, part.saveState())
    settings.sync()


def restore_window_state(settings: QSettings, window: QMainWindow, tabs: QTabWidget) -> bool:
    """Put back what `save_window_state` saved; False when nothing was saved yet (first start)."""
    geometry = settings.value("window/geometry")
    if not isinstance(geometry, QByteArray):
        return False
    window.restoreGeometry(geometry)
    state = settings.value("window/state")
    if isinstance(state, QByteArray):
        window.restoreState(state)
    for key, part in _parts(tabs):
        saved = settings.value(key)
        if isinstance(saved, QByteArray):
            part.restoreState(saved)
    tab = settings.value("window/tab")
    if tab is not None and str(tab).isdigit() and int(str(tab)) < tabs.count():
        tabs.setCurrentIndex(int(str(tab)))
    return True


def flag(settings: QSettings, key: str) -> bool | None:
    """A yes/no the user chose (None: never asked)."""
    value = settings.value(key)
    if value is None:
        return None
    return str(value).lower() in ("true", "1", "yes")
