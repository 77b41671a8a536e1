"""The menu bar: File, View, Tools (Test access and notifications come from auth_debugging), Help.

`file_menu` is one small function on purpose: Import and Export actions go there, above Quit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from mqttdesk.gui.icons import action_icon

if TYPE_CHECKING:
    from mqttdesk.gui.main_window import MainWindow


def _action(window: MainWindow, text: str, slot: object, *, shortcut: str | QKeySequence.StandardKey | None = None,
            icon: str | None = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if icon is not None:
        action.setIcon(action_icon(icon))
        action.setProperty("mqttdesk_icon", icon)  # redrawn in the new text colour when the theme changes
    action.setStatusTip(tip)
    action.triggered.connect(slot)
    return action


def file_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&File")
    menu.addAction(_action(window, "&Settings…", window.open_settings, shortcut=QKeySequence.StandardKey.Preferences,
                           icon="settings", tip="Listeners, limits, notifications and the tray"))
    menu.addSeparator()
    menu.addAction(_action(window, "&Quit", window.quit, shortcut=QKeySequence.StandardKey.Quit, icon="quit",
                           tip="Stop the broker and close mqttdesk"))
    return menu


def view_menu(window: MainWindow) -> QMenu:
    """One entry per tab, Ctrl+1 … Ctrl+9 and Ctrl+0 for the first ten."""
    menu = window.menuBar().addMenu("&View")
    for index in range(window.tabs.count()):
        title = window.tabs.tabText(index)
        shortcut = f"Ctrl+{(index + 1) % 10}" if index < 10 else None
        menu.addAction(_action(window, title, lambda _checked=False, i=index: window.tabs.setCurrentIndex(i),
                               shortcut=shortcut, tip=f"Show the {title} tab"))
    return menu


def broker_actions(window: MainWindow, tools: QMenu) -> None:
    """Start and stop the broker from the Tools menu (the tray has the same)."""
    tools.addSeparator()
    tools.addAction(_action(window, "&Start the broker", window.broker_bar.start, shortcut="Ctrl+R", icon="start"))
    tools.addAction(_action(window, "Sto&p the broker", window.broker_bar.stop, shortcut="Ctrl+Shift+R",
                            icon="stop"))


def help_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Help")
    menu.addAction(_action(window, "&About mqttdesk", window.show_about, shortcut=QKeySequence.StandardKey.HelpContents,
                           icon="about", tip="Versions of mqttdesk, Qt, PySide6, Python and the MQTT it speaks"))
    return menu


def build_menus(window: MainWindow, tools: QMenu) -> None:
    """File and View before the Tools menu auth_debugging made, Help after it."""
    bar = window.menuBar()
    first = bar.actions()[0] if bar.actions() else None
    for menu in (file_menu(window), view_menu(window)):
        if first is not None:
            bar.removeAction(menu.menuAction())
            bar.insertMenu(first, menu)
    broker_actions(window, tools)
    help_menu(window)


def retint(window: MainWindow) -> None:
    """Draw the menus' action icons again in the palette's text colour (after a theme change)."""
    for action in window.findChildren(QAction):
        name = action.property("mqttdesk_icon")
        if isinstance(name, str):
            action.setIcon(action_icon(name))
