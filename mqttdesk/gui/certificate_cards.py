"""The two cards at the top of the Certificates tab: mqttdesk's CA (or, without one, how to get one) and the TLS
server certificate it issued, with the fingerprints devices pin it by.

The cards only show and offer; the tab opens the dialogs and runs the actions (its slots are the buttons'). Both are
read again from the store whenever a `ChangeKind.CERTIFICATE` notice names the CA, the server certificate or its
names (`refresh`).
"""

from __future__ import annotations

import html
import time

from cryptography import x509
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.formatting import format_time
from mqttdesk.gui.widgets.copy_line import CopyLine
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.state_badge import StateBadge
from mqttdesk.pki.certificate_states import certificate_state
from mqttdesk.pki.certificates import Validity
from mqttdesk.pki.fingerprints import sha256_fingerprint, tasmota_fingerprint, tasmota_fingerprint_command
from mqttdesk.pki.keys import describe_key
from mqttdesk.pki.sans import sans_of
from mqttdesk.store.db import Store

NO_CA_TEXT = ("<b>mqttdesk has no CA yet.</b> Create one, and it issues the TLS server certificate at once and, later, "
              "client certificates for users and devices; or import the CA you already use (its certificate and "
              "key).")


def fingerprint_lines(fingerprint: str) -> str:
    """A SHA-256 fingerprint (32 bytes) on two lines of 16: one line of 95 characters is wider than a card."""
    parts = fingerprint.split(":")
    return ":".join(parts[:16]) + ":\n" + ":".join(parts[16:]) if len(parts) > 16 else fingerprint


def mono_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def form() -> QFormLayout:
    layout = QFormLayout()
    layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    layout.setVerticalSpacing(6)
    return layout


