"""Persistence (issue 15 item 1): retained messages and kept sessions survive a restart of the broker.

Each test starts a real instance on a data directory, stops it (or kills `mqttdesk serve` with SIGKILL), starts a
new one on the same directory and looks at what the clients get. Time spent down is simulated with the service's
clock (`BrokerService(clock=...)`), never waited for.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mqttdesk.core.acl import Permission
from mqttdesk.core.states import StateAction
from mqttdesk.store.db import Store
from mqttdesk.store.session_store import SESSIONS_FILENAME
from tests.integration.conformance import running_desk
from tests.integration.harness import TIMEOUT, Instance, run_cli
from tests.integration.mqtt5_client import V5Client
from tests.integration.mqtt_client import TestClient
from tests.integration.raw_mqtt import PacketIdOnly, PacketType, RawClient, Will, encode_packet_id_only
from tests.support import fast_hash

USER, PASSWORD = "plug", "s3cret-plug"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory with user 'plug' who may read and write everything."""
    directory = tmp_path / "data"
    store = Store.open(directory)
    store.roles.add("all")
    store.roles.allow("all", "#", Permission.READWRITE)
    store.users.add(USER, fast_hash(PASSWORD), ("all",))
    store.users.add("other", fast_hash(PASSWORD), ("all",))
    store.close()
    return directory


def later(seconds: float) -> Callable[[], float]:
    """A clock `seconds` ahead of the real one: the broker was down that long."""
    return lambda: time.time() + seconds


def paho311(instance: Instance, client_id: str, **options: object) -> TestClient:
    client = TestClient(client_id, instance.port, username=USER, password=PASSWORD, reconnect_on_failure=False,
                        **options)  # type: ignore[arg-type]
    assert client.connect() == 0
    return client


def v5(instance: Instance, client_id: str, **options: object) -> V5Client:
    client = V5Client(client_id, instance.port, username=USER, password=PASSWORD, **options)  # type: ignore[arg-type]
    assert client.connect() == 0
    return client


def raw(instance: Instance, client_id: str, *, clean_session: bool = False, **options: object) -> RawClient:
    client = RawClient(instance.port, auto_ack=False, name=client_id)
    connack = client.connect(client_id, clean_session=clean_session, username=USER, password=PASSWORD, **options)
    assert connack.return_code == 0
    return client


def test_retained_tasmota_lwt_survives_a_restart(data: Path) -> None:
    with running_desk(data) as first:
        plug = raw(first, "DVES_1A2B3C", clean_session=True, will=Will("tele/plug/LWT", b"Offline", 1, True))
        plug.publish("tele/plug/LWT", "Online", qos=1, retain=True)
        plug.publish("tele/plug/STATE", "{}", qos=0, retain=False)  # not retained: not kept
    plug.close()
    with running_desk(data) as second:
        assert second.service.restored.retained == 1
        assert second.service.restored.sessions == 0  # the plug's was a clean session
        watcher = paho311(second, "watcher")
        assert watcher.subscribe("tele/#", 1) == 1
        message = watcher.expect_message()
        assert (message.topic, message.payload, message.retain) == ("tele/plug/LWT", b"Online", True)
        watcher.publish("tele/plug/LWT", "", qos=1, retain=True)  # cleared: the next start has none
        watcher.disconnect()
    with running_desk(data) as third:
        assert third.service.restored.retained == 0


def test_persistent_subscription_and_its_queue_survive_a_restart(data: Path) -> None:
    with running_desk(data) as first:
        subscriber = paho311(first, "sub-1", clean_session=False)
        assert subscriber.subscribe("home/#", 1) == 1
        subscriber.disconnect()
        publisher = paho311(first, "pub-1")
        for number in range(5):
            publisher.publish("home/lamp", f"m{number}", qos=1)
        publisher.disconnect()
    with running_desk(data) as second:
        assert (second.service.restored.sessions, second.service.restored.messages) == (1, 5)
        sessions = second.call(second.service.registry.offline)
        assert [s.client_id for s in sessions] == ["sub-1"]
        assert sessions[0].queued == 5
        subscriber = paho311(second, "sub-1", clean_session=False)
        assert subscriber.session_present
        assert [subscriber.expect_message().payload for _ in range(5)] == [f"m{n}".encode() for n in range(5)]
        publisher = paho311(second, "pub-1")
        publisher.publish("home/lamp", "after", qos=1)  # the subscription itself came back too
        assert subscriber.expect_message().payload == b"after"
        publisher.disconnect()
        subscriber.disconnect()


