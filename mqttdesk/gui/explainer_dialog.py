"""Test access: would this username, password and clientId get in, and may it publish or subscribe to a topic?

It runs the broker's own pipeline as a dry run (`auth.explain`): nothing is changed, nothing is logged, a first
use does not activate a credential. The clientId check uses the clients connected right now. Checking a password
costs PBKDF2 time (~0.15 s): the explanation is awaited on the event loop (`auth.explain.explain_on_loop`), where
only the hash runs in a worker thread, so the window never freezes and the pipeline's caches are only touched on
the loop that owns them (as the broker does). After a suggested fix is applied, the same request is tested again
at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import shiboken6
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mqttdesk.auth.explain import Explanation, connecting_as, explain_on_loop
from mqttdesk.broker.registry import SessionRegistry
from mqttdesk.core.decision import ConnectRequest, Kind, PeerCertificate, SessionHolder
from mqttdesk.core.errors import ValidationError
from mqttdesk.gui.decision_text import MUTED, client_answer, colored, escape, path_html
from mqttdesk.gui.fix_panel import FixPanel
from mqttdesk.gui.models.auth_log_model import Outcome
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.store.auth_log_repo import AuthLogEntry

_ACTIONS = (("publish", Kind.PUBLISH), ("subscribe", Kind.SUBSCRIBE))


def live_holders(registry: SessionRegistry) -> dict[str, SessionHolder]:
    """Who holds which clientId now, connected or kept while away, copied (the registry changes while the password
    hash runs)."""
    return dict(registry.holders())


def explanation_sections(result: Explanation) -> list[tuple[str, tuple[str, ...]]]:
    connect = result.connect
    who = connecting_as(connect, "anonymous (no username)")
    sections = [(f"CONNECT as {who} with clientId '{connect.client_id}'", connect.steps)]
    if result.topic is not None:
        sections.append((f"{result.topic.kind.value} '{result.topic.topic}'", result.topic.steps))
    return sections


def explanation_html(result: Explanation) -> str:
    """The verdict first (and at which stage it fell: connecting, or the topic), then the numbered path."""
    final = result.final
    verb = final.kind.value.lower() + " to"
    if result.allowed:
        what = "may connect" + (f" and {verb} '{final.topic}'" if result.topic else "")
        verdict = (f"<p><span style='font-size:large;'>{colored('✓ Allowed', Outcome.ALLOWED)}</span> — "
                   f"{escape(what)}<br>{escape(final.reason.text)}</p>")
    else:
        stage = (f"may connect, but may not {verb} '{final.topic}'" if result.topic is not None
                 else "may not connect")
        answer = client_answer(final.kind.value, final.reason.code.value, False, dry_run=True)
        told = f"<br><span style='color:{MUTED};'>{escape(answer)}</span>" if answer else ""
        verdict = (f"<p><span style='font-size:large;'>{colored('✗ Refused', Outcome.REFUSED)}</span> — "
                   f"{escape(stage)}<br><b>Why:</b> {escape(final.reason.text)} <span style='color:{MUTED};'>"
                   f"(reason code <code>{escape(final.reason.code.value)}</code>)</span>{told}</p>")
    return verdict + "<p style='margin-bottom:0;'><b>Decision path</b></p>" + path_html(explanation_sections(result))


class ExplainerDialog(QDialog):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Test access")
        self.setMinimumWidth(620)
        self.resize(720, 640)
        self.username = QLineEdit()
        self.username.setPlaceholderText("empty: an anonymous client")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("empty: the client sends no password")
        self.show_password = QCheckBox("Show")
        self.show_password.toggled.connect(lambda shown: self.password.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password))
        self.client_id = QLineEdit()
        self.client_id.setPlaceholderText("the clientId the device uses, e.g. DVES_1A2B3C")
        self.client_id_error = FieldError()
        self.certificate = QLineEdit()
        self.certificate.setPlaceholderText("optional: the client presents this certificate over TLS (PEM file)")
        self.certificate_browse = QPushButton("Browse…")
        self.certificate_browse.clicked.connect(self._choose_certificate)
        self.certificate_error = FieldError()
        self.topic = QLineEdit()
        self.topic.setPlaceholderText("optional: also check a topic, e.g. home/kitchen/light")
        self.action = QComboBox()
        for label, kind in _ACTIONS:
            self.action.addItem(label, kind)
        self.test_button = QPushButton("Test")
        self.test_button.setDefault(True)
        self.test_button.clicked.connect(self.run)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Username", self.username)
        password_row = QHBoxLayout()
        password_row.addWidget(self.password, 1)
        password_row.addWidget(self.show_password)
        form.addRow("Password", password_row)
        client_column = QVBoxLayout()
        client_column.setSpacing(2)
        client_column.addWidget(self.client_id)
        client_column.addWidget(self.client_id_error)
        form.addRow("Client id", client_column)
        certificate_row = QHBoxLayout()
        certificate_row.addWidget(self.certificate, 1)
        certificate_row.addWidget(self.certificate_browse)
        certificate_column = QVBoxLayout()
        certificate_column.setSpacing(2)
        certificate_column.addLayout(certificate_row)
        certificate_column.addWidget(self.certificate_error)
        form.addRow("Certificate", certificate_column)
        topic_row = QHBoxLayout()
        topic_row.addWidget(self.topic, 1)
        topic_row.addWidget(self.action)
        form.addRow("Topic", topic_row)
        note = QLabel("A dry run of the broker's own decision: nothing is changed or logged, and a first connect "
                      "does not activate anything. The clientId check uses the clients connected right now.")
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {MUTED};")

        self.busy = QLabel()
        self.busy.setVisible(False)
        self.done_label = QLabel()
        self.done_label.setWordWrap(True)
        self.done_label.setVisible(False)
        self.text = QTextBrowser()  # the verdict and the path: one document that scrolls when the path is long
        self.text.setOpenLinks(False)
        self.text.document().setDocumentMargin(8)
        self.text.setHtml(f"<p style='color:{MUTED};'>Fill in what the client sends and press Test.</p>")
        self.fix_panel = FixPanel(context)
        self.fix_panel.applied.connect(self._fix_applied)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addLayout(buttons)
        layout.addWidget(self.done_label)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.fix_panel)
        layout.addWidget(close)
        self.explanation: Explanation | None = None  # the last one shown (QDialog has a result() of its own)
        self._task: asyncio.Task[None] | None = None

    # -- input ------------------------------------------------------------------------------------

    def prefill(self, username: str | None = None, client_id: str | None = None, topic: str | None = None,
                action: Kind = Kind.PUBLISH) -> None:
        self.username.setText(username or "")
        self.client_id.setText(client_id or "")
        self.topic.setText(topic or "")
        self.action.setCurrentIndex(1 if action is Kind.SUBSCRIBE else 0)
        (self.password if username else self.client_id).setFocus()

    def prefill_from_entry(self, entry: AuthLogEntry) -> None:
        """A log row has no password (none is ever stored): the person types it, the rest is filled in."""
        action = Kind.SUBSCRIBE if entry.kind == "SUBSCRIBE" else Kind.PUBLISH
        self.prefill(entry.username, entry.client_id, entry.topic, action)

    # -- running ------------------------------------------------------------------------------------

    @property
    def working(self) -> bool:
        return self._task is not None and not self._task.done()

    def run(self) -> asyncio.Task[None] | None:
        """Validate and start the dry run; returns its task (None when the input is incomplete or one runs)."""
        if self.working:
            return None
        client_id = self.client_id.text().strip()
        if not client_id:
            self.client_id_error.show_error("enter the clientId the client uses (it decides who holds it, and "
                                            "whether it belongs to a registered device)")
            return None
        self.client_id_error.clear_error()
        certificate = self._certificate()
        if certificate is False:
            return None
        username = self.username.text().strip() or None
        password = self.password.text() or None
        request = ConnectRequest(client_id=client_id, username=username, password=password, certificate=certificate,
                                 transport="tls" if certificate is not None else None)
        topic = self.topic.text().strip() or None
        action = Kind(self.action.currentData())  # Qt hands a StrEnum back as a plain str
        self._set_busy(True)
        self._task = self.context.runner.start(self._explain(request, topic, action), "test access")
        return self._task

    def _choose_certificate(self) -> None:
        path, _selected = QFileDialog.getOpenFileName(self, "The client's certificate", "",
                                                      "Certificates (*.crt *.pem *.cer);;All files (*)")
        if path:
            self.certificate.setText(path)

    def _certificate(self) -> PeerCertificate | None | Literal[False]:
        """The certificate the client presents (None: none), or False after showing why it cannot be used."""
        path = self.certificate.text().strip()
        self.certificate_error.clear_error()
        if not path:
            return None
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            self.certificate_error.show_error(f"cannot read {path}: {exc.strerror or exc}")
            return False
        try:
            return self.context.store.pki.presented_certificate(data, Path(path).name)
        except ValidationError as exc:
            self.certificate_error.show_error(str(exc))
            return False

    async def _explain(self, request: ConnectRequest, topic: str | None, action: Kind) -> None:
        holders = live_holders(self.context.service.registry)
        try:
            result = await explain_on_loop(self.context.service.pipeline, request, holders, topic=topic,
                                           action=action)
        finally:
            if shiboken6.isValid(self):
                self._set_busy(False)
        if shiboken6.isValid(self):
            self.show_result(result)

    def _set_busy(self, busy: bool) -> None:
        self.test_button.setEnabled(not busy)
        self.busy.setText("Checking… (a password check takes a moment)")
        self.busy.setVisible(busy)

    def show_result(self, result: Explanation) -> None:
        self.explanation = result
        self.text.setHtml(explanation_html(result))
        self.fix_panel.set_fix(result.fix)

    def _fix_applied(self, message: str) -> None:
        if message.startswith("not applied"):
            return
        self.done_label.setText(colored(f"✓ Done: {message}. Tested again below.", Outcome.ALLOWED))
        self.done_label.setVisible(True)
        self.run()
