"""Checks of the add-credential dialog (`NewCredentialFormDialog`) that the Users and Bootstrap tests share."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from mqttdesk.gui.widgets.form_dialog import NewCredentialFormDialog
from mqttdesk.gui.widgets.password_field import PasswordField
from tests.gui.helpers import click


def generate_password(qtbot: QtBot, field: PasswordField) -> str:
    """Press Generate: a 20-character password, shown in clear, with the note under it."""
    click(qtbot, field.generate_button)
    generated = field.text()
    assert len(generated) == 20
    assert field.edit.echoMode() is QLineEdit.EchoMode.Normal
    assert field.note.isVisible()
    return generated


def submit_empty_then_taken(qtbot: QtBot, dialog: NewCredentialFormDialog, taken: str, *, empty_error: str,
                            taken_error: str) -> None:
    """OK on the empty form: `empty_error` under the name, an error under the password, the dialog still open. Then
    OK with the name `taken` and a password: `taken_error` under the name, none under the password."""
    click(qtbot, dialog.ok_button)  # nothing filled in
    assert dialog.isVisible()
    assert dialog.name_error.message == empty_error
    assert "must not be empty" in dialog.password_error.message

    qtbot.keyClicks(dialog.name_edit, taken)
    qtbot.keyClicks(dialog.password.edit, "pw")
    click(qtbot, dialog.ok_button)
    assert dialog.name_error.message == taken_error
    assert dialog.password_error.message == ""
