"""A password entry with Generate, Show and Copy: a generated password is shown once, to be copied now."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from mqttdesk.core.passwords import generate_password

GENERATED_NOTE = "Copy this password now: once the dialog is closed it cannot be shown again."


class PasswordField(QWidget):
    text_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, generated_note: str = GENERATED_NOTE) -> None:
        """`generated_note` is what to say under a generated password (where to keep it, why it is shown once)."""
        super().__init__(parent)
        self._generated_note = generated_note
        self._generated = False
        self.edit = QLineEdit()
        self.edit.setObjectName("password")
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("type one or press Generate")
        # monospace, wide enough for a whole generated password: l/I/1 and O/0 must be told apart when copied by hand
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.edit.setMinimumWidth(self.edit.fontMetrics().horizontalAdvance("M" * 23))
        self.edit.textChanged.connect(self.text_changed)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Make a strong random password (20 letters and digits)")
        self.generate_button.clicked.connect(self.generate)
        self.show_button = QPushButton("Show")
        self.show_button.setCheckable(True)
        self.show_button.toggled.connect(self._set_visible)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the password to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setVisible(False)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.generate_button)
        row.addWidget(self.show_button)
        row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.note)

    def text(self) -> str:
        return self.edit.text()

    def generate(self) -> str:
        """Fill in a generated password and show it in clear text: this dialog is the only place it is ever shown."""
        password = generate_password()
        self.edit.setText(password)
        self.show_button.setChecked(True)
        self._generated = True
        self.note.setText(self._generated_note)
        self.note.setVisible(True)
        return password

    def copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None and self.edit.text():
            clipboard.setText(self.edit.text())
            # after a Generate, keep saying where to store it: the clipboard is not a place to keep a password
            self.note.setText("Copied to the clipboard." + (" " + self._generated_note if self._generated else ""))
            self.note.setVisible(True)

    def _set_visible(self, visible: bool) -> None:
        self.edit.setEchoMode(QLineEdit.EchoMode.Normal if visible else QLineEdit.EchoMode.Password)
        self.show_button.setText("Hide" if visible else "Show")
