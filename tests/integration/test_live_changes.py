"""Changes made while the instance runs — by the CLI in another process — reach live sessions at once."""

from __future__ import annotations

import json

from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash
from tests.integration.harness import run_cli

# The promise is "within one second"; the bound leaves room for a loaded CI machine without hiding a poll loop
# that forgot to run (that would never disconnect at all).
DISCONNECT_BOUND = 3.0


def _user(admin, instance, name="lamp", password="pw"):  # type: ignore[no-untyped-def]
    if "lamps" not in admin.roles.names():
        admin.roles.add("lamps")
        admin.roles.allow("lamps", "home/#", Permission.READWRITE)
    admin.users.add(name, fast_hash(password), ("lamps",))
    instance.sync()


def test_user_suspend_via_cli_disconnects_and_next_connect_gets_5(admin, instance, client, data_dir):
    _user(admin, instance)
    lamp = client("lamp-1", username="lamp", password="pw")
    assert lamp.connect() == 0
    result = run_cli(data_dir, "user", "suspend", "lamp")
    assert result.returncode == 0, result.stderr
    assert lamp.wait_disconnected(DISCONNECT_BOUND)
    assert client("lamp-2", username="lamp", password="pw").connect() == 5
    instance.flush_log()
    ends = [e for e in instance.call(instance.store.auth_log.recent, 50) if e.kind == "DISCONNECT"]
    assert any(e.reason_code == "credential-changed" and "suspended" in e.reason for e in ends)


def test_password_change_and_delete_disconnect(admin, instance, client, data_dir):
    _user(admin, instance, "a")
    _user(admin, instance, "b")
    a = client("a-1", username="a", password="pw")
    b = client("b-1", username="b", password="pw")
    assert a.connect() == 0
    assert b.connect() == 0
    assert run_cli(data_dir, "user", "passwd", "a", "--password-stdin", stdin="newpw\n").returncode == 0
    assert a.wait_disconnected(DISCONNECT_BOUND)
    assert b.is_connected
    assert run_cli(data_dir, "user", "delete", "b").returncode == 0
    assert b.wait_disconnected(DISCONNECT_BOUND)
    assert client("a-2", username="a", password="newpw").connect() == 0


def test_anonymous_off_disconnects_anonymous_sessions_only(admin, instance, client, data_dir):
    _user(admin, instance)
    anon = client("anon-1")
    lamp = client("lamp-1", username="lamp", password="pw")
    assert anon.connect() == 0
    assert lamp.connect() == 0
    result = run_cli(data_dir, "anonymous", "off")
    assert result.returncode == 0, result.stderr
    assert "1 anonymous session terminated" in result.stdout
    assert anon.wait_disconnected(DISCONNECT_BOUND)
    assert lamp.is_connected
    assert client("anon-2").connect() == 5


def test_kick_via_cli_disconnects_and_publishes_will(admin, instance, client, data_dir):
    _user(admin, instance)
    watcher = client("watcher", username="lamp", password="pw")
    assert watcher.connect() == 0
    assert watcher.subscribe("home/plug/LWT", 1) == 1
    plug = client("DVES_1A2B3C", username="lamp", password="pw", will=("home/plug/LWT", b"Offline", 1, False))
    assert plug.connect() == 0

    listed = run_cli(data_dir, "clients", "--json")
    assert listed.returncode == 0, listed.stderr
    sessions = {s["client_id"]: s for s in json.loads(listed.stdout)}
    assert sessions["DVES_1A2B3C"]["username"] == "lamp"
    assert {"client_id", "username", "method", "address", "connected_since", "clean_session", "subscriptions",
            "messages_in", "messages_out", "protocol"} <= set(sessions["watcher"])
    assert sessions["watcher"]["protocol"] == "3.1.1"  # the test clients speak MQTT 3.1.1
    assert sessions["watcher"]["subscriptions"] == [{"filter": "home/plug/LWT", "qos": 1}]

    kicked = run_cli(data_dir, "kick", "DVES_1A2B3C")
    assert kicked.returncode == 0, kicked.stderr
    assert plug.wait_disconnected()
    assert watcher.expect_message().payload == b"Offline"

    again = run_cli(data_dir, "kick", "DVES_1A2B3C")
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1
    assert "no client 'DVES_1A2B3C'" in again.stderr


def test_log_json_has_the_documented_keys(admin, instance, client, data_dir):
    _user(admin, instance)
    assert client("lamp-1", username="lamp", password="Tr0ub4dor-guess").connect() == 4
    instance.flush_log()
    result = run_cli(data_dir, "log", "--json", "--limit", "5")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert {"time", "kind", "allowed", "client_id", "username", "method", "address", "topic", "reason_code",
            "reason", "protocol"} <= set(entries[-1])
    assert entries[-1]["reason_code"] == "bad-password"
    assert entries[-1]["protocol"] == "3.1.1"
    assert "Tr0ub4dor" not in result.stdout


def test_explain_gives_the_same_reason_as_the_log_and_changes_nothing(admin, instance, client, data_dir):
    _user(admin, instance)
    holder = client("kitchen", username="lamp", password="pw")
    assert holder.connect() == 0
    admin.users.add("other", fast_hash("pw2"))
    instance.sync()
    assert client("kitchen", username="other", password="pw2").connect() == 2
    instance.flush_log()
    logged = json.loads(run_cli(data_dir, "log", "--json", "--limit", "1").stdout)[-1]

    explained = run_cli(data_dir, "explain", "--username", "other", "--client-id", "kitchen", "--password-stdin",
                        "--json", stdin="pw2\n")
    assert explained.returncode == 1  # refused
    result = json.loads(explained.stdout)
    assert result["connect"]["reason_code"] == logged["reason_code"] == "client-id-in-use"
    assert result["connect"]["reason"] == logged["reason"]
    assert result["fix"]["command"] == "mqttdesk kick kitchen"
    assert admin.users.get("other").state.value == "inactive"  # the dry run did not count as a first use

    ok = run_cli(data_dir, "explain", "--username", "lamp", "--client-id", "lamp-9", "--password-stdin",
                 "--topic", "home/x", stdin="pw\n")
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.rstrip().endswith("result: allowed")


def test_a_dead_subscriber_with_output_waiting_is_still_dropped_and_its_will_published(instance):
    """Keep-alive on a dead link: the broker has megabytes queued for it; ending it must not wait for them."""
    import socket

    from tests.integration.raw_mqtt import RawClient, Will, encode_connect, encode_subscribe

    watcher = RawClient(instance.port)
    assert watcher.connect("watcher").return_code == 0
    assert watcher.subscribe("will/#") == 0
    dead = socket.create_connection(("127.0.0.1", instance.port))
    dead.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing, so the broker's buffer fills
    dead.sendall(encode_connect("dead", keep_alive=1, will=Will("will/dead", b"offline")))
    dead.sendall(encode_subscribe(1, [("flood/#", 0)]))
    dead.recv(4)  # CONNACK
    publisher = RawClient(instance.port)
    assert publisher.connect("pub").return_code == 0
    for _ in range(3000):
        publisher.publish("flood/a", b"x" * 1000)
    publisher.ping()
    will = watcher.next_message(timeout=10)  # keep-alive 1 s → dropped after 1.5 s, buffered output or not
    assert (will.topic, will.payload) == ("will/dead", b"offline")
    assert "dead" not in instance.service.registry
    dead.close()
    for client in (watcher, publisher):
        client.close()
