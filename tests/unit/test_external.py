"""The external HTTP service on its own: what an answer means, the settings' checks, the cache (HMAC keys, shared
calls, a failure empties it) against a real HTTP service, and no password in any decision made from an answer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from mqttdesk.auth.external import ExternalService
from mqttdesk.core.decide import decide_connect
from mqttdesk.core.decision import ConnectRequest, Grant, Kind
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.external import (
    Acc,
    ExternalSettings,
    acl_body,
    interpret,
    parse_header,
    shown_body,
    timed_out,
    unreachable,
    user_body,
    validate,
)
from mqttdesk.core.external_decisions import connect_answer, preflight, topic_decision
from mqttdesk.core.model import AnonymousPolicy, CredentialKind, CredentialRef, Directory, Method
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.store.auth_log_repo import entry_from_decision
from tests.auth_service import USER_ROUTE, AuthService

PASSWORD = "Zq9!external-secret"


@pytest.mark.parametrize(("status", "body", "allowed", "code", "text"), [
    (200, b"", True, None, "HTTP 200"),
    (200, b"not json", True, None, "HTTP 200"),
    (200, b'{"ok": true}', True, None, "HTTP 200"),
    (200, b'{"ok": false, "error": "banned"}', False, ReasonCode.EXTERNAL_DENIED, 'HTTP 200 with "ok": false: banned'),
    (200, b'{"result": "deny"}', False, ReasonCode.EXTERNAL_DENIED, 'HTTP 200 with "result": "deny"'),
    (403, b'{"reason": "unknown"}', False, ReasonCode.EXTERNAL_DENIED, "HTTP 403: unknown"),
    (204, b"", False, ReasonCode.EXTERNAL_DENIED, "HTTP 204"),
    (503, b"", False, ReasonCode.EXTERNAL_ERROR, "HTTP 503"),
])
def test_only_a_200_that_does_not_say_deny_allows(status: int, body: bytes, allowed: bool, code: ReasonCode | None,
                                                  text: str) -> None:
    answer = interpret(status, body)
    assert (answer.allowed, answer.code, answer.text) == (allowed, code, text)
    assert answer.failed is (code is ReasonCode.EXTERNAL_ERROR)


def test_settings_are_checked_and_headers_masked() -> None:
    with pytest.raises(ValidationError):
        validate(ExternalSettings(url="ftp://host"))
    with pytest.raises(ValidationError):
        validate(ExternalSettings(url="http://host", user_route="userGet"))
    with pytest.raises(ValidationError):
        validate(ExternalSettings(enabled=True))
    with pytest.raises(ValidationError):
        parse_header("no colon")
    settings = validate(ExternalSettings(url="https://auth.example/", headers=(parse_header("X-Api-Key: s3cret"),)))
    assert settings.user_url() == "https://auth.example/mqttAuthentication/userGet"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.to_json())
    assert settings.masked_headers() == ["X-Api-Key: ••••••••"]


def test_the_request_a_step_shows_has_no_password() -> None:
    assert PASSWORD not in shown_body(user_body("dev", PASSWORD, "c-1"))
    assert acl_body("dev", "c-1", "t", Acc.DELIVERY) == {"username": "dev", "clientid": "c-1", "topic": "t", "acc": 1}


@pytest.fixture
def service() -> Iterator[AuthService]:
    running = AuthService(users={"dev": PASSWORD}).start()
    yield running
    running.stop()


def test_identical_requests_in_flight_share_one_call(service: AuthService) -> None:
    settings = ExternalSettings(url=service.url, enabled=True)
    external = ExternalService()
    body = user_body("dev", PASSWORD, "c-1")

    async def both() -> list[bool]:
        service.hold = True
        asks = [asyncio.ensure_future(external.ask(settings, settings.user_url(), body)) for _ in range(3)]
        await asyncio.to_thread(service.wait_calls, 1)
        service.release()
        return [answer.allowed for answer in await asyncio.gather(*asks)]

    assert asyncio.run(both()) == [True, True, True]
    assert len(service.bodies(USER_ROUTE)) == 1
    assert external.calls == 1
    # the cache is keyed by an HMAC: the password is nowhere in it
    assert PASSWORD.encode() not in b"".join(external._cache)  # noqa: SLF001 (what the cache holds is the point)
    assert external.cached(settings.user_url(), body) is not None


def test_a_failed_call_empties_the_cache_and_is_not_cached(service: AuthService) -> None:
    settings = ExternalSettings(url=service.url, enabled=True)
    external = ExternalService()
    good, other = user_body("dev", PASSWORD, "c-1"), user_body("dev", PASSWORD, "c-2")
    assert asyncio.run(external.ask(settings, settings.user_url(), good)).allowed
    service.status = 500
    failed = asyncio.run(external.ask(settings, settings.user_url(), other))
    assert failed.code is ReasonCode.EXTERNAL_ERROR
    assert external.cached(settings.user_url(), good) is None
    assert external.cached(settings.user_url(), other) is None
    zero = dataclasses.replace(settings, cache_seconds=0)
    service.status = None
    asyncio.run(external.ask(zero, zero.user_url(), good))
    assert external.cached(zero.user_url(), good) is None  # cache time 0: nothing is kept


DIRECTORY = Directory(users={}, roles={}, anonymous=AnonymousPolicy(enabled=False))
SETTINGS = ExternalSettings(url="http://127.0.0.1:9", enabled=True)


@pytest.mark.parametrize(("answer", "code", "connack"), [
    (interpret(403, b'{"error": "no"}'), ReasonCode.EXTERNAL_DENIED, 4),
    (interpret(500, b""), ReasonCode.EXTERNAL_ERROR, 3),
    (unreachable("Connection refused"), ReasonCode.EXTERNAL_UNREACHABLE, 3),
    (timed_out(5), ReasonCode.EXTERNAL_TIMEOUT, 3),
    (interpret(200, b""), ReasonCode.AUTHENTICATED, 0),
])
def test_connect_decisions_from_answers_hold_no_password(answer, code: ReasonCode, connack: int) -> None:  # type: ignore[no-untyped-def]
    request = ConnectRequest("c-1", "dev", PASSWORD, "127.0.0.1")
    body = user_body("dev", PASSWORD, "c-1")
    decision = decide_connect(request, DIRECTORY, password_ok=None, live={},
                              answer=connect_answer(SETTINGS, request, answer, shown_body(body)))
    assert (decision.reason_code, decision.connack) == (code, connack)
    assert decision.method is Method.HTTP
    text = repr(decision) + repr(entry_from_decision(decision).to_json()) + decision.reason_string()
    assert PASSWORD not in text
    if decision.allowed:
        assert decision.grant is not None
        assert decision.grant.credential == CredentialRef(CredentialKind.EXTERNAL, "dev")


def test_topic_decisions_name_the_request_and_the_answer() -> None:
    grant = Grant(Method.HTTP, CredentialRef(CredentialKind.EXTERNAL, "dev"), "dev", "c-1")
    denied = topic_decision(Kind.PUBLISH, grant, "a/b", interpret(200, b'{"result": "deny"}'), SETTINGS, "{}")
    assert denied.reason_code is ReasonCode.EXTERNAL_DENIED
    assert "external user 'dev' to publish to 'a/b'" in denied.reason.text
    assert preflight(Kind.PUBLISH, grant, "$SYS/x") is not None  # never asked
    assert preflight(Kind.PUBLISH, grant, "a/+") is not None
    assert preflight(Kind.SUBSCRIBE, grant, "a/+") is None
