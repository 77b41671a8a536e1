"""mqttdesk as the auth service of EMQX and of Mosquitto's go-auth: their exact requests, the pipeline's answers.

The requests are the ones EMQX 5 sends with the configuration `auth-service --print-config emqx` prints (its body
template rendered as EMQX renders it: every placeholder a string, an empty one for a value the client did not
have, such as `${cert_common_name}` without a client certificate) and the headers it sends with it; go-auth's are
those of its http backend (`POST` JSON `{"username", "password", "clientid"}` and `{"username", "clientid",
"topic", "acc"}` with its User-Agent, no header of its own). The service runs on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from mqttdesk.auth.http_service import AuthHttpService
from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.cli import main
from mqttdesk.core.acl import Permission
from mqttdesk.core.states import StateAction
from mqttdesk.core.tokens import mint
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store
from tests.support import fast_hash

T = TypeVar("T")
SECRET = "test-shared-secret-0123456789"


def emqx_headers(secret: str | None = SECRET) -> dict[str, str]:
    """What EMQX 5's HTTP connector sends: its defaults and the configured ones."""
    headers = {"accept": "application/json", "cache-control": "no-cache", "connection": "keep-alive",
               "content-type": "application/json", "keep-alive": "timeout=30, max=1000"}
    if secret is not None:
        headers["x-mqttdesk-secret"] = secret
    return headers


def emqx_authn(username: str, password: str, clientid: str, peerhost: str = "10.0.0.7") -> dict[str, str]:
    return {"username": username, "password": password, "clientid": clientid, "peerhost": peerhost,
            "cert_common_name": ""}


def emqx_authz(username: str, clientid: str, topic: str, action: str) -> dict[str, str]:
    return {"username": username, "clientid": clientid, "peerhost": "10.0.0.7", "topic": topic, "action": action,
            "qos": "1", "retain": "false"}


GOAUTH_HEADERS = {"content-type": "application/json", "user-agent": "mosquitto-2.0.0"}


@pytest.fixture
def store(data_dir: Path) -> Store:
    store = Store.open(data_dir)
    store.roles.add("lamps")
    store.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    store.roles.deny("lamps", "home/%u/secret/#", Permission.READWRITE)
    store.roles.add("plugs")
    store.roles.allow("plugs", "tele/%c/#", Permission.WRITE)
    store.users.add("lamp", fast_hash("s3cret"), ("lamps",))
    store.users.add("old", fast_hash("old-pw"), ("lamps",))
    store.users.apply("old", StateAction.SUSPEND)
    store.bootstraps.add("fleet", fast_hash("fleet-pw"), ("plugs",), register_devices=True)
    store.token_issuers.add("lab", "k" * 40, hmac=True, roles=("lamps",))
    return store


class Served:
    def __init__(self, store: Store, service: AuthHttpService, recorder: DecisionRecorder, url: str,
                 session: aiohttp.ClientSession) -> None:
        self.store, self.service, self.recorder, self.url, self.session = store, service, recorder, url, session

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str], *,
                   form: bool = False) -> tuple[int, dict[str, Any]]:
        if form:
            sent = {k: v for k, v in headers.items() if k != "content-type"}
            async with self.session.post(self.url + path, data=body, headers=sent) as response:
                return response.status, json.loads(await response.text())
        async with self.session.post(self.url + path, data=json.dumps(body), headers=headers) as response:
            return response.status, json.loads(await response.text())

    def log(self) -> list[AuthLogEntry]:
        self.recorder.flush()
        return self.store.auth_log.recent(100)


@contextlib.asynccontextmanager
async def serving(store: Store) -> AsyncIterator[Served]:
    pipeline = AuthPipeline(store)
    recorder = DecisionRecorder(store)
    service = AuthHttpService(pipeline, recorder, SECRET,
                              anonymous_on=lambda: store.settings.anonymous().mode == "on")
    host, port = await service.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            yield Served(store, service, recorder, f"http://{host}:{port}", session)
    finally:
        await service.stop()
        pipeline.close()


def run(store: Store, test: Callable[[Served], Coroutine[Any, Any, T]]) -> T:
    async def body() -> T:
        async with serving(store) as served:
            return await test(served)

    return asyncio.run(body())


