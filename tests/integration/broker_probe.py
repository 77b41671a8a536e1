"""The same questions put to any broker with real paho clients: who connects, which publishes arrive, which
subscriptions are granted, which deliveries are made. Used to compare mqttdesk with the Mosquitto it exported to.

A message that is not delivered is told from a slow one by a sentinel: the same publisher sends an allowed message
right after it on the same connection, and the observer reads up to the sentinel (in order, QoS 1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from mqttdesk.core.acl import Permission
from mqttdesk.core.states import StateAction
from mqttdesk.store.db import Store
from tests.integration.mqtt_client import TestClient
from tests.support import fast_hash

PASSWORDS = {"lamp": "lamp-pw", "fridge": "fridge-pw", "old": "old-pw", "watcher": "watcher-pw", "feeder": "feeder-pw"}
CONNECTS = (("lamp", "lamp-pw"), ("fridge", "fridge-pw"), ("lamp", "wrong"), ("old", "old-pw"), ("nobody", "x"),
            (None, None))
SENTINEL = {"lamp": "home/lamp/sentinel", "fridge": "home/fridge/sentinel"}
PUBLISHES = (("lamp", "home/lamp/x"), ("lamp", "home/lamp/secret/x"), ("lamp", "home/fridge/x"),
             ("fridge", "reports/a"), ("lamp", "reports/a"), ("lamp", "status/a"), ("fridge", "home/fridge/x"))
SUBSCRIBES = (("lamp", "home/lamp/#"), ("lamp", "status/#"), ("lamp", "home/fridge/#"), ("fridge", "reports/#"))
RECEIVES = (("lamp", "home/lamp/#", "home/lamp/secret/x", "home/lamp/ok"),
            ("lamp", "home/lamp/#", "home/lamp/news", "home/lamp/ok"),
            ("lamp", "status/#", "status/a", "status/ok"))


def provision(store: Store) -> None:
    """Roles with patterns and a deny, users in several states, an observer and a feeder that may do anything."""
    roles = store.roles
    roles.add("lamps")
    roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    roles.deny("lamps", "home/%u/secret/#", Permission.READWRITE)
    roles.allow("lamps", "status/#", Permission.READ)
    roles.add("reporters")
    roles.allow("reporters", "reports/#", Permission.WRITE)
    roles.add("everything")
    roles.allow("everything", "#", Permission.READWRITE)
    users = store.users
    users.add("lamp", fast_hash(PASSWORDS["lamp"]), ("lamps",))
    users.add("fridge", fast_hash(PASSWORDS["fridge"]), ("lamps", "reporters"))
    users.add("old", fast_hash(PASSWORDS["old"]), ("lamps",))
    users.apply("old", StateAction.SUSPEND)
    users.add("watcher", fast_hash(PASSWORDS["watcher"]), ("everything",))
    users.add("feeder", fast_hash(PASSWORDS["feeder"]), ("everything",))
    store.settings.set_anonymous(False)


@dataclass
class Probe:
    port: int
    _clients: list[TestClient] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def client(self, username: str | None, password: str | None = None) -> TestClient:
        made = TestClient(f"probe-{username}-{next(self._ids)}", self.port, username=username,
                          password=PASSWORDS.get(username or "") if password is None else password)
        self._clients.append(made)
        return made

    def close(self) -> None:
        for made in self._clients:
            made.close()

    def connected(self, username: str | None, password: str | None) -> bool:
        made = self.client(username, password)
        accepted = made.connect() == 0
        made.close()
        return accepted

    @staticmethod
    def _up_to(client: TestClient, sentinel: str) -> list[str]:
        seen = []
        while True:
            message = client.expect_message()
            if message.topic == sentinel:
                return seen
            seen.append(message.topic)

    def outcomes(self) -> dict[str, bool | None]:
        found: dict[str, bool | None] = {}
        for username, password in CONNECTS:
            found[f"connect {username} {password}"] = self.connected(username, password)
        watcher = self.client("watcher")
        assert watcher.connect() == 0
        assert watcher.subscribe("#", 1) == 1
        publishers = {name: self.client(name) for name in SENTINEL}
        for publisher in publishers.values():
            assert publisher.connect() == 0
        for username, topic in PUBLISHES:
            publishers[username].publish(topic, b"probe", qos=1)
            publishers[username].publish(SENTINEL[username], b"sentinel", qos=1)
            found[f"publish {username} {topic}"] = topic in self._up_to(watcher, SENTINEL[username])
        for username, topic_filter in SUBSCRIBES:
            found[f"subscribe {username} {topic_filter}"] = publishers[username].subscribe(topic_filter, 1) < 0x80
        feeder = self.client("feeder")
        assert feeder.connect() == 0
        for username, topic_filter, topic, sentinel in RECEIVES:
            reader = self.client(username)
            assert reader.connect() == 0
            assert reader.subscribe(topic_filter, 1) == 1
            feeder.publish(topic, b"probe", qos=1)
            feeder.publish(sentinel, b"sentinel", qos=1)
            found[f"receive {username} {topic}"] = topic in self._up_to(reader, sentinel)
            reader.close()
        return found


def outcomes_of(port: int) -> dict[str, bool | None]:
    probe = Probe(port)
    try:
        return probe.outcomes()
    finally:
        probe.close()
