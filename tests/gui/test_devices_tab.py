"""The Devices tab against the real broker: a device registers, goes online and offline, and is managed on its own."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.device_dialogs import DeviceLabelDialog
from mqttdesk.gui.devices_tab import DevicesTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.clients_model import METHOD
from mqttdesk.gui.models.devices_model import BOOTSTRAP, LABEL, LAST_ADDRESS, LAST_SEEN, ONLINE, ROLES, STATE
from mqttdesk.gui.widgets.form_dialog import RolesFormDialog
from mqttdesk.gui.widgets.presence import presence_icon
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, ClientFactory
from tests.gui.helpers import cell, click, confirmation, has_row, select_row, tab_of

PASSWORD = "flash-me-once"
PLUG = "DVES_1A2B3C"


def devices_tab(window: MainWindow) -> DevicesTab:
    return tab_of(window, "Devices", DevicesTab)


Plug = tuple[DevicesTab, mqtt.Client]


def registered_plug(qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory) -> Plug:
    """Bootstrap 'plugs' (registers devices, role 'tasmota') and the plug PLUG connected through it."""
    store.roles.add("tasmota")
    store.bootstraps.add("plugs", FAST_HASH(PASSWORD), ("tasmota",), register_devices=True)
    tab = devices_tab(window)
    client = connect(PLUG, "plugs", PASSWORD)
    qtbot.waitUntil(lambda: has_row(tab.table, PLUG), timeout=5000)
    return tab, client


def test_a_device_appears_online_then_goes_offline(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    tab, client = registered_plug(qtbot, window, store, connect)
    assert cell(tab.table, PLUG, ONLINE) == "online"
    online_icon = presence_icon(True).cacheKey()
    assert cell(tab.table, PLUG, ONLINE, Qt.ItemDataRole.DecorationRole).cacheKey() == online_icon
    assert cell(tab.table, PLUG, STATE) == "active"
    assert cell(tab.table, PLUG, BOOTSTRAP) == "plugs"
    assert cell(tab.table, PLUG, LAST_SEEN) == "now"
    assert cell(tab.table, PLUG, LAST_ADDRESS) == "127.0.0.1"
    assert cell(tab.table, PLUG, ROLES) == "tasmota (via bootstrap)"
    tooltip = str(cell(tab.table, PLUG, STATE, Qt.ItemDataRole.ToolTipRole))
    assert tooltip.startswith("active since ")
    assert "registered via bootstrap 'plugs' by broker" in tooltip
    assert tab.count_label.text() == "1 device, 1 online"
    clients = window.tab("Clients")
    qtbot.waitUntil(lambda: has_row(clients.table, PLUG), timeout=5000)  # type: ignore[attr-defined]  # (batched)
    assert cell(clients.table, PLUG, METHOD) == "bootstrap (registered)"  # type: ignore[attr-defined]
    select_row(tab.table, PLUG)
    assert tab.kick_button.isEnabled()

    client.disconnect()
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ONLINE) == "offline", timeout=5000)
    assert cell(tab.table, PLUG, ONLINE, Qt.ItemDataRole.DecorationRole).cacheKey() != online_icon
    assert cell(tab.table, PLUG, LAST_SEEN) not in ("now", "never")
    assert cell(tab.table, PLUG, LAST_ADDRESS) == "127.0.0.1"
    assert tab.count_label.text() == "1 device, 0 online"
    assert not tab.kick_button.isEnabled()

    connect(PLUG, "plugs", PASSWORD)  # from now on it logs in as the device itself
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ONLINE) == "online", timeout=5000)
    assert cell(clients.table, PLUG, METHOD) == "device"  # type: ignore[attr-defined]
    assert tab.kick_button.isEnabled()


def test_suspending_a_device_from_the_tab_disconnects_it(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    tab, client = registered_plug(qtbot, window, store, connect)
    qtbot.waitUntil(client.is_connected, timeout=5000)
    select_row(tab.table, PLUG)
    assert not tab.activate_button.isEnabled()
    click(qtbot, tab.suspend_button)
    assert cell(tab.table, PLUG, STATE) == "suspended"
    qtbot.waitUntil(lambda: not client.is_connected(), timeout=5000)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ONLINE) == "offline", timeout=5000)
    assert store.devices.get(PLUG).state is CredentialState.SUSPENDED
    assert f"device '{PLUG}' is now suspended; disconnected" in window.statusBar().currentMessage()
    assert tab.activate_button.isEnabled()
    assert not tab.suspend_button.isEnabled()
    assert not tab.kick_button.isEnabled()

    click(qtbot, tab.activate_button)
    assert cell(tab.table, PLUG, STATE) == "active"
    assert store.bootstraps.get("plugs").state is CredentialState.ACTIVE  # the bootstrap was never touched


def test_label_roles_kick_and_filter(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory, service: BrokerService
) -> None:
    tab, client = registered_plug(qtbot, window, store, connect)
    store.roles.add("kitchen")
    select_row(tab.table, PLUG)

    click(qtbot, tab.label_button)
    dialog = tab.dialog
    assert isinstance(dialog, DeviceLabelDialog)
    dialog.label_edit.setText("kitchen plug")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, LABEL) == "kitchen plug", timeout=2000)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)

    click(qtbot, tab.roles_button)
    roles = tab.dialog
    assert isinstance(roles, RolesFormDialog)
    note = " ".join(label.text() for label in roles.findChildren(QLabel))
    assert "also gets the roles of its bootstrap credential 'plugs'" in note
    assert "tasmota" in note
    roles.roles.set_checked("kitchen")
    click(qtbot, roles.ok_button)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ROLES) == "kitchen + tasmota (via bootstrap)", timeout=2000)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)

    connect("DVES_OTHER", "plugs", PASSWORD)
    qtbot.waitUntil(lambda: has_row(tab.table, "DVES_OTHER"), timeout=5000)
    qtbot.keyClicks(tab.filter_edit, "kitchen")  # the label matches, the other device's does not
    assert tab.model.rowCount() == 1
    assert tab.count_label.text().startswith("1 of 2 devices shown, ")
    assert has_row(tab.table, PLUG)
    tab.filter_edit.clear()
    assert tab.model.rowCount() == 2

    select_row(tab.table, PLUG)
    click(qtbot, tab.kick_button)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ONLINE) == "offline", timeout=5000)
    qtbot.waitUntil(lambda: f"kicked '{PLUG}'" in window.statusBar().currentMessage(), timeout=5000)
    assert service.registry.get(PLUG) is None
    qtbot.keyClicks(tab.filter_edit, "offline")
    assert tab.model.rowCount() == 1


def test_revoke_is_final_and_delete_frees_the_client_id(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    tab, client = registered_plug(qtbot, window, store, connect)
    client.disconnect()
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ONLINE) == "offline", timeout=5000)
    select_row(tab.table, PLUG)

    click(qtbot, tab.revoke_button)
    box = confirmation(tab)
    assert "final" in box.informativeText()
    click(qtbot, box.confirm_button)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, STATE) == "revoked", timeout=2000)
    assert [button.isEnabled() for button in (tab.suspend_button, tab.activate_button, tab.revoke_button)] == [
        False, False, False]

    click(qtbot, tab.delete_button)
    box = confirmation(tab)
    assert f"the clientId '{PLUG}' is free again" in box.informativeText()
    click(qtbot, box.confirm_button)
    qtbot.waitUntil(lambda: not has_row(tab.table, PLUG), timeout=2000)
    assert store.devices.find(PLUG) is None
    assert tab.count_label.text() == "0 devices, 0 online"

    again = connect(PLUG, "plugs", PASSWORD)  # the freed clientId registers anew
    qtbot.waitUntil(lambda: has_row(tab.table, PLUG), timeout=5000)
    qtbot.waitUntil(again.is_connected, timeout=5000)
    assert cell(tab.table, PLUG, STATE) == "active"