def test_emqx_login_allowed_with_the_sessions_acl_and_logged_with_the_broker(store: Store) -> None:
    async def test(s: Served) -> None:
        status, answer = await s.post("/emqx/authn", emqx_authn("lamp", "s3cret", "lamp-1"), emqx_headers())
        assert status == 200
        assert answer["result"] == "allow"
        assert answer["is_superuser"] is False
        assert "expire_at" not in answer
        # bound to the session, deny first: EMQX takes the first match
        assert answer["acl"] == [{"permission": "deny", "action": "all", "topic": "home/lamp/secret/#"},
                                 {"permission": "allow", "action": "all", "topic": "home/lamp/#"}]
        [entry] = s.log()
        assert (entry.kind, entry.allowed, entry.reason_code, entry.address) == ("CONNECT", True, "authenticated",
                                                                                 "10.0.0.7")
        assert entry.steps[0] == "asked by EMQX (HTTP authentication) from 127.0.0.1"
        assert "s3cret" not in json.dumps(entry.to_json())
        assert SECRET not in json.dumps(entry.to_json())
        assert s.store.users.get("lamp").state.value == "active"  # the first login counts, as in the broker

    run(store, test)


@pytest.mark.parametrize(("username", "password", "reason"), [
    ("lamp", "wrong", "bad-password"),
    ("nobody", "x", "unknown-user"),
    ("old", "old-pw", "suspended"),
])
def test_emqx_login_refused_with_an_explicit_deny_and_the_pipelines_reason(store: Store, username: str,
                                                                           password: str, reason: str) -> None:
    async def test(s: Served) -> None:
        status, answer = await s.post("/emqx/authn", emqx_authn(username, password, f"{username}-1"),
                                      emqx_headers())
        assert (status, answer) == (200, {"result": "deny", "is_superuser": False})  # never "ignore"
        [entry] = s.log()
        assert (entry.allowed, entry.reason_code, entry.username) == (False, reason, username)

    run(store, test)


def test_a_broker_naming_itself_is_named_in_the_log(store: Store) -> None:
    async def test(s: Served) -> None:
        headers = {**emqx_headers(), "X-Mqttdesk-Broker": "emqx@node1"}
        await s.post("/emqx/authn", emqx_authn("lamp", "s3cret", "lamp-1"), headers)
        assert s.log()[-1].steps[0] == "asked by EMQX 'emqx@node1' (HTTP authentication) from 127.0.0.1"

    run(store, test)


def test_a_certificate_common_name_from_emqx_logs_nobody_in(store: Store) -> None:
    """EMQX may send ${cert_common_name} for a certificate it did not verify: it is no login here."""
    store.users.add("badge", fast_hash("unknowable"), ("lamps",))

    async def test(s: Served) -> None:
        body = {**emqx_authn("", "", "badge-1"), "cert_common_name": "badge"}
        _, answer = await s.post("/emqx/authn", body, emqx_headers())
        assert answer["result"] == "deny"
        entry = s.log()[-1]
        assert entry.method != "certificate"
        # nor anonymously: anonymous access is automatic here (mqttdesk listens on loopback), which is for
        # mqttdesk's own listener only
        assert entry.reason_code == "anonymous-refused"
        assert "switch it on explicitly" in entry.reason

    run(store, test)


def test_anonymous_clients_of_another_broker_need_anonymous_switched_on(store: Store) -> None:
    store.roles.add("public")
    store.roles.allow("public", "public/#", Permission.READ)
    store.settings.set_anonymous(True, ("public",))

    async def test(s: Served) -> None:
        _, answer = await s.post("/emqx/authn", emqx_authn("", "", "anon-1"), emqx_headers())
        assert answer["result"] == "allow"
        assert answer["acl"] == [{"permission": "allow", "action": "subscribe", "topic": "public/#"}]
        _, answer = await s.post("/emqx/authz", emqx_authz("", "anon-1", "public/x", "subscribe"), emqx_headers())
        assert answer == {"result": "allow"}

    run(store, test)