def test_in_flight_messages_are_redelivered_with_dup_after_a_restart(data: Path) -> None:
    with running_desk(data) as first:
        device = raw(first, "dev-1")
        assert device.subscribe_many([("q1/#", 1), ("q2/#", 2), ("q2r/#", 2)]) == [1, 2, 2]
        publisher = paho311(first, "pub-2")
        publisher.publish("q1/a", "one", qos=1)
        publisher.publish("q2/a", "two", qos=2)
        publisher.publish("q2r/a", "released", qos=2)
        got = {m.payload: m for m in device.messages(3)}
        device.send(encode_packet_id_only(PacketType.PUBREC, got[b"released"].packet_id or 0))  # PUBREL follows
        device.expect(PacketType.PUBREL, packet_id=got[b"released"].packet_id)
        # the device's own QoS 2 message, received by the broker and not yet released by the device
        device.publish("q1/from-device", "held", qos=2, packet_id=77, wait=False)
        device.expect(PacketType.PUBREC, packet_id=77)
        publisher.disconnect()
        device.close_abruptly()
    with running_desk(data) as second:
        device = raw(second, "dev-1")
        resent = [device.read_packet() for _ in range(3)]
        publishes = {p.payload: p for p in resent if p.type is PacketType.PUBLISH}  # type: ignore[union-attr]
        assert set(publishes) == {b"one", b"two"}
        for payload in (b"one", b"two"):
            assert publishes[payload].dup, payload  # type: ignore[union-attr]
            assert publishes[payload].packet_id == got[payload].packet_id  # type: ignore[union-attr]
        pubrels = [p for p in resent if p.type is PacketType.PUBREL]
        assert pubrels == [PacketIdOnly(PacketType.PUBREL, got[b"released"].packet_id or 0)]
        device.send(encode_packet_id_only(PacketType.PUBREL, 77))  # the broker kept the message: it routes it now
        device.expect(PacketType.PUBCOMP, packet_id=77)
        held = device.next_message()
        assert (held.topic, held.payload) == ("q1/from-device", b"held")
        device.close()


def test_an_mqtt5_session_that_expired_while_the_broker_was_down_is_gone(data: Path) -> None:
    with running_desk(data) as first:
        for client_id, expiry in (("short", 2), ("long", 3600)):
            client = v5(first, client_id, clean_start=False, connect_properties={"SessionExpiryInterval": expiry})
            client.subscribe("news/#", 1)
            client.disconnect()
    with running_desk(data, clock=later(10)) as second:  # down for 10 s: longer than 2 s, shorter than an hour
        restored = second.service.restored
        assert (restored.sessions, restored.expired_sessions) == (1, 1)
        short = v5(second, "short", clean_start=False, connect_properties={"SessionExpiryInterval": 2})
        assert short.session_present is False
        long = v5(second, "long", clean_start=False, connect_properties={"SessionExpiryInterval": 3600})
        assert long.session_present is True
        long.disconnect()
        short.disconnect()


def test_session_expiry_counts_the_time_spent_down(data: Path) -> None:
    """The expiry timer of a restored session runs for what is left of its interval, not the whole of it."""
    with running_desk(data) as first:
        client = v5(first, "dev-5", clean_start=False, connect_properties={"SessionExpiryInterval": 600})
        client.disconnect()
    with running_desk(data, clock=later(300)) as second:
        broker = second.service._broker
        assert broker is not None
        timer = second.call(lambda: broker._expiry_timers["dev-5"])
        left = timer.when() - second.call(second.loop.time)
        assert 290 < left <= 300.5


