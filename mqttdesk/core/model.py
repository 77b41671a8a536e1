"""Plain records of what the store holds, as the pipeline sees them (immutable snapshots)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mqttdesk.core.acl import Rule
from mqttdesk.core.states import CredentialState


class Method(StrEnum):
    """How a session authenticated."""

    PASSWORD = "password"
    BOOTSTRAP = "bootstrap"
    DEVICE = "device"
    CERTIFICATE = "certificate"
    TOKEN = "token"
    HTTP = "http"
    ANONYMOUS = "anonymous"


class CredentialKind(StrEnum):
    USER = "user"
    BOOTSTRAP = "bootstrap"
    DEVICE = "device"
    CERTIFICATE = "certificate"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """Which credential admitted a session; forced disconnects find sessions by it."""

    kind: CredentialKind
    name: str


ANONYMOUS_REF = CredentialRef(CredentialKind.ANONYMOUS, "")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str = field(repr=False)
    state: CredentialState
    roles: tuple[str, ...]
    created: float
    state_since: float
    last_used: float | None = None

    @property
    def ref(self) -> CredentialRef:
        return CredentialRef(CredentialKind.USER, self.name)


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class AnonymousPolicy:
    """Anonymous access; with `enabled` and no roles, anonymous clients may read and write everything."""

    enabled: bool
    roles: tuple[str, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return self.enabled and not self.roles


@dataclass(frozen=True, slots=True)
class Directory:
    """Everything an auth decision needs from the store, as one consistent snapshot."""

    users: Mapping[str, User]
    roles: Mapping[str, Role]
    anonymous: AnonymousPolicy

    def rules_of(self, role_names: tuple[str, ...]) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        for name in role_names:
            role = self.roles.get(name)
            if role is not None:
                rules.extend(role.rules)
        return tuple(rules)


EMPTY_DIRECTORY = Directory(users={}, roles={}, anonymous=AnonymousPolicy(enabled=False))
