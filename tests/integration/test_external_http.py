"""The external HTTP auth/ACL service end to end: a real HTTP service on a free loopback port that counts its calls,
paho clients on loopback, the decisions in `log --json`."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.core.external import ExternalSettings
from tests.auth_service import ACL_ROUTE, USER_ROUTE, AuthService
from tests.integration.conftest import fast_hash
from tests.integration.harness import run_cli
from tests.integration.mqtt_client import TestClient


@pytest.fixture
def service() -> Iterator[AuthService]:
    running = AuthService(users={"dev-1": "pw-1", "dev-2": "pw-2"}).start()
    yield running
    running.stop()


def _configure(admin, instance, url: str, **fields: object) -> None:  # type: ignore[no-untyped-def]
    settings = ExternalSettings(url=url, enabled=True, headers=(("X-Api-Key", "k-123"),))
    admin.settings.set_external(ExternalSettings(**{**settings.to_json(masked=False), "headers": settings.headers,
                                                    **fields}))  # type: ignore[arg-type]
    instance.sync()


def _log(data_dir: Path, limit: int = 30) -> list[dict[str, object]]:
    result = run_cli(data_dir, "log", "--json", "--limit", str(limit))
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _last_connect(instance, data_dir: Path, client_id: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    instance.flush_log()
    return [e for e in _log(data_dir) if e["kind"] == "CONNECT" and e["client_id"] == client_id][-1]


def test_connects_are_allowed_and_denied_with_the_mosquitto_json(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url)
    assert client("c-1", username="dev-1", password="pw-1").connect() == 0
    path, body, headers = service.wait_calls(1)[0]
    assert path == USER_ROUTE
    assert body == {"username": "dev-1", "password": "pw-1", "clientid": "c-1"}
    assert headers.get("X-Api-Key") == "k-123"
    assert client("c-2", username="dev-2", password="Zq9-not-it").connect() == 4
    refused = _last_connect(instance, data_dir, "c-2")
    assert refused["reason_code"] == "external-denied"
    assert "HTTP 403: unknown device or wrong password" in str(refused["reason"])
    assert "Zq9-not-it" not in json.dumps(refused)  # the password is never logged
    listed = json.loads(run_cli(data_dir, "clients", "--json").stdout)
    assert [(c["client_id"], c["method"], c["credential"]["kind"]) for c in listed] == [("c-1", "http", "external")]
    shown = run_cli(data_dir, "external", "show", "--json")
    assert "k-123" not in shown.stdout
    assert json.loads(shown.stdout)["headers"] == ["X-Api-Key: ••••••••"]


def test_subscribe_publish_and_delivery_are_asked_with_acc_4_2_1(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url)
    device = client("c-1", username="dev-1", password="pw-1")
    assert device.connect() == 0
    assert device.subscribe("devices/dev-1/#", 1) == 1
    assert device.subscribe("elsewhere/#") == 0x80  # 200 {"result": "deny"}
    device.publish("devices/dev-1/temp", b"21", qos=1)
    received = device.expect_message()  # held until the service allowed the delivery, then sent
    assert (received.topic, received.payload) == ("devices/dev-1/temp", b"21")
    acl = service.bodies(ACL_ROUTE)
    assert {"username": "dev-1", "clientid": "c-1", "topic": "devices/dev-1/#", "acc": 4} in acl
    assert {"username": "dev-1", "clientid": "c-1", "topic": "elsewhere/#", "acc": 4} in acl
    assert {"username": "dev-1", "clientid": "c-1", "topic": "devices/dev-1/temp", "acc": 2} in acl
    assert {"username": "dev-1", "clientid": "c-1", "topic": "devices/dev-1/temp", "acc": 1} in acl
    assert all(body["acc"] != 3 for body in acl)
    device.publish("devices/dev-1/temp", b"22", qos=1)
    assert device.expect_message().payload == b"22"  # from the cache: no new call
    assert len(service.bodies(ACL_ROUTE)) == len(acl)
    instance.flush_log()
    refused = [e for e in _log(data_dir) if e["kind"] == "SUBSCRIBE" and not e["allowed"]]
    assert refused[-1]["reason_code"] == "external-denied"
    assert '"result": "deny"' in str(refused[-1]["reason"])


# (unguarded: three denials from loopback would throttle its next login, which is not what this test is about)
def test_answers_are_cached_allow_and_deny_for_the_cache_time(admin, unguarded, instance, client, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url, cache_seconds=30)
    now = [1000.0]
    instance.service.pipeline.external.clock = lambda: now[0]
    for client_id in ("c-1", "c-1b"):
        device = client(client_id, username="dev-1", password="pw-1")
        assert device.connect() == 0
        device.disconnect()
    assert len(service.bodies(USER_ROUTE)) == 2  # clientIds differ: two requests
    again = client("c-1", username="dev-1", password="pw-1")
    assert again.connect() == 0
    again.disconnect()
    assert len(service.bodies(USER_ROUTE)) == 2  # within the cache time: no call
    for _ in range(2):
        assert client("c-9", username="dev-2", password="wrong").connect() == 4
    assert len(service.bodies(USER_ROUTE)) == 3  # the denial is cached too
    now[0] += 31
    assert client("c-9", username="dev-2", password="wrong").connect() == 4
    assert client("c-1", username="dev-1", password="pw-1").connect() == 0
    assert len(service.bodies(USER_ROUTE)) == 5  # after it, both are asked again


def test_flush_and_a_settings_change_empty_the_cache(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url, cache_seconds=300)
    for expected_calls in (1, 1):
        device = client("c-1", username="dev-1", password="pw-1")
        assert device.connect() == 0
        device.disconnect()
        assert len(service.bodies(USER_ROUTE)) == expected_calls
    assert run_cli(data_dir, "external", "flush").returncode == 0
    instance.sync()
    device = client("c-1", username="dev-1", password="pw-1")
    assert device.connect() == 0
    device.disconnect()
    assert len(service.bodies(USER_ROUTE)) == 2
    assert run_cli(data_dir, "external", "set", "--timeout", "4").returncode == 0
    instance.sync()
    assert client("c-1", username="dev-1", password="pw-1").connect() == 0
    assert len(service.bodies(USER_ROUTE)) == 3


def test_a_local_username_never_reaches_the_service(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    admin.users.add("alice", fast_hash("right"), ())
    _configure(admin, instance, service.url)
    assert client("a-1", username="alice", password="right").connect() == 0
    assert client("a-2", username="alice", password="wrong").connect() == 4
    assert _last_connect(instance, data_dir, "a-2")["reason_code"] == "bad-password"
    assert service.calls == []


def test_a_dead_service_is_unreachable_and_local_users_still_connect(admin, instance, client, data_dir):  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    admin.users.add("alice", fast_hash("right"), ())
    _configure(admin, instance, dead)
    assert client("c-1", username="dev-1", password="pw-1").connect() == 3
    refused = _last_connect(instance, data_dir, "c-1")
    assert refused["reason_code"] == "external-unreachable"
    assert client("a-1", username="alice", password="right").connect() == 0


def test_a_slow_service_times_out_and_the_loop_serves_others_meanwhile(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    admin.users.add("alice", fast_hash("right"), ())
    _configure(admin, instance, service.url, timeout=3.0)
    service.hold = True
    slow = TestClient("c-1", instance.port, username="dev-1", password="pw-1")
    codes: list[int] = []
    waiting = threading.Thread(target=lambda: codes.append(slow.connect()))
    try:
        waiting.start()
        service.wait_calls(1)  # the service holds the request now
        assert client("a-1", username="alice", password="right").connect() == 0
        assert not codes  # the local user was served while the external CONNECT waits
        waiting.join(10)
        assert codes == [3]
    finally:
        service.release()
        waiting.join(10)
        slow.close()
    refused = _last_connect(instance, data_dir, "c-1")
    assert refused["reason_code"] == "external-timeout"
    assert "no answer within 3 s" in str(refused["reason"])


def test_a_session_is_asked_again_when_its_cached_allow_expires(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url, cache_seconds=1)
    device = client("c-1", username="dev-1", password="pw-1")
    assert device.connect() == 0
    del service.users["dev-1"]  # the service stops admitting it
    assert device.wait_disconnected(10)
    instance.flush_log()
    ends = [e for e in _log(data_dir) if e["kind"] == "DISCONNECT"]
    assert ends[-1]["reason_code"] == "external-denied"
    assert "no longer admits external user 'dev-1'" in str(ends[-1]["reason"])


def test_turning_the_service_off_or_moving_it_ends_its_sessions(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url)
    first = client("c-1", username="dev-1", password="pw-1")
    assert first.connect() == 0
    assert run_cli(data_dir, "external", "set", "--cache-seconds", "60").returncode == 0  # no reason to end
    instance.sync()
    assert first.is_connected
    assert run_cli(data_dir, "external", "set", "--user-route", "/other").returncode == 0
    assert first.wait_disconnected(5)
    assert run_cli(data_dir, "external", "set", "--user-route", USER_ROUTE).returncode == 0
    second = client("c-2", username="dev-1", password="pw-1")
    assert second.connect() == 0
    assert run_cli(data_dir, "external", "set", "--off").returncode == 0
    assert second.wait_disconnected(5)
    instance.flush_log()
    reasons = [str(e["reason"]) for e in _log(data_dir) if e["kind"] == "DISCONNECT"]
    assert any("URL or user route changed" in reason for reason in reasons)
    assert any("was turned off" in reason for reason in reasons)


def test_explain_asks_the_service_and_shows_no_password(admin, data_dir, service):  # type: ignore[no-untyped-def]
    admin.settings.set_external(ExternalSettings(url=service.url, enabled=True))
    result = run_cli(data_dir, "explain", "--client-id", "c-1", "--username", "dev-1", "--password-stdin", "--json",
                     stdin="pw-1\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pw-1" not in result.stdout
    assert "POST " + service.url + USER_ROUTE in result.stdout
    assert service.bodies(USER_ROUTE) == [{"username": "dev-1", "password": "pw-1", "clientid": "c-1"}]


def test_deliveries_wait_for_their_answer_bounded_per_subscriber(admin, instance, client, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url)
    device = client("c-1", username="dev-1", password="pw-1")
    assert device.connect() == 0
    assert device.subscribe("shared/#") == 0
    service.hold_acl = True
    before = len(service.wait_calls(2))  # the CONNECT and the SUBSCRIBE
    for number in range(150):  # published by the broker itself: nothing asks about the publisher
        instance.call(instance.service.publish_as, None, "x", f"shared/{number % 3}", b"m", 0)
    asked = service.wait_calls(before + 3)  # one delivery check per topic, however many messages wait
    assert len(asked) == before + 3
    assert sum(1 for path, body, _h in asked if path == ACL_ROUTE and body["acc"] == 1) == 3
    assert device.messages.empty()  # held meanwhile
    service.release()
    received = [device.expect_message() for _ in range(100)]
    assert {message.topic for message in received} == {"shared/0", "shared/1", "shared/2"}
    assert device.messages.empty()  # the 50 beyond the bound were dropped


def test_external_set_show_and_errors_on_the_command_line(data_dir):  # type: ignore[no-untyped-def]
    assert run_cli(data_dir, "external", "set", "--on").returncode == 1  # no URL yet
    result = run_cli(data_dir, "external", "set", "--url", "https://auth.example", "--header", "X-Api-Key: k-9",
                     "--header", "X-Tenant: t", "--cache-seconds", "1", "--on")
    assert result.returncode == 0, result.stderr
    assert "k-9" not in result.stdout
    shown = json.loads(run_cli(data_dir, "external", "show", "--json").stdout)
    assert shown == {"url": "https://auth.example", "user_route": USER_ROUTE, "acl_route": ACL_ROUTE,
                     "timeout": 5.0, "cache_seconds": 1, "enabled": True,
                     "headers": ["X-Api-Key: ••••••••", "X-Tenant: ••••••••"]}
    bad = run_cli(data_dir, "external", "set", "--header", "no colon here")
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert run_cli(data_dir, "external", "set", "--url", "ftp://x").returncode == 1
    assert json.loads(run_cli(data_dir, "external", "show", "--json").stdout)["url"] == "https://auth.example"
    assert run_cli(data_dir, "external", "set", "--header", "X-Api-Key: k-10").returncode == 0
    assert len(json.loads(run_cli(data_dir, "external", "show", "--json").stdout)["headers"]) == 1  # replaced


def test_a_delivery_the_service_refuses_is_dropped(admin, instance, client, data_dir, service):  # type: ignore[no-untyped-def]
    _configure(admin, instance, service.url)
    device = client("c-1", username="dev-1", password="pw-1")
    assert device.connect() == 0
    assert device.subscribe("shared/#") == 0
    for topic in ("shared/secret", "shared/open"):
        instance.call(instance.service.publish_as, None, "x", topic, topic.encode(), 0)
    assert device.expect_message().topic == "shared/open"  # the refused one was held, then dropped
    instance.call(instance.service.publish_as, None, "x", "shared/open", b"again", 0)  # allowed from the cache
    assert device.expect_message().payload == b"again"
    assert device.messages.empty()
    assert {"username": "dev-1", "clientid": "c-1", "topic": "shared/secret", "acc": 1} in service.bodies(ACL_ROUTE)
