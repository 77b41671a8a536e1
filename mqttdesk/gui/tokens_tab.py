"""The Tokens page: token (JWT) issuers, and a helper that mints a token of an HMAC issuer and copies it.

The same store as `mqttdesk token issuer add|list|delete` and `token mint`. A secret is typed into a password field
and never shown again; the list shows what kind of key an issuer has and its fingerprint, never the key.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core import tokens
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import TokenField
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.store.changes import Change, ChangeKind

COLUMNS = ("Name", "Key", "iss", "aud", "Claim", "Field", "Roles")


def _duration(text: str) -> float:
    """"90", "90s", "15m", "1h" as seconds (as `token mint --ttl` reads them)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    try:
        return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise MqttdeskError(f"a time to live is a number with s, m, h or d (e.g. 1h), not {text!r}") from None


class TokensTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter issuers")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda _text: self._apply_filter())
        self.delete_button = QPushButton("Delete issuer")
        self.delete_button.setToolTip("Delete the selected issuer: the sessions its tokens admitted are disconnected")
        self.delete_button.clicked.connect(self.delete_selected)
        self.delete_error = FieldError()

        self.name = QLineEdit()
        self.secret = QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setPlaceholderText("HMAC secret (at least 32 bytes), or leave empty and pick a public key")
        self.public_key = QLineEdit()
        self.public_key.setPlaceholderText("public key PEM file (RS*, PS*, ES*, EdDSA)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.iss, self.aud, self.claim = QLineEdit(), QLineEdit(), QLineEdit("sub")
        self.field = QComboBox()
        self.field.addItems([f.value for f in TokenField])
        self.roles = QLineEdit()
        self.roles.setPlaceholderText("roles, comma-separated")
        self.add_button = QPushButton("Add issuer")
        self.add_button.clicked.connect(self.add_issuer)
        self.add_error = FieldError()
        add_box = QGroupBox("Add an issuer")
        add_form = QFormLayout(add_box)
        add_form.addRow("Name", self.name)
        add_form.addRow("Secret", self.secret)
        key_row = QHBoxLayout()
        key_row.addWidget(self.public_key, 1)
        key_row.addWidget(browse)
        add_form.addRow("Public key", key_row)
        add_form.addRow("Expected iss", self.iss)
        add_form.addRow("Expected aud", self.aud)
        add_form.addRow("Identity claim", self.claim)
        add_form.addRow("Token in the", self.field)
        add_form.addRow("Roles", self.roles)
        add_form.addRow(self.add_error)
        add_form.addRow(self.add_button)

        self.mint_issuer = QComboBox()
        self.mint_subject = QLineEdit()
        self.mint_ttl = QLineEdit("1h")
        self.mint_button = QPushButton("Mint and copy")
        self.mint_button.clicked.connect(self.mint)
        self.minted = QLineEdit()
        self.minted.setReadOnly(True)
        self.minted.setPlaceholderText("the token appears here and on the clipboard; it is not kept anywhere")
        self.mint_error = FieldError()
        mint_box = QGroupBox("Try an HMAC issuer: mint a token")
        mint_form = QFormLayout(mint_box)
        mint_form.addRow("Issuer", self.mint_issuer)
        mint_form.addRow("Subject", self.mint_subject)
        mint_form.addRow("Valid for", self.mint_ttl)
        mint_form.addRow(self.mint_error)
        mint_form.addRow(self.mint_button)
        mint_form.addRow("Token", self.minted)

        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        forms = QHBoxLayout()
        forms.addWidget(add_box, 1)
        forms.addWidget(mint_box, 1)
        layout = QVBoxLayout(self)
        note = QLabel("Tokens are checked only for usernames no user, bootstrap credential or device has.")
        note.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(note, 1)
        top.addWidget(self.filter_edit)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.delete_error)
        layout.addLayout(forms)
        context.bridge.store_changed.connect(self._on_changes)
        self.refresh()

    def _on_changes(self, changes: tuple[Change, ...]) -> None:
        if any(change.kind is ChangeKind.TOKEN for change in changes):
            self.refresh()

    def refresh(self) -> None:
        issuers = self.context.store.token_issuers.list()
        self.table.setSortingEnabled(False)  # rows are filled by index: sort once they are all there
        self.table.setRowCount(len(issuers))
        for row, issuer in enumerate(issuers):
            key = f"HMAC secret ({issuer.fingerprint})" if issuer.hmac else f"public key ({issuer.fingerprint})"
            values = (issuer.name, key, issuer.issuer or "—", issuer.audience or "—", issuer.claim,
                      issuer.token_field.value, ", ".join(issuer.roles) or "—")
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, issuer.name)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self._apply_filter()
        chosen = self.mint_issuer.currentText()
        self.mint_issuer.clear()
        self.mint_issuer.addItems([issuer.name for issuer in issuers if issuer.hmac])
        if chosen:
            self.mint_issuer.setCurrentText(chosen)

    def _apply_filter(self) -> None:
        """Hide the rows in which no cell contains the filter's text (case-insensitive)."""
        wanted = self.filter_edit.text().strip().casefold()
        for row in range(self.table.rowCount()):
            cells = (self.table.item(row, column) for column in range(self.table.columnCount()))
            shown = not wanted or any(cell is not None and wanted in cell.text().casefold() for cell in cells)
            self.table.setRowHidden(row, not shown)

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Public key (PEM)", str(Path.home()))
        if chosen:
            self.public_key.setText(chosen)

    def add_issuer(self) -> None:
        self.add_error.clear_error()
        secret, pem_path = self.secret.text(), self.public_key.text().strip()
        try:
            if bool(secret) == bool(pem_path):
                raise MqttdeskError("give either a secret or a public key file")
            key = secret if secret else Path(pem_path).expanduser().read_text(encoding="utf-8")
            roles = tuple(role.strip() for role in self.roles.text().split(",") if role.strip())
            self.context.store.token_issuers.add(
                self.name.text().strip(), key, hmac=bool(secret), issuer=self.iss.text().strip() or None,
                audience=self.aud.text().strip() or None, claim=self.claim.text().strip() or "sub",
                token_field=TokenField(self.field.currentText()), roles=roles)
        except (MqttdeskError, OSError, UnicodeError) as exc:
            self.add_error.show_error(str(exc))
            return
        self.context.show_message(f"token issuer '{self.name.text().strip()}' added")
        for edit in (self.name, self.secret, self.public_key, self.iss, self.aud, self.roles):
            edit.clear()
        self.refresh()

    def delete_selected(self) -> None:
        self.delete_error.clear_error()
        items = self.table.selectedItems()
        if not items:
            self.delete_error.show_error("select an issuer first")
            return
        name = str(items[0].data(Qt.ItemDataRole.UserRole))
        try:
            self.context.store.token_issuers.delete(name)
        except MqttdeskError as exc:
            self.delete_error.show_error(str(exc))
            return
        self.context.show_message(f"token issuer '{name}' deleted")
        self.refresh()

    def mint(self) -> None:
        self.mint_error.clear_error()
        self.minted.clear()
        try:
            if not self.mint_issuer.currentText():
                raise MqttdeskError("add an HMAC issuer first: only those can be minted for here")
            subject = self.mint_subject.text().strip()
            if not subject:
                raise MqttdeskError("the subject must not be empty")
            issuer = self.context.store.token_issuers.get(self.mint_issuer.currentText())
            token = tokens.mint(issuer, subject, _duration(self.mint_ttl.text()))
        except MqttdeskError as exc:
            self.mint_error.show_error(str(exc))
            return
        self.minted.setText(token)
        QGuiApplication.clipboard().setText(token)
        self.context.show_message("token copied to the clipboard")
