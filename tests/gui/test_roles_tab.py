from __future__ import annotations

import time

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.model import Device
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.roles_model import ROLE_RULES, ROLE_USERS, RULE_EFFECT, RULE_PERMISSION
from mqttdesk.gui.roles_tab import RolesTab
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.helpers import cell, click, confirmation, has_row, select_row, tab_of


def roles_tab(window: MainWindow) -> RolesTab:
    return tab_of(window, "Roles", RolesTab)


def test_add_role_and_rules(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = roles_tab(window)
    qtbot.keyClicks(tab.role_name_edit, "sensors")
    click(qtbot, tab.add_role_button)
    assert has_row(tab.roles_table, "sensors")
    assert tab.selected_role() is not None
    assert tab.role_title.text() == "Role 'sensors'"

    qtbot.keyClicks(tab.filter_edit, "sensors/%c/#")
    tab.permission_combo.setCurrentIndex(tab.permission_combo.findData(Permission.WRITE))
    click(qtbot, tab.add_rule_button)
    qtbot.keyClicks(tab.filter_edit, "sensors/secret/#")
    tab.effect_combo.setCurrentIndex(tab.effect_combo.findData(Effect.DENY))
    click(qtbot, tab.add_rule_button)

    assert store.roles.get("sensors").rules == (
        Rule("sensors", "sensors/%c/#", Permission.WRITE, Effect.ALLOW),
        Rule("sensors", "sensors/secret/#", Permission.WRITE, Effect.DENY),
    )
    assert cell(tab.rules_table, "sensors/%c/#", RULE_PERMISSION) == "write (publish)"
    assert cell(tab.rules_table, "sensors/secret/#", RULE_EFFECT) == "deny"
    assert cell(tab.roles_table, "sensors", ROLE_RULES) == "2"
    assert tab.filter_edit.text() == ""
    assert tab.rule_error.message == ""

    select_row(tab.rules_table, "sensors/secret/#")
    click(qtbot, tab.remove_rule_button)
    assert not has_row(tab.rules_table, "sensors/secret/#")
    assert len(store.roles.get("sensors").rules) == 1


def test_bad_filter_is_rejected_next_to_the_field(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("r")
    tab = roles_tab(window)
    select_row(tab.roles_table, "r")
    qtbot.keyClicks(tab.filter_edit, "a/#/b")
    click(qtbot, tab.add_rule_button)
    assert tab.rule_error.isVisible()
    assert "#" in tab.rule_error.message
    assert tab.filter_edit.text() == "a/#/b"  # kept, to be corrected

    tab.filter_edit.clear()
    qtbot.keyClicks(tab.filter_edit, "a/%x")
    click(qtbot, tab.add_rule_button)
    assert "%u, %c or %t" in tab.rule_error.message
    assert store.roles.get("r").rules == ()
    assert "%c" in tab.filter_edit.toolTip()

    tab.filter_edit.clear()
    qtbot.keyClicks(tab.filter_edit, "a/+")
    click(qtbot, tab.add_rule_button)
    assert tab.rule_error.message == ""
    assert not tab.rule_error.isVisible()


def test_role_name_errors_and_members(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("r")
    tab = roles_tab(window)
    click(qtbot, tab.add_role_button)
    assert tab.role_error.message == "a role name must not be empty"
    qtbot.keyClicks(tab.role_name_edit, "r")
    click(qtbot, tab.add_role_button)
    assert tab.role_error.message == "a role named 'r' already exists"

    select_row(tab.roles_table, "r")
    assert tab.members_model.stringList() == []
    store.users.add("lamp", FAST_HASH("x"), ("r",))
    assert tab.members_model.stringList() == ["user 'lamp'"]
    assert cell(tab.roles_table, "r", ROLE_USERS) == "1"


def test_delete_role_after_confirmation(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("r")
    store.users.add("lamp", FAST_HASH("x"), ("r",))
    tab = roles_tab(window)
    select_row(tab.roles_table, "r")
    click(qtbot, tab.delete_role_button)
    box = confirmation(tab)
    assert "lamp" in box.informativeText()
    click(qtbot, box.confirm_button)
    assert not has_row(tab.roles_table, "r")
    assert store.users.get("lamp").roles == ()
    assert tab.role_title.text() == "Select a role, or add one"


def test_every_kind_of_holder_is_shown_and_named_before_deleting(qtbot: QtBot, window: MainWindow,
                                                                 store: Store) -> None:
    """Not just users: bootstrap credentials, devices with roles of their own and anonymous access hold roles too."""
    store.roles.add("r")
    store.roles.add("other")
    tab = roles_tab(window)
    select_row(tab.roles_table, "r")
    store.bootstraps.add("factory", FAST_HASH("pw"), ("r",))
    now = time.time()
    store.devices.add(Device(client_id="plug-1", label="Plug", bootstrap="factory", username="factory",
                             password_hash=FAST_HASH("pw"), state=CredentialState.ACTIVE, roles=(), created=now,
                             state_since=now))
    store.devices.add(Device(client_id="plug-2", label="", bootstrap="factory", username="factory",
                             password_hash=FAST_HASH("pw"), state=CredentialState.ACTIVE, roles=(), created=now,
                             state_since=now))
    store.devices.set_roles("plug-1", ("r",))
    store.settings.set_anonymous(True, ("r",))
    store.users.add("lamp", FAST_HASH("x"), ("r", "other"))
    holders = ["user 'lamp'", "bootstrap 'factory'", "device 'Plug' (plug-1)", "anonymous access"]
    assert tab.members_model.stringList() == holders  # plug-2 has no role of its own
    assert cell(tab.roles_table, "r", ROLE_USERS) == "4"
    assert cell(tab.roles_table, "other", ROLE_USERS) == "1"
    assert "bootstrap credentials" in str(tab.roles_model.headerData(ROLE_USERS, Qt.Orientation.Horizontal,
                                                                      Qt.ItemDataRole.ToolTipRole))

    store.devices.set_roles("plug-1", ())
    store.settings.set_anonymous(False)  # the roles stay stored: they apply again when it is turned on
    assert tab.members_model.stringList() == [*holders[:2], "anonymous access (off at the moment)"]
    assert cell(tab.roles_table, "r", ROLE_USERS) == "3"

    click(qtbot, tab.delete_role_button)  # anonymous clients would be left with every topic: refused up front
    assert tab.dialog is None
    assert "Anonymous clients get role 'r'" in tab.role_error.text()
    store.roles.add("guests")
    store.settings.set_anonymous_roles(("guests",))
    click(qtbot, tab.delete_role_button)
    box = confirmation(tab)
    assert box.informativeText() == "2 holders lose it: user 'lamp', bootstrap 'factory'."
    assert box.cancel_button is not None
    click(qtbot, box.cancel_button)
    assert store.roles.get("r").name == "r"

    store.roles.add("empty")
    select_row(tab.roles_table, "empty")
    click(qtbot, tab.delete_role_button)
    assert "Nobody has this role" in confirmation(tab).informativeText()
