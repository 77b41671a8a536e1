"""The Certificates tab on the real widgets against a real store: create the CA, issue, revoke, sign CSRs (a weak
one refused next to its field), the fingerprints shown, the trusted CAs, and an encrypted CA key unlocked once."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from mqttdesk.core.model import AuthMode
from mqttdesk.gui.ca_dialogs import (
    LOCKED,
    CreateCaDialog,
    ImportCaDialog,
    ServerNamesDialog,
    TrustCaDialog,
    UnlockCaDialog,
)
from mqttdesk.gui.certificate_cards import fingerprint_lines
from mqttdesk.gui.certificate_dialogs import IssueCertificateDialog, IssuedDialog, SignCsrDialog
from mqttdesk.gui.certificates_tab import CertificatesTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.certificates_model import KEY, SERIAL, STATE, USER
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_of, state_word
from mqttdesk.pki.ca import create_ca
from mqttdesk.pki.certificate_states import CertificateState
from mqttdesk.pki.certificates import certificate_pem, load_certificate
from mqttdesk.pki.choices import KeyType
from mqttdesk.pki.fingerprints import sha256_fingerprint, tasmota_fingerprint, tasmota_fingerprint_command
from mqttdesk.pki.keys import private_key_pem
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH
from tests.gui.helpers import cell, click, confirmation, has_row, open_dialog, select_row, tab_of


def certificates_tab(window: MainWindow) -> CertificatesTab:
    return tab_of(window, "Certificates", CertificatesTab)


def csr_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, common_name: str) -> str:
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .sign(key, hashes.SHA256()))
    return request.public_bytes(Encoding.PEM).decode("ascii")


def finish(qtbot: QtBot, tab: CertificatesTab) -> None:
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=10000)


def test_create_the_ca_in_the_tab_shows_it_and_the_server_certificate_with_pki_s_fingerprints(
        qtbot: QtBot, window: MainWindow, store: Store) -> None:
    tab = certificates_tab(window)
    assert not tab.ca_card.has_ca
    assert tab.ca_card.create_button.isVisible()
    assert tab.ca_card.import_button.isVisible()
    assert not tab.issue_button.isEnabled()
    assert not tab.server_card.reissue_button.isEnabled()

    dialog = open_dialog(qtbot, tab, tab.ca_card.create_button, CreateCaDialog)
    dialog.name_edit.clear()
    click(qtbot, dialog.ok_button)
    assert dialog.name_error.message == "a certificate needs a name (its CN)"
    qtbot.keyClicks(dialog.name_edit, "Lab CA")
    dialog.key_type.setCurrentIndex(dialog.key_type.findData(KeyType.RSA2048.value))
    dialog.days.setValue(400)
    click(qtbot, dialog.ok_button)
    finish(qtbot, tab)

    ca = store.pki.ca_certificate()
    assert ca.subject.rfc4514_string() == "CN=Lab CA,O=mqttdesk"
    assert tab.ca_card.has_ca
    assert tab.issue_button.isEnabled()
    assert tab.ca_card.subject.text() == "CN=Lab CA,O=mqttdesk"
    assert tab.ca_card.key.text() == "RSA 2048 (not encrypted)"
    assert tab.ca_card.fingerprint.text().replace("\n", "") == sha256_fingerprint(ca)
    server = store.pki.server_certificate()
    assert server is not None
    assert tab.server_card.tasmota.text() == tasmota_fingerprint(server)
    assert tab.server_card.tasmota_command.text() == tasmota_fingerprint_command(tasmota_fingerprint(server))
    assert tab.server_card.tasmota_command.text().startswith("Backlog SetOption132 1; MqttFingerprint1 ")
    assert tab.server_card.fingerprint.text() == fingerprint_lines(sha256_fingerprint(server))
    assert tab.server_card.badge.text() == "valid"
    click(qtbot, tab.server_card.tasmota.copy_button)
    clipboard = QGuiApplication.clipboard()
    assert clipboard is not None
    assert clipboard.text() == tasmota_fingerprint(server)


def test_reissue_and_new_names_keep_the_tasmota_fingerprint(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.pki.install(create_ca())
    tab = certificates_tab(window)
    before = tab.server_card.tasmota.text()
    serial = store.pki.server_certificate().serial_number  # type: ignore[union-attr]
    click(qtbot, tab.server_card.reissue_button)
    assert store.pki.server_certificate().serial_number != serial  # type: ignore[union-attr]

    names = open_dialog(qtbot, tab, tab.server_card.names_button, ServerNamesDialog)
    names.names.setPlainText("localhost\nnot a name!")
    click(qtbot, names.ok_button)
    assert "not a name!" in names.names_error.message
    names.names.setPlainText("localhost\n127.0.0.1\nbroker.lab")
    click(qtbot, names.ok_button)
    finish(qtbot, tab)
    assert tab.server_card.names.text() == "localhost, 127.0.0.1, broker.lab"
    assert tab.server_card.tasmota.text() == before


def test_issue_a_certificate_for_a_user_see_it_valid_then_revoke_it(qtbot: QtBot, window: MainWindow, store: Store,
                                                                   tmp_path: Path) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.users.add("plug", FAST_HASH("x"))
    store.pki.install(create_ca())
    tab = certificates_tab(window)
    dialog = open_dialog(qtbot, tab, tab.issue_button, IssueCertificateDialog)
    assert [dialog.user_box.itemText(i) for i in range(dialog.user_box.count())] == ["lamp", "plug"]
    dialog.user_box.setCurrentText("lamp")
    click(qtbot, dialog.ok_button)
    assert dialog.folder_error.message == "choose the folder to save the certificate in"
    dialog.folder.set_path(tmp_path / "out")
    dialog.tasmota_box.setChecked(True)
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: isinstance(tab.dialog, IssuedDialog), timeout=10000)

    issued = tab.dialog
    assert isinstance(issued, IssuedDialog)
    assert issued.key_command is not None
    assert issued.key_command.text().startswith("TLSKey1 ")
    assert issued.certificate_command is not None
    assert issued.certificate_command.text().startswith("TLSKey2 ")
    issued.reject()
    finish(qtbot, tab)
    record = store.pki.repo.of_user("lamp")[0]
    assert has_row(tab.table, "lamp")
    assert cell(tab.table, "lamp", SERIAL) == record.serial
    assert cell(tab.table, "lamp", USER) == "lamp"
    assert cell(tab.table, "lamp", KEY) == "EC P-256"
    assert cell(tab.table, "lamp", STATE) == "valid"
    assert state_of(cell(tab.table, "lamp", STATE, STATE_ROLE)) is CertificateState.VALID
    assert load_certificate((tmp_path / "out" / "lamp.crt").read_bytes()).serial_number == record.serial_number
    assert stat.S_IMODE((tmp_path / "out" / "lamp.key").stat().st_mode) == 0o600

    # the same files again: refused before anything is issued
    again = open_dialog(qtbot, tab, tab.issue_button, IssueCertificateDialog)
    again.user_box.setCurrentText("lamp")
    again.folder.set_path(tmp_path / "out")
    click(qtbot, again.ok_button)
    assert "exists already" in again.folder_error.message
    again.reject()
    finish(qtbot, tab)
    assert len(store.pki.repo.issued()) == 1

    select_row(tab.table, "lamp")
    menu = tab.row_menu()
    assert [(action.text(), action.isEnabled()) for action in menu.actions()] == [("Revoke…", True),
                                                                                  ("Export…", True),
                                                                                  ("Delete…", False)]
    menu.deleteLater()
    click(qtbot, tab.revoke_button)
    confirmation(tab).confirm_button.click()
    qtbot.waitUntil(lambda: cell(tab.table, "lamp", STATE) == "revoked", timeout=5000)
    # "revoked" comes back through Qt as a plain str, read as the credential state of the same value and look
    assert state_of(cell(tab.table, "lamp", STATE, STATE_ROLE)) == CertificateState.REVOKED
    assert store.pki.repo.get(record.serial).revoked_at is not None
    assert not tab.revoke_button.isEnabled()
    assert [action.isEnabled() for action in tab.row_menu().actions()] == [False, True, False]
    assert tab.export_crl_to(tmp_path / "ca.crl")
    crl = x509.load_pem_x509_crl((tmp_path / "ca.crl").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(record.serial_number) is not None
    assert tab.export_certificate_to(record.serial, tmp_path / "lamp-again.crt")
    assert (tmp_path / "lamp-again.crt").read_text(encoding="ascii") == record.pem
    assert tab.export_ca_to(tmp_path / "ca.crt")
    assert load_certificate((tmp_path / "ca.crt").read_bytes()) == store.pki.ca_certificate()
    assert b"PRIVATE KEY" not in (tmp_path / "ca.crt").read_bytes()


def test_issue_as_pkcs12_and_tasmota_refused_for_rsa(qtbot: QtBot, window: MainWindow, store: Store,
                                                      tmp_path: Path) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.pki.install(create_ca())
    tab = certificates_tab(window)
    dialog = open_dialog(qtbot, tab, tab.issue_button, IssueCertificateDialog)
    dialog.key_type.setCurrentIndex(dialog.key_type.findData(KeyType.RSA2048.value))
    assert not dialog.tasmota_box.isEnabled()  # Tasmota takes EC P-256 client keys only
    dialog.format_box.setCurrentIndex(1)
    password = dialog.password.text()
    assert password  # generated, to be copied now
    dialog.folder.set_path(tmp_path)
    click(qtbot, dialog.ok_button)
    finish(qtbot, tab)
    bundle = pkcs12.load_pkcs12((tmp_path / "lamp.p12").read_bytes(), password.encode())
    assert bundle.cert is not None
    assert bundle.cert.certificate.serial_number == store.pki.repo.issued()[0].serial_number
    assert cell(tab.table, "lamp", KEY) == "RSA 2048"


def test_a_weak_csr_is_refused_next_to_the_field_and_a_good_one_is_signed(qtbot: QtBot, window: MainWindow,
                                                                          store: Store, tmp_path: Path) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.pki.install(create_ca())
    tab = certificates_tab(window)
    dialog = open_dialog(qtbot, tab, tab.sign_button, SignCsrDialog)
    dialog.output.set_path(tmp_path / "lamp.crt")
    dialog.csr_text.setPlainText(csr_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024), "lamp"))
    assert "CN=lamp" in dialog.preview.text()
    assert "RSA 1024" in dialog.preview.text()
    click(qtbot, dialog.ok_button)
    assert dialog.csr_error.message == "the CSR's key is RSA 1024: too weak (RSA needs at least 2048 bits)"
    assert dialog.isVisible()
    assert store.pki.repo.issued() == []

    dialog.csr_text.setPlainText(csr_pem(ec.generate_private_key(ec.SECP256R1()), "nobody"))
    click(qtbot, dialog.ok_button)
    assert dialog.csr_error.message.startswith("no user named 'nobody'")
    dialog.csr_text.setPlainText("not a request")
    click(qtbot, dialog.ok_button)
    assert dialog.csr_error.message.startswith("this is not a certificate signing request")

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "lamp.csr").write_text(csr_pem(key, "lamp"), encoding="ascii")
    dialog.load_file(tmp_path / "lamp.csr")
    assert "EC P-256</b> (256 bits)" in dialog.preview.text()
    click(qtbot, dialog.ok_button)
    finish(qtbot, tab)
    signed = load_certificate((tmp_path / "lamp.crt").read_bytes())
    assert signed.public_key() == key.public_key()
    assert cell(tab.table, "lamp", STATE) == "valid"


def test_an_encrypted_ca_key_is_unlocked_once(qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.pki.install(create_ca(), "correct horse")
    tab = certificates_tab(window)
    assert tab.ca_card.key.text() == "EC P-256 (encrypted, locked)"
    dialog = open_dialog(qtbot, tab, tab.issue_button, IssueCertificateDialog)
    dialog.folder.set_path(tmp_path)
    click(qtbot, dialog.ok_button)
    assert dialog.general_error.message == LOCKED
    dialog.reject()
    finish(qtbot, tab)

    unlock = open_dialog(qtbot, tab, tab.ca_card.unlock_button, UnlockCaDialog)
    qtbot.keyClicks(unlock.passphrase, "wrong")
    click(qtbot, unlock.ok_button)
    assert unlock.passphrase_error.message == "wrong passphrase for the CA key"
    unlock.passphrase.clear()
    qtbot.keyClicks(unlock.passphrase, "correct horse")
    click(qtbot, unlock.ok_button)
    finish(qtbot, tab)
    assert tab.ca_card.key.text() == "EC P-256 (encrypted, unlocked)"
    assert not tab.ca_card.unlock_button.isVisible()
    tab.issue("lamp")
    issue = tab.dialog
    assert isinstance(issue, IssueCertificateDialog)
    issue.folder.set_path(tmp_path)
    click(qtbot, issue.ok_button)
    finish(qtbot, tab)
    assert len(store.pki.repo.of_user("lamp")) == 1


def test_import_ca_errors_are_next_to_their_fields(qtbot: QtBot, window: MainWindow, store: Store,
                                                    tmp_path: Path) -> None:
    authority = create_ca("Old CA")
    other = create_ca("Other CA")
    (tmp_path / "ca.crt").write_bytes(certificate_pem(authority.certificate))
    (tmp_path / "ca.key").write_bytes(private_key_pem(authority.key, "pass"))
    (tmp_path / "other.key").write_bytes(private_key_pem(other.key))
    tab = certificates_tab(window)
    dialog = open_dialog(qtbot, tab, tab.ca_card.import_button, ImportCaDialog)
    dialog.certificate_file.set_path(tmp_path / "missing.crt")
    dialog.key_file.set_path(tmp_path / "other.key")
    click(qtbot, dialog.ok_button)
    assert dialog.certificate_error.message.startswith(f"{tmp_path / 'missing.crt'} cannot be read")
    dialog.certificate_file.set_path(tmp_path / "ca.crt")
    click(qtbot, dialog.ok_button)
    assert dialog.key_error.message == "this key does not belong to the CA certificate"
    dialog.key_file.set_path(tmp_path / "ca.key")
    click(qtbot, dialog.ok_button)
    assert dialog.passphrase_error.message == "the key is encrypted: give its passphrase"
    qtbot.keyClicks(dialog.passphrase, "pass")
    click(qtbot, dialog.ok_button)
    finish(qtbot, tab)
    assert store.pki.ca_certificate() == authority.certificate
    assert tab.ca_card.key.text() == "EC P-256 (encrypted, unlocked)"  # the passphrase was just given


def test_trusted_cas_are_added_and_removed(qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path) -> None:
    store.pki.install(create_ca())
    factory = create_ca("Factory CA")
    (tmp_path / "factory.pem").write_bytes(certificate_pem(factory.certificate))
    (tmp_path / "with-key.pem").write_bytes(certificate_pem(factory.certificate) + private_key_pem(factory.key))
    tab = certificates_tab(window)
    assert tab.trusted.none.isVisible()
    assert not tab.trusted.table.isVisible()
    dialog = open_dialog(qtbot, tab, tab.trusted.add_button, TrustCaDialog)
    qtbot.keyClicks(dialog.name_edit, "factory")
    dialog.file.set_path(tmp_path / "with-key.pem")
    click(qtbot, dialog.ok_button)
    assert dialog.file_error.message.startswith("the file holds a private key")
    dialog.file.set_path(tmp_path / "factory.pem")
    click(qtbot, dialog.ok_button)
    finish(qtbot, tab)
    assert tab.trusted.model.names() == ["factory"]
    assert tab.trusted.table.isVisible()

    tab.trusted.table.selectRow(0)
    click(qtbot, tab.trusted.remove_button)
    confirmation(tab).confirm_button.click()
    qtbot.waitUntil(lambda: tab.trusted.model.rowCount() == 0, timeout=5000)
    assert store.pki.repo.trusted() == []


@pytest.mark.parametrize(("value", "state", "word"), [
    ("valid", CertificateState.VALID, "valid"), ("expiring", CertificateState.EXPIRING, "expiring soon"),
    ("expired", CertificateState.EXPIRED, "expired")])
def test_the_badge_reads_certificate_states(value: str, state: CertificateState, word: str) -> None:
    assert state_of(value) is state
    assert state_word(state) == word


def test_the_issue_dialog_says_when_the_user_cannot_log_in_by_certificate(qtbot: QtBot, window: MainWindow,
                                                                           store: Store) -> None:
    store.users.add("lamp", FAST_HASH("x"))
    store.users.add("plug", FAST_HASH("x"), auth=AuthMode.CERTIFICATE)
    store.pki.install(create_ca())
    tab = certificates_tab(window)
    dialog = open_dialog(qtbot, tab, tab.issue_button, IssueCertificateDialog)
    dialog.user_box.setCurrentText("lamp")
    assert dialog.login_note.isVisible()
    assert dialog.login_note.text().startswith("'lamp' logs in by password only")
    dialog.user_box.setCurrentText("plug")
    assert not dialog.login_note.isVisible()


def test_an_expired_certificate_can_be_deleted_from_the_list(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    from mqttdesk.pki.issue import issue_client_certificate

    store.users.add("lamp", FAST_HASH("x"))
    store.pki.install(create_ca())
    old = issue_client_certificate(store.pki.load(), "lamp", days=1, now=time.time() - 3 * 86400).certificate
    store.pki.repo.record(old, "lamp")
    tab = certificates_tab(window)
    finish(qtbot, tab)
    select_row(tab.table, "lamp")
    assert cell(tab.table, "lamp", STATE) == "expired"
    assert tab.delete_button.isEnabled()
    click(qtbot, tab.delete_button)
    confirmation(tab).confirm_button.click()
    qtbot.waitUntil(lambda: not has_row(tab.table, "lamp"), timeout=5000)
    assert store.pki.repo.issued() == []
