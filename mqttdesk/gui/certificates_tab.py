"""The Certificates tab: mqttdesk's CA and the server certificate it issued (cards on top), the client certificates
it issued (a table: issue, sign a CSR, revoke, export, export the CRL), and the other CAs trusted for client
certificates (add, remove).

Everything `mqttdesk ca|server-cert|cert|trust ...` can do is here. Each action's mistake is said next to it: in the
dialog under its field, or on the red line under the card or the buttons it came from; nothing here pops up a
message box for a validation error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.ca_dialogs import (
    CaKey,
    CreateCaDialog,
    ImportCaDialog,
    ServerNamesDialog,
    UnlockCaDialog,
)
from mqttdesk.gui.certificate_cards import CaCard, ServerCard
from mqttdesk.gui.certificate_dialogs import IssueCertificateDialog, IssuedDialog, SignCsrDialog
from mqttdesk.gui.formatting import plural
from mqttdesk.gui.models.certificates_model import (
    CN,
    EXPIRES,
    ISSUED,
    KEY,
    SERIAL,
    STATE,
    USER,
    CertificatesTableModel,
)
from mqttdesk.gui.models.sorting import sorted_proxy
from mqttdesk.gui.record_tab import buttons_menu
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.trusted_cas_panel import TrustedCasPanel, heading
from mqttdesk.gui.widgets.confirm import ConfirmationBox, ask_confirmation
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.state_badge import StateBadgeDelegate
from mqttdesk.gui.widgets.tables import make_table, selected_source_row, set_column_widths
from mqttdesk.pki.certificate_states import CertificateState
from mqttdesk.pki.certificates import certificate_pem
from mqttdesk.store.certificates_repo import CertificateRecord
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.pki_files import PUBLIC, write_file

# serials are 32-40 hex digits: elided in the middle, the tooltip has it whole (with the SHA-256 fingerprint)
_COLUMN_WIDTHS = {CN: 170, SERIAL: 230, USER: 150, ISSUED: 120, EXPIRES: 120, STATE: 135}
CARD_KEYS = ("ca", "server", "sans")


def button(text: str, slot: Callable[[], None], tip: str) -> QPushButton:
    made = QPushButton(text)
    made.setToolTip(tip)
    made.clicked.connect(slot)
    return made


class CertificatesTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.dialog: QDialog | None = None  # the dialog or confirmation open right now (tests answer it)
        store = context.store
        self.ca_key = CaKey(store)
        self.model = CertificatesTableModel(store, self)
        context.bridge.store_changed.connect(self.model.on_store_changes)
        context.bridge.store_changed.connect(self._store_changed)

        self.ca_card = CaCard()
        self.ca_card.create_button.clicked.connect(self.create_ca)
        self.ca_card.import_button.clicked.connect(self.import_ca)
        self.ca_card.export_button.clicked.connect(lambda: self._save_as("Export the CA certificate", "ca.crt",
                                                                         self.export_ca_to))
        self.ca_card.unlock_button.clicked.connect(self.unlock)
        self.server_card = ServerCard()
        self.server_card.names_button.clicked.connect(self.edit_names)
        self.server_card.reissue_button.clicked.connect(self.reissue)
        cards = QHBoxLayout()
        cards.addWidget(self.ca_card, 1)
        cards.addWidget(self.server_card, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(cards)
        layout.addLayout(self._build_issued(), 1)
        self.trusted = TrustedCasPanel(context, self.open_dialog, self.confirm)
        layout.addWidget(self.trusted)
        self.refresh_cards()
        self.update_actions()

    def _build_issued(self) -> QVBoxLayout:
        self.issue_button = button("Issue…", lambda: self.issue(),
                                   "A certificate and key for a user (CN = the user's name)")
        self.sign_button = button("Sign CSR…", self.sign_csr, "Sign a certificate request a device made")
        self.revoke_button = button("Revoke…", self.revoke, "Refuse this certificate from the next handshake and "
                                    "disconnect its sessions now")
        self.export_button = button("Export…", self.export_selected, "Save this certificate (PEM; no key)")
        self.delete_button = button("Delete…", self.delete, "Forget this expired certificate (a valid one is revoked "
                                    "instead; a revoked one stays listed until it expires)")
        self.crl_button = button("Export CRL…", self.export_crl, "Save the CA's certificate revocation list (PEM)")
        self.proxy = sorted_proxy(self.model, self, filter_column=-1)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter certificates")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMinimumWidth(200)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = make_table(self.proxy, sortable=True)
        self.table.sortByColumn(ISSUED, Qt.SortOrder.DescendingOrder)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setItemDelegateForColumn(STATE, StateBadgeDelegate(self.table))
        set_column_widths(self.table, _COLUMN_WIDTHS)
        self.table.horizontalHeader().setSectionResizeMode(KEY, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.model.dataChanged.connect(lambda *_: self.update_actions())
        self.model.rowsRemoved.connect(lambda *_: self.update_actions())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu_requested)
        self.table.doubleClicked.connect(lambda _index: self.export_selected())
        self.actions_error = FieldError()
        bar = QHBoxLayout()
        bar.addWidget(heading("Client certificates"))
        for made in (self.issue_button, self.sign_button, self.revoke_button, self.export_button, self.delete_button,
                     self.crl_button):
            bar.addWidget(made)
        bar.addStretch(1)
        bar.addWidget(self.filter_edit)
        layout = QVBoxLayout()
        layout.addLayout(bar)
        layout.addWidget(self.actions_error)
        layout.addWidget(self.table, 1)
        return layout

    # -- state ------------------------------------------------------------------------------------

    def refresh_cards(self) -> None:
        self.ca_card.error.clear_error()
        self.ca_card.refresh(self.context.store, locked=self.ca_key.locked)
        self.server_card.refresh(self.context.store)

    def _store_changed(self, changes: tuple[Change, ...]) -> None:
        if any(change.kind is ChangeKind.CERTIFICATE and change.key in CARD_KEYS for change in changes):
            self.refresh_cards()
            self.update_actions()

    def selected_certificate(self) -> CertificateRecord | None:
        row = selected_source_row(self.table, self.proxy)
        return None if row is None else self.model.record_at(row)

    def select_certificate(self, serial: str) -> None:
        row = self.model.row_of(serial)
        if row is not None:
            self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())

    def update_actions(self) -> None:
        has_ca = self.context.store.pki.exists()
        record = self.selected_certificate()
        for made in (self.issue_button, self.sign_button, self.crl_button):
            made.setEnabled(has_ca)
        self.revoke_button.setEnabled(record is not None and record.state() is not CertificateState.REVOKED)
        self.export_button.setEnabled(record is not None)
        self.delete_button.setEnabled(record is not None and record.state() is CertificateState.EXPIRED)

    def row_menu(self) -> QMenu:
        """Revoke…, Export… and Delete… for the selected row: the buttons' own text, tooltip, slot and enabled state."""
        self.update_actions()
        return buttons_menu(self, (self.revoke_button, self.export_button, self.delete_button))

    def _context_menu_requested(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if index.isValid():
            self.table.selectRow(index.row())
            menu = self.row_menu()
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(self.table.viewport().mapToGlobal(position))

    # -- dialogs ------------------------------------------------------------------------------------

    def open_dialog(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _result: self._closed(dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def confirm(self, title: str, text: str, label: str, informative: str, then: Callable[[], object]) -> None:
        """Ask first (a non-blocking box, kept in `dialog`); `then()` runs on confirmation."""
        def confirmed() -> None:
            then()

        box: ConfirmationBox = ask_confirmation(self, title, text, label, confirmed, informative=informative)
        box.finished.connect(lambda _result: self._closed(box))
        self.dialog = box

    def create_ca(self) -> None:
        dialog = CreateCaDialog(self.context, self.ca_key, self)
        dialog.done_with.connect(lambda subject: self._ca_installed(f"created CA '{subject}' and its server "
                                                                    "certificate"))
        self.open_dialog(dialog)

    def import_ca(self) -> None:
        dialog = ImportCaDialog(self.context, self.ca_key, self)
        dialog.done_with.connect(lambda subject: self._ca_installed(f"imported CA '{subject}' and issued the server "
                                                                    "certificate"))
        self.open_dialog(dialog)

    def _ca_installed(self, message: str) -> None:
        self.refresh_cards()
        self.update_actions()
        self.context.show_message(message)

    def unlock(self) -> None:
        dialog = UnlockCaDialog(self.context, self.ca_key, self)
        dialog.done_with.connect(lambda _text: self._ca_installed("the CA key is unlocked until mqttdesk quits"))
        self.open_dialog(dialog)

    def edit_names(self) -> None:
        dialog = ServerNamesDialog(self.context, self.ca_key, self)
        dialog.done_with.connect(lambda count: self.context.show_message(
            f"server certificate reissued for {plural(int(count), 'name')} (same key)"))
        self.open_dialog(dialog)

    def reissue(self) -> None:
        self.server_card.error.clear_error()
        try:
            self.context.store.pki.ensure_server_certificate(self.ca_key.passphrase(), force=True)
        except MqttdeskError as exc:
            self.server_card.error.show_error(str(exc))
            return
        self.context.show_message("server certificate reissued with the same key: its Tasmota fingerprint is "
                                  "unchanged; new connections use it")

    def issue(self, user: str | None = None) -> None:
        dialog = IssueCertificateDialog(self.context, self.ca_key, self, user=user)
        dialog.done_with.connect(lambda serial: self._issued(dialog, serial))
        self.open_dialog(dialog)

    def _issued(self, dialog: IssueCertificateDialog, serial: str) -> None:
        self.select_certificate(serial)
        result = dialog.issue_result
        if result is None:
            return
        self.context.show_message(f"issued a certificate for '{result.user}': "
                                  f"{', '.join(path.name for path in result.written)}")
        if result.tasmota is not None or result.tasmota_refused is not None:
            self.open_dialog(IssuedDialog(result, self))

    def sign_csr(self) -> None:
        dialog = SignCsrDialog(self.context, self.ca_key, self)
        dialog.done_with.connect(self._signed)
        self.open_dialog(dialog)

    def _signed(self, serial: str) -> None:
        self.select_certificate(serial)
        self.context.show_message(f"signed the request: certificate {serial}")

    # -- actions on the selected certificate ---------------------------------------------------------

    def revoke(self) -> None:
        record = self.selected_certificate()
        if record is None:
            return
        self.confirm("Revoke certificate", f"Revoke certificate {record.serial} ({record.common_name})?", "Revoke",
                     "Revocation is final: the CRL is rewritten, new TLS handshakes with this certificate are refused "
                     "and sessions logged in with it are disconnected now.",
                     lambda: self.revoke_serial(record.serial))

    def delete(self) -> None:
        record = self.selected_certificate()
        if record is None:
            return
        self.confirm("Delete certificate", f"Delete expired certificate {record.serial} ({record.common_name})?",
                     "Delete", "It can no longer connect; it is only removed from this list.",
                     lambda: self.delete_serial(record.serial))

    def delete_serial(self, serial: str) -> bool:
        self.actions_error.clear_error()
        try:
            record = self.context.store.pki.repo.delete_expired(serial)
        except MqttdeskError as exc:
            self.actions_error.show_error(str(exc))
            return False
        self.context.show_message(f"deleted expired certificate {serial} ({record.common_name})")
        return True

    def revoke_serial(self, serial: str) -> bool:
        self.actions_error.clear_error()
        try:
            record = self.context.store.pki.repo.get(serial)
            self.context.store.pki.revoke(serial, self.ca_key.passphrase())
        except MqttdeskError as exc:
            self.actions_error.show_error(str(exc))
            return False
        self.context.show_message(f"revoked certificate {serial} ({record.common_name}); the CRL is updated")
        return True

    def _save_as(self, title: str, name: str, write: Callable[[Path], bool]) -> None:
        path, _selected = QFileDialog.getSaveFileName(self, title, str(Path.home() / name),
                                                      "PEM files (*.crt *.pem *.crl);;All files (*)")
        if path:
            write(Path(path))

    def _write(self, path: Path, data: bytes, what: str, error: FieldError) -> bool:
        error.clear_error()
        try:
            write_file(path, data, PUBLIC)
        except OSError as exc:
            error.show_error(f"could not write {path}: {exc.strerror or exc}")
            return False
        self.context.show_message(f"wrote {what} to {path}")
        return True

    def export_selected(self) -> None:
        record = self.selected_certificate()
        if record is not None:
            self._save_as("Export the certificate", f"{record.common_name}.crt",
                          lambda path: self.export_certificate_to(record.serial, path))

    def export_certificate_to(self, serial: str, path: Path) -> bool:
        record = self.model.find(serial)
        if record is None:
            self.actions_error.show_error(f"no certificate with serial {serial}")
            return False
        return self._write(path, record.pem.encode("ascii"), f"certificate {serial}", self.actions_error)

    def export_crl(self) -> None:
        self._save_as("Export the CRL", "ca.crl", self.export_crl_to)

    def export_crl_to(self, path: Path) -> bool:
        try:
            data = self.context.store.pki.crl()
        except MqttdeskError as exc:
            self.actions_error.show_error(str(exc))
            return False
        return self._write(path, data, "the CRL", self.actions_error)

    def export_ca_to(self, path: Path) -> bool:
        try:
            data = certificate_pem(self.context.store.pki.ca_certificate())
        except MqttdeskError as exc:
            self.ca_card.error.show_error(str(exc))
            return False
        return self._write(path, data, "the CA certificate", self.ca_card.error)
