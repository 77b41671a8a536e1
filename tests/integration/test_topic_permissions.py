"""SUBSCRIBE and PUBLISH against roles on the real broker: deny by default, deny wins, broad filters filtered."""

from __future__ import annotations

import pytest

from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash


@pytest.fixture
def sensors(admin, instance):
    """User 'sensor' may write sensors/%u/#, read cmd/%u and everything under sensors/ except sensors/secret/#."""
    admin.roles.add("sensor")
    admin.roles.allow("sensor", "sensors/%u/#", Permission.WRITE)
    admin.roles.allow("sensor", "cmd/%u", Permission.READ)
    admin.roles.allow("sensor", "sensors/#", Permission.READ)
    admin.roles.deny("sensor", "sensors/secret/#", Permission.READ)
    admin.roles.add("admin")
    admin.roles.allow("admin", "#", Permission.READWRITE)
    admin.users.add("sensor", fast_hash("pw"), ("sensor",))
    admin.users.add("root", fast_hash("rootpw"), ("admin",))
    instance.sync()
    return instance


def _log(instance, kind):  # type: ignore[no-untyped-def]
    instance.flush_log()
    return [e for e in instance.call(instance.store.auth_log.recent, 200) if e.kind == kind]


def test_denied_subscribe_gets_0x80_and_is_logged(sensors, client):
    sensor = client("s1", username="sensor", password="pw")
    assert sensor.connect() == 0
    assert sensor.subscribe("cmd/sensor", 1) == 1
    assert sensor.subscribe("cmd/other", 1) == 0x80
    assert sensor.subscribe("sensors/secret/#", 0) == 0x80
    refused = [e for e in _log(sensors, "SUBSCRIBE") if not e.allowed]
    assert {e.topic for e in refused} == {"cmd/other", "sensors/secret/#"}
    by_topic = {e.topic: e for e in refused}
    assert by_topic["cmd/other"].reason_code == "acl-no-rule"
    assert by_topic["sensors/secret/#"].reason_code == "acl-denied"


def test_denied_publish_is_not_delivered(sensors, client):
    root = client("root", username="root", password="rootpw")
    assert root.connect() == 0
    assert root.subscribe("#", 1) == 1
    sensor = client("s1", username="sensor", password="pw")
    assert sensor.connect() == 0
    sensor.publish("sensors/other/temp", b"21", qos=1)  # not its own subtree: refused
    sensor.publish("sensors/sensor/temp", b"22", qos=1)  # allowed
    received = root.expect_message()
    assert (received.topic, received.payload) == ("sensors/sensor/temp", b"22")
    assert root.messages.empty()
    refused = [e for e in _log(sensors, "PUBLISH") if not e.allowed]
    assert [e.topic for e in refused] == ["sensors/other/temp"]


def test_broad_subscription_granted_but_denied_topics_not_delivered(sensors, client):
    sensor = client("s1", username="sensor", password="pw")
    assert sensor.connect() == 0
    assert sensor.subscribe("sensors/#", 1) == 1
    root = client("root", username="root", password="rootpw")
    assert root.connect() == 0
    root.publish("sensors/secret/key", b"hidden", qos=1)
    root.publish("sensors/open/temp", b"visible", qos=1)
    received = sensor.expect_message()
    assert received.payload == b"visible"
    assert sensor.messages.empty()


def test_repeated_denials_are_logged_once_per_session(sensors, client):
    sensor = client("s1", username="sensor", password="pw")
    assert sensor.connect() == 0
    for _ in range(5):
        sensor.publish("forbidden/topic", b"x", qos=1)
    assert [e.topic for e in _log(sensors, "PUBLISH") if not e.allowed] == ["forbidden/topic"]


def test_a_kept_session_logs_its_decisions_again_on_its_next_connection(sensors, client):
    for attempt in range(2):  # the session (and its remembered decisions) outlives the first connection
        sensor = client("s1", username="sensor", password="pw", clean_session=False)
        assert sensor.connect() == 0
        for _ in range(3):
            sensor.publish("forbidden/topic", b"x", qos=1)
        sensor.disconnect()
        # once per connection (the Auth log folds the repeat into its entry's count)
        assert sum(e.count for e in _log(sensors, "PUBLISH") if not e.allowed) == attempt + 1