def test_emqx_topic_checks_answer_allow_and_deny_and_are_logged(store: Store) -> None:
    async def test(s: Served) -> None:
        await s.post("/emqx/authn", emqx_authn("lamp", "s3cret", "lamp-1"), emqx_headers())
        cases = [("home/lamp/light", "publish", "allow"), ("home/lamp/secret/key", "subscribe", "deny"),
                 ("home/fridge/door", "publish", "deny")]
        for topic, action, result in cases:
            status, answer = await s.post("/emqx/authz", emqx_authz("lamp", "lamp-1", topic, action),
                                          emqx_headers())
            assert (status, answer) == (200, {"result": result}), topic
        topics = [(e.kind, e.topic, e.reason_code) for e in s.log() if e.kind != "CONNECT"]
        assert topics == [("PUBLISH", "home/lamp/light", "acl-allowed"),
                          ("SUBSCRIBE", "home/lamp/secret/key", "acl-denied"),
                          ("PUBLISH", "home/fridge/door", "acl-no-rule")]
        assert all(e.steps[0].startswith("asked by EMQX (HTTP authorization)") for e in s.log()[1:])

    run(store, test)


def test_a_user_suspended_after_login_is_refused_its_topics(store: Store) -> None:
    async def test(s: Served) -> None:
        await s.post("/emqx/authn", emqx_authn("lamp", "s3cret", "lamp-1"), emqx_headers())
        s.store.users.apply("lamp", StateAction.SUSPEND)
        status, answer = await s.post("/emqx/authz", emqx_authz("lamp", "lamp-1", "home/lamp/light", "publish"),
                                      emqx_headers())
        assert answer == {"result": "deny"}
        entry = s.log()[-1]
        assert entry.reason_code == "credential-changed"
        assert "user 'lamp' was suspended" in entry.reason

    run(store, test)


def test_emqx_bootstrap_device_registers(store: Store) -> None:
    async def test(s: Served) -> None:
        _, answer = await s.post("/emqx/authn", emqx_authn("fleet", "fleet-pw", "DVES_1A2B3C"), emqx_headers())
        assert answer["result"] == "allow"
        assert answer["acl"] == [{"permission": "allow", "action": "publish", "topic": "tele/DVES_1A2B3C/#"}]
        s.log()  # flushes the registration too
        device = s.store.devices.get("DVES_1A2B3C")
        assert (device.bootstrap, device.last_address) == ("fleet", "10.0.0.7")
        # from now on that clientId is the device's: its next login is the device path
        _, again = await s.post("/emqx/authn", emqx_authn("fleet", "fleet-pw", "DVES_1A2B3C"), emqx_headers())
        assert again["result"] == "allow"
        assert s.log()[-1].method == "device"

    run(store, test)


def test_emqx_token_login_carries_expire_at(store: Store) -> None:
    token = mint(store.token_issuers.get("lab"), "door-3", 3600)

    async def test(s: Served) -> None:
        _, answer = await s.post("/emqx/authn", emqx_authn("whoever", token, "door-3"), emqx_headers())
        assert answer["result"] == "allow"
        assert abs(answer["expire_at"] - (time.time() + 3600)) < 120
        assert {"permission": "allow", "action": "all", "topic": "home/door-3/#"} in answer["acl"]
        entry = s.log()[-1]
        assert (entry.method, entry.reason_code) == ("token", "authenticated")
        assert token not in json.dumps(entry.to_json())  # the token is never logged

    run(store, test)


def test_a_caller_without_the_secret_gets_deny_never_ignore_and_is_logged(store: Store) -> None:
    async def test(s: Served) -> None:
        for headers in (emqx_headers(None), emqx_headers("wrong")):
            status, answer = await s.post("/emqx/authn", emqx_authn("lamp", "s3cret", "lamp-1"), headers)
            assert (status, answer["result"]) == (200, "deny")
            status, answer = await s.post("/emqx/authz", emqx_authz("lamp", "lamp-1", "home/lamp/x", "publish"),
                                          headers)
            assert (status, answer["result"]) == (200, "deny")
        entries = s.log()
        assert {e.reason_code for e in entries} == {"caller-refused"}
        assert sum(e.count for e in entries) == 4  # repeats of one refusal are folded, and counted
        assert all("did not present the shared secret" in e.reason for e in entries)
        assert s.store.users.get("lamp").state.value == "inactive"  # nothing was decided for it

    run(store, test)


