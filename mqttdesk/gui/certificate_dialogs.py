"""Dialogs for client certificates: issue one for a user (and save it as a PEM pair or PKCS#12, optionally with
Tasmota's console commands), show what was issued, and sign a device's CSR after showing its subject and key.

A client's private key goes only into the files written (and the Tasmota command shown once); mqttdesk keeps the
certificate, never the key, exactly as `mqttdesk cert issue` does.
"""

from __future__ import annotations

import html
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.ca_dialogs import CaKey, days_box, key_type_box
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.file_field import FileField, PathKind
from mqttdesk.gui.widgets.form_dialog import FormDialog
from mqttdesk.gui.widgets.password_field import PasswordField
from mqttdesk.pki.certificates import certificate_pem, serial_hex
from mqttdesk.pki.choices import DEFAULT_CLIENT_DAYS, KeyType
from mqttdesk.pki.export import TasmotaKeyCommands, file_stem, pkcs12_bundle, tasmota_key_commands
from mqttdesk.pki.issue import check_csr, load_csr
from mqttdesk.pki.keys import describe_key, private_key_pem
from mqttdesk.store.pki_files import PRIVATE, PUBLIC, write_file

PEM_PAIR, PKCS12 = "pem", "p12"
P12_NOTE = "Copy this password now: it opens the .p12 file, and mqttdesk does not keep it."


@dataclass(frozen=True)
class IssueResult:
    serial: str
    user: str
    key: str
    written: tuple[Path, ...]
    tasmota: TasmotaKeyCommands | None = None
    tasmota_refused: str | None = None  # why there are no Tasmota commands, when they were asked for


class IssueCertificateDialog(FormDialog):
    def __init__(self, context: TabContext, ca_key: CaKey, parent: QWidget | None = None, *,
                 user: str | None = None) -> None:
        super().__init__(context, "Issue a client certificate", "Issue", parent)
        self.ca_key = ca_key
        self.issue_result: IssueResult | None = None
        self.user_box = QComboBox()
        self.user_box.addItems(sorted(u.name for u in context.store.users.list()))
        if user is not None:
            self.user_box.setCurrentText(user)
        self.user_error = self.add_field("User (CN)", self.user_box)
        self.login_note = QLabel()
        self.login_note.setWordWrap(True)
        self.form.addRow("", self.login_note)
        self.user_box.currentTextChanged.connect(self._user_changed)
        self._user_changed(self.user_box.currentText())
        self.key_type = key_type_box((KeyType.EC_P256, KeyType.RSA2048))
        self.key_type.currentIndexChanged.connect(self._key_changed)
        self.key_error = self.add_field("Key", self.key_type)
        self.days = days_box(DEFAULT_CLIENT_DAYS)
        self.days_error = self.add_field("Valid for", self.days)
        self.format_box = QComboBox()
        self.format_box.addItem("PEM pair (NAME.crt + NAME.key)", PEM_PAIR)
        self.format_box.addItem("PKCS#12 (NAME.p12, with a password)", PKCS12)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.format_error = self.add_field("Save as", self.format_box)
        self.folder = FileField(PathKind.FOLDER, "Save the certificate in", placeholder="a folder")
        self.folder_error = self.add_field("Folder", self.folder)
        self.password = PasswordField(generated_note=P12_NOTE)
        self.password_error = self.add_field("Password", self.password)
        self._password_row = self.form.rowCount() - 1
        self.tasmota_box = QCheckBox("Show Tasmota's TLSKey1 / TLSKey2 console commands too")
        self.tasmota_error = self.add_field("", self.tasmota_box)
        hint = QLabel("The CN is the user's name: a client presenting this certificate logs in as that user (when "
                      "its login takes a certificate). The private key is written only to the files you choose.")
        hint.setWordWrap(True)
        self.form.addRow("", hint)
        self._format_changed()
        self._key_changed()

    def _user_changed(self, name: str) -> None:
        user = self.context.store.users.find(name) if name else None
        note = ""
        if user is not None and not user.auth.takes_certificate:
            note = (f"'{name}' logs in by password only: set its login to certificate or both (Users tab, Login…) "
                    "for this certificate to log it in.")
        elif user is not None and user.certificate_ca:
            note = (f"'{name}' is bound to trusted CA '{user.certificate_ca}': a certificate of mqttdesk's CA does "
                    "not log it in.")
        self.login_note.setText(note)
        self.login_note.setVisible(bool(note))

    def _format_changed(self, *_args: object) -> None:
        p12 = self.format_box.currentData() == PKCS12
        self.form.setRowVisible(self._password_row, p12)
        if p12 and not self.password.text():
            self.password.generate()

    def _key_changed(self, *_args: object) -> None:
        ec_key = KeyType(self.key_type.currentData()) is KeyType.EC_P256
        self.tasmota_box.setEnabled(ec_key)
        self.tasmota_box.setToolTip("" if ec_key else "Tasmota takes EC P-256 client keys only")
        if not ec_key:
            self.tasmota_box.setChecked(False)

    def targets(self, user: str) -> list[Path]:
        folder = self.folder.path()
        assert folder is not None
        stem = file_stem(user)
        if self.format_box.currentData() == PKCS12:
            return [folder / f"{stem}.p12"]
        return [folder / f"{stem}.crt", folder / f"{stem}.key"]

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        user = self.user_box.currentText()
        ok = True
        if not user:
            self.user_error.show_error("there is no user yet: a client certificate's CN must be an existing user "
                                       "(add one in the Users tab)")
            ok = False
        folder = self.folder.path()
        if folder is None:
            self.folder_error.show_error("choose the folder to save the certificate in")
            ok = False
        elif folder.exists() and not folder.is_dir():
            self.folder_error.show_error(f"{folder} is not a folder")
            ok = False
        elif user:
            existing = [str(target) for target in self.targets(user) if target.exists()]
            if existing:
                self.folder_error.show_error(f"{', '.join(existing)} exists already; mqttdesk does not overwrite a "
                                             "certificate or key")
                ok = False
        p12 = self.format_box.currentData() == PKCS12
        if p12 and not self.password.text():
            self.password_error.show_error("a PKCS#12 file needs a password (type one or press Generate)")
            ok = False
        try:
            passphrase = self.ca_key.passphrase()
        except MqttdeskError as exc:
            self.general_error.show_error(str(exc))
            return None
        if not ok:
            return None
        return self._issue(user, KeyType(self.key_type.currentData()), self.days.value(), passphrase,
                           self.password.text() if p12 else None, self.tasmota_box.isChecked())

    async def _issue(self, user: str, key_type: KeyType, days: int, passphrase: str | None, p12_password: str | None,
                     tasmota: bool) -> str:
        # on the loop: an EC P-256 or RSA 2048 key takes well under 100 ms (larger keys are not offered here)
        pki = self.context.store.pki
        issued = pki.issue_client(user, key_type=key_type, days=days, passphrase=passphrase)
        key = issued.key
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        targets = self.targets(user)
        targets[0].parent.mkdir(parents=True, exist_ok=True)
        if p12_password is not None:
            write_file(targets[0], pkcs12_bundle(issued.certificate, key, p12_password, ca=pki.ca_certificate(),
                                                 friendly_name=user), PRIVATE, replace=False)
        else:
            write_file(targets[0], certificate_pem(issued.certificate), PUBLIC, replace=False)
            write_file(targets[1], private_key_pem(key), PRIVATE, replace=False)
        commands, refused = None, None
        if tasmota:
            try:
                commands = tasmota_key_commands(issued.certificate, key)
            except MqttdeskError as exc:
                refused = str(exc)
        serial = serial_hex(issued.certificate.serial_number)
        self.issue_result = IssueResult(serial, user, describe_key(key), tuple(targets), commands, refused)
        return serial


