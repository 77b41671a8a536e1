"""The Topic monitor tab against the real broker: messages published by a paho client show up in the tree with
their payload as text or pretty JSON; a test message published as an identity without the permission is refused
with the reason, one with it is delivered."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from mqttdesk.core.acl import Permission
from mqttdesk.gui.main_window import MainWindow
from mqttdesk.gui.topic_monitor_tab import TopicMonitorTab
from mqttdesk.store.db import Store
from tests.gui.conftest import FAST_HASH, ClientFactory
from tests.gui.helpers import click, tab_of


def monitor_tab(window: MainWindow) -> TopicMonitorTab:
    return tab_of(window, "Topic monitor", TopicMonitorTab)


def test_published_messages_appear_as_text_and_pretty_json(qtbot: QtBot, window: MainWindow,
                                                          connect: ClientFactory) -> None:
    tab = monitor_tab(window)
    tab.filter_edit.setText("home/#/x")
    assert not tab.start()
    assert "'#' must be a whole level and the last one" in tab.filter_error.message
    tab.filter_edit.setText("home/#")
    click(qtbot, tab.watch_button)
    assert tab.watching
    assert tab.filter_error.message == ""

    client = connect("sensor-1")  # anonymous: on by default while the broker listens on loopback
    client.publish("home/kitchen/temp", "21.5")
    client.publish("home/kitchen/temp", "21.7", qos=1, retain=True)
    client.publish("home/kitchen/state", '{"on":true,"level":3}')
    client.publish("garden/pump", "ignored: outside the filter")
    qtbot.waitUntil(lambda: tab.model.node_of("home/kitchen/state") is not None, timeout=5000)
    qtbot.waitUntil(lambda: tab.messages_seen == 3, timeout=5000)
    temp = tab.model.node_of("home/kitchen/temp")
    assert temp is not None
    assert temp.message is not None
    assert (temp.message.count, temp.message.payload, temp.message.qos, temp.message.retain) == (2, b"21.7", 1, True)
    assert tab.model.node_of("garden/pump") is None
    assert "watching 'home/#' · 3 messages on 2 topics" in tab.status.text()

    tab.select_topic("home/kitchen/state")
    assert tab.payload_view.toPlainText() == '{\n  "on": true,\n  "level": 3\n}'
    assert "JSON" in tab.payload_title.text()
    tab.select_topic("home/kitchen/temp")
    assert tab.payload_view.toPlainText() == "21.7"
    assert "retained" in tab.payload_title.text()
    client.publish("home/kitchen/temp", "22.0")  # the selected topic's details follow new messages
    qtbot.waitUntil(lambda: tab.payload_view.toPlainText() == "22.0", timeout=5000)

    click(qtbot, tab.watch_button)
    assert not tab.watching
    client.publish("home/kitchen/temp", "23.0")
    click(qtbot, tab.clear_button)
    assert tab.model.rowCount() == 0


def test_publish_as_an_identity_goes_through_its_permissions(qtbot: QtBot, window: MainWindow, store: Store,
                                                             port: int) -> None:
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    store.users.add("lamp", FAST_HASH("pw"), ("lamps",))
    tab = monitor_tab(window)
    tab.filter_edit.setText("#")
    assert tab.start()
    panel = tab.publish_panel
    assert panel.identity.findText("lamp") >= 0  # users are offered (filled from the store)

    panel.set_identity("lamp")
    panel.topic.setText("garden/x")
    panel.payload.setText("on")
    click(qtbot, panel.publish_button)
    assert panel.last_decision is not None
    assert not panel.last_decision.allowed
    assert "✗ Refused" in panel.result.text()
    assert "no rule allows write there" in panel.result.text()

    panel.topic.setText("home/lamp/light")
    click(qtbot, panel.publish_button)
    assert "✓ Published" in panel.result.text()
    qtbot.waitUntil(lambda: tab.model.node_of("home/lamp/light") is not None, timeout=5000)
    assert tab.model.node_of("garden/x") is None  # the refused one was never routed


def test_a_new_watch_shows_the_retained_messages_at_once_and_one_can_be_cleared(
        qtbot: QtBot, window: MainWindow, connect: ClientFactory) -> None:
    plug = connect("DVES_1A2B3C")
    for client_id in ("DVES_1A2B3C", "DVES_44F0A1", "DVES_9C2E77"):
        plug.publish(f"tele/{client_id}/LWT", "Online", qos=1, retain=True)
    plug.publish("tele/DVES_1A2B3C/SENSOR", '{"t": 21}')  # not retained: gone before the watch
    service = window.service
    qtbot.waitUntil(lambda: len(service.retained_messages("tele/#")) == 3, timeout=5000)

    tab = monitor_tab(window)
    tab.filter_edit.setText("tele/+/LWT")
    assert tab.start()
    lwt = tab.model.node_of("tele/DVES_44F0A1/LWT")  # shown at once, before any new message
    assert lwt is not None
    assert lwt.message is not None
    assert (lwt.message.payload, lwt.message.qos, lwt.message.retain) == (b"Online", 1, True)
    assert tab.model.node_of("tele/DVES_1A2B3C/SENSOR") is None
    assert "3 messages on 3 topics" in tab.status.text()

    watcher_got: list[tuple[str, bytes]] = []
    watcher = connect("watcher")  # subscribed before the clear: it is told (an empty retained message)
    watcher.on_message = lambda _client, _userdata, message: watcher_got.append((message.topic, message.payload))
    watcher.subscribe("tele/DVES_44F0A1/LWT", qos=1)
    qtbot.waitUntil(lambda: watcher_got == [("tele/DVES_44F0A1/LWT", b"Online")], timeout=5000)

    tab.select_topic("tele/DVES_44F0A1/LWT")
    assert "retained" in tab.payload_title.text()
    click(qtbot, tab.clear_retained_button)
    qtbot.waitUntil(lambda: len(watcher_got) == 2, timeout=5000)
    assert watcher_got[1] == ("tele/DVES_44F0A1/LWT", b"")
    assert [topic for topic, _, _ in service.retained_messages("tele/#")] == ["tele/DVES_1A2B3C/LWT",
                                                                             "tele/DVES_9C2E77/LWT"]
    cleared = tab.model.node_of("tele/DVES_44F0A1/LWT")
    assert cleared is not None
    assert cleared.message is not None
    assert not cleared.message.retain
    assert not tab.clear_retained_button.isEnabled()

    received: list[str] = []
    late = connect("late-subscriber")  # a new subscriber gets the two retained messages that are left
    late.on_message = lambda _client, _userdata, message: received.append(message.topic)
    late.subscribe("tele/+/LWT", qos=1)
    qtbot.waitUntil(lambda: len(received) == 2, timeout=5000)
    assert sorted(received) == ["tele/DVES_1A2B3C/LWT", "tele/DVES_9C2E77/LWT"]