def test_a_failure_while_answering_emqx_is_still_an_explicit_deny(store: Store,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    async def test(s: Served) -> None:
        monkeypatch.setattr(AuthPipeline, "decide_connect", broken)
        status, answer = await s.post("/emqx/authn", emqx_authn("lamp", "s3cret", "lamp-1"), emqx_headers())
        assert (status, answer["result"]) == (200, "deny")  # a 500 would be "ignore" to EMQX

    run(store, test)


@pytest.mark.parametrize("form", [False, True], ids=["json-params", "form-params"])
def test_goauth_json_mode(store: Store, form: bool) -> None:
    async def test(s: Served) -> None:
        query = f"?secret={SECRET}"
        user = {"username": "lamp", "password": "s3cret", "clientid": "lamp-1"}
        assert await s.post(f"/mosquitto/user{query}", user, GOAUTH_HEADERS, form=form) == \
            (200, {"ok": True, "error": ""})
        status, answer = await s.post(f"/mosquitto/user{query}", {**user, "password": "no"}, GOAUTH_HEADERS,
                                      form=form)
        assert (status, answer["ok"]) == (200, False)
        assert answer["error"] == "wrong password for user 'lamp'"
        for topic, acc, ok in (("home/lamp/a", 1, True), ("home/lamp/a", 2, True), ("home/lamp/a", 3, True),
                               ("home/lamp/#", 4, True), ("home/lamp/secret/k", 1, False),
                               ("home/fridge/a", 2, False)):
            acl = {"username": "lamp", "clientid": "lamp-1", "topic": topic, "acc": acc}
            status, answer = await s.post(f"/mosquitto/acl{query}", acl, GOAUTH_HEADERS, form=form)
            assert (status, answer["ok"]) == (200, ok), (topic, acc)
        kinds = [(e.kind, e.allowed) for e in s.log()]
        assert kinds[:2] == [("CONNECT", True), ("CONNECT", False)]
        assert ("RECEIVE", False) in kinds
        assert all(e.steps[0].startswith("asked by Mosquitto (go-auth)") for e in s.log())

    run(store, test)


def test_goauth_status_mode_answers_200_or_403(store: Store) -> None:
    async def test(s: Served) -> None:
        query = f"?secret={SECRET}"
        user = {"username": "lamp", "password": "s3cret", "clientid": "lamp-1"}
        assert (await s.post(f"/mosquitto/status/user{query}", user, GOAUTH_HEADERS))[0] == 200
        assert (await s.post(f"/mosquitto/status/user{query}", {**user, "password": "x"}, GOAUTH_HEADERS))[0] == 403
        acl = {"username": "lamp", "clientid": "lamp-1", "topic": "home/fridge/a", "acc": 2}
        assert (await s.post(f"/mosquitto/status/acl{query}", acl, GOAUTH_HEADERS))[0] == 403
        assert (await s.post("/mosquitto/status/user", user, GOAUTH_HEADERS))[0] == 403  # no secret
        assert [e.reason_code for e in s.log()][-1] == "caller-refused"

    run(store, test)


def test_print_config_names_the_routes_and_the_secret(data_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(data_dir), "auth-service", "--port", "9999", "--print-config", "emqx"]) == 0
    emqx = capfd.readouterr().out
    with contextlib.closing(Store.open(data_dir)) as store:
        secret = store.settings.auth_service_secret()
    assert 'url = "http://127.0.0.1:9999/emqx/authn"' in emqx
    assert 'url = "http://127.0.0.1:9999/emqx/authz"' in emqx
    assert f'"X-Mqttdesk-Secret" = "{secret}"' in emqx
    assert "no_match = deny" in emqx
    assert main(["--data-dir", str(data_dir), "auth-service", "--print-config", "mosquitto"]) == 0
    mosquitto = capfd.readouterr().out
    assert f"auth_opt_http_getuser_uri /mosquitto/user?secret={secret}" in mosquitto
    assert "auth_opt_http_port 8091" in mosquitto
    assert "auth_opt_http_response_mode json" in mosquitto


def test_auth_service_command_serves_until_a_signal(data_dir: Path) -> None:
    with contextlib.closing(Store.open(data_dir)) as store:
        store.users.add("lamp", fast_hash("s3cret"))
        secret = store.settings.auth_service_secret()
    process = subprocess.Popen([sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), "auth-service",
                                "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("auth service listening on http://127.0.0.1:"), line
        url = line.split()[4]
        request = urllib.request.Request(f"{url}/emqx/authn", method="POST",
                                         data=json.dumps(emqx_authn("lamp", "s3cret", "lamp-1")).encode(),
                                         headers=emqx_headers(secret))
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["result"] == "allow"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with contextlib.closing(Store.open(data_dir)) as store:
        assert store.auth_log.recent(10)[-1].reason_code == "authenticated"  # flushed on the way out
