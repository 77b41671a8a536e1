"""The README's screenshots: one PNG per tab of the main window (docs/screenshots/users.png, …), plus the first-run
wizard, over a store with users, roles, a fleet of plugs, certificates, live paho clients, refusals, a kick and
retained messages: what a person sees after an afternoon with mqttdesk.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.gui.tab_screenshots [--fast] [OUTPUT_DIR]

OUTPUT_DIR defaults to docs/screenshots. `--fast` (the test suite's mode) skips the fleet, the certificates and the
wizard: the same tabs, less data, a few seconds. Each shot waits for the data it shows (`wait_until`), never a fixed
time. The richer dialog and menu shots are `tests.gui.screenshots` and `tests.gui.auth_screenshots`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from mqttdesk.broker.service import BrokerService  # noqa: E402
from mqttdesk.core.bans import Ban, BanKind  # noqa: E402
from mqttdesk.gui.auth_log_tab import AuthLogTab  # noqa: E402
from mqttdesk.gui.first_run_wizard import FirstRunWizard  # noqa: E402
from mqttdesk.gui.main_window import MainWindow  # noqa: E402
from mqttdesk.gui.topic_monitor_tab import TopicMonitorTab  # noqa: E402
from mqttdesk.pki.ca import create_ca  # noqa: E402
from mqttdesk.store.db import Store  # noqa: E402
from tests.gui.screenshots import PAINT, clients_shown, connect, fleet, populate, run, save, shot_name, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "docs" / "screenshots"
SIZE = (1280, 800)


def tab_files(window: MainWindow) -> list[str]:
    """The file of each tab's shot, in tab order ("users.png", …, "integrations.png")."""
    return [shot_name(window.tabs.tabText(index)) for index in range(window.tabs.count())]


async def take(window: MainWindow, service: BrokerService, out: Path, *, fast: bool) -> None:
    status = await service.start("127.0.0.1", 0)
    port = status.addresses[0][1]
    window.show()
    clients = [connect(port, "kitchen-thermometer-01", "kitchen-thermometer"),
               connect(port, "display-livingroom", "living-room-display"),
               connect(port, "alice-laptop", "alice")]
    await wait_until(clients_shown(window, "kitchen-thermometer-01", "display-livingroom", "alice-laptop"),
                     "the clients")
    if not fast:
        clients += await fleet(window, port, service.store)
        service.store.pki.install(create_ca())
        for user in ("kitchen-thermometer", "alice"):
            service.store.pki.issue_client(user)
    for plug in ("DVES_1A2B3C", "DVES_44F0A1", "DVES_9C2E77"):
        clients[2].publish(f"tele/{plug}/LWT", "Online", qos=1, retain=True)
    clients[0].publish("sensors/kitchen-thermometer-01/temperature", "21.4", qos=1, retain=True)
    clients[1].subscribe("sensors/#")
    clients.append(connect(port, "phone", "alice", "wrong-password"))  # refused: bad-password
    clients.append(connect(port, "porch", "porch-light"))  # refused: unknown user
    auth_log = window.tab("Auth log")
    assert isinstance(auth_log, AuthLogTab)
    codes = lambda: {entry.reason_code for entry in auth_log.model.entries()}  # noqa: E731
    await wait_until(lambda: {"bad-password", "unknown-user"} <= codes(), "the refusals")
    await wait_until(lambda: len(service.retained_messages("#")) == 4, "the retained messages")
    await service.kick("display-livingroom")
    await wait_until(lambda: "kicked" in codes(), "the kick")
    now = time.time()  # the Banned tab also shows what the login guard did to a guesser two minutes ago
    service.store.bans.add(Ban(BanKind.ADDRESS, "192.168.1.77", "10 failed logins in 60 s from 192.168.1.77",
                               now - 120, now + 480))

    monitor = window.tab("Topic monitor")
    assert isinstance(monitor, TopicMonitorTab)
    monitor.filter_edit.setText("#")
    monitor.start()  # the retained messages show at once
    monitor.tree.expandAll()
    monitor.select_topic("tele/DVES_44F0A1/LWT")
    entry = next(e for e in auth_log.model.entries() if e.reason_code == "bad-password")
    auth_log.select_entry(entry.id)
    selections = {"Users": "alice", "Roles": "sensors", "Bootstrap": "tasmota-plugs", "Devices": "DVES_1A2B3C"}
    for index, name in enumerate(tab_files(window)):
        title = window.tabs.tabText(index)
        window.tabs.setCurrentIndex(index)
        tab = window.tabs.widget(index)
        selector = {"Users": "select_user", "Roles": "select_role", "Bootstrap": "select_bootstrap",
                    "Devices": "select_device"}.get(title)
        if selector is not None and title in selections:
            getattr(tab, selector)(selections[title])
        await asyncio.sleep(PAINT)
        save(window, out, name)
    if not fast:
        window.settings.remove("first_run/done")
        wizard = FirstRunWizard(window.context, window.settings, window)
        wizard.open()
        await asyncio.sleep(PAINT)
        save(wizard, out, "first-run.png")
        wizard.reject()
    for client in clients:
        client.disconnect()
        client.loop_stop()
    await window.shutdown()


def main(argv: list[str]) -> None:
    fast = "--fast" in argv
    rest = [arg for arg in argv if arg != "--fast"]
    out = Path(rest[0]) if rest else DEFAULT_OUT

    async def take_tabs(window: MainWindow, service: BrokerService, into: Path) -> None:
        await take(window, service, into, fast=fast)

    def fill(store: Store) -> None:
        populate(store)

    run(fill, take_tabs, size=SIZE, out=out)


if __name__ == "__main__":
    main(sys.argv[1:])
