"""The desktop polish on the real window: menus and About, the tray (state, counts, start/stop, quit, close to the
tray asked once), remembered window state, empty tables that say what to do, the dark palette, the icons."""

from __future__ import annotations

import platform

import PySide6
import pytest
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox, QSplitter
from pytestqt.qtbot import QtBot

from mqttdesk import __version__
from mqttdesk.broker.service import BrokerService, BrokerState
from mqttdesk.gui import icons
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.roles_tab import RolesTab
from mqttdesk.gui.theme import Theme, is_dark
from mqttdesk.gui.tray import CLOSE_TO_TRAY, BrokerTray, broker_icon
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.gui.window_state import flag, gui_settings
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, AsyncRunner, ClientFactory
from tests.gui.helpers import tab_of


def menu_titles(window: MainWindow) -> list[str]:
    return [action.text().replace("&", "") for action in window.menuBar().actions()]


def menu_entries(window: MainWindow, title: str) -> list[str]:
    action = next(a for a in window.menuBar().actions() if a.text().replace("&", "") == title)
    menu = action.menu()
    assert menu is not None
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_menus_file_view_tools_help_and_about_names_the_versions(qtbot: QtBot, window: MainWindow) -> None:
    assert menu_titles(window) == ["File", "View", "Tools", "Help"]
    assert menu_entries(window, "File")[-1] == "Quit"
    file_actions = next(a for a in window.menuBar().actions() if a.text() == "&File").menu().actions()
    assert file_actions[-1].shortcut() == QKeySequence(QKeySequence.StandardKey.Quit)
    assert menu_entries(window, "View")[:3] == ["Users", "Bootstrap", "Devices"]
    assert "Start the broker" in menu_entries(window, "Tools")
    view = next(a for a in window.menuBar().actions() if a.text() == "&View").menu()
    roles = next(a for a in view.actions() if a.text() == "Roles")
    assert roles.shortcut().toString() == "Ctrl+4"
    roles.trigger()
    assert window.tabs.currentWidget() is window.tab("Roles")

    window.show_about()
    box = window.dialog
    assert isinstance(box, QMessageBox)
    text = box.text()
    for name, version in (("mqttdesk", __version__), ("Qt", qVersion()), ("PySide6", PySide6.__version__),
                          ("Python", platform.python_version()), ("MQTT", "3.1.1 and 5")):
        assert f"<td>{name}</td><td>&nbsp;{version}</td>" in text
    box.reject()
    qtbot.waitUntil(lambda: window.dialog is None)


def test_the_tray_shows_the_state_and_counts_and_starts_stops_and_quits(
        qtbot: QtBot, window: MainWindow, aio: AsyncRunner, store: Store) -> None:
    tray = window.tray
    assert isinstance(tray, BrokerTray)
    assert "stopped" in tray.icon.toolTip()
    assert tray.start_action.isEnabled()
    assert not tray.stop_action.isEnabled()
    window.broker_bar.port_edit.setText("0")
    tray.start_action.trigger()
    qtbot.waitUntil(lambda: window.service.status.state is BrokerState.LISTENING, timeout=5000)
    qtbot.waitUntil(lambda: tray.stop_action.isEnabled())
    assert "listening on 127.0.0.1:" in tray.icon.toolTip()
    assert "0 clients connected · 0 refused in the last minute" in tray.icon.toolTip()
    assert tray.icon.icon().cacheKey() == broker_icon(BrokerState.LISTENING).cacheKey()

    store.settings.set_anonymous(False)
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    refused = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stranger", protocol=mqtt.MQTTv311,
                          reconnect_on_failure=False)
    port = window.service.status.addresses[0][1]
    refused.connect("127.0.0.1", port)
    refused.loop_start()
    try:
        qtbot.waitUntil(lambda: "1 refused in the last minute" in tray.icon.toolTip(), timeout=5000)
    finally:
        refused.loop_stop()

    tray.stop_action.trigger()
    qtbot.waitUntil(lambda: window.service.status.state is BrokerState.STOPPED, timeout=5000)
    qtbot.waitUntil(lambda: tray.start_action.isEnabled())
    tray.quit_action.trigger()
    qtbot.waitUntil(lambda: window.is_shut_down, timeout=10000)
    assert window.service.status.state is BrokerState.STOPPED


