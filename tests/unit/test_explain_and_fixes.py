"""The explainer (dry run of the real pipeline) and the suggested fix for every refusal it can produce."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.auth.explain import explain, explanation_lines
from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.core.acl import Permission
from mqttdesk.core.decision import ConnectRequest, Kind, SessionHolder
from mqttdesk.core.fixes import FixAction
from mqttdesk.core.model import CredentialKind, CredentialRef, Device
from mqttdesk.core.passwords import hash_password
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.store.db import Store

PW = "pw"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path)
    secret = hash_password(PW, iterations=1000)
    opened.roles.add("lamps")
    opened.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    opened.roles.deny("lamps", "home/%u/secret/#", Permission.READ)
    opened.users.add("lamp", secret, ("lamps",))
    opened.users.add("sleepy", secret)
    opened.users.apply("sleepy", StateAction.SUSPEND)
    opened.users.add("gone", secret)
    opened.users.apply("gone", StateAction.REVOKE)
    opened.bootstraps.add("fleet", secret)
    opened.devices.register([Device("DVES_REG", "", "fleet", "fleet", secret, CredentialState.ACTIVE, (), 1.0, 1.0)])
    opened.settings.set_anonymous(False)
    yield opened
    opened.close()


@pytest.fixture
def pipeline(store: Store) -> Iterator[AuthPipeline]:
    created = AuthPipeline(store)
    yield created
    created.close()


HOLDER = {"busy": SessionHolder("busy", "lamp", CredentialRef(CredentialKind.USER, "lamp"), "10.0.0.9", 0.0)}


@pytest.mark.parametrize(
    ("username", "password", "client_id", "code", "fix_action"),
    [
        ("lamp", "nope", "c", "bad-password", FixAction.RESET_PASSWORD),
        ("ghost", PW, "c", "unknown-user", FixAction.ADD_USER),
        ("lamp", None, "c", "missing-password", None),
        ("sleepy", PW, "c", "suspended", FixAction.ACTIVATE_USER),
        ("gone", PW, "c", "revoked", None),
        (None, None, "c", "anonymous-refused", FixAction.ANONYMOUS_ON),
        ("fleet", PW, "busy", "client-id-in-use", FixAction.KICK),
        ("lamp", PW, "DVES_REG", "client-id-registered", FixAction.DELETE_DEVICE),
        ("fleet", PW, "", "client-id-empty", None),
    ],
)
def test_each_connect_refusal_has_a_path_and_a_fix(pipeline, username, password, client_id, code, fix_action):
    request = ConnectRequest(client_id=client_id, username=username, password=password)
    result = explain(pipeline, request, HOLDER)
    assert not result.allowed
    assert result.connect.reason.code.value == code
    assert len(result.connect.steps) >= 2
    assert result.fix is not None
    assert result.fix.action == fix_action
    lines = explanation_lines(result)
    assert lines[-1].startswith("  run: ") or lines[-1].startswith("suggested fix: ")
    assert any(line.startswith("result: REFUSED") and code in line for line in lines)
    if password:
        assert all(password not in line for line in lines if password != PW)


@pytest.mark.parametrize(
    ("topic", "action", "code", "fix_action"),
    [
        ("home/lamp/secret/key", Kind.SUBSCRIBE, "acl-denied", FixAction.REMOVE_DENY),
        ("elsewhere/x", Kind.PUBLISH, "acl-no-rule", FixAction.ALLOW),
        ("$SYS/broker/load", Kind.PUBLISH, "reserved-topic", None),
        ("a/+/b", Kind.PUBLISH, "bad-topic", None),
    ],
)
def test_topic_refusals_have_a_fix(pipeline, topic, action, code, fix_action):
    request = ConnectRequest(client_id="lamp-1", username="lamp", password=PW)
    result = explain(pipeline, request, {}, topic=topic, action=action)
    assert result.connect.allowed
    assert result.topic is not None
    assert result.topic.reason.code.value == code
    assert result.fix is not None
    assert result.fix.action == fix_action


def test_allowed_has_no_fix_and_dry_run_changes_nothing(pipeline, store):
    request = ConnectRequest(client_id="lamp-1", username="lamp", password=PW)
    result = explain(pipeline, request, {}, topic="home/lamp/light", action=Kind.PUBLISH)
    assert result.allowed
    assert result.fix is None
    assert explanation_lines(result)[-1] == "result: allowed"
    assert store.users.get("lamp").state is CredentialState.INACTIVE  # first use did not happen
    assert store.auth_log.count() == 0


def test_allow_fix_command_is_what_the_cli_would_run(pipeline):
    request = ConnectRequest(client_id="lamp-1", username="lamp", password=PW)
    result = explain(pipeline, request, {}, topic="garden/light", action=Kind.PUBLISH)
    assert result.fix is not None
    assert result.fix.command == "mqttdesk role allow lamps garden/light write"
    assert result.fix.params == {"role": "lamps", "topic_filter": "garden/light", "permission": "write"}
