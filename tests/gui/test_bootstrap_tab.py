"""The Bootstrap tab: adding through the dialog, name errors, every action, and its live counts with real clients."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from mqttdesk.core.passwords import verify_password
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.bootstrap_dialogs import AddBootstrapDialog, BootstrapPasswordDialog
from mqttdesk.gui.bootstrap_tab import BootstrapTab
from mqttdesk.gui.devices_tab import DevicesTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.bootstraps_model import DEVICES, REGISTERS, ROLES, SESSIONS, STATE
from mqttdesk.gui.models.clients_model import METHOD
from mqttdesk.gui.models.devices_model import STATE as DEVICE_STATE
from mqttdesk.gui.widgets.form_dialog import RolesFormDialog
from mqttdesk.gui.widgets.history_dialog import HistoryDialog
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_of
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, ClientFactory
from tests.gui.credential_dialog_checks import generate_password, submit_empty_then_taken
from tests.gui.helpers import cell, click, confirmation, has_row, open_dialog, select_row, tab_of

PASSWORD = "flash-me-once"


def bootstrap_tab(window: MainWindow) -> BootstrapTab:
    return tab_of(window, "Bootstrap", BootstrapTab)


def devices_tab(window: MainWindow) -> DevicesTab:
    return tab_of(window, "Devices", DevicesTab, current=False)


def open_add_dialog(qtbot: QtBot, tab: BootstrapTab) -> AddBootstrapDialog:
    return open_dialog(qtbot, tab, tab.add_button, AddBootstrapDialog)


def test_add_with_a_generated_password_shown_once_and_copied(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("tasmota")
    tab = bootstrap_tab(window)
    dialog = open_add_dialog(qtbot, tab)
    qtbot.keyClicks(dialog.name_edit, "plugs")
    assert dialog.password.edit.echoMode() is QLineEdit.EchoMode.Password
    assert not dialog.password.note.isVisible()
    generated = generate_password(qtbot, dialog.password)  # shown in clear, here only
    assert "Store it now" in dialog.password.note.text()
    assert "cannot show this password again" in dialog.password.note.text()
    click(qtbot, dialog.password.copy_button)
    assert QGuiApplication.clipboard().text() == generated
    assert "Copied to the clipboard" in dialog.password.note.text()
    assert "Store it now" in dialog.password.note.text()
    dialog.register_box.setChecked(True)
    dialog.roles.set_checked("tasmota")
    click(qtbot, dialog.ok_button)

    qtbot.waitUntil(lambda: has_row(tab.table, "plugs"), timeout=5000)
    assert cell(tab.table, "plugs", STATE) == "inactive"
    assert state_of(cell(tab.table, "plugs", STATE, STATE_ROLE)) is CredentialState.INACTIVE
    assert cell(tab.table, "plugs", REGISTERS) == "yes"
    assert cell(tab.table, "plugs", ROLES) == "tasmota"
    assert cell(tab.table, "plugs", DEVICES) == "0"
    assert cell(tab.table, "plugs", SESSIONS) == "0"
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)  # closed and deleted: the password is gone
    bootstrap = store.bootstraps.get("plugs")
    assert bootstrap.register_devices
    assert verify_password(generated, bootstrap.password_hash)
    assert tab.selected_bootstrap() == bootstrap
    assert "inactive until a device first connects" in window.statusBar().currentMessage()

    fresh = open_add_dialog(qtbot, tab)  # a new dialog starts empty: the password is not shown again
    assert fresh.password.text() == ""
    assert not fresh.register_box.isChecked()


def test_name_errors_are_shown_next_to_the_field(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.bootstraps.add("plugs", FAST_HASH("x"))
    tab = bootstrap_tab(window)
    dialog = open_add_dialog(qtbot, tab)

    submit_empty_then_taken(qtbot, dialog, "plugs", empty_error="a bootstrap credential name must not be empty",
                            taken_error="a bootstrap credential named 'plugs' already exists")

    dialog.name_edit.setText("lamp")  # a user's name: one namespace for both, they are all MQTT usernames
    click(qtbot, dialog.ok_button)
    assert dialog.name_error.message.startswith("a user named 'lamp' already exists")
    assert "share one set of names" in dialog.name_error.message
    assert dialog.isVisible()
    assert [b.name for b in store.bootstraps.list()] == ["plugs"]


def test_roles_registration_password_history_and_delete(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("a")
    store.roles.add("b")
    store.bootstraps.add("plugs", FAST_HASH("old"), ("a",))
    tab = bootstrap_tab(window)
    assert not tab.roles_button.isEnabled()
    select_row(tab.table, "plugs")

    click(qtbot, tab.roles_button)
    roles = tab.dialog
    assert isinstance(roles, RolesFormDialog)
    assert roles.roles.checked_roles() == ("a",)
    roles.roles.set_checked("b")
    click(qtbot, roles.ok_button)
    qtbot.waitUntil(lambda: cell(tab.table, "plugs", ROLES) == "a, b", timeout=2000)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)

    assert tab.register_button.text() == "Register devices"
    click(qtbot, tab.register_button)
    assert cell(tab.table, "plugs", REGISTERS) == "yes"
    assert tab.register_button.text() == "Stop registering"
    click(qtbot, tab.register_button)
    assert not store.bootstraps.get("plugs").register_devices

    click(qtbot, tab.password_button)
    password = tab.dialog
    assert isinstance(password, BootstrapPasswordDialog)
    assert "keep the password they registered with" in " ".join(
        label.text() for label in password.findChildren(QLabel))
    click(qtbot, password.password.generate_button)
    new = password.password.text()
    click(qtbot, password.ok_button)
    qtbot.waitUntil(lambda: verify_password(new, store.bootstraps.get("plugs").password_hash), timeout=5000)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)

    click(qtbot, tab.history_button)
    history = tab.dialog
    assert isinstance(history, HistoryDialog)
    actions = [history.model.index(row, 1).data() for row in range(history.model.rowCount())]
    assert actions == ["create", "roles: a, b", "register devices: on", "register devices: off", "password reset"]
    history.reject()
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)

    click(qtbot, tab.delete_button)
    box = confirmation(tab)
    click(qtbot, box.cancel_button)
    assert has_row(tab.table, "plugs")
    click(qtbot, tab.delete_button)
    click(qtbot, confirmation(tab).confirm_button)
    qtbot.waitUntil(lambda: not has_row(tab.table, "plugs"), timeout=2000)
    assert not tab.delete_button.isEnabled()


def test_suspend_and_activate_without_devices_need_no_question(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.bootstraps.add("fleet", FAST_HASH("x"))
    tab = bootstrap_tab(window)
    select_row(tab.table, "fleet")
    assert not tab.activate_button.isEnabled()
    click(qtbot, tab.suspend_button)
    assert tab.dialog is None
    assert cell(tab.table, "fleet", STATE) == "suspended"
    assert "suspended since" in str(cell(tab.table, "fleet", STATE, 3))
    assert tab.activate_button.isEnabled()
    assert not tab.suspend_button.isEnabled()
    click(qtbot, tab.activate_button)
    assert cell(tab.table, "fleet", STATE) == "inactive"  # never used
    click(qtbot, tab.revoke_button)
    box = confirmation(tab)
    assert "final" in box.informativeText()
    assert box.check_box is None  # no devices to ask about
    click(qtbot, box.confirm_button)
    qtbot.waitUntil(lambda: cell(tab.table, "fleet", STATE) == "revoked", timeout=2000)
    assert [button.isEnabled() for button in (tab.suspend_button, tab.activate_button, tab.revoke_button)] == [
        False, False, False]


def test_suspend_with_devices_suspends_the_registered_device_too(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.bootstraps.add("plugs", FAST_HASH(PASSWORD), register_devices=True)
    tab = bootstrap_tab(window)
    devices = devices_tab(window)
    client = connect("DVES_1A2B3C", "plugs", PASSWORD)
    qtbot.waitUntil(lambda: has_row(devices.table, "DVES_1A2B3C"), timeout=5000)
    qtbot.waitUntil(lambda: cell(tab.table, "plugs", DEVICES) == "1", timeout=5000)
    assert cell(tab.table, "plugs", SESSIONS) == "0"  # the device connected as itself
    model = tab.table.model()
    assert model.headerData(SESSIONS, Qt.Orientation.Horizontal) == "Virtual sessions"
    assert "Registered devices connect as themselves and are not counted here" in model.headerData(
        SESSIONS, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == "plugs")
    assert "is not counted here" in model.index(row, SESSIONS).data(Qt.ItemDataRole.ToolTipRole)

    select_row(tab.table, "plugs")
    click(qtbot, tab.suspend_button)
    box = confirmation(tab)
    assert box.check_box is not None
    assert box.check_box.text() == "Also suspend its 1 registered device"
    assert "keeps working on their own unless you suspend it too" in box.informativeText()
    box.check_box.setChecked(True)
    click(qtbot, box.confirm_button)

    qtbot.waitUntil(lambda: cell(tab.table, "plugs", STATE) == "suspended", timeout=2000)
    assert store.devices.get("DVES_1A2B3C").state is CredentialState.SUSPENDED
    qtbot.waitUntil(lambda: cell(devices.table, "DVES_1A2B3C", DEVICE_STATE) == "suspended", timeout=2000)
    qtbot.waitUntil(lambda: not client.is_connected(), timeout=5000)
    assert "1 of its devices too" in window.statusBar().currentMessage()


def test_suspend_without_ticking_keeps_the_device(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.bootstraps.add("plugs", FAST_HASH(PASSWORD), register_devices=True)
    tab = bootstrap_tab(window)
    client = connect("DVES_KEEP", "plugs", PASSWORD)
    qtbot.waitUntil(lambda: cell(tab.table, "plugs", DEVICES) == "1", timeout=5000)
    select_row(tab.table, "plugs")
    click(qtbot, tab.suspend_button)
    click(qtbot, confirmation(tab).confirm_button)
    qtbot.waitUntil(lambda: cell(tab.table, "plugs", STATE) == "suspended", timeout=2000)
    assert store.devices.get("DVES_KEEP").state is CredentialState.ACTIVE
    assert client.is_connected()


def test_virtual_device_counts_in_sessions_now_but_is_not_a_device(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.bootstraps.add("fleet", FAST_HASH(PASSWORD))
    tab = bootstrap_tab(window)
    devices = devices_tab(window)
    clients = window.tab("Clients")
    client = connect("DVES_VIRTUAL", "fleet", PASSWORD)
    qtbot.waitUntil(lambda: cell(tab.table, "fleet", SESSIONS) == "1", timeout=5000)
    assert has_row(clients.table, "DVES_VIRTUAL")  # type: ignore[attr-defined]
    assert cell(clients.table, "DVES_VIRTUAL", METHOD) == "bootstrap (virtual)"  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: cell(tab.table, "fleet", STATE) == "active", timeout=5000)  # first use
    assert cell(tab.table, "fleet", DEVICES) == "0"
    assert not has_row(devices.table, "DVES_VIRTUAL")
    assert devices.model.rowCount() == 0

    client.disconnect()
    qtbot.waitUntil(lambda: cell(tab.table, "fleet", SESSIONS) == "0", timeout=5000)
    assert store.devices.find("DVES_VIRTUAL") is None