def test_closing_keeps_the_broker_in_the_tray_when_chosen_once(
        qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch, port: int, connect: ClientFactory) -> None:
    asked: list[bool] = []

    def answer_yes() -> bool:
        asked.append(True)
        return True

    window.ask_close_to_tray = answer_yes  # type: ignore[method-assign]
    monkeypatch.setattr(BrokerTray, "available", property(lambda _self: True))  # as on a desktop with a tray
    connect("lamp-1")
    qtbot.waitUntil(lambda: len(window.service.registry) == 1, timeout=5000)
    window.close()
    assert not window.isVisible()
    assert not window.is_shut_down
    assert flag(window.settings, CLOSE_TO_TRAY) is True
    window.show_window()
    window.close()  # asked once: the answer is remembered
    assert asked == [True]
    assert len(window.service.registry) == 1  # the broker ran on
    window.quit()  # Quit always stops it
    qtbot.waitUntil(lambda: window.is_shut_down, timeout=10000)
    assert window.service.status.state is BrokerState.STOPPED


def test_geometry_splitters_and_columns_come_back_at_the_next_start(
        qtbot: QtBot, service: BrokerService, aio: AsyncRunner) -> None:
    first = MainWindow(service, hasher=FAST_HASH)
    first.show()
    first.resize(first.width(), 750)  # the offscreen screen is 800 × 800: a restored window is kept inside it
    size = (first.width(), first.height())
    assert size[1] == 750
    tab_of(first, "Users", UsersTab).table.setColumnWidth(0, 222)
    roles = tab_of(first, "Roles", RolesTab)
    splitter = roles.findChildren(QSplitter)[0]
    splitter.setSizes([300, 500])
    wanted = splitter.sizes()
    aio.run(first.shutdown())
    assert (service.store.path.parent / "window.ini").is_file()

    again = MainWindow(service, hasher=FAST_HASH)
    again.show()
    try:
        assert (again.width(), again.height()) == size
        assert again.tabs.currentWidget() is again.tab("Roles")
        roles_again = tab_of(again, "Roles", RolesTab)
        assert tab_of(again, "Users", UsersTab, current=False).table.columnWidth(0) == 222
        assert roles_again.findChildren(QSplitter)[0].sizes() == wanted
    finally:
        aio.run(again.shutdown())
        again.deleteLater()
        first.deleteLater()


def test_empty_tables_say_what_to_do(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    users = tab_of(window, "Users", UsersTab)
    empty = window.empty_states["Users"]
    assert "No users yet" in empty.text
    assert "Add user…" in empty.text
    empty.label.linkActivated.emit("run")
    assert users.dialog is not None  # the link opened Add user
    users.dialog.reject()
    store.users.add("lamp", FAST_HASH("pw"), ())
    qtbot.waitUntil(lambda: users.model.row_of("lamp") is not None, timeout=5000)
    assert empty.text == ""
    users.filter_edit.setText("nobody-has-this")
    assert empty.text == "Nothing matches the filter"
    assert "No client connected" in window.empty_states["Clients"].text


def test_dark_system_scheme_gets_a_dark_palette_and_light_action_icons(qapp: QApplication) -> None:
    before = QPalette(qapp.palette())
    style = qapp.style().name()
    theme = Theme(qapp)
    try:
        theme.apply(Qt.ColorScheme.Dark)
        assert is_dark(qapp.palette())
        assert theme.dark
        assert icons.text_color().lightness() > 200  # action icons are drawn in the light text colour
        theme.apply(Qt.ColorScheme.Light)
        assert not is_dark(qapp.palette())
    finally:
        qapp.setPalette(before)
        qapp.setStyle(style)
        theme.deleteLater()


def test_every_icon_is_package_data_and_loads() -> None:
    names = [icons.APP_ICON, *icons.STATE_ICONS, *icons.BROKER_ICONS, "online", "offline", "forced-disconnect"]
    for name in names:
        assert not icons.icon(name).pixmap(32, 32).isNull(), name
    for action in icons.ACTIONS:
        assert not icons.action_icon(action).pixmap(16, 16).isNull(), action
    assert gui_settings  # the settings file lives in the data directory (see the geometry test)