def button_row(*buttons: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row


def validity_text(certificate: x509.Certificate) -> str:
    validity = Validity.of(certificate)
    return f"{format_time(validity.not_before)} to {format_time(validity.not_after)}"


class CaCard(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Certificate authority", parent)
        self.create_button = QPushButton("Create CA…")
        self.create_button.setToolTip("A new CA (EC P-256 by default) and the server certificate it issues")
        self.import_button = QPushButton("Import CA…")
        self.import_button.setToolTip("Use an existing CA: its certificate and key (PEM)")
        self.export_button = QPushButton("Export CA certificate…")
        self.export_button.setToolTip("Save the CA certificate (never its key) for devices to trust the broker")
        self.unlock_button = QPushButton("Unlock…")
        self.unlock_button.setToolTip("The CA key is encrypted: give its passphrase once to issue, sign and revoke")
        self.error = FieldError()

        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.setContentsMargins(0, 0, 0, 0)
        self.empty_text = QLabel(NO_CA_TEXT)
        self.empty_text.setWordWrap(True)
        empty_layout.addWidget(self.empty_text)
        empty_layout.addLayout(button_row(self.create_button, self.import_button))
        empty_layout.addStretch(1)

        shown = QWidget()
        shown_layout = QVBoxLayout(shown)
        shown_layout.setContentsMargins(0, 0, 0, 0)
        fields = form()
        self.subject = QLabel()
        self.subject.setWordWrap(True)
        self.subject.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key = QLabel()
        self.validity = QLabel()
        self.fingerprint = mono_label()
        fields.addRow("Subject", self.subject)
        fields.addRow("Key", self.key)
        fields.addRow("Valid", self.validity)
        fields.addRow("SHA-256", self.fingerprint)
        shown_layout.addLayout(fields)
        shown_layout.addStretch(1)
        shown_layout.addLayout(button_row(self.export_button, self.unlock_button))

        self.pages = QStackedWidget()
        self.pages.addWidget(empty)
        self.pages.addWidget(shown)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addWidget(self.error)

    @property
    def has_ca(self) -> bool:
        return self.pages.currentIndex() == 1

    def refresh(self, store: Store, *, locked: bool) -> None:
        pki = store.pki
        if not pki.exists():
            self.pages.setCurrentIndex(0)
            return
        try:
            certificate = pki.ca_certificate()
        except MqttdeskError as exc:
            self.pages.setCurrentIndex(0)
            self.error.show_error(str(exc))
            return
        self.pages.setCurrentIndex(1)
        self.subject.setText(html.escape(certificate.subject.rfc4514_string()))
        encrypted = pki.key_is_encrypted()
        state = "encrypted, unlocked" if encrypted and not locked else "encrypted, locked" if encrypted else \
            "not encrypted"
        self.key.setText(f"{describe_key(certificate.public_key())} ({state})")
        self.validity.setText(validity_text(certificate))
        self.fingerprint.setText(fingerprint_lines(sha256_fingerprint(certificate)))
        self.unlock_button.setVisible(encrypted and locked)


class ServerCard(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Server certificate", parent)
        self.names_button = QPushButton("Edit names…")
        self.names_button.setToolTip("The host names and addresses it is issued for; saving reissues it (same key)")
        self.reissue_button = QPushButton("Reissue")
        self.reissue_button.setToolTip("Issue it again now with the same key (its Tasmota fingerprint stays)")
        self.error = FieldError()
        self.none_text = QLabel("Issued by the CA as soon as there is one.")
        self.none_text.setWordWrap(True)

        self.details = QWidget()
        fields = form()
        fields.setContentsMargins(0, 0, 0, 0)
        self.names = QLabel()
        self.names.setWordWrap(True)
        self.names.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.expiry = QWidget()
        expiry_row = QHBoxLayout(self.expiry)
        expiry_row.setContentsMargins(0, 0, 0, 0)
        self.badge = StateBadge()
        self.expires = QLabel()
        expiry_row.addWidget(self.expires)
        expiry_row.addWidget(self.badge, 1)
        self.fingerprint = mono_label()
        self.tasmota = CopyLine(tip="Copy the Tasmota fingerprint (MqttFingerprint1)")
        self.tasmota_command = CopyLine(tip="Copy the Tasmota console line that pins this server")
        self.renewal = QLabel()
        self.renewal.setWordWrap(True)
        fields.addRow("Names", self.names)
        fields.addRow("Expires", self.expiry)
        fields.addRow("SHA-256", self.fingerprint)
        fields.addRow("Tasmota", self.tasmota)
        fields.addRow("Console", self.tasmota_command)
        fields.addRow("", self.renewal)
        self.details.setLayout(fields)

        layout = QVBoxLayout(self)
        layout.addWidget(self.none_text)
        layout.addWidget(self.details)
        layout.addStretch(1)
        layout.addLayout(button_row(self.names_button, self.reissue_button))
        layout.addWidget(self.error)

    def refresh(self, store: Store) -> None:
        pki = store.pki
        certificate = pki.server_certificate() if pki.exists() else None
        self.none_text.setVisible(certificate is None)
        self.none_text.setText("No server certificate yet: Reissue issues one (so does the broker when TLS starts)."
                               if pki.exists() else "Issued by the CA as soon as there is one.")
        self.details.setVisible(certificate is not None)
        self.names_button.setEnabled(pki.exists())
        self.reissue_button.setEnabled(pki.exists())
        if certificate is None:
            return
        self.names.setText(html.escape(", ".join(sans_of(certificate))))
        validity = Validity.of(certificate)
        self.expires.setText(f"{format_time(validity.not_after)} · {describe_key(certificate.public_key())}")
        self.badge.set_state(certificate_state(validity.not_before, validity.not_after, None, time.time()))
        self.fingerprint.setText(fingerprint_lines(sha256_fingerprint(certificate)))
        try:
            fingerprint = tasmota_fingerprint(certificate)
        except MqttdeskError as exc:  # an EC server key (imported setups): Tasmota cannot pin it
            self.tasmota.set_text("")
            self.tasmota.label.setText(str(exc))
            self.tasmota_command.set_text("")
        else:
            self.tasmota.set_text(fingerprint)
            self.tasmota_command.set_text(tasmota_fingerprint_command(fingerprint))
        try:
            reason = pki.server_renewal_reason()
        except MqttdeskError:
            reason = None
        self.renewal.setVisible(reason is not None)
        self.renewal.setText(f"Needs reissuing: {reason} (Reissue, or the broker does it when TLS starts)."
                             if reason else "")
