"""The bottom of the Certificates tab: other CAs trusted for client certificates (`mqttdesk trust ...`), added from a
PEM file under a name and removed after a confirmation. As tall as its few rows, so the issued certificates above
keep the room."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.ca_dialogs import TrustCaDialog
from mqttdesk.gui.models.certificates_model import (
    TRUSTED_ADDED,
    TRUSTED_CRL,
    TRUSTED_NAME,
    TRUSTED_SUBJECT,
    TrustedCasModel,
)
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.tables import make_table, selected_row, set_column_widths
from mqttdesk.store.certificates_repo import TrustedCa

_WIDTHS = {TRUSTED_NAME: 140, TRUSTED_SUBJECT: 320, TRUSTED_CRL: 50, TRUSTED_ADDED: 120}
MAX_ROWS = 3  # shown without scrolling

Confirm = Callable[[str, str, str, str, Callable[[], object]], None]


def heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600;")
    return label


class TrustedCasPanel(QWidget):
    def __init__(self, context: TabContext, open_dialog: Callable[[QDialog], object], confirm: Confirm,
                 parent: QWidget | None = None) -> None:
        """`open_dialog` and `confirm` are the tab's, so the tab knows the one dialog open (tests answer it)."""
        super().__init__(parent)
        self.context = context
        self._open_dialog = open_dialog
        self._confirm = confirm
        self.model = TrustedCasModel(context.store, self)
        context.bridge.store_changed.connect(self.model.on_store_changes)
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Trust another CA's client certificates (its certificate only, optionally with "
                                   "its CRL)")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Stop trusting this CA")
        self.remove_button.clicked.connect(self.remove)
        self.table = make_table(self.model)
        set_column_widths(self.table, _WIDTHS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        self.model.modelReset.connect(self._fit)
        self.error = FieldError()
        self.note = QLabel("Their client certificates log in only as users bound to them (a user's Login…).")
        self.none = QLabel("None: only certificates of mqttdesk's CA log in.")
        bar = QHBoxLayout()
        bar.addWidget(heading("Trusted CAs"))
        bar.addWidget(self.add_button)
        bar.addWidget(self.remove_button)
        bar.addWidget(self.note, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.error)
        layout.addWidget(self.none)
        layout.addWidget(self.table)
        self._fit()

    def _fit(self) -> None:
        rows = self.model.rowCount()
        self.none.setVisible(rows == 0)
        self.table.setVisible(rows > 0)
        shown = min(max(rows, 1), MAX_ROWS)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height()
                                  + shown * self.table.verticalHeader().defaultSectionSize() + 4)
        self.update_actions()

    def selected(self) -> TrustedCa | None:
        row = selected_row(self.table)
        return None if row is None else self.model.trusted_at(row)

    def update_actions(self) -> None:
        self.remove_button.setEnabled(self.selected() is not None)

    def add(self) -> None:
        dialog = TrustCaDialog(self.context, self)
        dialog.done_with.connect(lambda name: self.context.show_message(f"trusting '{name}' for client certificates"))
        self._open_dialog(dialog)

    def remove(self) -> None:
        trusted = self.selected()
        if trusted is not None:
            self._confirm("Stop trusting a CA", f"Stop trusting '{trusted.name}'?", "Remove",
                          f"Client certificates issued by {trusted.subject} are refused from the next handshake.",
                          lambda: self.untrust(trusted.name))

    def untrust(self, name: str) -> bool:
        self.error.clear_error()
        try:
            self.context.store.pki.repo.remove_trusted(name)
        except MqttdeskError as exc:
            self.error.show_error(str(exc))
            return False
        self.context.show_message(f"no longer trusting '{name}'")
        return True
