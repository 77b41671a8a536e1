"""Context menus on the rows of the credential tables follow the state machine; tenants have a column and a filter.

No broker needed: records are put into each state through the store, the menu is opened with a real context-menu
event on the table's viewport, and its entries are read as the user would see them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from PySide6.QtCore import QModelIndex, QPoint
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from mqttdesk.core.model import Device
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.bootstraps_model import TENANT as BOOTSTRAP_TENANT
from mqttdesk.gui.models.users_model import TENANT
from mqttdesk.gui.record_tab import RecordTab
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.helpers import cell, column_values, confirmation, tab_of

Make = Callable[[Store, str], None]


def _user(store: Store, name: str) -> None:
    store.users.add(name, FAST_HASH("pw"))


def _bootstrap(store: Store, name: str) -> None:
    store.bootstraps.add(name, FAST_HASH("pw"))


def _device(store: Store, name: str) -> None:
    now = time.time()
    store.devices.add(Device(client_id=name, label="", bootstrap=None, username="plugs", password_hash=FAST_HASH("pw"),
                             state=CredentialState.INACTIVE, roles=(), created=now, state_since=now))


# tab title, how to add one, its repository's name on the store
KINDS: dict[str, tuple[str, Make, str]] = {
    "user": ("Users", _user, "users"),
    "bootstrap": ("Bootstrap", _bootstrap, "bootstraps"),
    "device": ("Devices", _device, "devices"),
}
# enabled (Suspend, Activate, Revoke…) per state
STATE_ENTRIES = {
    CredentialState.INACTIVE: (True, False, True),
    CredentialState.ACTIVE: (True, False, True),
    CredentialState.SUSPENDED: (False, True, True),
    CredentialState.REVOKED: (False, False, False),
}


def put_in_state(store: Store, repo_name: str, key: str, state: CredentialState) -> None:
    repo = getattr(store, repo_name)
    if state is not CredentialState.INACTIVE:
        repo.mark_used(key)
    if state is CredentialState.SUSPENDED:
        repo.apply(key, StateAction.SUSPEND)
    if state is CredentialState.REVOKED:
        repo.apply(key, StateAction.REVOKE)
    assert repo.get(key).state is state


def record_tab(window: MainWindow, title: str) -> RecordTab:
    return tab_of(window, title, RecordTab)


def open_row_menu(tab: RecordTab, key: str) -> QMenu:
    """Right-click the row whose first column reads `key`, as Qt delivers it: a context menu event on the viewport."""
    view = tab.table
    proxy = view.model()
    index = next((proxy.index(row, 1) for row in range(proxy.rowCount()) if proxy.index(row, 0).data() == key),
                 QModelIndex())
    assert index.isValid(), f"no row {key!r}"
    position = view.visualRect(index).center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, position, view.viewport().mapToGlobal(position))
    QApplication.sendEvent(view.viewport(), event)
    menu = tab.menu
    assert isinstance(menu, QMenu), "no context menu opened"
    return menu


def entries(menu: QMenu) -> dict[str, bool]:
    return {action.text(): action.isEnabled() for action in menu.actions() if not action.isSeparator()}


@pytest.mark.parametrize("state", list(STATE_ENTRIES), ids=lambda state: state.value)
@pytest.mark.parametrize("kind", list(KINDS))
def test_row_menu_entries_follow_the_state_machine(
    qtbot: QtBot, window: MainWindow, store: Store, kind: str, state: CredentialState
) -> None:
    title, make, repo_name = KINDS[kind]
    make(store, "thing")
    make(store, "other")
    put_in_state(store, repo_name, "thing", state)
    tab = record_tab(window, title)

    menu = open_row_menu(tab, "thing")
    assert tab.selected() is not None
    assert tab.model.key_of(tab.selected()) == "thing"
    shown = entries(menu)
    suspend = "Suspend…" if kind == "bootstrap" else "Suspend"  # it may ask about the credential's devices
    assert (shown[suspend], shown["Activate"], shown["Revoke…"]) == STATE_ENTRIES[state]
    assert shown["Delete…"]
    assert shown["History…"]
    if kind == "device":
        assert shown["Kick"] is False  # offline
    else:
        assert shown["Reset password…"] is (state is not CredentialState.REVOKED)
    tips = {action.text(): action.toolTip() for action in menu.actions()}
    if state is CredentialState.INACTIVE:
        assert "inactive until its first use" in tips["Activate"]
    if state is CredentialState.REVOKED:
        assert "revocation is final" in tips["Suspend…" if kind == "bootstrap" else "Suspend"]
    menu.close()
    qtbot.waitUntil(lambda: tab.menu is None, timeout=1000)


def test_a_menu_entry_runs_the_buttons_action(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    store.users.add("other", FAST_HASH("pw"))
    tab = record_tab(window, "Users")
    menu = open_row_menu(tab, "lamp")
    next(action for action in menu.actions() if action.text() == "Suspend").trigger()
    qtbot.waitUntil(lambda: store.users.get("lamp").state is CredentialState.SUSPENDED, timeout=2000)
    assert store.users.get("other").state is CredentialState.INACTIVE
    assert "user 'lamp' is now suspended" in window.statusBar().currentMessage()

    menu = open_row_menu(tab, "lamp")
    assert entries(menu)["Activate"]
    next(action for action in menu.actions() if action.text() == "Revoke…").trigger()
    assert "final" in confirmation(tab).informativeText()


def test_no_menu_below_the_last_row(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    tab = record_tab(window, "Users")
    below = QPoint(5, tab.table.viewport().height() - 3)
    QApplication.sendEvent(tab.table.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, below,
                                                                   tab.table.viewport().mapToGlobal(below)))
    assert tab.menu is None


def test_tenant_column_and_filter(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    for name in ("lamp@acme", "pump@acme", "lamp@globex", "plain", "acme-sensor"):
        store.users.add(name, FAST_HASH("pw"))
    store.bootstraps.add("plugs@acme", FAST_HASH("pw"))
    store.bootstraps.add("plugs", FAST_HASH("pw"))
    users = record_tab(window, "Users")
    assert cell(users.table, "lamp@acme", TENANT) == "acme"
    assert cell(users.table, "plain", TENANT) == "—"

    def names() -> list[object]:
        return column_values(users.table.model(), 0)

    qtbot.keyClicks(users.filter_edit, "@acme")
    assert names() == ["lamp@acme", "pump@acme"]  # not acme-sensor: it has no tenant
    users.filter_edit.setText("@ACM")  # a prefix, any case: narrows while typing
    assert names() == ["lamp@acme", "pump@acme"]
    users.filter_edit.setText("@")
    assert names() == ["lamp@acme", "lamp@globex", "pump@acme"]
    users.filter_edit.setText("acme")  # plain text: part of the name or the tenant
    assert names() == ["acme-sensor", "lamp@acme", "pump@acme"]
    users.filter_edit.setText("lamp")
    assert names() == ["lamp@acme", "lamp@globex"]
    users.filter_edit.clear()
    assert len(names()) == 5

    bootstrap = record_tab(window, "Bootstrap")
    assert cell(bootstrap.table, "plugs@acme", BOOTSTRAP_TENANT) == "acme"
    bootstrap.filter_edit.setText("@acme")
    assert column_values(bootstrap.table.model(), 0) == ["plugs@acme"]
