"""Listeners…: which listeners run (TCP, TLS, WebSocket, WebSocket over TLS), on which ports, with which TLS files,
and whether the broker is advertised on the network (mDNS) while it listens beyond loopback.

The same settings as `mqttdesk config set listen.*|tls.*`. Saving writes them in one transaction and, when the
broker is running, restarts only the listeners that changed (their clients reconnect; the clients of the others
stay connected); the top bar then shows every listener.
Errors stay next to their field and nothing is saved until all of them are fixed.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from mqttdesk.broker.service import BrokerState
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.gui.tab_context import TabContext
from mqttdesk.gui.widgets.field_error import FieldError
from mqttdesk.gui.widgets.form_dialog import FormDialog
from mqttdesk.store.settings_repo import ListenerSettings, validate_port

KINDS = (("tcp", "MQTT over TCP"), ("tls", "MQTT over TLS"), ("ws", "WebSocket (/mqtt)"),
         ("wss", "WebSocket over TLS"))
TLS_FILES = (("cert_file", "Certificate (PEM)"), ("key_file", "Private key (PEM)"),
             ("client_ca_file", "Client CA (optional)"))


class ListenersDialog(FormDialog):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(context, "Listeners", "Save", parent)
        settings = context.store.settings.listeners()
        note = QLabel(f"All listeners use the address {settings.host}. Saving restarts only the listeners that "
                      "changed: their clients reconnect, the others stay connected. TLS needs a certificate and its "
                      "key (or mqttdesk's own CA); clients must trust the certificate.")
        note.setWordWrap(True)
        self.form.addRow(note)
        self.enabled: dict[str, QCheckBox] = {}
        self.ports: dict[str, QLineEdit] = {}
        self.port_errors: dict[str, FieldError] = {}
        for kind, label in KINDS:
            box = QCheckBox(label)
            box.setChecked(getattr(settings, kind))
            port = QLineEdit(str(getattr(settings, f"{kind}_port")))
            port.setFixedWidth(80)
            port.setToolTip("0 picks a free port at start")
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(box)
            row.addStretch(1)
            row.addWidget(port)
            holder = QWidget()
            holder.setLayout(row)
            self.port_errors[kind] = self.add_field("", holder)
            self.enabled[kind], self.ports[kind] = box, port
        self.files: dict[str, QLineEdit] = {}
        self.file_errors: dict[str, FieldError] = {}
        for which, label in TLS_FILES:
            edit = QLineEdit(getattr(settings, which) or "")
            browse = QPushButton("Browse…")
            browse.clicked.connect(lambda _checked=False, e=edit, t=label: self._browse(e, t))
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(edit, 1)
            row.addWidget(browse)
            holder = QWidget()
            holder.setLayout(row)
            self.file_errors[which] = self.add_field(label, holder)
            self.files[which] = edit
        self.mdns = QCheckBox("Advertise on the network (mDNS: _mqtt._tcp, _secure-mqtt._tcp)")
        self.mdns.setToolTip("So Home Assistant, MQTTX and phone apps find the broker; only while it listens beyond "
                             "loopback (listen.mdns)")
        self.mdns.setChecked(settings.mdns)
        self.form.addRow("Discovery", self.mdns)

    def _browse(self, edit: QLineEdit, title: str) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, title, edit.text() or str(Path.home()))
        if chosen:
            edit.setText(chosen)

    def entered(self) -> ListenerSettings | None:
        """What the form says, or None after showing each problem next to its field."""
        ok = True
        ports: dict[str, int] = {}
        for kind, _ in KINDS:
            text = self.ports[kind].text().strip()
            try:
                if not text.isdigit():
                    raise MqttdeskError(f"the port must be a number, not {text!r}")
                ports[kind] = validate_port(int(text))
            except MqttdeskError as exc:
                self.port_errors[kind].show_error(str(exc))
                ok = False
        files = {which: self.files[which].text().strip() or None for which, _ in TLS_FILES}
        for which, path in files.items():
            if path is not None and not Path(path).expanduser().is_file():
                self.file_errors[which].show_error(f"no such file: {path}")
                ok = False
        wants_tls = self.enabled["tls"].isChecked() or self.enabled["wss"].isChecked()
        if wants_tls and ok and not self.context.store.pki.exists():  # the built-in CA's certificate serves then
            for which in ("cert_file", "key_file"):
                if files[which] is None:
                    self.file_errors[which].show_error("TLS and WebSocket over TLS need a certificate and its key "
                                                       "(or mqttdesk's own CA: mqttdesk ca init)")
                    ok = False
        if not any(box.isChecked() for box in self.enabled.values()):
            self.port_errors["tcp"].show_error("switch on at least one listener")
            ok = False
        if not ok:
            return None
        current = self.context.store.settings.listeners()
        return ListenerSettings(
            host=current.host, tcp=self.enabled["tcp"].isChecked(), tcp_port=ports["tcp"],
            tls=self.enabled["tls"].isChecked(), tls_port=ports["tls"], ws=self.enabled["ws"].isChecked(),
            ws_port=ports["ws"], wss=self.enabled["wss"].isChecked(), wss_port=ports["wss"], mdns=self.mdns.isChecked(),
            cert_file=files["cert_file"], key_file=files["key_file"], client_ca_file=files["client_ca_file"])

    def submit(self) -> Coroutine[Any, Any, str | None] | None:
        wanted = self.entered()
        return None if wanted is None else self._save(wanted)

    async def _save(self, wanted: ListenerSettings) -> str:
        settings = self.context.store.settings
        with self.context.store.write():
            settings.set_listener(wanted.host, wanted.tcp_port)
            for kind, _ in KINDS:
                settings.set_listener_enabled(kind, getattr(wanted, kind))
                if kind != "tcp":
                    settings.set_listener_port(kind, getattr(wanted, f"{kind}_port"))
            for which, _ in TLS_FILES:
                settings.set_tls_file(which, getattr(wanted, which))
            settings.set_mdns(wanted.mdns)
        service = self.context.service
        if service.status.state is BrokerState.LISTENING:
            self.busy.setText("Restarting the listeners that changed…")
            status = await service.apply_listener_settings()
            return f"listeners saved; {status.describe()}"
        return "listeners saved; they apply when the broker starts"
