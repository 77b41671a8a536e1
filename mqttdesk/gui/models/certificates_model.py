"""The tables of the Certificates tab: the client certificates mqttdesk's CA issued (one row per serial) and the
CAs trusted for client certificates.

Both follow `ChangeKind.CERTIFICATE` notices: an issued or revoked certificate names its serial, so one row is
re-read; a new CA ("ca") re-reads the list; a trusted CA is "trust:NAME". A certificate's state also changes with
the clock (valid, expiring soon, expired), with no notice at all, so the state column is repainted every minute.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Slot

from mqttdesk.gui.formatting import format_time
from mqttdesk.gui.models.keyed_model import KeyedTableModel
from mqttdesk.gui.models.sorting import SORT_ROLE
from mqttdesk.gui.models.table_model import AnyIndex, ListTableModel
from mqttdesk.gui.widgets.state_badge import STATE_ROLE, state_icon, state_word
from mqttdesk.pki.certificate_states import EXPIRING_DAYS, CertificateState
from mqttdesk.store.certificates_repo import CertificateRecord, TrustedCa
from mqttdesk.store.changes import Change, ChangeKind
from mqttdesk.store.db import Store

CN, SERIAL, USER, ISSUED, EXPIRES, STATE, KEY = range(7)
STATE_ORDER = {state: order for order, state in enumerate(CertificateState)}
CLOCK_MS = 60_000  # how often the states are looked at again (expiry is a matter of days)


class CertificatesTableModel(KeyedTableModel[CertificateRecord]):
    HEADERS = ("CN", "Serial", "User", "Issued", "Expires", "State", "Key")
    HEADER_TIPS = (
        "The certificate's common name: the user it logs in as",
        "Its serial number (hex), as `mqttdesk cert list` shows it",
        "The user it was issued for",
        "When it became valid",
        "When it stops being valid",
        f"valid, expiring soon (within {EXPIRING_DAYS} days), expired or revoked",
        "Its key type",
    )
    STATE_COLUMN = STATE

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_MS)
        self._clock.timeout.connect(self._time_passed)
        self._clock.start()
        self.reload()

    @staticmethod
    def key_of(record: CertificateRecord) -> str:
        return record.serial

    def reload(self) -> None:
        self._reset_records(self._store.pki.repo.issued())

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        record = self._record_of(index)
        if record is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(record, column)
        if role == SORT_ROLE:
            return self._sort_key(record, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(record, column)
        if column == STATE:
            if role == STATE_ROLE:
                return record.state()
            if role == Qt.ItemDataRole.DecorationRole:
                return state_icon(record.state())
        return None

    def _display(self, record: CertificateRecord, column: int) -> str:
        if column == CN:
            return record.common_name
        if column == SERIAL:
            return record.serial
        if column == USER:
            if record.user is None:
                return "—"
            return record.user if self._store.users.find(record.user) is not None else f"{record.user} (deleted)"
        if column == ISSUED:
            return format_time(record.issued)
        if column == EXPIRES:
            return format_time(record.expires)
        if column == STATE:
            return state_word(record.state())
        return record.key_type

    def _sort_key(self, record: CertificateRecord, column: int) -> Any:
        if column == ISSUED:
            return record.issued
        if column == EXPIRES:
            return record.expires
        if column == STATE:
            return STATE_ORDER[record.state()]
        return self._display(record, column).lower()

    @staticmethod
    def _tooltip(record: CertificateRecord, column: int) -> str | None:
        if column == STATE:
            state = record.state()
            if state is CertificateState.REVOKED:
                return f"revoked on {format_time(record.revoked_at)}: new TLS handshakes with it are refused"
            if state is CertificateState.EXPIRED:
                return f"expired on {format_time(record.expires)}"
            days = int((record.expires - time.time()) // 86400)
            return f"valid for {days} more days (until {format_time(record.expires)})"
        if column == SERIAL:
            return f"serial {record.serial}\nSHA-256 {record.fingerprint_sha256}\nissuer {record.issuer}"
        return None

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        keys = {change.key for change in changes if change.kind is ChangeKind.CERTIFICATE}
        if "ca" in keys:  # a new CA: certificates of an old one may be listed no more
            self._sync(self._store.pki.repo.issued())
            return
        for key in keys:
            if key not in ("server", "sans") and not key.startswith("trust:"):
                self._put(key, self._store.pki.repo.find(key))
        if any(change.kind is ChangeKind.USER for change in changes):
            self._columns_changed(USER, USER)

    def _time_passed(self) -> None:
        self._columns_changed(STATE, STATE)


TRUSTED_NAME, TRUSTED_SUBJECT, TRUSTED_CRL, TRUSTED_ADDED, TRUSTED_FINGERPRINT = range(5)


class TrustedCasModel(ListTableModel):
    """The trusted CAs, read again on each notice about one (there are a handful)."""

    HEADERS = ("Name", "Subject", "CRL", "Added", "SHA-256")
    HEADER_TIPS = (
        "The name users are bound to (user auth NAME certificate --ca NAME)",
        "The CA certificate's subject",
        "Whether its CRL came with it (without one, no client certificate is checked against a CRL)",
        "When it was added",
        "The SHA-256 fingerprint of the CA certificate",
    )

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._trusted: list[TrustedCa] = store.pki.repo.trusted()

    def row_total(self) -> int:
        return len(self._trusted)

    def trusted_at(self, row: int) -> TrustedCa:
        return self._trusted[row]

    def names(self) -> list[str]:
        return [trusted.name for trusted in self._trusted]

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._trusted):
            return None
        trusted = self._trusted[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == TRUSTED_NAME:
                return trusted.name
            if column == TRUSTED_SUBJECT:
                return trusted.subject
            if column == TRUSTED_CRL:
                return "yes" if trusted.crl_pem else "no"
            if column == TRUSTED_ADDED:
                return format_time(trusted.added)
            return trusted.fingerprint_sha256
        if role == Qt.ItemDataRole.ToolTipRole and column == TRUSTED_FINGERPRINT:
            return trusted.fingerprint_sha256
        return None

    @Slot(object)
    def on_store_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind is ChangeKind.CERTIFICATE and change.key.startswith("trust:") for change in changes):
            self.beginResetModel()  # a handful of rows, no selection worth keeping across an add or remove
            self._trusted = self._store.pki.repo.trusted()
            self.endResetModel()