class IssuedDialog(QDialog):
    """What was issued and written, and Tasmota's console commands (or why there are none)."""

    def __init__(self, result: IssueResult, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Certificate for {result.user}")
        self.setMinimumWidth(620)
        layout = QVBoxLayout(self)
        facts = QFormLayout()
        facts.addRow("Serial", QLabel(result.serial))
        facts.addRow("User (CN)", QLabel(html.escape(result.user)))
        facts.addRow("Key", QLabel(result.key))
        facts.addRow("Written", QLabel(html.escape("\n".join(str(path) for path in result.written))))
        layout.addLayout(facts)
        self.key_command: CommandBox | None = None
        self.certificate_command: CommandBox | None = None
        self.refused: QLabel | None = None
        if result.tasmota is not None:
            note = QLabel("Paste both lines into the device's Tasmota console. <b>TLSKey1 is the private key</b>: "
                          "give it to this device only; it is not shown again.")
            note.setWordWrap(True)
            layout.addWidget(note)
            self.key_command = CommandBox(result.tasmota.key_command, "Copy the TLSKey1 command (the private key)")
            self.certificate_command = CommandBox(result.tasmota.certificate_command, "Copy the TLSKey2 command")
            layout.addWidget(self.key_command)
            layout.addWidget(self.certificate_command)
        elif result.tasmota_refused is not None:
            self.refused = QLabel(f"No Tasmota commands: {html.escape(result.tasmota_refused)}.")
            self.refused.setWordWrap(True)
            layout.addWidget(self.refused)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class CommandBox(QWidget):
    """A console command too long for one line (base64 has no spaces to wrap at): read-only text and Copy."""

    def __init__(self, text: str, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QPlainTextEdit(text)
        self.edit.setReadOnly(True)
        self.edit.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.edit.setFixedHeight(self.edit.fontMetrics().lineSpacing() * min(6, 1 + len(text) // 60) + 12)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip(tip)
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)

    def text(self) -> str:
        return self.edit.toPlainText()

    def copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.text())
            self.copy_button.setText("Copied")


class SignCsrDialog(FormDialog):
    """Sign a certificate signing request a device made: its subject and key are shown as soon as it is read."""

    def __init__(self, context: TabContext, ca_key: CaKey, parent: QWidget | None = None) -> None:
        super().__init__(context, "Sign a certificate request (CSR)", "Sign", parent)
        self.setMinimumWidth(560)
        self.ca_key = ca_key
        self._der: bytes | None = None  # a binary (DER) CSR read from a file: the text box cannot hold it
        self.csr_text = QPlainTextEdit()
        self.csr_text.setPlaceholderText("-----BEGIN CERTIFICATE REQUEST-----\n…\n-----END CERTIFICATE REQUEST-----")
        self.csr_text.setFixedHeight(140)
        self.csr_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.csr_text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.csr_text.textChanged.connect(self._text_changed)
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self._browse)
        self.preview = QLabel("Paste the CSR (PEM) or open its file.")
        self.preview.setWordWrap(True)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.csr_text)
        row = QHBoxLayout()
        row.addWidget(self.preview, 1)
        row.addWidget(self.open_button)
        column.addLayout(row)
        self.csr_error = self.add_field("Request", holder)
        self.days = days_box(DEFAULT_CLIENT_DAYS)
        self.days_error = self.add_field("Valid for", self.days)
        self.output = FileField(PathKind.SAVE, "Save the certificate as", placeholder="e.g. lamp.crt",
                                file_filter="Certificates (*.crt *.pem)")
        self.output_error = self.add_field("Save to", self.output)

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "The certificate request", str(Path.home()),
                                                "Requests (*.csr *.pem *.req *.der);;All files (*)")
        if chosen:
            self.load_file(Path(chosen))

    def load_file(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.csr_error.show_error(f"{path} cannot be read: {exc.strerror or exc}")
            return
        if b"-----BEGIN" in data:
            self.csr_text.setPlainText(data.decode("ascii", errors="replace"))
        else:
            self._der = data
            self.csr_text.blockSignals(True)
            self.csr_text.setPlainText(f"(binary request from {path.name})")
            self.csr_text.blockSignals(False)
            self._text_changed(keep_der=True)

    def _data(self) -> bytes:
        return self._der if self._der is not None else self.csr_text.toPlainText().strip().encode("utf-8")

    def _text_changed(self, *, keep_der: bool = False) -> None:
        if not keep_der:
            self._der = None
        self.csr_error.clear_error()
        csr = self._read(show_error=False)
        if csr is None:
            self.preview.setText("Paste the CSR (PEM) or open its file.")
            return
        self.preview.setText(describe_csr(csr))
        try:
            check_csr(csr)
        except MqttdeskError as exc:
            self.csr_error.show_error(str(exc))

    def _read(self, *, show_error: bool) -> x509.CertificateSigningRequest | None:
        data = self._data()
        if not data:
            if show_error:
                self.csr_error.show_error("paste a certificate signing request or open its file")
            return None
        try:
            return load_csr(data)
        except MqttdeskError as exc:
            if show_error:
                self.csr_error.show_error(str(exc))
            return None

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        csr = self._read(show_error=True)
        if csr is not None:
            self.preview.setText(describe_csr(csr))
        output = self.output.path()
        if output is None:
            self.output_error.show_error("choose where to save the signed certificate")
        elif output.is_dir():
            self.output_error.show_error(f"{output} is a folder: give a file name")
            output = None
        elif not output.parent.is_dir():
            self.output_error.show_error(f"the folder {output.parent} does not exist")
            output = None
        if csr is None or output is None:
            return None
        try:
            passphrase = self.ca_key.passphrase()
        except MqttdeskError as exc:
            self.general_error.show_error(str(exc))
            return None
        try:  # the CSR's checks and its CN (an existing user): said next to the request
            issued = self.context.store.pki.sign_request(csr, days=self.days.value(), passphrase=passphrase)
        except MqttdeskError as exc:
            self.csr_error.show_error(str(exc))
            return None
        return self._write(issued.certificate, output)

    async def _write(self, certificate: x509.Certificate, output: Path) -> str | None:
        try:
            write_file(output, certificate_pem(certificate), PUBLIC)
        except OSError as exc:
            self.output_error.show_error(f"signed, but {output} cannot be written: {exc.strerror or exc} "
                                         "(Export… in the list saves it again)")
            return None
        return serial_hex(certificate.serial_number)


def describe_csr(csr: x509.CertificateSigningRequest) -> str:
    """ "Subject CN=lamp · key RSA 1024 (1024 bits)": what is about to be signed."""
    subject = html.escape(csr.subject.rfc4514_string() or "(empty)")
    try:
        key = csr.public_key()
    except ValueError:
        return f"Subject <b>{subject}</b> · key: cannot be read"
    bits = key.key_size if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else None
    size = f" ({bits} bits)" if bits else ""
    return f"Subject <b>{subject}</b> · key <b>{describe_key(key)}</b>{size}"

