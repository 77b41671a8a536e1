"""Screenshots of the auth-debugging GUI (issue 7): the Auth log with a refused row explained, Test access, a
client's timeline and the Topic monitor, against a real broker with real paho clients.

Not a test: a way to look at what a stranger would see. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.gui.auth_screenshots [OUTPUT_DIR]

(default output: ./shots, which git ignores).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from mqttdesk.broker.service import BrokerService  # noqa: E402
from mqttdesk.core.acl import Permission  # noqa: E402
from mqttdesk.core.decision import Kind  # noqa: E402
from mqttdesk.core.states import StateAction  # noqa: E402
from mqttdesk.gui.auth_log_tab import AuthLogTab  # noqa: E402
from mqttdesk.gui.main_window import MainWindow  # noqa: E402
from mqttdesk.gui.topic_monitor_tab import TopicMonitorTab  # noqa: E402
from mqttdesk.store.db import Store  # noqa: E402
from tests.gui.screenshots import FAST_HASH, connect, run, save  # noqa: E402


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


async def take(window: MainWindow, service: BrokerService, out: Path) -> None:
    status = await service.start("127.0.0.1", 0)
    port = status.addresses[0][1]
    window.show()
    made = [connect(port, "alice-laptop", "alice"), connect(port, "kitchen-lamp-01", "kitchen-lamp")]
    await asyncio.sleep(0.6)
    made[1].subscribe("home/kitchen-lamp/#")
    made[1].subscribe("home/kitchen-lamp/secret/#")
    made[1].publish("home/kitchen-lamp/state", '{"on": true, "brightness": 80}')
    made[1].publish("garden/pump", "on")
    made += [connect(port, "porch-light-01", "porch-light"), connect(port, "phone", "alice", "alice123"),
             connect(port, "DVES_1A2B3C", "plug-7"), connect(port, "alice-laptop", "kitchen-lamp"),
             connect(port, "test-client", None)]
    await asyncio.sleep(0.8)
    await service.kick("kitchen-lamp-01")
    await asyncio.sleep(0.3)
    made.append(connect(port, "kitchen-lamp-01", "kitchen-lamp"))
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
    run(populate, take, size=(1200, 800))


if __name__ == "__main__":
    main()
