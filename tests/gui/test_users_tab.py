from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from mqttdesk.core.model import AuthMode
from mqttdesk.core.passwords import verify_password
from mqttdesk.core.states import CredentialState
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.users_model import LOGIN, ROLES, SESSIONS, STATE
from mqttdesk.gui.user_dialogs import (
    AddUserDialog,
    EditRolesDialog,
    LoginDialog,
    ReservedClientIdsDialog,
    ResetPasswordDialog,
)
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_of
from mqttdesk.pki.ca import create_ca
from mqttdesk.pki.certificates import certificate_pem
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.credential_dialog_checks import generate_password, submit_empty_then_taken
from tests.gui.helpers import cell, click, confirmation, has_row, open_dialog, select_row, tab_of


def users_tab(window: MainWindow) -> UsersTab:
    return tab_of(window, "Users", UsersTab, current=False)


def open_add_dialog(qtbot: QtBot, tab: UsersTab) -> AddUserDialog:
    return open_dialog(qtbot, tab, tab.add_button, AddUserDialog)


def test_add_user_through_the_dialog_shows_an_inactive_user(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("sensors")
    tab = users_tab(window)
    dialog = open_add_dialog(qtbot, tab)
    qtbot.keyClicks(dialog.name_edit, "kitchen")
    qtbot.keyClicks(dialog.password.edit, "s3cret-pass")
    dialog.roles.set_checked("sensors")
    click(qtbot, dialog.ok_button)

    qtbot.waitUntil(lambda: has_row(tab.table, "kitchen"), timeout=5000)
    assert cell(tab.table, "kitchen", STATE) == "inactive"
    assert state_of(cell(tab.table, "kitchen", STATE, STATE_ROLE)) is CredentialState.INACTIVE
    assert cell(tab.table, "kitchen", ROLES) == "sensors"
    assert cell(tab.table, "kitchen", SESSIONS) == "0"
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)  # closed (and deleted)
    user = store.users.get("kitchen")
    assert verify_password("s3cret-pass", user.password_hash)
    assert tab.selected_user() == user