def test_message_expiry_counts_the_time_spent_down(data: Path) -> None:
    with running_desk(data) as first:
        subscriber = v5(first, "sub-5", clean_start=False, connect_properties={"SessionExpiryInterval": 3600})
        subscriber.subscribe("sensor/#", 1)
        subscriber.disconnect()
        publisher = v5(first, "pub-5")
        publisher.publish("sensor/short", "short", qos=1, retain=True, MessageExpiryInterval=30)
        publisher.publish("sensor/long", "long", qos=1, retain=True, MessageExpiryInterval=3600)
        publisher.disconnect()
    with running_desk(data, clock=later(60)) as second:
        assert second.service.restored.retained == 1  # the 30 s one expired while the broker was down
        subscriber = v5(second, "sub-5", clean_start=False, connect_properties={"SessionExpiryInterval": 3600})
        assert subscriber.session_present
        subscriber.round_trip()
        queued = subscriber.received()
        assert [m.payload for m in queued] == [b"long"]  # the queued copy of "short" is not sent either
        left = queued[0].prop("MessageExpiryInterval")
        assert 3600 - 62 <= left <= 3600 - 59  # what is left of it, the time down included
        watcher = v5(second, "watcher-5")
        watcher.subscribe("sensor/#", 1)
        watcher.round_trip()
        assert [(m.payload, m.retain) for m in watcher.received()] == [(b"long", True)]
        watcher.disconnect()
        subscriber.disconnect()


@pytest.mark.parametrize("change", ["delete", "suspend", "password"])
def test_a_session_whose_user_changed_while_down_is_not_restored(data: Path, change: str) -> None:
    with running_desk(data) as first:
        client = paho311(first, "gone-1", clean_session=False)
        client.subscribe("x/#", 1)
        client.disconnect()
    store = Store.open(data)
    if change == "delete":
        store.users.delete(USER)
    elif change == "suspend":
        store.users.apply(USER, StateAction.SUSPEND)
    else:
        store.users.set_password(USER, fast_hash("another one"))
    store.close()
    with running_desk(data) as second:
        assert (second.service.restored.sessions, second.service.restored.discarded_sessions) == (0, 1)
        assert second.call(second.service.registry.offline) == []


def test_persistence_off_keeps_nothing_and_deletes_what_was_kept(data: Path) -> None:
    with running_desk(data) as first:
        client = paho311(first, "plug-off", clean_session=False)
        client.publish("tele/plug/LWT", "Online", qos=1, retain=True)
        client.disconnect()
    assert (data / SESSIONS_FILENAME).exists()
    done = run_cli(data, "config", "set", "persistence", "off")
    assert (done.returncode, done.stdout) == (0, "persistence = off (applies at the next broker start)\n")
    with running_desk(data) as second:
        assert not (data / SESSIONS_FILENAME).exists()  # turning it on later brings nothing old back
        assert second.service.restored.retained == 0
        client = paho311(second, "plug-off", clean_session=False)
        assert client.session_present is False
        client.publish("tele/plug/LWT", "Online", qos=1, retain=True)
        client.disconnect()
    assert not [p for p in data.iterdir() if p.name.startswith(SESSIONS_FILENAME)]
    with running_desk(data) as third:
        assert third.service.restored.retained == 0


def test_the_file_is_private(data: Path) -> None:
    with running_desk(data) as first:
        client = paho311(first, "priv-1", clean_session=False)
        client.publish("a/b", "x", qos=1, retain=True)
        client.disconnect()
        first.run(first.service.flush_persistence())
        files = [p for p in data.iterdir() if p.name.startswith(SESSIONS_FILENAME)]
        assert len(files) >= 2  # the file and its WAL, while open
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# -- kill -9 of `mqttdesk serve` ----------------------------------------------------------------------------------


