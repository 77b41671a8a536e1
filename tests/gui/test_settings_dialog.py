"""File → Settings… and the Listeners… dialog on a running broker: changing one listener restarts only that one,
while a client connected through another stays connected; limits, notifications and the tray setting are saved."""

from __future__ import annotations

import socket

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerState
from mqttdesk.core.limits import MIB
from mqttdesk.gui.listeners_dialog import ListenersDialog
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.settings_dialog import SettingsDialog
from mqttdesk.store.db import Store
from tests.gui.conftest import AsyncRunner
from tests.gui.helpers import click


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def paho_client(client_id: str, port: int, *, websocket: bool = False) -> tuple[mqtt.Client, list[int]]:
    """A connected paho client and the list its disconnects are counted in."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         transport="websockets" if websocket else "tcp", reconnect_on_failure=False)
    if websocket:
        client.ws_set_options(path="/mqtt")
    disconnects: list[int] = []
    client.on_disconnect = lambda *_args: disconnects.append(1)
    client.connect_async("127.0.0.1", port)  # the WebSocket handshake needs this thread's broker: in paho's thread
    client.loop_start()
    return client, disconnects


def ports(window: MainWindow) -> dict[str, int]:
    return {info.kind: info.port for info in window.service.status.listeners}


def test_changing_the_websocket_port_restarts_only_that_listener(
        qtbot: QtBot, window: MainWindow, store: Store, aio: AsyncRunner) -> None:
    store.settings.set_listener("127.0.0.1", 0)
    store.settings.set_listener_enabled("ws", True)
    store.settings.set_listener_port("ws", free_port())
    status = aio.run(window.service.start())
    assert status.state is BrokerState.LISTENING
    before = ports(window)
    tcp, tcp_gone = paho_client("on-tcp", before["tcp"])
    ws, ws_gone = paho_client("on-ws", before["ws"], websocket=True)
    clients = [tcp, ws]
    try:
        qtbot.waitUntil(lambda: {s.client_id for s in window.service.registry} == {"on-tcp", "on-ws"}, timeout=5000)
        tcp_session = next(s for s in window.service.registry if s.client_id == "on-tcp")

        window.broker_bar.edit_listeners()
        dialog = window.broker_bar.listeners_dialog
        assert isinstance(dialog, ListenersDialog)
        new_port = free_port()
        dialog.ports["ws"].setText(str(new_port))
        click(qtbot, dialog.ok_button)
        qtbot.waitUntil(lambda: ports(window).get("ws") == new_port, timeout=10000)
        qtbot.waitUntil(lambda: bool(ws_gone), timeout=5000)  # the restarted listener's client was disconnected

        assert ports(window)["tcp"] == before["tcp"]
        assert not tcp_gone  # the TCP client never noticed
        assert next(s for s in window.service.registry if s.client_id == "on-tcp") is tcp_session
        again, _ = paho_client("on-ws-again", new_port, websocket=True)
        clients.append(again)
        qtbot.waitUntil(lambda: any(s.client_id == "on-ws-again" for s in window.service.registry), timeout=5000)
        assert not tcp_gone
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()


def test_settings_saves_limits_and_notifications(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    window.open_settings()
    dialog = window.dialog
    assert isinstance(dialog, SettingsDialog)
    assert not dialog.tray_box.isEnabled()  # offscreen: no tray, closing the window quits
    dialog.limits["max_inflight"].setValue(50)
    dialog.limits["max_queued"].setValue(2000)
    dialog.limits["max_pending"].setValue(500)
    dialog.limits["max_incoming_qos2_mib"].setValue(8)
    dialog.limits["max_packet_mib"].setValue(4)
    dialog.limits["max_connections"].setValue(300)
    dialog.limits["max_connections_per_address"].setValue(20)
    dialog.limits["max_retained_messages"].setValue(5000)
    dialog.limits["max_retained_mib"].setValue(64)
    assert dialog.persistence_box.isChecked()  # the default
    dialog.persistence_box.setChecked(False)
    dialog.notify_box.setChecked(False)
    click(qtbot, dialog.ok_button)
    qtbot.waitUntil(lambda: window.dialog is None, timeout=5000)
    limits = store.settings.session_limits()
    assert (limits.max_inflight, limits.max_queued, limits.max_incoming_qos2_bytes) == (50, 2000, 8 * MIB)
    assert store.settings.admission_limits().max_pending == 500
    assert limits.max_packet_size == 4 * MIB
    broker = store.settings.broker_limits()
    assert (broker.max_connections, broker.max_connections_per_address) == (300, 20)
    assert (broker.max_retained_messages, broker.max_retained_bytes) == (5000, 64 * MIB)
    assert not store.settings.persistence()
    assert not window.auth_debugging.notifier.enabled
    assert not window.auth_debugging.notify_toggle.isChecked()
