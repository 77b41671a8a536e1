"""The Clients tab against the real broker: a paho client appears, subscribes, is kicked and disappears."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.acl import Permission
from mqttdesk.core.limits import BrokerLimits
from mqttdesk.core.states import StateAction
from mqttdesk.gui.clients_tab import LONGEST_METHOD, ClientsTab
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.models.clients_model import CONNECTED_SINCE, METHOD, SUBSCRIPTIONS, USERNAME
from mqttdesk.gui.models.users_model import SESSIONS
from mqttdesk.gui.users_tab import UsersTab
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, AsyncRunner, ClientFactory
from tests.gui.helpers import cell, click, has_row, select_row, tab_of


def clients_tab(window: MainWindow) -> ClientsTab:
    return tab_of(window, "Clients", ClientsTab)


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


def test_the_method_column_fits_the_longest_method(window: MainWindow) -> None:
    tab = tab_of(window, "Clients", ClientsTab)
    needed = tab.table.fontMetrics().horizontalAdvance(LONGEST_METHOD)
    assert tab.table.columnWidth(METHOD) > needed


def test_a_kept_session_shows_offline_and_can_be_discarded(
    qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory
) -> None:
    store.roles.add("all")
    store.roles.allow("all", "#", Permission.READWRITE)
    store.users.add("alice", FAST_HASH("pw"), ("all",))
    tab = clients_tab(window)
    client = connect("alice-phone", "alice", "pw", clean_session=False)
    qtbot.waitUntil(lambda: has_row(tab.table, "alice-phone"), timeout=5000)
    client.subscribe("home/#", qos=1)
    qtbot.waitUntil(lambda: cell(tab.table, "alice-phone", SUBSCRIPTIONS) == "1", timeout=5000)
    client.disconnect()
    client.loop_stop()
    qtbot.waitUntil(lambda: cell(tab.table, "alice-phone", CONNECTED_SINCE) == "offline", timeout=5000)
    assert str(cell(tab.table, "alice-phone", CONNECTED_SINCE, 3)).startswith("offline since ")  # ToolTipRole
    assert window.service.publish_as("alice", "alice-desk", "home/door", b"open", qos=1).allowed
    qtbot.waitUntil(lambda: cell(tab.table, "alice-phone", CONNECTED_SINCE) == "offline · 1 queued", timeout=5000)
    qtbot.waitUntil(lambda: tab.count_label.text() == "0 clients connected, 1 session kept for clients away",
                    timeout=5000)
    assert window.clients_label.text() == "0 clients connected"

    select_row(tab.table, "alice-phone")
    assert not tab.kick_button.isEnabled()
    click(qtbot, tab.discard_button)
    click(qtbot, tab.confirmation.confirm_button)
    qtbot.waitUntil(lambda: not has_row(tab.table, "alice-phone"), timeout=5000)
    assert "discarded the session kept for 'alice-phone' (1 queued message)" in window.statusBar().currentMessage()
    assert store.client_ids.owner("alice-phone") is None


def test_the_limits_line_counts_refusals_and_drops(qtbot: QtBot, window: MainWindow, store: Store,
                                                   service: BrokerService, aio: AsyncRunner) -> None:
    store.settings.set_broker_limits(BrokerLimits(max_connections=1, max_retained_messages=1))
    status = aio.run(service.start("127.0.0.1", 0))  # the limits apply from this start
    port = status.addresses[0][1]
    tab = clients_tab(window)
    assert tab.limits_label.isHidden()  # nothing refused or dropped yet: no line
    first = _paho("first", port)
    qtbot.waitUntil(lambda: has_row(tab.table, "first"), timeout=5000)
    refused: list[int] = []
    second = _paho("second", port, on_connack=refused.append)
    qtbot.waitUntil(lambda: refused == [3], timeout=5000)  # CONNACK 3: server unavailable
    for topic in ("lwt/a", "lwt/b"):
        first.publish(topic, b"Online", qos=1, retain=True)
    qtbot.waitUntil(lambda: "retained" in tab.limits_label.text(), timeout=5000)
    assert tab.limits_label.text() == "refused: 1 over the connection limit · dropped: 1 retained over the limit"
    assert tab.limits_label.isVisible()
    for client in (first, second):
        client.disconnect()
        client.loop_stop()


def _paho(client_id: str, port: int, on_connack: Callable[[int], None] | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         reconnect_on_failure=False)
    if on_connack is not None:
        client.on_connect = lambda _c, _u, _f, reason, _p: on_connack(_V311.get(reason.value, reason.value))
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    return client


_V311 = {0: 0, 136: 3}  # paho 2 reports a 3.1.1 CONNACK as the MQTT 5 code: 136 is "server unavailable"


def test_the_filter_box_and_a_header_click_sort_and_narrow_the_table(
        qtbot: QtBot, window: MainWindow, store: Store, connect: ClientFactory) -> None:
    store.roles.add("all")
    store.roles.allow("all", "#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("pw"), ("all",))
    tab = clients_tab(window)
    window.tabs.setCurrentWidget(tab)
    for client_id in ("kitchen-lamp", "hall-plug", "desk-lamp"):
        connect(client_id, "lamp", "pw")
    qtbot.waitUntil(lambda: tab.model.rowCount() == 3, timeout=5000)

    def ids() -> list[str]:
        shown = tab.table.model()
        return [shown.index(row, 0).data() for row in range(shown.rowCount())]

    assert ids() == ["desk-lamp", "hall-plug", "kitchen-lamp"]  # newest first (connected since, descending)

    header = tab.table.horizontalHeader()
    click_at = header.sectionViewportPosition(0) + header.sectionSize(0) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(click_at, header.height() // 2))
    assert header.sortIndicatorSection() == 0
    expected = sorted(ids(), reverse=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder)
    assert ids() == expected  # by client id, the way the header's arrow shows

    select_row(tab.table, "hall-plug")
    qtbot.keyClicks(tab.filter_edit, "LAMP")
    assert sorted(ids()) == ["desk-lamp", "kitchen-lamp"]
    assert tab.count_label.text() == "3 clients connected"  # the line counts everyone, shown or not
    tab.filter_edit.clear()
    assert sorted(ids()) == ["desk-lamp", "hall-plug", "kitchen-lamp"]
    select_row(tab.table, "desk-lamp")
    assert tab.selected_session() is not None
    assert tab.selected_session().client_id == "desk-lamp"  # type: ignore[union-attr]
