from __future__ import annotations

import socket

import pytest
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService, BrokerState
from mqttdesk.gui.broker_bar import PORT_TIP, STATE_COLORS
from mqttdesk.gui.main_window import TABS, MainWindow
from mqttdesk.store.db import Store
from tests.gui.conftest import AsyncRunner
from tests.gui.helpers import click


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def can_bind(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_tabs_and_initial_state(window: MainWindow) -> None:
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [title for title, _ in TABS]
    bar = window.broker_bar
    assert bar.status_label.text() == "stopped"
    assert bar.dot.color == STATE_COLORS[BrokerState.STOPPED]
    assert bar.start_button.isEnabled()
    assert not bar.stop_button.isEnabled()
    assert (bar.host_edit.text(), bar.port_edit.text()) == ("127.0.0.1", "1883")
    assert window.clients_label.text() == "0 clients connected"


def test_start_from_the_bar_then_close_frees_the_port(
    qtbot: QtBot, window: MainWindow, service: BrokerService, store: Store
) -> None:
    port = free_port()
    bar = window.broker_bar
    bar.port_edit.setText(str(port))
    click(qtbot, bar.start_button)
    qtbot.waitUntil(lambda: service.status.state is BrokerState.LISTENING, timeout=5000)
    assert bar.status_label.text() == f"listening on 127.0.0.1:{port}"
    assert bar.dot.color == STATE_COLORS[BrokerState.LISTENING]
    assert store.settings.listener() == ("127.0.0.1", port)
    assert not bar.start_button.isEnabled()
    assert bar.stop_button.isEnabled()
    assert not bar.port_edit.isEnabled()
    assert not can_bind(port)

    with qtbot.waitSignal(window.shutdown_finished, timeout=10000):
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert service.status.state is BrokerState.STOPPED
    assert can_bind(port)


def test_stop_button(qtbot: QtBot, window: MainWindow, service: BrokerService) -> None:
    bar = window.broker_bar
    bar.port_edit.setText("0")
    click(qtbot, bar.start_button)
    qtbot.waitUntil(lambda: bar.stop_button.isEnabled(), timeout=5000)
    click(qtbot, bar.stop_button)
    qtbot.waitUntil(lambda: bar.status_label.text() == "stopped", timeout=5000)
    assert bar.start_button.isEnabled()


def test_the_fields_show_where_it_listens_and_a_restart_uses_them(
    qtbot: QtBot, window: MainWindow, service: BrokerService, store: Store, aio: AsyncRunner
) -> None:
    """Started elsewhere than stored (`mqttdesk gui --port N`, or port 0): the bar shows the real port, and Stop →
    Start comes back there without turning the one-run override into the stored setting."""
    status = aio.run(service.start("127.0.0.1", 0))
    port = status.addresses[0][1]
    bar = window.broker_bar
    assert (bar.host_edit.text(), bar.port_edit.text()) == ("127.0.0.1", str(port))
    assert "the stored setting is 127.0.0.1 port 1883" in bar.port_edit.toolTip()
    click(qtbot, bar.stop_button)
    qtbot.waitUntil(lambda: bar.start_button.isEnabled(), timeout=5000)
    assert bar.port_edit.text() == str(port)
    click(qtbot, bar.start_button)
    qtbot.waitUntil(lambda: service.status.state is BrokerState.LISTENING, timeout=5000)
    assert service.status.addresses[0][1] == port
    assert store.settings.listener() == ("127.0.0.1", 1883)

    click(qtbot, bar.stop_button)  # a port typed in is stored, as before
    qtbot.waitUntil(lambda: bar.start_button.isEnabled(), timeout=5000)
    other = free_port()
    bar.port_edit.setText(str(other))
    click(qtbot, bar.start_button)
    qtbot.waitUntil(lambda: service.status.state is BrokerState.LISTENING, timeout=5000)
    assert service.status.addresses[0][1] == other
    assert store.settings.listener() == ("127.0.0.1", other)
    assert bar.port_edit.toolTip() == PORT_TIP


def test_port_in_use_is_explained(qtbot: QtBot, window: MainWindow) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        bar = window.broker_bar
        bar.port_edit.setText(str(port))
        click(qtbot, bar.start_button)
        qtbot.waitUntil(lambda: bar.status_label.text().startswith("error:"), timeout=5000)
    assert f"port {port} on 127.0.0.1 is already in use" in bar.status_label.text()
    assert bar.dot.color == STATE_COLORS[BrokerState.ERROR]
    assert bar.start_button.isEnabled()


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("127.0.0.1", "http", "port must be a number"),
        ("127.0.0.1", "70000", "port must be between 0 and 65535"),
        ("not a host", "1883", "is not an IP address"),
    ],
)
def test_listener_errors_are_shown_next_to_the_fields(
    qtbot: QtBot, window: MainWindow, store: Store, host: str, port: str, message: str
) -> None:
    bar = window.broker_bar
    bar.host_edit.setText(host)
    bar.port_edit.setText(port)
    click(qtbot, bar.start_button)
    assert message in bar.listener_error.message
    assert bar.listener_error.isVisible()
    assert bar.status_label.text() == "stopped"
    assert store.settings.listener() == ("127.0.0.1", 1883)


def test_unrestricted_anonymous_access_is_a_visible_warning(qtbot: QtBot, window: MainWindow, store: Store) -> None:
    bar = window.broker_bar
    # default: "auto", on while listening on loopback, with no roles
    assert bar.allow_anonymous_radio.isChecked()
    assert bar.warning.isVisible()
    assert "anyone can read and write every topic" in bar.warning.text()

    click(qtbot, bar.require_auth_radio)  # off
    assert store.settings.anonymous().mode == "off"
    assert bar.require_auth_radio.isChecked()
    assert not bar.warning.isVisible()
    assert not bar.anonymous_roles_button.isEnabled()

    store.roles.add("guest")
    store.settings.set_anonymous(True, ("guest",))  # e.g. from the CLI
    assert bar.allow_anonymous_radio.isChecked()
    assert not bar.warning.isVisible()
    assert "guest" in bar.anonymous_roles_button.text()

    bar._toggle_role("guest", False)
    assert store.settings.anonymous().roles == ()
    assert bar.warning.isVisible()
