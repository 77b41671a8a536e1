"""CONNECT against the real broker: the CONNACK code and the Auth log entry come from one decision."""

from __future__ import annotations

from mqttdesk.core.acl import Permission
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance


def _setup_user(admin: Store, instance: Instance, name: str = "lamp", password: str = "s3cret") -> None:
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    admin.users.add(name, fast_hash(password), ("lamps",))
    instance.sync()


def _last_connect(instance: Instance, client_id: str):  # type: ignore[no-untyped-def]
    instance.flush_log()
    entries = [e for e in instance.call(instance.store.auth_log.recent, 100) if e.kind == "CONNECT"]
    return [e for e in entries if e.client_id == client_id][-1]


def test_right_password_connects_and_activates_user(admin, instance, client):
    _setup_user(admin, instance)
    lamp = client("lamp-1", username="lamp", password="s3cret")
    assert lamp.connect() == 0
    entry = _last_connect(instance, "lamp-1")
    assert entry.allowed
    assert entry.method == "password"
    assert entry.reason_code == "authenticated"
    assert admin.users.get("lamp").state.value == "active"
    assert "s3cret" not in repr(entry)


def test_wrong_password_gets_4_with_reason(admin, instance, client):
    _setup_user(admin, instance)
    assert client("lamp-1", username="lamp", password="nope").connect() == 4
    entry = _last_connect(instance, "lamp-1")
    assert not entry.allowed
    assert entry.reason_code == "bad-password"
    assert "lamp" in entry.reason
    assert admin.users.get("lamp").state.value == "inactive"


def test_unknown_user_gets_4_and_log_names_it(admin, instance, client):
    _setup_user(admin, instance)
    assert client("ghost-1", username="ghost", password="x").connect() == 4
    entry = _last_connect(instance, "ghost-1")
    assert entry.reason_code == "unknown-user"
    assert "ghost" in entry.reason


def test_anonymous_refused_with_5_when_off(admin, instance, client):
    admin.settings.set_anonymous(False)
    instance.sync()
    assert client("anon-1").connect() == 5
    assert _last_connect(instance, "anon-1").reason_code == "anonymous-refused"


def test_anonymous_allowed_on_loopback_by_default(instance, client):
    assert client("anon-1").connect() == 0
    assert _last_connect(instance, "anon-1").reason_code == "anonymous-allowed"


def test_suspended_user_refused_with_5(admin, instance, client):
    _setup_user(admin, instance)
    from mqttdesk.core.states import StateAction

    admin.users.apply("lamp", StateAction.SUSPEND)
    instance.sync()
    assert client("lamp-1", username="lamp", password="s3cret").connect() == 5
    entry = _last_connect(instance, "lamp-1")
    assert entry.reason_code == "suspended"
    assert "since" in entry.reason


def test_refused_connect_reusing_a_live_client_id_leaves_that_client_alone(admin, instance, client):
    """amqtt 0.12.1 wipes the live client's subscriptions here; we decide first and touch nothing."""
    _setup_user(admin, instance)
    victim = client("kitchen", username="lamp", password="s3cret")
    assert victim.connect() == 0
    assert victim.subscribe("home/lamp/cmd", 1) == 1

    intruder = client("kitchen", username="lamp", password="wrong")
    assert intruder.connect() == 4
    assert victim.is_connected

    publisher = client("pub", username="lamp", password="s3cret")
    assert publisher.connect() == 0
    publisher.publish("home/lamp/cmd", b"on", qos=1)
    assert victim.expect_message().payload == b"on"


def test_client_id_of_another_credential_refused_with_2(admin, instance, client):
    _setup_user(admin, instance)
    admin.users.add("other", fast_hash("pw2"))
    instance.sync()
    holder = client("shared-id", username="lamp", password="s3cret")
    assert holder.connect() == 0
    assert client("shared-id", username="other", password="pw2").connect() == 2
    entry = _last_connect(instance, "shared-id")
    assert entry.reason_code == "client-id-in-use"
    assert "lamp" in entry.reason
    assert holder.is_connected


def test_same_credential_takes_its_own_session_over(admin, instance, client):
    _setup_user(admin, instance)
    first = client("plug", username="lamp", password="s3cret")
    assert first.connect() == 0
    second = client("plug", username="lamp", password="s3cret")
    assert second.connect() == 0
    assert first.wait_disconnected()
    assert second.is_connected


def test_racing_connects_of_one_client_id_leave_exactly_one_connection(admin, instance):
    """Takeovers queue behind each other: every CONNECT sees the one before it, none runs beside another."""
    from tests.integration.raw_mqtt import ConnectionClosed, PacketType, RawClient

    _setup_user(admin, instance)
    first = RawClient(instance.port)
    assert first.connect("dup", username="lamp", password="s3cret").return_code == 0
    racers = [RawClient(instance.port) for _ in range(4)]
    for racer in racers:
        racer.send_connect("dup", username="lamp", password="s3cret")
    for racer in racers:
        racer.expect(PacketType.CONNACK)  # each was accepted in turn, taking over from the previous one
    still_open = []
    for client in [first, *racers]:
        try:
            client.ping(timeout=2)
            still_open.append(client)
        except (AssertionError, ConnectionClosed, TimeoutError):
            pass  # closed by a take-over: what we want for all but the last
    assert len(still_open) == 1
    assert len(instance.service.registry) == 1
    assert not instance.call(lambda: dict(instance.service._broker._client_gates))  # nothing left behind
    for client in [first, *racers]:
        client.close()
