"""No password ever reaches a client in a Reason String, nor the Auth log: the sentence builders never quote one.

Every CONNECT path of `decide.py` (and the will check through `topic_rules.py`) is taken with the same password
sent, for users, bootstrap credentials and devices; the sentence that becomes the Reason String, every other field
of the decision and the Auth log entry made from it are searched for the password.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import pytest

from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.client_ids import reservations_of
from mqttdesk.core.decide import decide_connect, decide_unchecked, revalidate
from mqttdesk.core.decision import ConnectRequest, Decision, Grant, PeerCertificate, SessionHolder
from mqttdesk.core.guard import Guard, GuardSettings
from mqttdesk.core.model import (
    AnonymousPolicy,
    AuthMode,
    Bootstrap,
    CredentialKind,
    CredentialRef,
    Device,
    Directory,
    Method,
    Role,
    User,
)
from mqttdesk.core.reasons import MQTT5_CONNACK, ReasonCode, reason_string
from mqttdesk.core.states import CredentialState
from mqttdesk.store.auth_log_repo import entry_from_decision

PASSWORD = "Zq9!hunter2-not-for-the-wire"
T0 = 1_795_000_000.0
ACTIVE, SUSPENDED, REVOKED = CredentialState.ACTIVE, CredentialState.SUSPENDED, CredentialState.REVOKED

ROLES = {"devices": Role("devices", (Rule("devices", "devices/%c/#", Permission.READWRITE),
                                     Rule("devices", "devices/secret/#", Permission.WRITE, Effect.DENY)))}


def _user(name: str, state: CredentialState = ACTIVE, reserved: tuple[str, ...] = ()) -> User:
    return User(name, f"$7$1$hash-of-{name}", state, ("devices",), T0, T0, T0, reserved)


def _bootstrap(name: str, state: CredentialState = ACTIVE, register: bool = True) -> Bootstrap:
    return Bootstrap(name, f"$7$1$hash-of-{name}", state, ("devices",), register, T0, T0)


def _device(client_id: str, state: CredentialState = ACTIVE) -> Device:
    return Device(client_id, "", "plugs", "plugs", f"$7$1$hash-of-{client_id}", state, ("devices",), T0, T0)


USERS = {u.name: u for u in (_user("lamp"), _user("alice", reserved=("alice-*",)), _user("sleeper", SUSPENDED),
                             _user("gone", REVOKED))}
DIRECTORY = Directory(
    users=USERS, roles=ROLES, anonymous=AnonymousPolicy(enabled=False),
    bootstraps={b.name: b for b in (_bootstrap("plugs"), _bootstrap("virtual", register=False),
                                    _bootstrap("paused", SUSPENDED), _bootstrap("ended", REVOKED))},
    devices={d.client_id: d for d in (_device("plug-1"), _device("plug-off", SUSPENDED),
                                      _device("plug-gone", REVOKED))},
    client_id_owners={"lamp-owned": CredentialRef(CredentialKind.USER, "lamp")},
    reservations=reservations_of(USERS.values()),
)
ANONYMOUS_ON = dataclasses.replace(DIRECTORY, anonymous=AnonymousPolicy(enabled=True, roles=("devices",)))
CERTIFIED = dataclasses.replace(
    DIRECTORY, users={**USERS, "meter": dataclasses.replace(_user("meter"), auth=AuthMode.CERTIFICATE)},
    trusted_ca_subjects={"partner": "CN=partner"}, revoked_serials=frozenset({"bad"}))


def _cert(cn: str, *, issuer: str = "CN=mqttdesk", serial: str = "0f", not_after: float = 4_000_000_000.0
          ) -> PeerCertificate:
    return PeerCertificate(cn, serial, issuer, not_after)


LAMP_REF = CredentialRef(CredentialKind.USER, "lamp")
ONLINE = {"busy-1": SessionHolder("busy-1", "lamp", LAMP_REF, "10.0.0.9", T0)}
OFFLINE = {"kept-1": SessionHolder("kept-1", "lamp", LAMP_REF, "10.0.0.9", T0, offline_since=T0 + 60)}


def _connect(username: str | None, client_id: str = "lamp-1", *, password: str | None = PASSWORD,
             password_ok: bool | None = True, directory: Directory = DIRECTORY,
             live: Mapping[str, SessionHolder] | None = None, **fields: object) -> Callable[[], Decision]:
    def make() -> Decision:
        request = ConnectRequest(client_id, username, password, "10.0.0.7", **fields)  # type: ignore[arg-type]
        return decide_connect(request, directory, password_ok=password_ok, live=live or {})
    return make


def _anonymous(client_id: str = "lamp-1", **fields: object) -> Callable[[], Decision]:
    return _connect(None, client_id, password=None, directory=ANONYMOUS_ON, **fields)  # type: ignore[arg-type]


def _unchecked(code: ReasonCode) -> Callable[[], Decision]:
    request = ConnectRequest("lamp-1", "lamp", PASSWORD, "10.0.0.7", protocol="5")
    return lambda: decide_unchecked(request, DIRECTORY, code, "the password was not checked")


def _guarded(code: ReasonCode) -> Callable[[], Decision]:
    """Throttled, then banned by the login guard (core/guard.py): its sentences, as the broker answers with them."""
    def make() -> Decision:
        guard = Guard(GuardSettings(throttle_after=1, ban_after=3))
        guard.before_check("10.0.0.7", "lamp", "lamp-1", T0)
        guard.settle("10.0.0.7", "lamp", ReasonCode.BAD_PASSWORD, False, T0)
        gates = [guard.before_check("10.0.0.7", "lamp", "lamp-1", T0) for _ in range(3)]  # throttled, then banned
        gate = next(gate for gate in gates if gate.code is code)
        request = ConnectRequest("lamp-1", "lamp", PASSWORD, "10.0.0.7", protocol="5")
        return decide_unchecked(request, DIRECTORY, gate.code, gate.text)
    return make


PATHS: dict[str, tuple[ReasonCode, Callable[[], Decision]]] = {
    "banned": (ReasonCode.BANNED, _guarded(ReasonCode.BANNED)),
    "throttled": (ReasonCode.THROTTLED, _guarded(ReasonCode.THROTTLED)),
    "bad-auth-method": (ReasonCode.BAD_AUTH_METHOD,
                        _connect("lamp", authentication_method="SCRAM-SHA-256", protocol="5")),
    "client-id-empty-persistent": (ReasonCode.CLIENT_ID_EMPTY, _connect("lamp", "", clean_session=False)),
    "client-id-empty": (ReasonCode.CLIENT_ID_EMPTY, _connect("lamp", "")),
    "client-id-empty-bootstrap": (ReasonCode.CLIENT_ID_EMPTY, _connect("plugs", "plugs-7", client_id_assigned=True)),
    "missing-username": (ReasonCode.MISSING_USERNAME, _connect(None)),
    "anonymous-refused": (ReasonCode.ANONYMOUS_REFUSED, _connect(None, password=None)),
    "unknown-user": (ReasonCode.UNKNOWN_USER, _connect("nobody")),
    "missing-password": (ReasonCode.MISSING_PASSWORD, _connect("lamp", password=None)),
    "bad-password-user": (ReasonCode.BAD_PASSWORD, _connect("lamp", password_ok=False)),
    "bad-password-unchecked": (ReasonCode.BAD_PASSWORD, _connect("lamp", password_ok=None)),
    "bad-password-bootstrap": (ReasonCode.BAD_PASSWORD, _connect("plugs", "plug-9", password_ok=False)),
    "bad-password-device": (ReasonCode.BAD_PASSWORD, _connect("plugs", "plug-1", password_ok=False)),
    "suspended-user": (ReasonCode.SUSPENDED, _connect("sleeper")),
    "revoked-user": (ReasonCode.REVOKED, _connect("gone")),
    "suspended-bootstrap": (ReasonCode.SUSPENDED, _connect("paused", "plug-9")),
    "revoked-bootstrap": (ReasonCode.REVOKED, _connect("ended", "plug-9")),
    "suspended-device": (ReasonCode.SUSPENDED, _connect("plugs", "plug-off")),
    "revoked-device": (ReasonCode.REVOKED, _connect("plugs", "plug-gone")),
    "client-id-registered": (ReasonCode.CLIENT_ID_REGISTERED, _connect("lamp", "plug-1")),
    "client-id-registered-anonymous": (ReasonCode.CLIENT_ID_REGISTERED, _anonymous("plug-1")),
    "client-id-in-use": (ReasonCode.CLIENT_ID_IN_USE, _connect("alice", "busy-1", live=ONLINE)),
    "client-id-in-use-anonymous": (ReasonCode.CLIENT_ID_IN_USE, _anonymous("busy-1", live=ONLINE)),
    "client-id-session-owned": (ReasonCode.CLIENT_ID_SESSION_OWNED, _connect("alice", "kept-1", live=OFFLINE)),
    "client-id-reserved": (ReasonCode.CLIENT_ID_RESERVED, _connect("lamp", "alice-phone")),
    "client-id-taken": (ReasonCode.CLIENT_ID_TAKEN, _connect("plugs", "lamp-owned")),
    "will-acl-no-rule": (ReasonCode.ACL_NO_RULE, _connect("lamp", will_topic="elsewhere/status")),
    "will-acl-denied": (ReasonCode.ACL_DENIED, _connect("lamp", "secret", will_topic="devices/secret/status")),
    "will-bad-topic": (ReasonCode.BAD_TOPIC, _connect("lamp", will_topic="devices/lamp-1/+")),
    "will-reserved-topic": (ReasonCode.RESERVED_TOPIC, _connect("lamp", will_topic="$SYS/broker/x")),
    "will-refused-anonymous": (ReasonCode.ACL_NO_RULE, _anonymous(will_topic="elsewhere")),
    "server-busy": (ReasonCode.SERVER_BUSY, _unchecked(ReasonCode.SERVER_BUSY)),
    "client-gone": (ReasonCode.CLIENT_GONE, _unchecked(ReasonCode.CLIENT_GONE)),
    "authenticated": (ReasonCode.AUTHENTICATED, _connect("lamp", protocol="5")),
    "take-over": (ReasonCode.AUTHENTICATED, _connect("lamp", "busy-1", live=ONLINE)),
    "registered-by-bootstrap": (ReasonCode.AUTHENTICATED, _connect("plugs", "plug-9")),
    "virtual-device": (ReasonCode.AUTHENTICATED, _connect("virtual", "plug-9")),
    "device": (ReasonCode.AUTHENTICATED, _connect("plugs", "plug-1")),
    "anonymous-allowed": (ReasonCode.ANONYMOUS_ALLOWED, _anonymous()),
    # mutual TLS: the password sent along must not reach the sentence either
    "cert-required": (ReasonCode.CERT_REQUIRED, _connect("meter", directory=CERTIFIED)),
    "cert-not-allowed": (ReasonCode.CERT_NOT_ALLOWED, _connect(None, password=None, certificate=_cert("lamp"))),
    "cert-unknown-user": (ReasonCode.CERT_UNKNOWN_USER, _connect(None, password=None, certificate=_cert("nobody"))),
    "cert-username-mismatch": (ReasonCode.CERT_USERNAME_MISMATCH,
                               _connect("lamp", directory=CERTIFIED, certificate=_cert("meter"))),
    "cert-untrusted": (ReasonCode.CERT_UNTRUSTED, _connect("meter", directory=CERTIFIED,
                                                           certificate=_cert("meter", issuer="CN=partner"))),
    "cert-expired": (ReasonCode.CERT_EXPIRED, _connect("meter", directory=CERTIFIED,
                                                       certificate=_cert("meter", not_after=T0))),
    "cert-revoked": (ReasonCode.CERT_REVOKED, _connect("meter", directory=CERTIFIED,
                                                       certificate=_cert("meter", serial="bad"))),
    "certificate": (ReasonCode.AUTHENTICATED, _connect("meter", directory=CERTIFIED, certificate=_cert("meter"))),
}


@pytest.mark.parametrize(("code", "make"), list(PATHS.values()), ids=list(PATHS))
def test_no_field_that_becomes_a_reason_string_holds_the_password(code: ReasonCode, make: Callable[[], Decision]
                                                                   ) -> None:
    decision = make()
    assert decision.reason_code is code
    assert PASSWORD not in decision.reason_string()
    assert PASSWORD not in reason_string(decision.reason.text)
    assert PASSWORD not in repr(decision)
    for field in dataclasses.fields(decision):
        assert PASSWORD not in str(getattr(decision, field.name)), field.name
    assert all(PASSWORD not in step for step in decision.steps)
    entry = entry_from_decision(decision)  # the Auth log says the same words the client is told
    assert PASSWORD not in repr(entry.to_json())
    assert decision.reason_code in MQTT5_CONNACK  # and every one of these has its own CONNACK code


def test_the_paths_take_every_connect_reason_a_request_can_lead_to() -> None:
    """A CONNECT reason that `decide.py` gains needs a path above. `bad-protocol`, `too-many-pending`,
    `keepalive-too-long`, `too-many-connections` and `too-many-from-address` are decided by the broker before any
    request exists (the CONNECT could not be read, was never read, asks for a keep-alive no 3.1.1 client can be
    talked out of, or comes while the broker or its address holds its limit of connections; their sentences hold
    only numbers and the address)."""
    taken = {code for code, _make in PATHS.values()}
    # a token's refusals are taken with the token as the secret in tests/unit/test_tokens.py, the external
    # service's with the password in tests/unit/test_external.py
    token_reasons = {code for code in ReasonCode if code.value.startswith(("token-", "external-"))}
    assert taken == set(MQTT5_CONNACK) - {ReasonCode.BAD_PROTOCOL, ReasonCode.TOO_MANY_PENDING,
                                          ReasonCode.KEEPALIVE_TOO_LONG, ReasonCode.TOO_MANY_CONNECTIONS,
                                          ReasonCode.TOO_MANY_FROM_ADDRESS} - token_reasons


def test_the_session_end_sentences_after_a_change_hold_no_password() -> None:
    """The sentence of a `credential-changed` DISCONNECT (0x98) comes from `revalidate`."""
    grant = Grant(Method.PASSWORD, LAMP_REF, "lamp", "lamp-1")
    changed = dataclasses.replace(DIRECTORY, users={**USERS, "lamp": dataclasses.replace(USERS["lamp"],
                                                                                        password_hash="$7$new")})
    suspended = dataclasses.replace(DIRECTORY, users={**USERS, "lamp": _user("lamp", SUSPENDED)})
    deleted = dataclasses.replace(DIRECTORY, users={k: v for k, v in USERS.items() if k != "lamp"})
    sentences = [revalidate(grant, directory, "$7$1$hash-of-lamp") for directory in (changed, suspended, deleted)]
    assert sentences == ["the password of user 'lamp' was changed", "user 'lamp' was suspended",
                         "user 'lamp' was deleted"]
