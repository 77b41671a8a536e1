"""Bad input in the window changes nothing: the GUI half of the bad-input table (the CLI half is
tests/integration/test_bad_input_cli.py). Each case types into the real dialog or tab, presses its button, and
finds the message under the field it is about, the dialog still open, and the store (every table, and the files of
the data directory) as it was."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from mqttdesk.gui.bootstrap_dialogs import AddBootstrapDialog
from mqttdesk.gui.bootstrap_tab import BootstrapTab
from mqttdesk.gui.ca_dialogs import ImportCaDialog, TrustCaDialog
from mqttdesk.gui.certificates_tab import CertificatesTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.roles_tab import RolesTab
from mqttdesk.gui.user_dialogs import AddUserDialog
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.store.db import DB_FILENAME, Store
from tests.gui.conftest import FAST_HASH
from tests.gui.helpers import click, open_dialog, tab_of

LONG = "n" * 10_000
GARBAGE_PEM = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
NOT_UTF8 = b"\xff\xfe\xfa not text \x80\n"


@dataclass(frozen=True)
class GuiCase:
    id: str
    form: str  # user | bootstrap | role | rule | trust | import | port
    values: tuple[str, ...]  # what is typed, field by field (for files: a file name in `files`)
    field: str  # the error line the message must be under
    says: str
    files: tuple[tuple[str, bytes], ...] = ()


CASES = [
    GuiCase("user-empty-name", "user", ("", "pw"), "name_error", "must not be empty"),
    GuiCase("user-duplicate", "user", ("lamp", "pw"), "name_error", "already exists"),
    GuiCase("user-10000-chars", "user", (LONG, "pw"), "name_error", "at most 256 characters"),
    GuiCase("user-newline", "user", ("a\nb", "pw"), "name_error", "control characters"),
    GuiCase("user-empty-password", "user", ("newbie", ""), "password_error", "must not be empty"),
    GuiCase("bootstrap-empty-name", "bootstrap", ("", "pw"), "name_error", "must not be empty"),
    GuiCase("bootstrap-duplicate", "bootstrap", ("plugs", "pw"), "name_error", "already exists"),
    GuiCase("bootstrap-10000-chars", "bootstrap", (LONG, "pw"), "name_error", "at most 256 characters"),
    GuiCase("role-empty-name", "role", ("",), "role_error", "must not be empty"),
    GuiCase("role-duplicate", "role", ("lamps",), "role_error", "already exists"),
    GuiCase("role-10000-chars", "role", (LONG,), "role_error", "at most 256 characters"),
    GuiCase("rule-hash-in-middle", "rule", ("a/#/b",), "rule_error", "'#' must be a whole level"),
    GuiCase("rule-plus-in-level", "rule", ("+x",), "rule_error", "'+' must be a whole level"),
    GuiCase("rule-pattern-in-level", "rule", ("dev-%c/#",), "rule_error", "whole level"),
    GuiCase("rule-empty", "rule", ("",), "rule_error", "enter a topic filter"),
    GuiCase("rule-long-and-broken", "rule", (LONG + "#",), "rule_error", "'#' must be a whole level"),
    GuiCase("trust-garbage-pem", "trust", ("other", "bad.pem"), "file_error", "contents are damaged",
            (("bad.pem", GARBAGE_PEM),)),
    GuiCase("trust-not-pem", "trust", ("other", "bin.pem"), "file_error", "exactly one CA certificate",
            (("bin.pem", NOT_UTF8),)),
    GuiCase("trust-name-newline", "trust", ("a\nb", "bad.pem"), "name_error", "control characters",
            (("bad.pem", GARBAGE_PEM),)),
    GuiCase("import-garbage-certificate", "import", ("bad.pem", "bad.key"), "certificate_error",
            "contents are damaged", (("bad.pem", GARBAGE_PEM), ("bad.key", b"-----BEGIN PRIVATE KEY-----\n"))),
    GuiCase("port-word", "port", ("abc",), "listener_error", "number between 0 and 65535"),
    GuiCase("port-70000", "port", ("70000",), "listener_error", "between 0 and 65535"),
    GuiCase("port-negative", "port", ("-1",), "listener_error", "between 0 and 65535"),
]


def _snapshot(data_dir: Path) -> tuple[list[str], dict[str, str]]:
    connection = sqlite3.connect(data_dir / DB_FILENAME)
    try:
        rows = list(connection.iterdump())
    finally:
        connection.close()
    files = {str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(data_dir.rglob("*")) if p.is_file() and not p.name.startswith(DB_FILENAME)}
    return rows, files


def _fill(qtbot: QtBot, window: MainWindow, case: GuiCase, tmp_path: Path) -> QWidget:
    """Type the case into its form and press its button; returns what holds the error line."""
    for name, data in case.files:
        (tmp_path / name).write_bytes(data)
    if case.form in ("user", "bootstrap"):
        if case.form == "user":
            tab: UsersTab | BootstrapTab = tab_of(window, "Users", UsersTab)
            dialog: AddUserDialog | AddBootstrapDialog = open_dialog(qtbot, tab, tab.add_button, AddUserDialog)
        else:
            tab = tab_of(window, "Bootstrap", BootstrapTab)
            dialog = open_dialog(qtbot, tab, tab.add_button, AddBootstrapDialog)
        dialog.name_edit.setText(case.values[0])  # setText: keyClicks cannot type a newline into a line edit
        dialog.password.edit.setText(case.values[1])
        click(qtbot, dialog.ok_button)
        assert dialog.isVisible()
        return dialog
    if case.form in ("role", "rule"):
        roles = tab_of(window, "Roles", RolesTab)
        if case.form == "role":
            roles.role_name_edit.setText(case.values[0])
            click(qtbot, roles.add_role_button)
        else:
            roles.select_role("lamps")
            qtbot.waitUntil(lambda: roles.rules_model.role_name == "lamps", timeout=2000)
            roles.filter_edit.setText(case.values[0])
            click(qtbot, roles.add_rule_button)
        return roles
    if case.form in ("trust", "import"):
        certificates = tab_of(window, "Certificates", CertificatesTab)
        if case.form == "trust":
            trust = TrustCaDialog(certificates.context, certificates)
            trust.name_edit.setText(case.values[0])
            trust.file.set_path(tmp_path / case.values[1])
            form: TrustCaDialog | ImportCaDialog = trust
        else:
            importing = ImportCaDialog(certificates.context, certificates.ca_key, certificates)
            importing.certificate_file.set_path(tmp_path / case.values[0])
            importing.key_file.set_path(tmp_path / case.values[1])
            form = importing
        form.show()
        qtbot.waitExposed(form)
        click(qtbot, form.ok_button)
        assert form.isVisible()
        return form
    bar = window.broker_bar
    bar.port_edit.setText(case.values[0])
    bar.start()
    return bar


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_shows_the_message_next_to_the_field_and_saves_nothing(
        qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path, case: GuiCase) -> None:
    store.roles.add("lamps")
    store.users.add("lamp", FAST_HASH("pw"), ("lamps",))
    store.bootstraps.add("plugs", FAST_HASH("pw"))
    before = _snapshot(tmp_path / "data")
    holder = _fill(qtbot, window, case, tmp_path)
    error = getattr(holder, case.field)
    assert isinstance(error, FieldError)
    qtbot.waitUntil(lambda: case.says in error.message, timeout=3000)
    assert error.isVisible()
    assert len(error.message) < 600  # a sentence, not the 10,000 characters typed
    others = [e for e in holder.findChildren(FieldError) if e is not error and e.message]
    if case.form not in ("user", "bootstrap"):  # their forms check every field at once (see test_users_tab)
        assert others == []
    assert _snapshot(tmp_path / "data") == before


def test_the_gui_table_covers_every_form() -> None:
    assert {case.form for case in CASES} == {"user", "bootstrap", "role", "rule", "trust", "import", "port"}
    assert len(CASES) >= 20