@pytest.fixture
def serve(data: Path) -> Iterator[Callable[[], tuple[subprocess.Popen[str], int]]]:
    started: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], int]:
        process = subprocess.Popen([sys.executable, "-m", "mqttdesk", "--data-dir", str(data), "serve", "--port", "0"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until it listens (or exits: then the line is empty)
        assert line.startswith("listening on 127.0.0.1:"), (line, process.stderr.read() if process.stderr else "")
        return process, int(line.rsplit(":", 1)[1])

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_for_rows(path: Path, query: str, expected: int) -> None:
    """Until the broker's write-behind has committed what `query` counts (read the file as another process would)."""
    deadline = time.monotonic() + TIMEOUT
    found = None
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                try:
                    found = db.execute(query).fetchone()[0]
                except sqlite3.OperationalError:  # the schema is not there yet
                    found = None
            if found == expected:
                return
        time.sleep(0.05)  # polling a file written by another process: there is nothing to wait on
    raise AssertionError(f"{query!r} gave {found}, not {expected}, within {TIMEOUT} s")


def test_kill_9_of_serve_after_a_flush_keeps_what_was_flushed(data: Path,
                                                             serve: Callable[[], tuple[subprocess.Popen[str], int]]
                                                             ) -> None:
    process, port = serve()
    subscriber = TestClient("sub-k", port, username=USER, password=PASSWORD, clean_session=False,
                            reconnect_on_failure=False)
    assert subscriber.connect() == 0
    assert subscriber.subscribe("home/#", 1) == 1
    subscriber.disconnect()
    publisher = TestClient("pub-k", port, username=USER, password=PASSWORD, reconnect_on_failure=False)
    assert publisher.connect() == 0
    publisher.publish("tele/plug/LWT", "Online", qos=1, retain=True)
    for number in range(3):
        publisher.publish("home/lamp", f"k{number}", qos=1)
    publisher.close()
    # connected when the broker dies: its session is kept as if the client went away at the last batch
    connected = V5Client("live-k", port, username=USER, password=PASSWORD, clean_start=False,
                         connect_properties={"SessionExpiryInterval": 3600})
    assert connected.connect() == 0
    connected.subscribe("live/#", 1)
    path = data / SESSIONS_FILENAME
    wait_for_rows(path, "SELECT COUNT(*) FROM outgoing WHERE client_id = 'sub-k'", 3)
    wait_for_rows(path, "SELECT COUNT(*) FROM retained", 1)
    wait_for_rows(path, "SELECT COUNT(*) FROM subscriptions WHERE client_id = 'live-k'", 1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(TIMEOUT)
    connected.wait_disconnected()
    connected.close()
    _, port = serve()
    connected = V5Client("live-k", port, username=USER, password=PASSWORD, clean_start=False,
                         connect_properties={"SessionExpiryInterval": 3600})
    assert connected.connect() == 0
    assert connected.session_present
    connected.disconnect()
    subscriber = TestClient("sub-k", port, username=USER, password=PASSWORD, clean_session=False,
                            reconnect_on_failure=False)
    assert subscriber.connect() == 0
    assert subscriber.session_present
    assert [subscriber.expect_message().payload for _ in range(3)] == [b"k0", b"k1", b"k2"]
    watcher = TestClient("watch-k", port, username=USER, password=PASSWORD, reconnect_on_failure=False)
    assert watcher.connect() == 0
    assert watcher.subscribe("tele/#", 1) == 1
    assert watcher.expect_message().payload == b"Online"
    watcher.disconnect()
    subscriber.disconnect()


def test_a_damaged_file_is_put_aside_and_the_broker_starts_without_it(data: Path) -> None:
    (data / SESSIONS_FILENAME).write_bytes(b"this is not a database, " * 100)
    with running_desk(data) as first:
        (warning,) = first.service.status.warnings
        assert "could not be read" in warning
        assert "sessions.sqlite.damaged" in warning
        client = paho311(first, "after-damage")
        client.publish("a/b", "kept", qos=1, retain=True)
        client.disconnect()
    assert (data / (SESSIONS_FILENAME + ".damaged")).read_bytes().startswith(b"this is not a database")
    with running_desk(data) as second:
        assert second.service.restored.retained == 1
        assert second.service.status.warnings == ()


def test_stop_and_start_of_one_service_brings_the_kept_sessions_back(data: Path) -> None:
    """The window's Stop and Start: between them no kept session holds its clientId; after Start it is back."""
    with running_desk(data) as instance:
        client = paho311(instance, "window-1", clean_session=False)
        client.subscribe("w/#", 1)
        client.disconnect()
        instance.run(instance.service.stop())
        assert instance.call(instance.service.registry.offline) == []
        status = instance.run(instance.service.start("127.0.0.1", 0))
        instance.port = status.addresses[0][1]
        assert [s.client_id for s in instance.call(instance.service.registry.offline)] == ["window-1"]
        client = paho311(instance, "window-1", clean_session=False)
        assert client.session_present
        client.disconnect()
