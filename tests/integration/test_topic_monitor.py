"""The topic monitor's broker side: see every routed message; publish a test message as an identity."""

from __future__ import annotations

import queue

from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash


def test_monitor_sees_messages_as_the_broker_and_publish_as_obeys_permissions(admin, instance, client):
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    admin.users.add("lamp", fast_hash("pw"), ("lamps",))
    admin.settings.set_anonymous(False)
    instance.sync()
    seen: queue.Queue[tuple[str, bytes, int, bool]] = queue.Queue()

    def monitor(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        seen.put((topic, payload, qos, retain))

    instance.call(instance.service.add_monitor, monitor)
    lamp = client("lamp-1", username="lamp", password="pw")
    assert lamp.connect() == 0
    assert lamp.subscribe("home/lamp/#", 1) == 1
    lamp.publish("home/lamp/state", b"ON", qos=1, retain=True)
    assert seen.get(timeout=5) == ("home/lamp/state", b"ON", 1, True)

    allowed = instance.call(instance.service.publish_as, "lamp", "monitor", "home/lamp/cmd", b"OFF", 1)
    assert allowed.allowed
    assert lamp.expect_message().payload == b"ON"  # its own publish comes back first
    assert lamp.expect_message().payload == b"OFF"

    refused = instance.call(instance.service.publish_as, "lamp", "monitor", "garden/cmd", b"x", 0)
    assert not refused.allowed
    assert refused.reason.code.value == "acl-no-rule"
    unknown = instance.call(instance.service.publish_as, "ghost", "monitor", "home/ghost/x", b"x", 0)
    assert unknown.reason.code.value == "unknown-user"
    anonymous = instance.call(instance.service.publish_as, None, "monitor", "home/x", b"x", 0)
    assert anonymous.reason.code.value == "anonymous-refused"

    instance.call(instance.service.remove_monitor, monitor)
    lamp.publish("home/lamp/state", b"OFF", qos=1)
    assert lamp.expect_message().payload == b"OFF"
    remaining = []
    while not seen.empty():
        remaining.append(seen.get_nowait())
    # the monitor saw the test publish (routed like any message) and nothing after it was removed
    assert remaining == [("home/lamp/cmd", b"OFF", 1, False)]
