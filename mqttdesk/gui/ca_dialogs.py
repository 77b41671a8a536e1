"""Dialogs of the Certificates tab's cards: create or import the CA, unlock an encrypted CA key, edit the server
certificate's names, trust another CA. All `FormDialog`s: each error stays next to its field.

An encrypted CA key is unlocked once per run (`CaKey`): every action that signs uses the passphrase kept there,
as `--passphrase-stdin` does for one CLI command. It is kept in memory only, never written anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPlainTextEdit, QSpinBox, QWidget

from mqttdesk.core.errors import AlreadyExistsError, MqttdeskError, ValidationError
from mqttdesk.core.names import validate_name
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.file_field import FileField, PathKind
from mqttdesk.gui.widgets.form_dialog import FormDialog
from mqttdesk.pki.ca import CertificateAuthority, check_ca_certificate, create_ca
from mqttdesk.pki.certificates import MAX_DAYS, load_certificate, name
from mqttdesk.pki.choices import DEFAULT_CA_DAYS, DEFAULT_CA_NAME, KeyType
from mqttdesk.pki.keys import is_encrypted_pem, load_private_key, same_public_key
from mqttdesk.store.db import Store

KEY_TYPE_LABELS = {KeyType.EC_P256: "EC P-256", KeyType.RSA2048: "RSA 2048", KeyType.RSA3072: "RSA 3072",
                   KeyType.RSA4096: "RSA 4096"}
LOCKED = "the CA key is encrypted: press Unlock… on the CA card and give its passphrase first"


class CaKey:
    """The passphrase of an encrypted CA key, once given in this run (None for a key that is not encrypted)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._passphrase: str | None = None

    @property
    def locked(self) -> bool:
        return self._store.pki.exists() and self._store.pki.key_is_encrypted() and self._passphrase is None

    def passphrase(self) -> str | None:
        """What to sign with; a ValidationError while the key is encrypted and not unlocked."""
        if self.locked:
            raise ValidationError(LOCKED)
        return self._passphrase if self._store.pki.key_is_encrypted() else None

    def unlock(self, passphrase: str) -> None:
        self._store.pki.load(passphrase)  # a wrong one: ValidationError
        self._passphrase = passphrase

    def forget(self) -> None:
        self._passphrase = None


def key_type_box(choices: tuple[KeyType, ...]) -> QComboBox:
    box = QComboBox()
    for key_type in choices:
        box.addItem(KEY_TYPE_LABELS[key_type], key_type.value)
    return box


