"""The Clients tab against the real broker: a paho client appears, subscribes, is kicked and disappears."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService, BrokerState
from mqttdesk.core.acl import Permission
from mqttdesk.core.states import StateAction
from mqttdesk.gui.clients_tab import ClientsTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.clients_model import METHOD, SUBSCRIPTIONS, USERNAME
from mqttdesk.gui.models.users_model import SESSIONS
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, AsyncRunner
from tests.gui.helpers import cell, click, has_row, select_row

ClientFactory = Callable[..., mqtt.Client]


@pytest.fixture
def port(service: BrokerService, aio: AsyncRunner) -> int:
    status = aio.run(service.start("127.0.0.1", 0))
    assert status.state is BrokerState.LISTENING, status.describe()
    return status.addresses[0][1]


@pytest.fixture
def connect(port: int) -> Iterator[ClientFactory]:
    """Factory for paho clients connected (in their own thread) to the broker under test."""
    made: list[mqtt.Client] = []

    def make(client_id: str, username: str | None = None, password: str | None = None) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        client.reconnect_delay_set(min_delay=60, max_delay=120)  # a kicked client must stay away during the test
        if username is not None:
            client.username_pw_set(username, password)
        client.connect("127.0.0.1", port, keepalive=30)
        client.loop_start()
        made.append(client)
        return client

    yield make
    for client in made:
        client.disconnect()
        client.loop_stop()


def clients_tab(window: MainWindow) -> ClientsTab:
    window.tabs.setCurrentWidget(window.tab("Clients"))
    tab = window.tab("Clients")
    assert isinstance(tab, ClientsTab)
    return tab


def test_a_client_appears_and_is_kicked(qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory) -> None:
    store.roles.add("all")
    store.roles.allow("all", "#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("pw"), ("all",))
    tab = clients_tab(window)
    users = window.tab("Users")
    assert isinstance(users, UsersTab)
    client_id = f"gui-{uuid.uuid4().hex[:8]}"

    client = connect(client_id, "lamp", "pw")
    qtbot.waitUntil(lambda: has_row(tab.table, client_id), timeout=5000)
    assert cell(tab.table, client_id, USERNAME) == "lamp"
    assert cell(tab.table, client_id, METHOD) == "password"
    assert cell(users.table, "lamp", SESSIONS) == "1"
    assert window.clients_label.text() == "1 client connected"

    client.subscribe("lights/#", qos=1)
    qtbot.waitUntil(lambda: cell(tab.table, client_id, SUBSCRIPTIONS) == "1", timeout=5000)
    assert "lights/#" in str(cell(tab.table, client_id, SUBSCRIPTIONS, 3))  # ToolTipRole

    select_row(tab.table, client_id)
    click(qtbot, tab.kick_button)
    qtbot.waitUntil(lambda: not has_row(tab.table, client_id), timeout=5000)
    qtbot.waitUntil(lambda: f"kicked '{client_id}'" in window.statusBar().currentMessage(), timeout=5000)
    assert cell(users.table, "lamp", SESSIONS) == "0"
    assert window.clients_label.text() == "0 clients connected"
    assert not tab.kick_button.isEnabled()


def test_suspending_a_user_disconnects_its_client(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.users.add("lamp", FAST_HASH("pw"))
    tab = clients_tab(window)
    connect("lamp-1", "lamp", "pw")
    qtbot.waitUntil(lambda: has_row(tab.table, "lamp-1"), timeout=5000)
    store.users.apply("lamp", StateAction.SUSPEND)
    qtbot.waitUntil(lambda: not has_row(tab.table, "lamp-1"), timeout=5000)
