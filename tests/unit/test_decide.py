"""The auth rules: CONNECT and topic decisions from a `Directory` snapshot, and re-validation of live sessions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime

import pytest

from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.decide import (
    decide_connect,
    decide_topic,
    decide_unchecked,
    password_hash_for,
    revalidate,
    roles_of,
)
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, Kind, SessionHolder, session_ended
from mqttdesk.core.model import (
    ANONYMOUS_REF,
    AnonymousPolicy,
    CredentialKind,
    CredentialRef,
    Directory,
    Method,
    Role,
    User,
)
from mqttdesk.core.reasons import CONNACK_MEANING, ReasonCode, connack_code
from mqttdesk.core.states import CredentialState

PASSWORD = "hunter2-Zq9!never-in-a-decision"
T0 = 1_795_000_000.0  # a fixed moment in 2026
SINCE = 1_795_400_000.0


def _since_text(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _user(name: str, state: CredentialState, roles: tuple[str, ...] = ("devices",), pw: str = "") -> User:
    return User(
        name=name,
        password_hash=pw or f"$7$1$hash-of-{name}",
        state=state,
        roles=roles,
        created=T0,
        state_since=SINCE,
        last_used=None if state is CredentialState.INACTIVE else T0,
    )


ROLES = {
    "devices": Role(
        "devices",
        (
            Rule("devices", "devices/%c/#", Permission.READWRITE),
            Rule("devices", "#", Permission.READ),
            Rule("devices", "secret/#", Permission.READWRITE, Effect.DENY),
        ),
    ),
    "public": Role("public", (Rule("public", "public/#", Permission.READ),)),
}
USERS = {
    user.name: user
    for user in (
        _user("lamp", CredentialState.ACTIVE),
        _user("bob", CredentialState.ACTIVE),
        _user("fresh", CredentialState.INACTIVE),
        _user("sleeper", CredentialState.SUSPENDED),
        _user("gone", CredentialState.REVOKED),
        _user("roleless", CredentialState.ACTIVE, roles=()),
    )
}


_OFF = AnonymousPolicy(enabled=False)


def directory(anonymous: AnonymousPolicy = _OFF, users: Mapping[str, User] = USERS) -> Directory:
    return Directory(users=users, roles=ROLES, anonymous=anonymous)


ANON_OFF = directory()
ANON_OPEN = directory(AnonymousPolicy(enabled=True))
ANON_PUBLIC = directory(AnonymousPolicy(enabled=True, roles=("public",)))
NOBODY: Mapping[str, SessionHolder] = {}


def connect(
    username: str | None,
    password: str | None = PASSWORD,
    client_id: str = "lamp-1",
    *,
    password_ok: bool | None = True,
    dir_: Directory = ANON_OFF,
    live: Mapping[str, SessionHolder] = NOBODY,
    clean_session: bool = True,
    will_topic: str | None = None,
    authentication_method: str | None = None,
) -> Decision:
    request = ConnectRequest(
        client_id=client_id,
        username=username,
        password=password,
        address="10.0.0.7:50001",
        clean_session=clean_session,
        will_topic=will_topic,
        protocol="5" if authentication_method else "3.1.1",
        authentication_method=authentication_method,
    )
    return decide_connect(request, dir_, password_ok=password_ok, live=live)


def holder(username: str | None, client_id: str = "lamp-1") -> SessionHolder:
    ref = ANONYMOUS_REF if username is None else CredentialRef(CredentialKind.USER, username)
    return SessionHolder(client_id, username, ref, "10.0.0.9:40000", T0)


def unchecked(code: ReasonCode, username: str = "lamp") -> Decision:
    """A CONNECT whose password the verifier never checked (queue full, or the client left first)."""
    request = ConnectRequest(client_id="lamp-1", username=username, password=PASSWORD, address="10.0.0.7:50001")
    return decide_unchecked(request, ANON_OFF, code, f"not checked ({code.value})")


# -- CONNECT: one case per reason code ------------------------------------------------------------------------

ConnectCase = tuple[Callable[[], Decision], bool, ReasonCode, int, str]  # make, allowed, code, CONNACK, named

CONNECT_CASES: dict[str, ConnectCase] = {
    "authenticated": (lambda: connect("lamp"), True, ReasonCode.AUTHENTICATED, 0, "user 'lamp'"),
    "authenticated-inactive": (lambda: connect("fresh"), True, ReasonCode.AUTHENTICATED, 0, "user 'fresh'"),
    "anonymous-allowed": (
        lambda: connect(None, None, dir_=ANON_OPEN),
        True,
        ReasonCode.ANONYMOUS_ALLOWED,
        0,
        "anonymous",
    ),
    "unknown-user": (lambda: connect("nobody"), False, ReasonCode.UNKNOWN_USER, 4, "'nobody'"),
    "bad-password": (lambda: connect("lamp", password_ok=False), False, ReasonCode.BAD_PASSWORD, 4, "user 'lamp'"),
    "bad-password-unchecked": (
        lambda: connect("lamp", password_ok=None),
        False,
        ReasonCode.BAD_PASSWORD,
        4,
        "user 'lamp'",
    ),
    "missing-password": (lambda: connect("lamp", None), False, ReasonCode.MISSING_PASSWORD, 4, "user 'lamp'"),
    "missing-username": (lambda: connect(None, PASSWORD), False, ReasonCode.MISSING_USERNAME, 4, "without a username"),
    "missing-username-empty": (lambda: connect("", PASSWORD), False, ReasonCode.MISSING_USERNAME, 4, "username"),
    "suspended": (lambda: connect("sleeper"), False, ReasonCode.SUSPENDED, 5, "user 'sleeper'"),
    "revoked": (lambda: connect("gone"), False, ReasonCode.REVOKED, 5, "user 'gone'"),
    "anonymous-refused": (lambda: connect(None, None), False, ReasonCode.ANONYMOUS_REFUSED, 5, "access is off"),
    "client-id-in-use": (
        lambda: connect("bob", live={"lamp-1": holder("lamp")}),
        False,
        ReasonCode.CLIENT_ID_IN_USE,
        2,
        "user 'lamp'",
    ),
    "client-id-empty": (
        lambda: connect("lamp", client_id="", clean_session=False),
        False,
        ReasonCode.CLIENT_ID_EMPTY,
        2,
        "empty clientId",
    ),
    "client-id-empty-anonymous": (
        lambda: connect(None, None, client_id="", clean_session=False, dir_=ANON_OPEN),
        False,
        ReasonCode.CLIENT_ID_EMPTY,
        2,
        "empty clientId",
    ),
    "client-id-empty-not-assigned": (
        lambda: connect("lamp", client_id=""),
        False,
        ReasonCode.CLIENT_ID_EMPTY,
        2,
        "clientId is empty",
    ),
    "server-busy": (lambda: unchecked(ReasonCode.SERVER_BUSY), False, ReasonCode.SERVER_BUSY, 3, "server-busy"),
    "client-gone": (lambda: unchecked(ReasonCode.CLIENT_GONE), False, ReasonCode.CLIENT_GONE, 3, "client-gone"),
    "bad-auth-method": (
        lambda: connect("lamp", authentication_method="SCRAM-SHA-256"),
        False,
        ReasonCode.BAD_AUTH_METHOD,
        5,
        "authentication method 'SCRAM-SHA-256'",
    ),
}


@pytest.mark.parametrize(
    ("make", "allowed", "code", "connack", "named"), list(CONNECT_CASES.values()), ids=list(CONNECT_CASES)
)
def test_connect_reasons(
    make: Callable[[], Decision], allowed: bool, code: ReasonCode, connack: int, named: str
) -> None:
    decision = make()
    assert decision.kind is Kind.CONNECT
    assert decision.allowed is allowed
    assert decision.reason_code is code
    assert decision.connack == connack == connack_code(code, allowed)
    assert connack in CONNACK_MEANING
    assert named in decision.reason.text
    assert decision.steps, "the decision path must be explained"
    assert decision.steps[-1].startswith("accepted: " if allowed else "refused: ")
    assert decision.steps[-1].endswith(decision.reason.text)
    assert decision.address == "10.0.0.7:50001"
    if allowed:
        assert decision.grant is not None
        assert decision.grant.client_id == decision.client_id
    else:
        assert decision.grant is None


def test_every_connect_refusal_code_is_covered() -> None:
    """If a new CONNECT reason appears in `decide.py`, it needs a case above."""
    produced = {make().reason_code for make, *_ in CONNECT_CASES.values()}
    assert produced == {
        ReasonCode.AUTHENTICATED,
        ReasonCode.ANONYMOUS_ALLOWED,
        ReasonCode.UNKNOWN_USER,
        ReasonCode.BAD_PASSWORD,
        ReasonCode.MISSING_PASSWORD,
        ReasonCode.MISSING_USERNAME,
        ReasonCode.SUSPENDED,
        ReasonCode.REVOKED,
        ReasonCode.ANONYMOUS_REFUSED,
        ReasonCode.CLIENT_ID_IN_USE,
        ReasonCode.CLIENT_ID_EMPTY,
        ReasonCode.SERVER_BUSY,
        ReasonCode.CLIENT_GONE,
        ReasonCode.BAD_AUTH_METHOD,
    }


def test_an_authentication_method_is_refused_before_anything_else_is_looked_at() -> None:
    """mqttdesk has no enhanced authentication yet: the client hears 0x8C, not a verdict on its password."""
    decision = connect("sleeper", authentication_method="SCRAM-SHA-256", password_ok=False)
    assert decision.reason_code is ReasonCode.BAD_AUTH_METHOD
    assert decision.reason.text == ("the client asked for authentication method 'SCRAM-SHA-256', which mqttdesk does "
                                    "not support; connect with a username and password instead")
    assert decision.steps == ("refused: " + decision.reason.text,)
    assert decision.method is None


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_connect_decision_carries_the_protocol_of_its_request(protocol: str) -> None:
    request = ConnectRequest("lamp-1", "lamp", PASSWORD, "10.0.0.7", protocol=protocol)
    accepted = decide_connect(request, ANON_OFF, password_ok=True, live=NOBODY)
    refused = decide_connect(request, ANON_OFF, password_ok=False, live=NOBODY)
    busy = decide_unchecked(request, ANON_OFF, ReasonCode.SERVER_BUSY, "busy")
    assert (accepted.protocol, refused.protocol, busy.protocol) == (protocol, protocol, protocol)
    assert ConnectRequest("c", None).protocol == "3.1.1"  # what the broker spoke before MQTT 5


def test_a_protocol_is_3_1_1_or_5() -> None:
    with pytest.raises(ValueError, match="protocol must be one of 3.1.1, 5, not '4'"):
        ConnectRequest("c", None, protocol="4")


def test_topic_decisions_and_session_ends_take_the_protocol_of_the_session() -> None:
    assert decide_topic(Kind.PUBLISH, LAMP, "devices/lamp-1/x", ANON_OFF).protocol is None  # the router sets it
    ended = session_ended(Kind.KICK, ReasonCode.KICKED, "kicked by the administrator", client_id="lamp-1",
                          username="lamp", method=Method.PASSWORD, address="10.0.0.7", forced=True, protocol="5")
    assert (ended.protocol, ended.allowed, ended.reason.text) == ("5", False, "kicked by the administrator")
    assert session_ended(Kind.DISCONNECT, ReasonCode.CLIENT_DISCONNECT, "bye", client_id="c", username=None,
                         method=None, address=None, forced=False).protocol is None


def test_unchecked_refusal_names_the_credential_and_says_the_password_was_not_checked() -> None:
    decision = unchecked(ReasonCode.SERVER_BUSY)
    assert decision.method is Method.PASSWORD
    assert decision.steps[:2] == ("username 'lamp' → user 'lamp'", "password not checked")
    assert "suspended" not in " ".join(unchecked(ReasonCode.CLIENT_GONE, "sleeper").steps)  # nor its state


def test_suspended_sentence_says_since_when() -> None:
    decision = connect("sleeper")
    assert decision.reason.text == f"user 'sleeper' is suspended since {_since_text(SINCE)}"
    assert decision.method is Method.PASSWORD


def test_revoked_sentence_says_when() -> None:
    assert connect("gone").reason.text == f"user 'gone' was revoked on {_since_text(SINCE)}"


def test_authenticated_grant() -> None:
    decision = connect("lamp")
    assert decision.grant == Grant(Method.PASSWORD, CredentialRef(CredentialKind.USER, "lamp"), "lamp", "lamp-1")
    assert decision.method is Method.PASSWORD
    assert decision.username == "lamp"
    assert decision.takes_over is None
    assert "password ✓" in decision.steps
    assert "clientId 'lamp-1' is free" in decision.steps


def test_anonymous_grant() -> None:
    decision = connect(None, None, dir_=ANON_PUBLIC)
    assert decision.grant == Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "lamp-1")
    assert "anonymous access is on with roles public" in decision.steps


def test_password_is_checked_before_the_state_is_revealed() -> None:
    """Without the right password nobody learns that 'sleeper' is suspended or 'gone' revoked."""
    for name in ("sleeper", "gone"):
        decision = connect(name, password_ok=False)
        assert decision.reason_code is ReasonCode.BAD_PASSWORD
        assert "suspended" not in decision.reason.text
        assert "revoked" not in decision.reason.text


def test_suspended_user_cannot_take_a_client_id_either() -> None:
    decision = connect("sleeper", live={"lamp-1": holder("lamp")})
    assert decision.reason_code is ReasonCode.SUSPENDED


# -- clientId take-over ---------------------------------------------------------------------------------------


def test_same_credential_takes_over_its_own_client_id() -> None:
    live_session = holder("lamp")
    decision = connect("lamp", live={"lamp-1": live_session})
    assert decision.allowed
    assert decision.takes_over == live_session
    assert any("takes over" in step for step in decision.steps)


def test_other_credential_gets_client_id_in_use() -> None:
    decision = connect("bob", live={"lamp-1": holder("lamp")})
    assert not decision.allowed
    assert decision.connack == 2
    assert decision.takes_over is None
    assert "clientId 'lamp-1' is already in use by user 'lamp'" in decision.reason.text
    assert "from 10.0.0.9:40000" in decision.reason.text
    assert _since_text(T0) in decision.reason.text


def test_anonymous_cannot_take_a_users_client_id_nor_the_other_way_round() -> None:
    anonymous = connect(None, None, dir_=ANON_OPEN, live={"lamp-1": holder("lamp")})
    assert anonymous.reason_code is ReasonCode.CLIENT_ID_IN_USE
    user = connect("lamp", dir_=ANON_OPEN, live={"lamp-1": holder(None)})
    assert user.reason_code is ReasonCode.CLIENT_ID_IN_USE
    assert "an anonymous client" in user.reason.text


def test_anonymous_takes_over_an_anonymous_session() -> None:
    decision = connect(None, None, dir_=ANON_OPEN, live={"lamp-1": holder(None)})
    assert decision.allowed
    assert decision.takes_over == holder(None)


def test_another_client_id_is_free() -> None:
    assert connect("bob", client_id="bob-1", live={"lamp-1": holder("lamp")}).allowed


# -- will topic -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "will_topic", "dir_", "code"),
    [
        ("lamp", "devices/lamp-1/status", ANON_OFF, ReasonCode.AUTHENTICATED),
        ("lamp", "devices/other/status", ANON_OFF, ReasonCode.ACL_NO_RULE),
        ("lamp", "secret/status", ANON_OFF, ReasonCode.ACL_DENIED),
        ("lamp", "devices/lamp-1/+", ANON_OFF, ReasonCode.BAD_TOPIC),
        (None, "anything/at/all", ANON_OPEN, ReasonCode.ANONYMOUS_ALLOWED),
        (None, "public/x", ANON_PUBLIC, ReasonCode.ACL_NO_RULE),  # read-only role
    ],
)
def test_will_topic_must_be_publishable(
    username: str | None, will_topic: str, dir_: Directory, code: ReasonCode
) -> None:
    decision = connect(username, PASSWORD if username else None, dir_=dir_, will_topic=will_topic)
    assert decision.reason_code is code
    if not decision.allowed:
        assert decision.connack == 5
        assert decision.reason.text.startswith("the will message may not be published")


# -- the password never leaks ---------------------------------------------------------------------------------


def test_password_not_in_connect_request_repr() -> None:
    request = ConnectRequest("c", "lamp", PASSWORD, "10.0.0.7")
    assert PASSWORD not in repr(request)
    assert PASSWORD not in str(request)


@pytest.mark.parametrize("make", [case[0] for case in CONNECT_CASES.values()], ids=list(CONNECT_CASES))
def test_password_not_in_any_decision_field(make: Callable[[], Decision]) -> None:
    decision = make()
    assert PASSWORD not in repr(decision)
    for field in dataclasses.fields(decision):
        assert PASSWORD not in str(getattr(decision, field.name)), field.name
    for step in decision.steps:
        assert PASSWORD not in step


# -- password_hash_for ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "expected"),
    [
        ("lamp", PASSWORD, "$7$1$hash-of-lamp"),
        ("sleeper", PASSWORD, "$7$1$hash-of-sleeper"),
        ("lamp", None, None),
        ("nobody", PASSWORD, None),
        (None, PASSWORD, None),
        ("", PASSWORD, None),
    ],
)
def test_password_hash_for(username: str | None, password: str | None, expected: str | None) -> None:
    assert password_hash_for(ConnectRequest("c", username, password), ANON_OFF) == expected


# -- topic decisions ------------------------------------------------------------------------------------------

LAMP = Grant(Method.PASSWORD, CredentialRef(CredentialKind.USER, "lamp"), "lamp", "lamp-1")
ANON = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "anon-1")
ROLELESS = Grant(Method.PASSWORD, CredentialRef(CredentialKind.USER, "roleless"), "roleless", "r-1")


@pytest.mark.parametrize(
    ("kind", "grant", "topic", "dir_", "code"),
    [
        # a user with roles
        (Kind.PUBLISH, LAMP, "devices/lamp-1/state", ANON_OFF, ReasonCode.ACL_ALLOWED),
        (Kind.PUBLISH, LAMP, "devices/other/state", ANON_OFF, ReasonCode.ACL_NO_RULE),
        (Kind.PUBLISH, LAMP, "secret/x", ANON_OFF, ReasonCode.ACL_DENIED),
        (Kind.RECEIVE, LAMP, "news/today", ANON_OFF, ReasonCode.ACL_ALLOWED),
        (Kind.RECEIVE, LAMP, "secret/x", ANON_OFF, ReasonCode.ACL_DENIED),
        (Kind.RECEIVE, LAMP, "$SYS/broker/uptime", ANON_OFF, ReasonCode.ACL_NO_RULE),
        (Kind.SUBSCRIBE, LAMP, "#", ANON_OFF, ReasonCode.ACL_ALLOWED),
        (Kind.SUBSCRIBE, LAMP, "secret/#", ANON_OFF, ReasonCode.ACL_DENIED),
        (Kind.SUBSCRIBE, LAMP, "$SYS/#", ANON_OFF, ReasonCode.ACL_NO_RULE),
        # a user without roles may do nothing
        (Kind.PUBLISH, ROLELESS, "a", ANON_OFF, ReasonCode.ACL_NO_RULE),
        (Kind.SUBSCRIBE, ROLELESS, "#", ANON_OFF, ReasonCode.ACL_NO_RULE),
        # anonymous without roles: everything
        (Kind.PUBLISH, ANON, "secret/x", ANON_OPEN, ReasonCode.ACL_ALLOWED),
        (Kind.SUBSCRIBE, ANON, "#", ANON_OPEN, ReasonCode.ACL_ALLOWED),
        (Kind.RECEIVE, ANON, "secret/x", ANON_OPEN, ReasonCode.ACL_ALLOWED),
        # anonymous with roles: only what they allow
        (Kind.SUBSCRIBE, ANON, "public/#", ANON_PUBLIC, ReasonCode.ACL_ALLOWED),
        (Kind.RECEIVE, ANON, "public/x", ANON_PUBLIC, ReasonCode.ACL_ALLOWED),
        (Kind.RECEIVE, ANON, "private/x", ANON_PUBLIC, ReasonCode.ACL_NO_RULE),
        (Kind.PUBLISH, ANON, "public/x", ANON_PUBLIC, ReasonCode.ACL_NO_RULE),
        (Kind.SUBSCRIBE, ANON, "#", ANON_PUBLIC, ReasonCode.ACL_ALLOWED),  # broad, filtered per message
        # invalid topics are refused before any rule, even for unrestricted anonymous access
        (Kind.PUBLISH, LAMP, "devices/lamp-1/+", ANON_OFF, ReasonCode.BAD_TOPIC),
        (Kind.PUBLISH, ANON, "a/#", ANON_OPEN, ReasonCode.BAD_TOPIC),
        (Kind.RECEIVE, ANON, "", ANON_OPEN, ReasonCode.BAD_TOPIC),
        (Kind.SUBSCRIBE, LAMP, "devices/#/x", ANON_OFF, ReasonCode.BAD_TOPIC),
        (Kind.SUBSCRIBE, ANON, "a+", ANON_OPEN, ReasonCode.BAD_TOPIC),
    ],
)
def test_decide_topic(kind: Kind, grant: Grant, topic: str, dir_: Directory, code: ReasonCode) -> None:
    decision = decide_topic(kind, grant, topic, dir_)
    assert decision.reason_code is code
    assert decision.allowed is (code is ReasonCode.ACL_ALLOWED)
    assert decision.kind is kind
    assert decision.topic == topic
    assert decision.client_id == grant.client_id
    assert decision.username == grant.username
    assert decision.method is grant.method
    assert decision.connack is None
    assert len(decision.steps) >= 2
    assert decision.steps[-1] == ("allowed: " if decision.allowed else "refused: ") + decision.reason.text


def test_topic_sentences() -> None:
    denied = decide_topic(Kind.PUBLISH, LAMP, "secret/x", ANON_OFF)
    assert denied.reason.text == (
        "user 'lamp' may not publish to 'secret/x': role 'devices' denies readwrite on 'secret/#'"
    )
    no_rule = decide_topic(Kind.PUBLISH, LAMP, "devices/other/state", ANON_OFF)
    assert no_rule.reason.text == (
        "user 'lamp' may not publish to 'devices/other/state': roles devices, and no rule allows write there"
    )
    allowed = decide_topic(Kind.SUBSCRIBE, LAMP, "#", ANON_OFF)
    # the first allow rule that reaches into the filter is named
    assert allowed.reason.text == "user 'lamp' may subscribe to '#' (role 'devices' allows readwrite on 'devices/%c/#')"
    roleless = decide_topic(Kind.RECEIVE, ROLELESS, "a", ANON_OFF)
    assert roleless.reason.text == "user 'roleless' may not receive from 'a': no roles, and no rule allows read there"
    anonymous = decide_topic(Kind.PUBLISH, ANON, "x", ANON_OPEN)
    assert anonymous.reason.text == "anonymous access without roles allows every topic"
    assert anonymous.steps[0] == "anonymous client (clientId 'anon-1') wants to publish to 'x'"


def test_topic_decision_follows_the_current_roles_of_the_user() -> None:
    """Roles are read from the snapshot at decision time, not frozen into the grant."""
    demoted = directory(users={**USERS, "lamp": _user("lamp", CredentialState.ACTIVE, roles=("public",))})
    assert decide_topic(Kind.PUBLISH, LAMP, "devices/lamp-1/state", ANON_OFF).allowed
    assert not decide_topic(Kind.PUBLISH, LAMP, "devices/lamp-1/state", demoted).allowed


def test_role_that_no_longer_exists_grants_nothing() -> None:
    ghost = directory(users={"lamp": _user("lamp", CredentialState.ACTIVE, roles=("deleted-role",))})
    decision = decide_topic(Kind.RECEIVE, LAMP, "news", ghost)
    assert decision.reason_code is ReasonCode.ACL_NO_RULE


def test_non_password_method_is_named_in_the_sentence() -> None:
    grant = Grant(Method.DEVICE, CredentialRef(CredentialKind.DEVICE, "d-1"), "d-1", "d-1")
    decision = decide_topic(Kind.PUBLISH, grant, "x", ANON_OFF)
    assert decision.reason.text.startswith("device 'd-1' may not publish to 'x'")


# -- values that %c / %u / %t rules cannot use safely ---------------------------------------------------------

LOCKED_ROLES = {
    "sensor": Role(
        "sensor",
        (
            Rule("sensor", "sensors/#", Permission.WRITE),
            Rule("sensor", "sensors/%c/locked/#", Permission.WRITE, Effect.DENY),
            Rule("sensor", "cmd/%c/#", Permission.READ),
        ),
    ),
}
LOCKED = Directory(users={"sensor": _user("sensor", CredentialState.ACTIVE, roles=("sensor",))}, roles=LOCKED_ROLES,
                   anonymous=_OFF)


def _sensor(client_id: str) -> Grant:
    return Grant(Method.PASSWORD, CredentialRef(CredentialKind.USER, "sensor"), "sensor", client_id)


def test_a_deny_rule_that_cannot_be_applied_safely_refuses_and_says_why() -> None:
    decision = decide_topic(Kind.PUBLISH, _sensor("a/b"), "sensors/a/b/locked/x", LOCKED)
    assert not decision.allowed
    assert decision.reason_code is ReasonCode.ACL_DENIED
    assert decision.rule == LOCKED_ROLES["sensor"].rules[1]
    assert decision.reason.text == (
        "user 'sensor' may not publish to 'sensors/a/b/locked/x': clientId 'a/b' contains '/', so rules with %c "
        "cannot be applied safely; role 'sensor' denies write on 'sensors/%c/locked/#', and a deny rule that "
        "cannot be applied safely applies to every topic"
    )
    assert decision.steps == (
        "user 'sensor' (clientId 'a/b') wants to publish to 'sensors/a/b/locked/x'",
        "roles: sensor",
        "clientId 'a/b' contains '/', so rules with %c cannot be applied safely",
        "rule: role 'sensor' denies write on 'sensors/%c/locked/#' (applies to every topic: deny wins)",
        "refused: " + decision.reason.text,
    )
    dollar = decide_topic(Kind.PUBLISH, _sensor("$x"), "sensors/anything", LOCKED)
    assert dollar.reason_code is ReasonCode.ACL_DENIED
    assert "clientId '$x' starts with '$', so rules with %c cannot be applied safely" in dollar.reason.text


def test_the_same_rules_for_an_ordinary_client_id() -> None:
    assert decide_topic(Kind.PUBLISH, _sensor("b"), "sensors/a/b/locked/x", LOCKED).allowed
    refused = decide_topic(Kind.PUBLISH, _sensor("b"), "sensors/b/locked/x", LOCKED)
    assert refused.reason.text == (
        "user 'sensor' may not publish to 'sensors/b/locked/x': role 'sensor' denies write on 'sensors/%c/locked/#'"
    )


def test_allow_rules_that_cannot_be_applied_safely_are_named_in_the_refusal() -> None:
    decision = decide_topic(Kind.SUBSCRIBE, _sensor("a/b"), "cmd/a/b/#", LOCKED)
    assert decision.reason_code is ReasonCode.ACL_NO_RULE
    assert decision.reason.text == (
        "user 'sensor' may not subscribe to 'cmd/a/b/#': roles sensor, and no rule allows read there; "
        "clientId 'a/b' contains '/', so rules with %c cannot be applied safely (not applied: 'cmd/%c/#')"
    )
    assert ("not applied: role 'sensor' allows read on 'cmd/%c/#' "
            "(clientId 'a/b' contains '/', so rules with %c cannot be applied safely)") in decision.steps


def test_connect_notes_the_values_its_rules_cannot_use() -> None:
    odd = connect("sensor", client_id="a/b", dir_=LOCKED)
    assert odd.allowed
    assert ("note: clientId 'a/b' contains '/', so rules with %c cannot be applied safely: deny rules with %c "
            "apply to every topic, allow rules with %c do not apply") in odd.steps
    assert not any(step.startswith("note:") for step in connect("sensor", client_id="b", dir_=LOCKED).steps)
    # the odd clientId only matters where a rule of the session's roles uses %c
    anonymous = connect(None, None, client_id="a/b", dir_=ANON_PUBLIC)
    assert anonymous.allowed
    assert not any(step.startswith("note:") for step in anonymous.steps)


def test_a_will_on_a_locked_topic_is_refused_at_connect() -> None:
    refused = connect("sensor", client_id="a/b", dir_=LOCKED, will_topic="sensors/a/b/status")
    assert refused.reason_code is ReasonCode.ACL_DENIED
    assert refused.connack == 5
    assert "clientId 'a/b' contains '/'" in refused.reason.text


# -- roles_of -------------------------------------------------------------------------------------------------


def test_roles_of() -> None:
    assert roles_of(ANON, ANON_OPEN) is None
    assert roles_of(ANON, ANON_PUBLIC) == ("public",)
    assert roles_of(LAMP, ANON_OFF) == ("devices",)
    assert roles_of(LAMP, directory(users={})) == ()
    assert roles_of(Grant(Method.DEVICE, CredentialRef(CredentialKind.DEVICE, "d"), "d", "d"), ANON_OFF) == ()


# -- revalidate -----------------------------------------------------------------------------------------------

LAMP_HASH = USERS["lamp"].password_hash


@pytest.mark.parametrize(
    ("grant", "dir_", "admitted_with", "expected"),
    [
        (LAMP, ANON_OFF, LAMP_HASH, None),
        (LAMP, ANON_OFF, None, None),  # nothing to compare with
        (LAMP, directory(users={}), LAMP_HASH, "user 'lamp' was deleted"),
        (
            LAMP,
            directory(users={"lamp": _user("lamp", CredentialState.SUSPENDED)}),
            LAMP_HASH,
            "user 'lamp' was suspended",
        ),
        (LAMP, directory(users={"lamp": _user("lamp", CredentialState.REVOKED)}), LAMP_HASH, "user 'lamp' was revoked"),
        (
            LAMP,
            directory(users={"lamp": _user("lamp", CredentialState.ACTIVE, pw="$7$1$new")}),
            LAMP_HASH,
            "the password of user 'lamp' was changed",
        ),
        (LAMP, directory(users={"lamp": _user("lamp", CredentialState.ACTIVE, roles=())}), LAMP_HASH, None),
        (LAMP, directory(users={"lamp": _user("lamp", CredentialState.INACTIVE)}), LAMP_HASH, None),
        (ANON, ANON_OPEN, None, None),
        (ANON, ANON_PUBLIC, None, None),
        (ANON, ANON_OFF, None, "anonymous access was turned off"),
    ],
)
def test_revalidate(grant: Grant, dir_: Directory, admitted_with: str | None, expected: str | None) -> None:
    assert revalidate(grant, dir_, admitted_with) == expected


@pytest.mark.parametrize(
    ("username", "tenant"),
    [("alice@acme", "acme"), ("a@b@corp", "corp"), ("alice", None), ("@acme", None), ("alice@", None), (None, None)],
)
def test_tenant_of_username(username: str | None, tenant: str | None) -> None:
    from mqttdesk.core.names import tenant_of

    assert tenant_of(username) == tenant


def test_the_grants_of_one_credentials_sessions_share_its_credential_ref() -> None:
    users = [n for n in ANON_OFF.users if ANON_OFF.users[n].state is CredentialState.ACTIVE]
    first, second = (connect(users[0], client_id=client_id) for client_id in ("lamp-1", "lamp-2"))
    assert first.allowed
    assert second.allowed
    assert first.grant is not None
    assert second.grant is not None
    assert first.grant.credential == CredentialRef(CredentialKind.USER, users[0])
    assert first.grant.credential is second.grant.credential  # one object, not one per session