def days_box(default: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(1, MAX_DAYS)
    box.setValue(default)
    box.setSuffix(" days")
    return box


def passphrase_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit


def hint(form_dialog: FormDialog, text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    form_dialog.form.addRow("", label)
    return label


class CreateCaDialog(FormDialog):
    """A new CA, and the server certificate it issues; its key is generated in a thread (RSA 4096 takes seconds)."""

    def __init__(self, context: TabContext, ca_key: CaKey, parent: QWidget | None = None) -> None:
        super().__init__(context, "Create CA", "Create CA", parent)
        self.ca_key = ca_key
        self.name_edit = QLineEdit(DEFAULT_CA_NAME)
        self.name_error = self.add_field("Name", self.name_edit)
        self.days = days_box(DEFAULT_CA_DAYS)
        self.days_error = self.add_field("Valid for", self.days)
        self.key_type = key_type_box(tuple(KeyType))
        self.key_error = self.add_field("Key", self.key_type)
        self.passphrase = passphrase_edit("optional: encrypts the CA key")
        self.passphrase_error = self.add_field("Passphrase", self.passphrase)
        hint(self, "EC P-256 suits every client mqttdesk knows. The key is written to the data directory, mode 0600; "
                   "with a passphrase, signing needs it once per run. The server certificate (RSA 2048, for "
                   "Tasmota) is issued at once.")

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        try:
            name(self.name_edit.text())
        except MqttdeskError as exc:
            self.name_error.show_error(str(exc))
            return None
        return self._create(self.name_edit.text().strip(), self.days.value(), KeyType(self.key_type.currentData()),
                            self.passphrase.text() or None)

    async def _create(self, common_name: str, days: int, key_type: KeyType, passphrase: str | None) -> str:
        self.busy.setText(f"Generating the {KEY_TYPE_LABELS[key_type]} key…")
        authority = await asyncio.get_running_loop().run_in_executor(
            None, lambda: create_ca(common_name, days=days, key_type=key_type))
        self.busy.setText("Issuing the server certificate…")
        # on the loop (the store is not shared with threads): the server's RSA 2048 key takes ~50-100 ms
        self.context.store.pki.install(authority, passphrase)
        if passphrase:
            self.ca_key.unlock(passphrase)
        return authority.subject


class ImportCaDialog(FormDialog):
    """An existing CA's certificate and key (PEM; an encrypted key with its passphrase, and it stays encrypted)."""

    def __init__(self, context: TabContext, ca_key: CaKey, parent: QWidget | None = None) -> None:
        super().__init__(context, "Import CA", "Import CA", parent)
        self.ca_key = ca_key
        self.certificate_file = FileField(PathKind.OPEN, "The CA certificate", placeholder="ca.crt (PEM)",
                                          file_filter="Certificates (*.crt *.pem *.cer);;All files (*)")
        self.certificate_error = self.add_field("Certificate", self.certificate_file)
        self.key_file = FileField(PathKind.OPEN, "The CA key", placeholder="ca.key (PEM)",
                                  file_filter="Keys (*.key *.pem);;All files (*)")
        self.key_error = self.add_field("Key", self.key_file)
        self.passphrase = passphrase_edit("only when the key is encrypted")
        self.passphrase_error = self.add_field("Passphrase", self.passphrase)

    def _read(self, field: FileField, error: FieldError, what: str) -> bytes | None:
        path = field.path()
        if path is None:
            error.show_error(f"choose {what}")
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            error.show_error(f"{path} cannot be read: {exc.strerror or exc}")
            return None

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        certificate_pem = self._read(self.certificate_file, self.certificate_error, "the CA certificate file")
        key_pem = self._read(self.key_file, self.key_error, "the CA key file")
        if certificate_pem is None or key_pem is None:
            return None
        try:  # each check on its own, so its message is shown next to the field it is about
            certificate = load_certificate(certificate_pem, what="the CA certificate")
            check_ca_certificate(certificate, what="the CA certificate")
        except MqttdeskError as exc:
            self.certificate_error.show_error(str(exc))
            return None
        passphrase = self.passphrase.text() or None
        if is_encrypted_pem(key_pem) and passphrase is None:
            self.passphrase_error.show_error("the key is encrypted: give its passphrase")
            return None
        try:
            key = load_private_key(key_pem, passphrase, what="the CA key")
        except MqttdeskError as exc:
            (self.passphrase_error if is_encrypted_pem(key_pem) else self.key_error).show_error(str(exc))
            return None
        if not same_public_key(certificate.public_key(), key.public_key()):
            self.key_error.show_error("this key does not belong to the CA certificate")
            return None
        return self._import(CertificateAuthority(certificate, key), passphrase if is_encrypted_pem(key_pem) else None)

    async def _import(self, authority: CertificateAuthority, passphrase: str | None) -> str:
        self.context.store.pki.install(authority, passphrase)
        if passphrase:
            self.ca_key.unlock(passphrase)
        return authority.subject


class UnlockCaDialog(FormDialog):
    def __init__(self, context: TabContext, ca_key: CaKey, parent: QWidget | None = None) -> None:
        super().__init__(context, "Unlock the CA key", "Unlock", parent)
        self.ca_key = ca_key
        self.passphrase = passphrase_edit("the CA key's passphrase")
        self.passphrase_error = self.add_field("Passphrase", self.passphrase)
        hint(self, "Kept in memory until mqttdesk quits, for issuing, signing, revoking and reissuing.")

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        try:
            self.ca_key.unlock(self.passphrase.text())
        except MqttdeskError as exc:
            self.passphrase_error.show_error(str(exc))
            return None
        return self._done()

    async def _done(self) -> str:
        return "unlocked"


class ServerNamesDialog(FormDialog):
    """The server certificate's names, one per line; saving reissues it with the same key."""

    def __init__(self, context: TabContext, ca_key: CaKey, parent: QWidget | None = None) -> None:
        super().__init__(context, "Server certificate names", "Save and reissue", parent)
        self.ca_key = ca_key
        self.names = QPlainTextEdit("\n".join(context.store.pki.server_sans()))
        self.names.setFixedHeight(130)
        self.names_error = self.add_field("Names", self.names)
        hint(self, "Host names and IP addresses clients connect to, one per line. The certificate is reissued with "
                   "the same key, so its Tasmota fingerprint stays the same; connected clients stay connected.")

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        names = [line.strip() for line in self.names.toPlainText().splitlines() if line.strip()]
        try:
            passphrase = self.ca_key.passphrase()
            self.context.store.pki.set_server_sans(names, passphrase)
        except MqttdeskError as exc:
            self.names_error.show_error(str(exc))
            return None
        return self._done(len(names))

    async def _done(self, count: int) -> str:
        return str(count)


class TrustCaDialog(FormDialog):
    """Trust another CA's client certificates: its certificate (PEM, optionally followed by its CRL) and a name."""

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Trust a CA", "Trust", parent)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. factory-ca")
        self.name_error = self.add_field("Name", self.name_edit)
        self.file = FileField(PathKind.OPEN, "The CA certificate", placeholder="a PEM file: the CA certificate, "
                              "optionally its CRL", file_filter="Certificates (*.crt *.pem *.cer);;All files (*)")
        self.file_error = self.add_field("Certificate", self.file)
        hint(self, "Only its certificate: never the key. A certificate it issued logs in only as a user bound to "
                   "this CA (the user's login: certificate, from this CA).")

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        path = self.file.path()
        if path is None:
            self.file_error.show_error("choose the CA certificate file")
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.file_error.show_error(f"{path} cannot be read: {exc.strerror or exc}")
            return None
        name_text = self.name_edit.text().strip()
        try:
            validate_name("trusted CA", name_text)
        except MqttdeskError as exc:
            self.name_error.show_error(str(exc))
            return None
        try:
            self.context.store.pki.trust(name_text, data)
        except AlreadyExistsError as exc:  # the name is taken, or this very CA is trusted already
            (self.name_error if f"named '{name_text}'" in str(exc) else self.file_error).show_error(str(exc))
            return None
        except MqttdeskError as exc:
            self.file_error.show_error(str(exc))
            return None
        return self._done(name_text)

    async def _done(self, name_text: str) -> str:
        return name_text
