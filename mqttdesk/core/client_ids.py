"""Who may use a clientId: reservations made by users, and the last credential that used each id.

A clientId is an identity of its own in MQTT: the persistent session, its subscriptions and its queued messages
hang on it. Two rules keep a shared fleet password (a bootstrap credential) from claiming someone else's:

- a user may *reserve* clientId patterns (`alice-*`): no other credential may connect with a matching id;
- a bootstrap credential may not take a clientId that another credential (a user, another bootstrap credential,
  a registered device that still exists) was the last to connect with.

Patterns use shell-style wildcards: `*` any run of characters, `?` one character, `[abc]` one of a set
(`fnmatch.fnmatchcase`, case-sensitive like clientIds are). MQTT's `+` and `#` are ordinary characters here.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import CredentialRef, Directory, User
from mqttdesk.core.sources import source_of

MAX_PATTERN_LENGTH = 256


def validate_reservation(pattern: str) -> str:
    """Return `pattern` if it can be a clientId reservation; raise `ValidationError` otherwise."""
    if not pattern or not pattern.strip():
        raise ValidationError("a clientId pattern must not be empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValidationError(f"a clientId pattern must be at most {MAX_PATTERN_LENGTH} characters")
    if any(ord(char) < 32 or char == "\x7f" for char in pattern):
        raise ValidationError("a clientId pattern must not contain control characters")
    if set(pattern) <= {"*", "?"}:
        raise ValidationError(f"'{pattern}' would reserve every clientId; reserve a prefix such as 'alice-*'")
    return pattern


def reservations_of(users: Iterable[User]) -> tuple[tuple[str, str], ...]:
    """(pattern, user name) pairs of every reservation, in a stable order (for `Directory.reservations`)."""
    return tuple(sorted((pattern, user.name) for user in users for pattern in user.reserved_client_ids))


def reserving_user(client_id: str, directory: Directory) -> tuple[str, str] | None:
    """(pattern, user name) of the first reservation that covers `client_id`, or None."""
    for pattern, user in directory.reservations:
        if fnmatchcase(client_id, pattern):
            return pattern, user
    return None


def blocking_owner(client_id: str, directory: Directory, claimant: CredentialRef) -> CredentialRef | None:
    """The credential that last used `client_id`, when it still exists and is not `claimant`; else None.

    Anonymous use claims nothing (there is no identity to lock out), and a deleted credential frees its ids.
    """
    owner = directory.client_id_owners.get(client_id)
    if owner is None or owner == claimant:
        return None
    return owner if source_of(owner.kind).record(owner.name, directory) is not None else None


def describe_owner(owner: CredentialRef) -> str:
    return source_of(owner.kind).ref_label(owner)
