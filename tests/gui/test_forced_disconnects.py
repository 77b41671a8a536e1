"""Forced disconnects against the real broker and paho clients: a credential's state moves on first use, a suspend
from the row's context menu ends the live session and the Clients tab says so, a kick lands on the credential's row,
a new password ends the sessions of users and bootstrap credentials, and "Require authentication" ends anonymous
sessions and says how many.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.passwords import verify_password
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.bootstrap_dialogs import BootstrapPasswordDialog
from mqttdesk.gui.bootstrap_tab import BootstrapTab
from mqttdesk.gui.clients_tab import ClientsTab
from mqttdesk.gui.devices_tab import DevicesTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.bootstraps_model import FORCED as BOOTSTRAP_FORCED
from mqttdesk.gui.models.devices_model import FORCED as DEVICE_FORCED
from mqttdesk.gui.models.devices_model import ONLINE
from mqttdesk.gui.models.users_model import FORCED, SESSIONS, STATE
from mqttdesk.gui.user_dialogs import ResetPasswordDialog
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_of
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, ClientFactory
from tests.gui.helpers import cell, click, has_row
from tests.gui.test_row_menus import entries, open_row_menu

DECORATION = Qt.ItemDataRole.DecorationRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole


def status_messages(window: MainWindow) -> list[str]:
    """Every status-bar message from now on (the status bar's own notices may replace ours a moment later)."""
    seen: list[str] = []
    window.statusBar().messageChanged.connect(seen.append)
    return seen


def users(window: MainWindow) -> UsersTab:
    tab = window.tab("Users")
    assert isinstance(tab, UsersTab)
    return tab


def clients(window: MainWindow) -> ClientsTab:
    tab = window.tab("Clients")
    assert isinstance(tab, ClientsTab)
    return tab


def trigger(tab: UsersTab | BootstrapTab | DevicesTab, key: str, text: str) -> None:
    menu = open_row_menu(tab, key)
    action = next(action for action in menu.actions() if action.text() == text)
    assert action.isEnabled(), f"{text!r} is disabled"
    action.trigger()
    menu.close()


def test_state_icon_and_text_turn_active_on_first_connect(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    tab = users(window)
    assert cell(tab.table, "lamp", STATE) == "inactive"
    inactive_icon = cell(tab.table, "lamp", STATE, DECORATION).cacheKey()  # type: ignore[attr-defined]
    assert entries(open_row_menu(tab, "lamp"))["Activate"] is False

    connect("lamp-1", "lamp", "pw")
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", STATE) == "active", timeout=5000)
    assert state_of(cell(tab.table, "lamp", STATE, STATE_ROLE)) is CredentialState.ACTIVE
    assert cell(tab.table, "lamp", STATE, DECORATION).cacheKey() != inactive_icon  # type: ignore[attr-defined]
    tooltip = str(cell(tab.table, "lamp", STATE, TOOLTIP))
    assert "active since" in tooltip
    assert "last change: first use (was inactive)" in tooltip
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", SESSIONS) == "1", timeout=5000)  # (session events: batched)
    assert cell(tab.table, "lamp", FORCED) == "—"


def test_suspend_from_the_menu_disconnects_and_the_clients_tab_says_so(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    tab, live = users(window), clients(window)
    client = connect("lamp-1", "lamp", "pw")
    qtbot.waitUntil(lambda: has_row(live.table, "lamp-1"), timeout=5000)
    messages = status_messages(window)

    window.tabs.setCurrentWidget(tab)
    trigger(tab, "lamp", "Suspend")
    assert "user 'lamp' is now suspended; 1 session disconnected" in messages
    qtbot.waitUntil(lambda: not client.is_connected(), timeout=5000)
    qtbot.waitUntil(lambda: not has_row(live.table, "lamp-1"), timeout=5000)
    expected = "lamp-1 disconnected: user 'lamp' was suspended (by admin)"
    qtbot.waitUntil(lambda: expected in live.notices.texts(), timeout=5000)
    window.tabs.setCurrentWidget(live)  # the notice waited for the tab to be seen
    assert live.notices.isVisible()
    qtbot.waitUntil(lambda: "was suspended (by admin)" in str(cell(tab.table, "lamp", FORCED)), timeout=5000)
    assert cell(tab.table, "lamp", STATE) == "suspended"

    live.notices.seconds = 0.05  # the next notice fades quickly, on its own
    client2 = connect("lamp-2", "lamp", "pw")  # refused now: no notice for a refusal
    qtbot.waitUntil(lambda: not client2.is_connected(), timeout=5000)
    trigger(tab, "lamp", "Activate")
    connect("lamp-3", "lamp", "pw")
    qtbot.waitUntil(lambda: has_row(live.table, "lamp-3"), timeout=5000)
    live.select_client("lamp-3")
    click(qtbot, live.kick_button)
    qtbot.waitUntil(lambda: "lamp-3 kicked by admin" in live.notices.texts(), timeout=5000)
    qtbot.waitUntil(lambda: "lamp-3 kicked by admin" not in live.notices.texts(), timeout=5000)  # faded


def test_a_kick_shows_on_the_device_and_bootstrap_rows(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.bootstraps.add("plugs@acme", FAST_HASH("pw"), register_devices=True)
    devices = window.tab("Devices")
    bootstrap = window.tab("Bootstrap")
    assert isinstance(devices, DevicesTab)
    assert isinstance(bootstrap, BootstrapTab)
    connect("DVES_1A2B3C", "plugs@acme", "pw")
    qtbot.waitUntil(lambda: has_row(devices.table, "DVES_1A2B3C"), timeout=5000)
    qtbot.waitUntil(lambda: cell(devices.table, "DVES_1A2B3C", ONLINE) == "online", timeout=5000)
    assert cell(devices.table, "DVES_1A2B3C", DEVICE_FORCED) == "—"

    trigger(devices, "DVES_1A2B3C", "Kick")
    qtbot.waitUntil(lambda: str(cell(devices.table, "DVES_1A2B3C", DEVICE_FORCED)).endswith(" kicked by admin"),
                    timeout=5000)
    assert "client 'DVES_1A2B3C'" in str(cell(devices.table, "DVES_1A2B3C", DEVICE_FORCED, TOOLTIP))
    assert str(cell(bootstrap.table, "plugs@acme", BOOTSTRAP_FORCED)).endswith(" DVES_1A2B3C: kicked by admin")
    assert "kicked by admin" in clients(window).notices.texts()[-1]
    assert entries(open_row_menu(devices, "DVES_1A2B3C"))["Kick"] is False  # offline now


def test_reset_password_ends_the_sessions_of_a_user(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.users.add("lamp", FAST_HASH("old"))
    tab = users(window)
    client = connect("lamp-1", "lamp", "old")
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", SESSIONS) == "1", timeout=5000)
    messages = status_messages(window)

    trigger(tab, "lamp", "Reset password…")
    dialog = tab.dialog
    assert isinstance(dialog, ResetPasswordDialog)
    assert "1 session logged in as 'lamp' now will be disconnected</b> at once" in dialog.hint.text()
    click(qtbot, dialog.password.generate_button)
    new = dialog.password.text()
    assert dialog.password.note.isVisible()  # shown once: copy it now
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: verify_password(new, store.users.get("lamp").password_hash), timeout=5000)
    qtbot.waitUntil(lambda: not client.is_connected(), timeout=5000)
    qtbot.waitUntil(lambda: "password of user 'lamp' was changed" in str(cell(tab.table, "lamp", FORCED)),
                    timeout=5000)
    assert "password of 'lamp' changed; 1 session logged in with the old one disconnected" in messages

    again = connect("lamp-2", "lamp", new)
    qtbot.waitUntil(again.is_connected, timeout=5000)


def test_reset_password_ends_the_virtual_devices_of_a_bootstrap_credential(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.bootstraps.add("shelly", FAST_HASH("old"))  # virtual devices: not registered
    tab = window.tab("Bootstrap")
    assert isinstance(tab, BootstrapTab)
    client = connect("shelly-1", "shelly", "old")
    qtbot.waitUntil(lambda: tab.model.sessions_of("shelly") == 1, timeout=5000)

    trigger(tab, "shelly", "Reset password…")
    dialog = tab.dialog
    assert isinstance(dialog, BootstrapPasswordDialog)
    assert "1 virtual device connected with the old password will be disconnected" in dialog.hint.text()
    dialog.password.edit.setText("typed-by-hand")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: not client.is_connected(), timeout=5000)
    assert verify_password("typed-by-hand", store.bootstraps.get("shelly").password_hash)
    qtbot.waitUntil(lambda: "shelly-1 disconnected: the password of bootstrap credential 'shelly' was changed "
                    "(by admin)" in clients(window).notices.texts(), timeout=5000)


def test_require_authentication_terminates_anonymous_sessions(
    qtbot: QtBot, window: MainWindow, store: Store, service: BrokerService, connect: ClientFactory
) -> None:
    bar = window.broker_bar
    assert store.settings.anonymous().mode == "auto"  # on: the broker listens on loopback
    assert bar.allow_anonymous_radio.isChecked()
    anonymous = connect("anon-1")
    store.users.add("lamp", FAST_HASH("pw"))
    logged_in = connect("lamp-1", "lamp", "pw")
    live = clients(window)
    qtbot.waitUntil(lambda: has_row(live.table, "anon-1") and has_row(live.table, "lamp-1"), timeout=5000)

    click(qtbot, bar.require_auth_radio)
    assert bar.auth_result.text() == "Authentication required: 1 anonymous session terminated"
    assert bar.auth_result.isVisible()
    assert bar.require_auth_radio.isChecked()
    assert store.settings.anonymous().mode == "off"
    qtbot.waitUntil(lambda: not anonymous.is_connected(), timeout=5000)
    qtbot.waitUntil(lambda: not has_row(live.table, "anon-1"), timeout=5000)
    assert logged_in.is_connected()
    qtbot.waitUntil(lambda: "anon-1 disconnected: anonymous access was turned off" in " ".join(live.notices.texts()),
                    timeout=5000)

    click(qtbot, bar.allow_anonymous_radio)  # the other side again: explicitly on, the note goes
    assert store.settings.anonymous().mode == "on"
    assert not bar.auth_result.isVisible()
    assert "1 anonymous session" not in " ".join(label.text() for label in bar.findChildren(QLabel)
                                                 if label.isVisible())
