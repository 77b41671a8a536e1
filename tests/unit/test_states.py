"""The credential state machine: every state × every action × ever_used, and what the menus may offer."""

from __future__ import annotations

import itertools

import pytest

from mqttdesk.core.errors import InvalidTransitionError
from mqttdesk.core.states import CredentialState, StateAction, allowed_actions, next_state

# one letter each, so the table below reads as a table
I, A, S, R = CredentialState.INACTIVE, CredentialState.ACTIVE, CredentialState.SUSPENDED, CredentialState.REVOKED  # noqa: E741
USE, ACTIVATE, SUSPEND, REVOKE = StateAction.USE, StateAction.ACTIVATE, StateAction.SUSPEND, StateAction.REVOKE
X = InvalidTransitionError

# (state, action) -> (target when ever_used is False, target when ever_used is True); X = refused
TABLE: dict[tuple[CredentialState, StateAction], tuple[CredentialState | type[X], CredentialState | type[X]]] = {
    (I, USE): (A, A),
    (I, ACTIVATE): (X, X),
    (I, SUSPEND): (S, S),
    (I, REVOKE): (R, R),
    (A, USE): (A, A),
    (A, ACTIVATE): (X, X),
    (A, SUSPEND): (S, S),
    (A, REVOKE): (R, R),
    (S, USE): (X, X),
    (S, ACTIVATE): (I, A),  # a never-used credential goes back to inactive
    (S, SUSPEND): (X, X),
    (S, REVOKE): (R, R),
    (R, USE): (X, X),
    (R, ACTIVATE): (X, X),
    (R, SUSPEND): (X, X),
    (R, REVOKE): (X, X),
}


def test_table_is_complete() -> None:
    assert set(TABLE) == set(itertools.product(CredentialState, StateAction))


@pytest.mark.parametrize(
    ("state", "action", "ever_used", "expected"),
    [
        (state, action, ever_used, targets[ever_used])
        for (state, action), targets in TABLE.items()
        for ever_used in (False, True)
    ],
    ids=lambda value: "refused" if value is X else getattr(value, "value", None) or f"ever_used={value}",
)
def test_transition(
    state: CredentialState, action: StateAction, ever_used: bool, expected: CredentialState | type[X]
) -> None:
    if expected is X:
        with pytest.raises(InvalidTransitionError) as raised:
            next_state(state, action, ever_used=ever_used)
        assert str(raised.value)  # a sentence for the user, never empty
    else:
        assert next_state(state, action, ever_used=ever_used) is expected


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        (R, ACTIVATE, "cannot activate a revoked credential: revocation is final, only delete"),
        (R, REVOKE, "cannot revoke a revoked credential"),
        (S, USE, "a suspended credential cannot be used"),
        (A, ACTIVATE, "already active"),
        (I, ACTIVATE, "inactive until its first use"),
        (S, SUSPEND, "already suspended"),
    ],
)
def test_refusals_say_why(state: CredentialState, action: StateAction, message: str) -> None:
    with pytest.raises(InvalidTransitionError, match=message):
        next_state(state, action, ever_used=True)


@pytest.mark.parametrize(
    ("state", "ever_used", "expected"),
    [
        (I, False, {SUSPEND, REVOKE}),
        (I, True, {SUSPEND, REVOKE}),
        (A, False, {SUSPEND, REVOKE}),
        (A, True, {SUSPEND, REVOKE}),
        (S, False, {ACTIVATE, REVOKE}),
        (S, True, {ACTIVATE, REVOKE}),
        (R, False, set()),
        (R, True, set()),
    ],
)
def test_allowed_actions(state: CredentialState, ever_used: bool, expected: set[StateAction]) -> None:
    actions = allowed_actions(state, ever_used=ever_used)
    assert actions == frozenset(expected)
    assert USE not in actions  # `use` is the broker's business, never a menu entry


@pytest.mark.parametrize(("state", "admits"), [(I, True), (A, True), (S, False), (R, False)])
def test_admits(state: CredentialState, admits: bool) -> None:
    assert state.admits is admits


def test_state_words_are_the_cli_contract() -> None:
    assert [state.value for state in CredentialState] == ["inactive", "active", "suspended", "revoked"]
