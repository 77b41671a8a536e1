"""What every tab is built from, so adding a tab is one line in `main_window.TABS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mqttdesk.broker.service import BrokerService
from mqttdesk.core.passwords import hash_password
from mqttdesk.gui.qt_bridge import ServiceBridge
from mqttdesk.gui.task_runner import TaskRunner
from mqttdesk.store.db import Store

PasswordHasher = Callable[[str], str]


@dataclass(frozen=True)
class TabContext:
    service: BrokerService
    bridge: ServiceBridge
    runner: TaskRunner
    show_message: Callable[[str], None]  # a transient line in the status bar
    hash_password: PasswordHasher = hash_password  # slow on purpose: always called in a thread

    @property
    def store(self) -> Store:
        return self.service.store
