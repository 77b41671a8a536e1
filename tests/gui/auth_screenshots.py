"""Screenshots of the auth-debugging GUI (issue 7): the Auth log with a refused row explained, Test access, a
client's timeline and the Topic monitor, against a real broker with real paho clients.

Not a test: a way to look at what a stranger would see. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.gui.auth_screenshots [OUTPUT_DIR]

(default output: ./shots, which git ignores).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import paho.mqtt.client as mqtt  # noqa: E402
import qasync  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from mqttdesk.broker.service import BrokerService  # noqa: E402
from mqttdesk.core.acl import Permission  # noqa: E402
from mqttdesk.core.decision import Kind  # noqa: E402
from mqttdesk.core.states import StateAction  # noqa: E402
from mqttdesk.gui.auth_log_tab import AuthLogTab  # noqa: E402
from mqttdesk.gui.main_window import MainWindow  # noqa: E402
from mqttdesk.gui.topic_monitor_tab import TopicMonitorTab  # noqa: E402
from mqttdesk.store.db import Store  # noqa: E402
from tests.gui.screenshots import FAST_HASH  # noqa: E402


def populate(store: Store) -> None:
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    store.roles.deny("lamps", "home/%u/secret/#", Permission.READ)
    store.roles.add("admin")
    store.roles.allow("admin", "#", Permission.READWRITE)
    for name, roles in (("kitchen-lamp", ("lamps",)), ("porch-light", ("lamps",)), ("alice", ("admin",))):
        store.users.add(name, FAST_HASH("pw"), roles)
    store.users.apply("porch-light", StateAction.SUSPEND)
    store.settings.set_anonymous(False)


def client(port: int, client_id: str, username: str | None, password: str = "pw") -> mqtt.Client:
    made = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    made.reconnect_delay_set(min_delay=60, max_delay=120)
    if username is not None:
        made.username_pw_set(username, password)
    made.connect("127.0.0.1", port)
    made.loop_start()
    return made


def save(widget: QWidget, out: Path, name: str) -> None:
    path = out / name
    widget.grab().save(str(path))
    print(path)


async def take(window: MainWindow, service: BrokerService, out: Path) -> None:
    status = await service.start("127.0.0.1", 0)
    port = status.addresses[0][1]
    window.show()
    made = [client(port, "alice-laptop", "alice"), client(port, "kitchen-lamp-01", "kitchen-lamp")]
    await asyncio.sleep(0.6)
    made[1].subscribe("home/kitchen-lamp/#")
    made[1].subscribe("home/kitchen-lamp/secret/#")
    made[1].publish("home/kitchen-lamp/state", '{"on": true, "brightness": 80}')
    made[1].publish("garden/pump", "on")
    made += [client(port, "porch-light-01", "porch-light"), client(port, "phone", "alice", "alice123"),
             client(port, "DVES_1A2B3C", "plug-7"), client(port, "alice-laptop", "kitchen-lamp"),
             client(port, "test-client", None)]
    await asyncio.sleep(0.8)
    await service.kick("kitchen-lamp-01")
    await asyncio.sleep(0.3)
    made.append(client(port, "kitchen-lamp-01", "kitchen-lamp"))
    await asyncio.sleep(0.8)

    auth_log = window.tab("Auth log")
    assert isinstance(auth_log, AuthLogTab)
    window.tabs.setCurrentWidget(auth_log)
    for wanted, name in (("suspended", "auth-log.png"), ("acl-no-rule", "auth-log-acl.png"),
                         ("client-id-in-use", "auth-log-client-id.png")):
        entry = next(e for e in auth_log.model.entries() if e.reason_code == wanted)
        auth_log.select_entry(entry.id)
        await asyncio.sleep(0.3)
        save(window, out, name)

    explainer = auth_log.open_explainer()
    explainer.prefill("kitchen-lamp", "kitchen-lamp-01", "garden/pump", Kind.PUBLISH)
    explainer.password.setText("pw")
    task = explainer.run()
    assert task is not None
    await task
    await asyncio.sleep(0.3)
    save(explainer, out, "explainer.png")
    explainer.close()

    timeline = auth_log.open_timeline("kitchen-lamp-01")
    assert timeline is not None
    await asyncio.sleep(0.3)
    save(timeline, out, "timeline.png")
    timeline.close()

    monitor = window.tab("Topic monitor")
    assert isinstance(monitor, TopicMonitorTab)
    window.tabs.setCurrentWidget(monitor)
    monitor.filter_edit.setText("#")
    monitor.start()
    made[0].publish("home/kitchen-lamp/state", '{"on": true, "brightness": 80, "color": {"r": 255, "g": 180, "b": 90}}',
                    qos=1, retain=True)
    for n in range(5):
        made[0].publish("home/living-room/temperature", f"{21 + n / 10:.1f}")
    made[0].publish("home/living-room/humidity", "48 %")
    made[0].publish("garden/pump/firmware", bytes(range(40)))
    made[0].publish("garden/pump/state", "off")
    await asyncio.sleep(0.6)
    monitor.tree.expandAll()
    monitor.select_topic("home/kitchen-lamp/state")
    panel = monitor.publish_panel
    panel.set_identity("porch-light")
    panel.topic.setText("home/porch-light/state")
    panel.payload.setText('{"on": true}')
    panel.publish()
    await asyncio.sleep(0.3)
    save(window, out, "topic-monitor.png")

    for made_client in made:
        made_client.disconnect()
        made_client.loop_stop()
    await window.shutdown()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "shots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as data:
        store = Store.open(data)
        populate(store)
        service = BrokerService(store)
        window = MainWindow(service, hasher=FAST_HASH)
        window.resize(1200, 800)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(service.open())
            loop.run_until_complete(take(window, service, out))
        finally:
            loop.close()
            store.close()


if __name__ == "__main__":
    main()