def test_role_change_applies_to_a_live_session(admin, sensors, client):
    root = client("root", username="root", password="rootpw")
    assert root.connect() == 0
    assert root.subscribe("cmd/#", 1) == 1
    sensor = client("s1", username="sensor", password="pw")
    assert sensor.connect() == 0
    sensor.publish("cmd/x", b"before", qos=1)  # not allowed yet
    admin.roles.allow("sensor", "cmd/x", Permission.WRITE)
    sensors.sync()
    sensor.publish("cmd/x", b"after", qos=1)
    assert root.expect_message().payload == b"after"
    assert root.messages.empty()


def test_anonymous_roles_limit_anonymous_clients(admin, sensors, client):
    admin.roles.add("public")
    admin.roles.allow("public", "public/#", Permission.READWRITE)
    admin.settings.set_anonymous(True, ("public",))
    sensors.sync()
    anon = client("anon")
    assert anon.connect() == 0
    assert anon.subscribe("public/#", 0) == 0
    assert anon.subscribe("sensors/#", 0) == 0x80


def test_allowed_publishes_to_many_topics_are_logged_once_per_rule(sensors, client):
    """Telemetry with an id in every topic must not fill the Auth log and push the refusals out."""
    sensor = client("s1", username="sensor", password="pw")
    assert sensor.connect() == 0
    for n in range(50):
        sensor.publish(f"sensors/sensor/reading/{n}", b"1", qos=1)
    sensor.publish("elsewhere/a", b"x", qos=1)
    sensor.publish("elsewhere/b", b"x", qos=1)
    entries = _log(sensors, "PUBLISH")
    assert [e.topic for e in entries if e.allowed] == ["sensors/sensor/reading/0"]  # the first, naming its rule
    assert "sensors/%u/#" in [e for e in entries if e.allowed][0].reason
    assert [e.topic for e in entries if not e.allowed] == ["elsewhere/a", "elsewhere/b"]  # every refused topic


@pytest.mark.parametrize("client_id", ["a/b", "$x"])
def test_a_deny_rule_that_cannot_be_applied_safely_still_denies(admin, sensors, client, client_id):
    """`deny sensors/%c/locked/#` used to be skipped for these clientIds, and `allow sensors/#` let them through."""
    admin.roles.add("fleet")
    admin.roles.allow("fleet", "sensors/#", Permission.WRITE)
    admin.roles.deny("fleet", "sensors/%c/locked/#", Permission.WRITE)
    admin.users.add("fleet", fast_hash("pw"), ("fleet",))
    sensors.sync()
    root = client("root", username="root", password="rootpw")
    assert root.connect() == 0
    assert root.subscribe("sensors/#", 1) == 1
    odd = client(client_id, username="fleet", password="pw")
    assert odd.connect() == 0
    odd.publish("sensors/a/b/locked/x", b"sneaky", qos=1)
    odd.publish(f"sensors/{client_id}/locked/x", b"own", qos=1)
    odd.publish("sensors/hall/temp", b"elsewhere", qos=1)  # the deny applies to every topic for this clientId
    # an ordinary clientId meets the rules as written: someone else's 'locked' subtree is not its own
    plain = client("b", username="fleet", password="pw")
    assert plain.connect() == 0
    plain.publish("sensors/a/b/locked/x", b"plain", qos=1)
    assert root.expect_message().payload == b"plain"  # routing happens before PUBACK: the odd ones came first
    assert root.messages.empty()

    refused = [e for e in _log(sensors, "PUBLISH") if not e.allowed]
    topics = ["sensors/a/b/locked/x", f"sensors/{client_id}/locked/x", "sensors/hall/temp"]
    assert [e.topic for e in refused] == list(dict.fromkeys(topics))  # each refused topic is logged once
    assert {e.client_id for e in refused} == {client_id}
    problem = "contains '/'" if client_id == "a/b" else "starts with '$'"
    why = f"clientId '{client_id}' {problem}, so rules with %c cannot be applied safely"
    for entry in refused:
        assert entry.reason_code == "acl-denied"
        assert why in entry.reason
        assert "role 'fleet' denies write on 'sensors/%c/locked/#'" in entry.reason
        assert why in entry.steps
    connect = [e for e in _log(sensors, "CONNECT") if e.client_id == client_id]
    assert len(connect) == 1
    assert any(step.startswith(f"note: {why}") for step in connect[0].steps)
