"""The Listeners… dialog of the top bar: switch TLS and WebSocket on, with errors next to the fields."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerState
from mqttdesk.gui.listeners_dialog import ListenersDialog
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.pki.ca import create_ca
from mqttdesk.store.db import Store
from tests.gui.helpers import click
from tests.integration.tls_certs import make_tls_files


def open_dialog(qtbot: QtBot, window: MainWindow) -> ListenersDialog:
    bar = window.broker_bar
    click(qtbot, bar.listeners_button)
    dialog = bar.listeners_dialog
    assert isinstance(dialog, ListenersDialog)
    qtbot.waitExposed(dialog)
    return dialog


def test_tls_without_files_and_bad_ports_are_refused_next_to_the_fields(
    qtbot: QtBot, window: MainWindow, store: Store
) -> None:
    dialog = open_dialog(qtbot, window)
    dialog.enabled["tls"].setChecked(True)
    dialog.ports["ws"].setText("99999")
    click(qtbot, dialog.ok_button)
    assert dialog.port_errors["ws"].message == "port must be between 0 and 65535, not 99999"
    dialog.ports["ws"].setText("0")
    click(qtbot, dialog.ok_button)
    assert "need a certificate and its key" in dialog.file_errors["cert_file"].message
    dialog.files["cert_file"].setText("/nonexistent/server.crt")
    click(qtbot, dialog.ok_button)
    assert "no such file" in dialog.file_errors["cert_file"].message
    assert not store.settings.listeners().tls  # nothing saved while anything is wrong


def test_with_the_built_in_ca_tls_needs_no_files(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    store.pki.install(create_ca())
    bar = window.broker_bar
    bar.port_edit.setText("0")
    click(qtbot, bar.start_button)
    qtbot.waitUntil(lambda: window.service.status.state is BrokerState.LISTENING, timeout=5000)
    dialog = open_dialog(qtbot, window)
    dialog.ports["tcp"].setText("0")
    dialog.enabled["tls"].setChecked(True)
    dialog.ports["tls"].setText("0")
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: {info.kind for info in window.service.status.listeners} == {"tcp", "tls"},
                    timeout=10000)
    assert store.settings.listeners().cert_file is None


def test_switching_tls_and_websocket_on_restarts_the_broker_on_them(
    qtbot: QtBot, window: MainWindow, store: Store, tmp_path: Path
) -> None:
    files = make_tls_files(tmp_path)
    bar = window.broker_bar
    bar.port_edit.setText("0")
    click(qtbot, bar.start_button)
    qtbot.waitUntil(lambda: window.service.status.state is BrokerState.LISTENING, timeout=5000)
    dialog = open_dialog(qtbot, window)
    dialog.ports["tcp"].setText("0")
    for kind in ("tls", "ws"):
        dialog.enabled[kind].setChecked(True)
        dialog.ports[kind].setText("0")
    dialog.files["cert_file"].setText(str(files.cert))
    dialog.files["key_file"].setText(str(files.key))
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: {info.kind for info in window.service.status.listeners} == {"tcp", "tls", "ws"},
                    timeout=10000)
    assert "(tls)" in bar.status_label.text()
    assert "(ws)" in bar.status_label.text()
    saved = store.settings.listeners()
    assert (saved.tls, saved.ws, saved.cert_file) == (True, True, str(files.cert.resolve()))


def test_the_mdns_advertisement_is_switched_in_the_dialog(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    dialog = open_dialog(qtbot, window)
    assert dialog.mdns.isChecked()  # on by default (it only applies beyond loopback)
    dialog.mdns.setChecked(False)
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: not store.settings.listeners().mdns, timeout=5000)
    assert not open_dialog(qtbot, window).mdns.isChecked()
