"""Who may use a clientId: kept sessions of other identities, users' reservations, the last credential per id."""

from __future__ import annotations

import pytest

from mqttdesk.core.client_ids import blocking_owner, reservations_of, reserving_user, validate_reservation
from mqttdesk.core.decide import decide_connect
from mqttdesk.core.decision import ConnectRequest, SessionHolder
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.fixes import FixAction, suggest_fix
from mqttdesk.core.model import (
    ANONYMOUS_REF,
    AnonymousPolicy,
    Bootstrap,
    CredentialKind,
    CredentialRef,
    Directory,
    User,
)
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.states import CredentialState

T0 = 1_795_000_000.0
ALICE = CredentialRef(CredentialKind.USER, "alice")
BOB = CredentialRef(CredentialKind.USER, "bob")


def _user(name: str, reserved: tuple[str, ...] = ()) -> User:
    return User(name, f"$7$1$hash-of-{name}", CredentialState.ACTIVE, (), T0, T0, T0, reserved)


def _directory(**extra: object) -> Directory:
    users = {u.name: u for u in (_user("alice", ("alice-*",)), _user("bob"))}
    plugs = Bootstrap("plugs", "$7$1$hash-of-plugs", CredentialState.ACTIVE, (), True, T0, T0)
    return Directory(users=users, roles={}, anonymous=AnonymousPolicy(enabled=True), bootstraps={"plugs": plugs},
                     reservations=reservations_of(users.values()), **extra)  # type: ignore[arg-type]


def _connect(client_id: str, username: str | None, directory: Directory,
             live: dict[str, SessionHolder] | None = None, clean: bool = True):  # type: ignore[no-untyped-def]
    request = ConnectRequest(client_id, username, "pw" if username else None, "127.0.0.1", clean_session=clean)
    return decide_connect(request, directory, password_ok=True, live=live or {})


def _kept(client_id: str, credential: CredentialRef, username: str | None) -> dict[str, SessionHolder]:
    return {client_id: SessionHolder(client_id, username, credential, "10.0.0.5", T0, offline_since=T0 + 60)}


@pytest.mark.parametrize("clean", [False, True])
def test_another_identity_is_refused_a_kept_session(clean: bool) -> None:
    decision = _connect("phone", "bob", _directory(), _kept("phone", ALICE, "alice"), clean)
    assert not decision.allowed
    assert decision.reason.code is ReasonCode.CLIENT_ID_SESSION_OWNED
    assert decision.connack == 2
    assert "the persistent session of user 'alice', offline since" in decision.reason.text
    assert "last from 10.0.0.5" in decision.reason.text
    fix = suggest_fix(decision, _directory())
    assert fix is not None
    assert fix.action is FixAction.DISCARD_SESSION
    assert fix.description.startswith("discard alice's session on 'phone'")


def test_the_owner_resumes_its_kept_session() -> None:
    decision = _connect("phone", "alice", _directory(), _kept("phone", ALICE, "alice"), clean=False)
    assert decision.allowed
    assert decision.takes_over is None
    assert any("own offline session: it resumes" in step for step in decision.steps)


def test_anonymous_clients_cannot_take_a_users_kept_session() -> None:
    decision = _connect("phone", None, _directory(), _kept("phone", ALICE, "alice"))
    assert decision.reason.code is ReasonCode.CLIENT_ID_SESSION_OWNED


def test_a_kept_anonymous_session_resumes_for_anonymous() -> None:
    assert _connect("lab", None, _directory(), _kept("lab", ANONYMOUS_REF, None), clean=False).allowed


@pytest.mark.parametrize("username", ["bob", "plugs", None])
def test_a_reserved_client_id_is_for_its_user_alone(username: str | None) -> None:
    decision = _connect("alice-laptop", username, _directory())
    assert decision.reason.code is ReasonCode.CLIENT_ID_RESERVED
    assert decision.reason.text == "clientId 'alice-laptop' is reserved for user 'alice' (pattern 'alice-*')"
    fix = suggest_fix(decision, _directory())
    assert fix is not None
    assert fix.command == "mqttdesk user unreserve alice 'alice-*'"


def test_the_reserving_user_may_use_it() -> None:
    assert _connect("alice-laptop", "alice", _directory()).allowed


def test_a_bootstrap_may_not_claim_an_id_another_credential_used_last() -> None:
    directory = _directory(client_id_owners={"kitchen": BOB})
    decision = _connect("kitchen", "plugs", directory)
    assert decision.reason.code is ReasonCode.CLIENT_ID_TAKEN
    assert decision.reason.text == ("clientId 'kitchen' was last used by user 'bob': bootstrap credential 'plugs' "
                                    "may not claim it")
    assert suggest_fix(decision, directory).action is FixAction.DISCARD_SESSION  # type: ignore[union-attr]
    assert _connect("kitchen", "alice", directory).allowed  # users are not bound by it: only fleet passwords


@pytest.mark.parametrize("owner", [
    CredentialRef(CredentialKind.BOOTSTRAP, "plugs"),  # its own earlier (virtual) use
    CredentialRef(CredentialKind.USER, "deleted-user"),  # a deleted credential frees its ids
    CredentialRef(CredentialKind.DEVICE, "kitchen"),  # a device deleted since
    ANONYMOUS_REF,
])
def test_ids_that_block_nobody(owner: CredentialRef) -> None:
    directory = _directory(client_id_owners={"kitchen": owner})
    assert blocking_owner("kitchen", directory, CredentialRef(CredentialKind.BOOTSTRAP, "plugs")) is None
    assert _connect("kitchen", "plugs", directory).allowed


def test_reservation_patterns() -> None:
    directory = _directory()
    assert reserving_user("alice-1", directory) == ("alice-*", "alice")
    assert reserving_user("Alice-1", directory) is None  # clientIds are case-sensitive
    assert reserving_user("bob-alice-1", directory) is None
    assert validate_reservation("DVES_??????") == "DVES_??????"
    for bad in ("", " ", "*", "**?", "a\x00b", "x" * 300):
        with pytest.raises(ValidationError):
            validate_reservation(bad)
