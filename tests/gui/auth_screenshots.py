"""Screenshots of the auth-debugging GUI (issue 7): the Auth log with a refused row explained, Test access, a
client's timeline and the Topic monitor, against a real broker with real paho clients.

Not a test: a way to look at what a stranger would see. Run from the repository root:

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.gui.auth_screenshots [OUTPUT_DIR]

(default output: ./shots, which git ignores). The Auth log and Topic monitor tabs are shot here only (see
`screenshots.SHOT_ELSEWHERE`); names follow `screenshots.shot_name` (hyphens). Each step waits for what the next
shot needs to be in the models (`wait_until`), not for a fixed time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
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
from tests.gui.screenshots import (  # noqa: E402
    FAST_HASH,
    PAINT,
    clients_shown,
    connect,
    run,
    save,
    shot_name,
    wait_until,
)


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
    await wait_until(clients_shown(window, "alice-laptop", "kitchen-lamp-01"), "the first clients")
    auth_log = window.tab("Auth log")
    assert isinstance(auth_log, AuthLogTab)

    def logged(*codes: str) -> Callable[[], bool]:
        return lambda: set(codes) <= {entry.reason_code for entry in auth_log.model.entries()}

    made[1].subscribe("home/kitchen-lamp/#")
    made[1].subscribe("home/kitchen-lamp/secret/#")
    made[1].publish("home/kitchen-lamp/state", '{"on": true, "brightness": 80}')
    made[1].publish("garden/pump", "on")
    made += [connect(port, "porch-light-01", "porch-light"), connect(port, "phone", "alice", "alice123"),
             connect(port, "DVES_1A2B3C", "plug-7"), connect(port, "alice-laptop", "kitchen-lamp"),
             connect(port, "test-client", None)]
    await wait_until(logged("acl-no-rule", "acl-denied", "suspended", "bad-password", "client-id-in-use",
                            "anonymous-refused"), "the refusals in the Auth log")
    await service.kick("kitchen-lamp-01")
    await wait_until(logged("kicked"), "the kick in the Auth log")
    made.append(connect(port, "kitchen-lamp-01", "kitchen-lamp"))
    await wait_until(clients_shown(window, "kitchen-lamp-01"), "kitchen-lamp-01 back")

    window.tabs.setCurrentWidget(auth_log)
    for wanted, suffix in (("suspended", ""), ("acl-no-rule", "-acl"), ("client-id-in-use", "-client-id")):
        entry = next(e for e in auth_log.model.entries() if e.reason_code == wanted)
        auth_log.select_entry(entry.id)
        await asyncio.sleep(PAINT)
        save(window, out, shot_name("Auth log", suffix))

    explainer = auth_log.open_explainer()
    explainer.prefill("kitchen-lamp", "kitchen-lamp-01", "garden/pump", Kind.PUBLISH)
    explainer.password.setText("pw")
    task = explainer.run()
    assert task is not None
    await task
    await asyncio.sleep(PAINT)
    save(explainer, out, "explainer.png")
    explainer.close()

    timeline = auth_log.open_timeline("kitchen-lamp-01")
    assert timeline is not None
    await wait_until(lambda: timeline.model.rowCount() >= 3, "the timeline's events")
    await asyncio.sleep(PAINT)
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

    def monitored() -> bool:
        temperature = monitor.model.node_of("home/living-room/temperature")
        return (temperature is not None and temperature.total >= 5
                and monitor.model.node_of("garden/pump/state") is not None)

    await wait_until(monitored, "the messages in the Topic monitor")
    monitor.tree.expandAll()
    monitor.select_topic("home/kitchen-lamp/state")
    panel = monitor.publish_panel
    panel.set_identity("porch-light")
    panel.topic.setText("home/porch-light/state")
    panel.payload.setText('{"on": true}')
    panel.publish()
    await asyncio.sleep(PAINT)
    save(window, out, shot_name("Topic monitor"))

    for made_client in made:
        made_client.disconnect()
        made_client.loop_stop()
    await window.shutdown()


def main() -> None:
    run(populate, take, size=(1200, 800))


if __name__ == "__main__":
    main()
