"""The credential state machine shared by every credential kind (users, bootstrap credentials, devices, ...).

    inactive --first successful auth--> active
    inactive/active --suspend--> suspended --activate--> active (or inactive if it was never used)
    any but revoked --revoke--> revoked (terminal: it can only be deleted)
"""

from __future__ import annotations

from enum import StrEnum

from mqttdesk.core.errors import InvalidTransitionError


class CredentialState(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"

    @property
    def admits(self) -> bool:
        """Whether a credential in this state may authenticate."""
        return self in (CredentialState.INACTIVE, CredentialState.ACTIVE)


class StateAction(StrEnum):
    USE = "use"  # a successful authentication
    ACTIVATE = "activate"
    SUSPEND = "suspend"
    REVOKE = "revoke"


def next_state(current: CredentialState, action: StateAction, *, ever_used: bool) -> CredentialState:
    """Return the state after `action`, or raise `InvalidTransitionError` with a sentence saying why not.

    `ever_used` decides where `activate` leads from suspended: a credential that never authenticated goes back
    to inactive, so "inactive" keeps meaning "never used".
    """
    if current is CredentialState.REVOKED:
        raise InvalidTransitionError(f"cannot {action.value} a revoked credential: revocation is final, only delete")
    if action is StateAction.USE:
        if not current.admits:
            raise InvalidTransitionError(f"a {current.value} credential cannot be used")
        return CredentialState.ACTIVE
    if action is StateAction.ACTIVATE:
        if current is CredentialState.ACTIVE:
            raise InvalidTransitionError("the credential is already active")
        if current is CredentialState.INACTIVE:
            raise InvalidTransitionError("the credential is inactive until its first use; it is not suspended")
        return CredentialState.ACTIVE if ever_used else CredentialState.INACTIVE
    if action is StateAction.SUSPEND:
        if current is CredentialState.SUSPENDED:
            raise InvalidTransitionError("the credential is already suspended")
        return CredentialState.SUSPENDED
    return CredentialState.REVOKED


def allowed_actions(current: CredentialState, *, ever_used: bool) -> frozenset[StateAction]:
    """The administrative actions the state machine permits now (for enabling menu entries)."""
    allowed = set()
    for action in (StateAction.ACTIVATE, StateAction.SUSPEND, StateAction.REVOKE):
        try:
            next_state(current, action, ever_used=ever_used)
        except InvalidTransitionError:
            continue
        allowed.add(action)
    return frozenset(allowed)
