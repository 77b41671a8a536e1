"""Onboarding a Tasmota plug from the window: the Tasmota role, the Backlog line from "Connect a device…", the plug
registering through the bootstrap credential, shown online with its firmware, toggled from the quick action with
its answer shown, and offline when its will is published; the loopback warning; the console codes."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.decision import Kind
from mqttdesk.core.snippets import SnippetFormat
from mqttdesk.gui.auth_details import entry_html
from mqttdesk.gui.bootstrap_dialogs import AddBootstrapDialog
from mqttdesk.gui.bootstrap_tab import BootstrapTab
from mqttdesk.gui.connect_dialog import NETWORK_HOST, ConnectDeviceDialog, credential_key
from mqttdesk.gui.devices_tab import DevicesTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.clients_model import DEVICE as CLIENT_DEVICE
from mqttdesk.gui.models.devices_model import DEVICE, DEVICE_IP, DEVICE_SAYS, ONLINE
from mqttdesk.gui.tasmota_dialogs import ConsoleCodesDialog, TasmotaRoleDialog
from mqttdesk.gui.user_dialogs import AddUserDialog
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.helpers import cell, click, has_row, select_row, tab_of
from tests.tasmota_sim import DEVICE_IP as SIM_IP
from tests.tasmota_sim import FIRMWARE, SimulatedTasmota, parse_backlog

PASSWORD = "flash-me-once"
PLUG = "DVES_1A2B3C"


@pytest.fixture
def plugs() -> Iterator[list[SimulatedTasmota]]:
    made: list[SimulatedTasmota] = []
    yield made
    for plug in made:
        plug.stop()


def devices_tab(window: MainWindow) -> DevicesTab:
    return tab_of(window, "Devices", DevicesTab)


def test_a_tasmota_plug_onboarded_through_a_bootstrap_credential(
    qtbot: QtBot, window: MainWindow, store: Store, port: int, service: BrokerService,
    plugs: list[SimulatedTasmota]
) -> None:
    tab = devices_tab(window)
    click(qtbot, tab.role_button)  # the Tasmota role in one click, its rules shown first
    role_dialog = tab.dialog
    assert isinstance(role_dialog, TasmotaRoleDialog)
    assert "cmnd/%c/#" in role_dialog.rules.text()
    assert "tele/%c/#" in role_dialog.rules.text()
    click(qtbot, role_dialog.ok_button)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=5000)
    assert {rule.topic_filter for rule in store.roles.get("tasmota").rules} >= {"cmnd/%c/#", "tele/%c/#"}
    store.bootstraps.add("plugs", FAST_HASH(PASSWORD), ("tasmota",), register_devices=True)

    click(qtbot, tab.connect_button)
    dialog = tab.dialog
    assert isinstance(dialog, ConnectDeviceDialog)
    dialog.credential.setCurrentIndex(dialog.credential.findData(credential_key("bootstrap", "plugs")))
    assert "MqttPassword" not in dialog.pages[SnippetFormat.TASMOTA].text.toPlainText()  # stored: a hash only
    dialog.password.setText(PASSWORD)  # typed now
    backlog = parse_backlog(dialog.pages[SnippetFormat.TASMOTA].text.toPlainText())
    assert (backlog["MqttHost"], backlog["MqttPort"], backlog["MqttUser"]) == ("127.0.0.1", str(port), "plugs")
    assert backlog["MqttPassword"] == PASSWORD
    assert backlog["MqttClient"] == "DVES_%06X"
    assert dialog.warning.isVisible()
    assert "127.0.0.1 only" in dialog.warning.text()
    dialog.reject()

    plug = SimulatedTasmota(backlog).start(wait=False)  # configured from the pasted line
    plugs.append(plug)
    qtbot.waitUntil(plug.connected.is_set, timeout=5000)
    assert plug.client_id == PLUG
    assert plug.topic == PLUG
    qtbot.waitUntil(lambda: has_row(tab.table, PLUG), timeout=5000)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, DEVICE_SAYS) == "online", timeout=5000)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, DEVICE_IP) == SIM_IP, timeout=5000)
    assert cell(tab.table, PLUG, DEVICE) == f"Tasmota {FIRMWARE} (Sonoff Basic)"
    assert cell(tab.table, PLUG, ONLINE) == "online"
    assert store.devices.find(PLUG) is not None  # registered through the bootstrap credential
    clients = window.tab("Clients")
    qtbot.waitUntil(lambda: has_row(clients.table, PLUG), timeout=5000)  # type: ignore[attr-defined]  # (batched)
    assert FIRMWARE in str(cell(clients.table, PLUG, CLIENT_DEVICE))  # type: ignore[attr-defined]

    select_row(tab.table, PLUG)
    assert tab.quick_buttons["toggle"].isEnabled()
    click(qtbot, tab.quick_buttons["toggle"])
    qtbot.waitUntil(lambda: tab.answer_label.text() == f'stat/{PLUG}/RESULT: {{"POWER":"ON"}}', timeout=5000)
    assert plug.commands == [("Power", "TOGGLE")]
    assert plug.power
    click(qtbot, tab.quick_buttons["toggle"])
    qtbot.waitUntil(lambda: tab.answer_label.text() == f'stat/{PLUG}/RESULT: {{"POWER":"OFF"}}', timeout=5000)
    click(qtbot, tab.quick_buttons["status"])
    qtbot.waitUntil(lambda: ("Status", "0") in plug.commands, timeout=5000)
    click(qtbot, tab.quick_buttons["restart"])
    qtbot.waitUntil(lambda: ("Restart", "1") in plug.commands, timeout=5000)

    plug.kill()  # pulled from the socket: its will (retained Offline) is published
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, DEVICE_SAYS) == "offline", timeout=5000)
    qtbot.waitUntil(lambda: cell(tab.table, PLUG, ONLINE) == "offline", timeout=5000)
    facts = service.devices.book.for_client(PLUG)
    assert facts is not None
    assert facts.online is False


def test_the_loopback_warning_offers_to_listen_on_the_network(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    tab = devices_tab(window)
    click(qtbot, tab.connect_button)
    dialog = tab.dialog
    assert isinstance(dialog, ConnectDeviceDialog)
    assert dialog.warning.isVisible()
    assert "listens on 127.0.0.1 only: a device on the network cannot reach it" in dialog.warning.text()
    assert dialog.listen_button.isVisible()
    click(qtbot, dialog.listen_button)  # the broker is not running: only the setting changes
    assert store.settings.listener()[0] == NETWORK_HOST
    qtbot.waitUntil(lambda: not dialog.warning.isVisible(), timeout=5000)
    assert dialog.host.currentText() != "127.0.0.1"  # a device needs one of the LAN addresses now
    assert store.settings.anonymous(NETWORK_HOST).effective is False  # as from the top bar
    dialog.reject()


def test_console_codes_explain_a_pasted_line(qtbot: QtBot, window: MainWindow) -> None:
    tab = devices_tab(window)
    click(qtbot, tab.codes_button)
    dialog = tab.dialog
    assert isinstance(dialog, ConsoleCodesDialog)
    dialog.line.setText("MQT: Connect failed to 192.168.1.10:1883, rc 5. Retry in 10 sec")
    assert "not authorised" in dialog.answer.text()
    assert "suspended" in dialog.answer.text()
    dialog.line.setText("TLS connection error: 1")
    assert "fingerprint" in dialog.answer.text()
    dialog.reject()


def test_the_auth_log_says_what_a_tasmota_console_shows() -> None:
    refused = AuthLogEntry(1, 0.0, Kind.CONNECT.value, False, PLUG, "plugs", None, "127.0.0.1", None,
                           "bad-password", "wrong password for bootstrap credential 'plugs'")
    assert "A Tasmota console shows this as rc 4 (bad username or password)." in entry_html(refused)
    suspended = replace(refused, reason_code="suspended", reason="device 'DVES_1A2B3C' is suspended")
    assert "shows this as rc 5 (not authorised)" in entry_html(suspended)
    assert "Tasmota console" not in entry_html(replace(refused, allowed=True, reason_code="authenticated"))
    assert "Tasmota console" not in entry_html(replace(refused, kind=Kind.PUBLISH.value, reason_code="acl-denied"))


def test_a_new_bootstrap_credential_shows_its_snippets_with_the_password_this_once(
    qtbot: QtBot, window: MainWindow, store: Store
) -> None:
    tab = tab_of(window, "Bootstrap", BootstrapTab)
    click(qtbot, tab.add_button)
    dialog = tab.dialog
    assert isinstance(dialog, AddBootstrapDialog)
    qtbot.keyClicks(dialog.name_edit, "plugs")
    generated = dialog.password.generate()
    dialog.connect_after.setChecked(True)
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: isinstance(tab.dialog, ConnectDeviceDialog), timeout=5000)
    connect = tab.dialog
    assert isinstance(connect, ConnectDeviceDialog)
    assert connect.credential.currentData() == credential_key("bootstrap", "plugs")
    assert parse_backlog(connect.pages[SnippetFormat.TASMOTA].text.toPlainText())["MqttPassword"] == generated
    connect.reject()
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)
    select_row(tab.table, "plugs")
    again = ConnectDeviceDialog(window.context, tab, name="plugs", kind="bootstrap")  # later: only its hash is left
    assert generated not in again.pages[SnippetFormat.TASMOTA].text.toPlainText()
    again.deleteLater()


def test_a_new_user_can_go_on_to_its_snippets_too(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = tab_of(window, "Users", UsersTab)
    click(qtbot, tab.add_button)
    dialog = tab.dialog
    assert isinstance(dialog, AddUserDialog)
    qtbot.keyClicks(dialog.name_edit, "lamp")
    dialog.password.edit.setText("Typed-Here-7")
    dialog.connect_after.setChecked(True)
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: isinstance(tab.dialog, ConnectDeviceDialog), timeout=5000)
    connect = tab.dialog
    assert isinstance(connect, ConnectDeviceDialog)
    sub = shlex.split(connect.pages[SnippetFormat.MOSQUITTO].text.toPlainText().splitlines()[0])
    options = dict(zip(sub[1::2], sub[2::2], strict=False))
    assert (options["-u"], options["-P"]) == ("lamp", "Typed-Here-7")
    connect.reject()
