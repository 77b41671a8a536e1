"""`suggest_fix_for_entry`: a stored Auth log entry (no password, no rule) gets the same fix as the live decision,
judged against the directory as it is now."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.fixes import FixAction, suggest_fix_for_entry
from mqttdesk.core.model import AnonymousPolicy, Bootstrap, Device, Directory, Role, User
from mqttdesk.core.states import CredentialState

ACTIVE, SUSPENDED, REVOKED = CredentialState.ACTIVE, CredentialState.SUSPENDED, CredentialState.REVOKED


def _user(name: str, state: CredentialState = ACTIVE, roles: tuple[str, ...] = ()) -> User:
    return User(name, "hash", state, roles, 1.0, 1.0)


@pytest.fixture
def directory() -> Directory:
    lamps = Role("lamps", (Rule("lamps", "home/%u/#", Permission.READWRITE),
                           Rule("lamps", "home/%u/secret/#", Permission.READ, Effect.DENY)))
    return Directory(
        users={"lamp": _user("lamp", roles=("lamps",)), "sleepy": _user("sleepy", SUSPENDED),
               "gone": _user("gone", REVOKED)},
        roles={"lamps": lamps},
        anonymous=AnonymousPolicy(enabled=False),
        bootstraps={"fleet": Bootstrap("fleet", "hash", SUSPENDED, (), True, 1.0, 1.0)},
        devices={"DVES_1": Device("DVES_1", "", "fleet", "fleet", "hash", SUSPENDED, (), 1.0, 1.0)},
    )


@pytest.mark.parametrize(
    ("reason_code", "client_id", "username", "action", "params"),
    [
        ("suspended", "c", "sleepy", FixAction.ACTIVATE_USER, {"user": "sleepy"}),
        ("suspended", "DVES_1", "fleet", FixAction.ACTIVATE_DEVICE, {"device": "DVES_1"}),
        ("suspended", "DVES_2", "fleet", FixAction.ACTIVATE_BOOTSTRAP, {"bootstrap": "fleet"}),
        ("bad-password", "c", "lamp", FixAction.RESET_PASSWORD, {"user": "lamp"}),
        ("unknown-user", "c", "ghost", FixAction.ADD_USER, {"user": "ghost"}),
        ("anonymous-refused", "c", None, FixAction.ANONYMOUS_ON, {}),
        ("client-id-in-use", "kitchen", "lamp", FixAction.KICK, {"client_id": "kitchen"}),
        ("client-id-registered", "DVES_1", "lamp", FixAction.DELETE_DEVICE, {"client_id": "DVES_1"}),
    ],
)
def test_connect_refusals_map_to_the_live_fix(directory, reason_code, client_id, username, action, params):
    fix = suggest_fix_for_entry("CONNECT", reason_code, client_id, username, None, directory)
    assert fix is not None
    assert fix.action is action
    assert fix.params == params


@pytest.mark.parametrize("reason_code", ["revoked", "missing-password", "client-id-empty"])
def test_refusals_without_a_safe_change_give_advice_only(directory, reason_code):
    fix = suggest_fix_for_entry("CONNECT", reason_code, "c", "gone", None, directory)
    assert fix is not None
    assert fix.action is None
    assert fix.description


def test_a_publish_without_a_rule_gets_an_allow_in_the_users_role(directory):
    fix = suggest_fix_for_entry("PUBLISH", "acl-no-rule", "lamp-1", "lamp", "garden/x", directory)
    assert fix is not None
    assert fix.action is FixAction.ALLOW
    assert fix.params == {"role": "lamps", "topic_filter": "garden/x", "permission": "write"}


def test_a_denied_subscription_finds_the_deny_rule(directory):
    fix = suggest_fix_for_entry("SUBSCRIBE", "acl-denied", "lamp-1", "lamp", "home/lamp/secret/key", directory)
    assert fix is not None
    assert fix.action is FixAction.REMOVE_DENY
    assert fix.params == {"role": "lamps", "topic_filter": "home/%u/secret/#"}


@pytest.mark.parametrize(
    ("username", "client_id", "topic_filter", "advice"),
    [
        ("lamp", "a/b", "s/%c/%u/%t/locked", "configure a clientId without '/', '+' or '#' and not starting with '$'"),
        ("$lamp", "lamp-1", "s/%c/%u/%t/locked", "give the client a username without '/', '+' or '#'"),
        ("lamp@a+b", "lamp-1", "s/%t/locked", "give the client a username whose tenant (after the last '@') is"),
    ],
)
def test_a_deny_rule_that_cannot_be_applied_safely_gets_advice_not_its_removal(
    directory, username, client_id, topic_filter, advice
):
    """Removing the deny rule would let every client of the role through it; the odd value is what to change."""
    locked = Role("locked", (Rule("locked", "#", Permission.WRITE),
                             Rule("locked", topic_filter, Permission.WRITE, Effect.DENY)))
    opened = replace(directory, roles={**directory.roles, "locked": locked},
                     users={username: _user(username, roles=("locked",))})
    fix = suggest_fix_for_entry("PUBLISH", "acl-denied", client_id, username, "anywhere", opened)
    assert fix is not None
    assert fix.action is None
    assert fix.description.startswith(advice)
    assert "so every deny rule with %" in fix.description


def test_a_topic_refusal_of_a_now_suspended_user_suggests_activating_it(directory):
    fix = suggest_fix_for_entry("PUBLISH", "acl-no-rule", "c", "sleepy", "x", directory)
    assert fix is not None
    assert fix.action is FixAction.ACTIVATE_USER


def test_a_bad_topic_keeps_the_reason_in_the_advice(directory):
    fix = suggest_fix_for_entry("PUBLISH", "bad-topic", "c", "lamp", "a/+", directory, reason="it has a wildcard")
    assert fix is not None
    assert fix.action is None
    assert "it has a wildcard" in fix.description


@pytest.mark.parametrize(
    ("kind", "reason_code", "client_id", "username", "topic"),
    [
        ("CONNECT", "suspended", "c", "lamp", None),  # lamp is active now
        ("CONNECT", "unknown-user", "c", "lamp", None),  # lamp exists now
        ("CONNECT", "client-id-registered", "gone-device", "lamp", None),  # no such device any more
        ("PUBLISH", "acl-no-rule", "lamp-1", "lamp", "home/lamp/light"),  # a rule allows it now
        ("CONNECT", "authenticated", "c", "lamp", None),  # allowed entries have no fix
        ("DISCONNECT", "client-disconnect", "c", "lamp", None),
        ("KICK", "kicked", "c", "lamp", None),
        ("CONNECT", "no-such-code", "c", "lamp", None),
    ],
)
def test_no_fix_when_nothing_refuses_it_any_more(directory, kind, reason_code, client_id, username, topic):
    assert suggest_fix_for_entry(kind, reason_code, client_id, username, topic, directory) is None


def test_anonymous_refused_needs_no_fix_once_anonymous_is_on(directory):
    opened = replace(directory, anonymous=AnonymousPolicy(enabled=True))
    assert suggest_fix_for_entry("CONNECT", "anonymous-refused", "c", None, None, opened) is None


def test_subscription_limit_gets_advice_naming_the_setting(directory):
    fix = suggest_fix_for_entry("SUBSCRIBE", "subscription-limit", "lamp-1", "lamp", "home/lamp/x", directory)
    assert fix is not None
    assert not fix.applicable
    assert "mqttdesk config set max_subscriptions_per_client" in fix.description
