"""The devices the broker recognises by what they publish, and the commands it sends them as itself.

`DeviceWatch.observe` is the router's device observer: it sees only messages on device topics (see
`core/device_traffic.py`), keeps their facts in a `DeviceBook` and tells its listeners (the window's Devices and
Clients views) what changed. The facts live in memory, like the retained messages they come from: a Tasmota
device publishes its LWT and INFO messages again on every connect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from mqttdesk.core.device_traffic import DeviceBook, DeviceFacts
from mqttdesk.core.errors import ValidationError

log = logging.getLogger(__name__)

DeviceListener = Callable[[DeviceFacts], None]
QUICK_COMMANDS = {"toggle": ("Power", "TOGGLE"), "status": ("Status", "0"), "restart": ("Restart", "1")}


def command_topic(topic: str, command: str) -> str:
    """`cmnd/<topic>/<command>`; a topic or command with a level separator or a wildcard is refused."""
    for what, value in (("device topic", topic), ("command", command)):
        if not value or any(c in value for c in "+#/\0"):
            raise ValidationError(f"not a {what}: {value!r} (one topic level, no wildcards)")
    return f"cmnd/{topic}/{command}"


class DeviceWatch:
    def __init__(self) -> None:
        self.book = DeviceBook()
        self._listeners: list[DeviceListener] = []

    def observe(self, topic: str, payload: bytes, client_id: str | None) -> None:
        facts = self.book.observe(topic, payload, client_id, time.time())
        if facts is None:
            return
        for listener in list(self._listeners):
            try:
                listener(facts)
            except Exception:
                log.exception("device listener failed")

    def subscribe(self, listener: DeviceListener) -> None:
        """Hear of every change to a recognised device (online state, firmware, an answer to a command)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: DeviceListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