def test_duplicate_and_empty_names_are_shown_next_to_the_field(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    tab = users_tab(window)
    dialog = open_add_dialog(qtbot, tab)

    submit_empty_then_taken(qtbot, dialog, "lamp", empty_error="a user name must not be empty",
                            taken_error="a user named 'lamp' already exists")
    assert dialog.isVisible()
    assert [user.name for user in store.users.list()] == ["lamp"]


def test_generated_password_is_shown_and_works(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = users_tab(window)
    dialog = open_add_dialog(qtbot, tab)
    qtbot.keyClicks(dialog.name_edit, "gen")
    generated = generate_password(qtbot, dialog.password)
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: has_row(tab.table, "gen"), timeout=5000)
    assert verify_password(generated, store.users.get("gen").password_hash)


def test_suspend_changes_state_text_and_icon_and_the_enabled_actions(
    qtbot: QtBot, window: MainWindow, store: Store
) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    tab = users_tab(window)
    select_row(tab.table, "lamp")
    assert tab.suspend_button.isEnabled()
    assert not tab.activate_button.isEnabled()  # inactive is not suspended
    inactive_icon = cell(tab.table, "lamp", STATE, 1).cacheKey()  # DecorationRole

    click(qtbot, tab.suspend_button)
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", STATE) == "suspended", timeout=2000)
    assert state_of(cell(tab.table, "lamp", STATE, STATE_ROLE)) is CredentialState.SUSPENDED
    assert cell(tab.table, "lamp", STATE, 1).cacheKey() != inactive_icon
    assert not tab.suspend_button.isEnabled()
    assert tab.activate_button.isEnabled()
    assert "suspended" in window.statusBar().currentMessage()

    click(qtbot, tab.activate_button)
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", STATE) == "inactive", timeout=2000)  # never used


def test_revoke_asks_first_and_says_it_is_final(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    tab = users_tab(window)
    select_row(tab.table, "lamp")
    click(qtbot, tab.revoke_button)
    box = confirmation(tab)
    assert "final" in box.informativeText()
    click(qtbot, box.cancel_button)
    assert store.users.get("lamp").state is CredentialState.INACTIVE

    click(qtbot, tab.revoke_button)
    click(qtbot, confirmation(tab).confirm_button)
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", STATE) == "revoked", timeout=2000)
    assert not tab.suspend_button.isEnabled()
    assert not tab.activate_button.isEnabled()
    assert not tab.revoke_button.isEnabled()
    assert tab.delete_button.isEnabled()


def test_delete_removes_the_row_after_confirmation(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.users.add("other", FAST_HASH("x"))
    tab = users_tab(window)
    select_row(tab.table, "lamp")
    click(qtbot, tab.delete_button)
    click(qtbot, confirmation(tab).confirm_button)
    qtbot.waitUntil(lambda: not has_row(tab.table, "lamp"), timeout=2000)
    assert has_row(tab.table, "other")
    assert store.users.find("lamp") is None


def test_reset_password_and_edit_roles(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.roles.add("a")
    store.roles.add("b")
    store.users.add("lamp", FAST_HASH("old"), ("a",))
    tab = users_tab(window)
    select_row(tab.table, "lamp")

    click(qtbot, tab.password_button)
    dialog = tab.dialog
    assert isinstance(dialog, ResetPasswordDialog)
    click(qtbot, dialog.ok_button)
    assert "must not be empty" in dialog.password_error.message
    qtbot.keyClicks(dialog.password.edit, "new-one")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: verify_password("new-one", store.users.get("lamp").password_hash), timeout=5000)

    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)
    click(qtbot, tab.roles_button)
    roles_dialog = tab.dialog
    assert isinstance(roles_dialog, EditRolesDialog)
    assert roles_dialog.roles.checked_roles() == ("a",)
    roles_dialog.roles.set_checked("a", False)
    roles_dialog.roles.set_checked("b")
    click(qtbot, roles_dialog.ok_button)
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", ROLES) == "b", timeout=2000)


def test_changes_made_elsewhere_appear_without_a_reset(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = users_tab(window)
    resets: list[None] = []
    tab.model.modelReset.connect(lambda: resets.append(None))
    store.users.add("b", FAST_HASH("x"))
    store.users.add("a", FAST_HASH("x"))
    assert [tab.table.model().index(row, 0).data() for row in range(2)] == ["a", "b"]  # sorted by name
    store.users.delete("b")
    assert not has_row(tab.table, "b")
    assert resets == []


def test_reserved_client_ids_are_edited_with_errors_next_to_the_field(
    qtbot: QtBot, window: MainWindow, store: Store
) -> None:
    store.users.add("alice", FAST_HASH("pw"))
    tab = users_tab(window)
    select_row(tab.table, "alice")
    dialog = open_dialog(qtbot, tab, tab.reserve_button, ReservedClientIdsDialog)
    dialog.patterns.setPlainText("alice-*\n*")
    click(qtbot, dialog.ok_button)
    assert "would reserve every clientId" in dialog.patterns_error.message
    assert store.users.get("alice").reserved_client_ids == ()  # nothing saved, nothing lost
    dialog.patterns.setPlainText("alice-*\nphone-?")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: store.users.get("alice").reserved_client_ids == ("alice-*", "phone-?"), timeout=5000)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=2000)
    dialog = open_dialog(qtbot, tab, tab.reserve_button, ReservedClientIdsDialog)
    dialog.patterns.setPlainText("phone-?")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: store.users.get("alice").reserved_client_ids == ("phone-?",), timeout=5000)


def test_a_certificate_only_user_is_added_without_a_password(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = users_tab(window)
    dialog = open_add_dialog(qtbot, tab)
    qtbot.keyClicks(dialog.name_edit, "plug")
    assert not dialog.login.ca_box.isVisible()  # only for logins that take a certificate
    dialog.login.mode_box.setCurrentIndex(dialog.login.mode_box.findData(AuthMode.CERTIFICATE.value))
    assert not dialog.password.isVisible()  # not asked for
    assert dialog.login.ca_box.isVisible()
    click(qtbot, dialog.ok_button)

    qtbot.waitUntil(lambda: has_row(tab.table, "plug"), timeout=5000)
    user = store.users.get("plug")
    assert user.auth is AuthMode.CERTIFICATE
    assert user.certificate_ca is None
    assert cell(tab.table, "plug", LOGIN) == "certificate"
    assert "no password" in str(cell(tab.table, "plug", LOGIN, Qt.ItemDataRole.ToolTipRole))


def test_the_login_dialog_binds_a_user_to_a_trusted_ca(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.pki.trust("factory", certificate_pem(create_ca("Factory CA").certificate))
    tab = users_tab(window)
    assert cell(tab.table, "lamp", LOGIN) == "password"
    select_row(tab.table, "lamp")
    dialog = open_dialog(qtbot, tab, tab.login_button, LoginDialog)
    dialog.login.mode_box.setCurrentIndex(dialog.login.mode_box.findData(AuthMode.BOTH.value))
    dialog.login.ca_box.setCurrentIndex(dialog.login.ca_box.findData("factory"))
    click(qtbot, dialog.ok_button)

    qtbot.waitUntil(lambda: cell(tab.table, "lamp", LOGIN) == "both (factory)", timeout=5000)
    user = store.users.get("lamp")
    assert (user.auth, user.certificate_ca) == (AuthMode.BOTH, "factory")
