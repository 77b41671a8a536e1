"""Plain records of what the store holds, as the pipeline sees them (immutable snapshots)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from mqttdesk.core.acl import Rule
from mqttdesk.core.external import ExternalSettings
from mqttdesk.core.states import CredentialState
from mqttdesk.core.values import value_record


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
    """Which kind of credential admitted a session; each has its `core.sources.CredentialSource`."""

    USER = "user"
    BOOTSTRAP = "bootstrap"
    DEVICE = "device"
    ANONYMOUS = "anonymous"
    TOKEN = "token"  # a JWT of a token issuer; the credential's name is "ISSUER:SUBJECT"
    EXTERNAL = "external"  # the external HTTP service admitted the username (the credential's name)


@value_record
class CredentialRef:
    """Which credential admitted a session; forced disconnects find sessions by it."""

    kind: CredentialKind
    name: str


ANONYMOUS_REF = CredentialRef(CredentialKind.ANONYMOUS, "")


@lru_cache(maxsize=1024)
def shared_ref(kind: CredentialKind, name: str) -> CredentialRef:
    """The one CredentialRef of a user or bootstrap credential: the grant of every session it admits holds it (a
    fleet behind one bootstrap credential would otherwise hold a thousand equal copies)."""
    return CredentialRef(kind, name)


class AuthMode(StrEnum):
    """How a user logs in: its password, a client certificate whose CN is its name (mutual TLS), or both."""

    PASSWORD = "password"
    CERTIFICATE = "certificate"
    BOTH = "both"

    @property
    def takes_certificate(self) -> bool:
        return self is not AuthMode.PASSWORD

    @property
    def needs_password(self) -> bool:
        return self is not AuthMode.CERTIFICATE


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str = field(repr=False)
    state: CredentialState
    roles: tuple[str, ...]
    created: float
    state_since: float
    last_used: float | None = None
    reserved_client_ids: tuple[str, ...] = ()  # clientId patterns no other credential may use (see client_ids.py)
    auth: AuthMode = AuthMode.PASSWORD
    # the trusted (imported) CA whose certificates log in as this user; None: mqttdesk's own CA only
    certificate_ca: str | None = None

    @property
    def ref(self) -> CredentialRef:
        return shared_ref(CredentialKind.USER, self.name)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """A shared username + password that admits any device presenting a clientId of its own."""

    name: str
    password_hash: str = field(repr=False)
    state: CredentialState
    roles: tuple[str, ...]
    register_devices: bool
    created: float
    state_since: float
    last_used: float | None = None

    @property
    def ref(self) -> CredentialRef:
        return shared_ref(CredentialKind.BOOTSTRAP, self.name)


@value_record
class Device:
    """A device registered on first contact through a bootstrap credential; keyed by its clientId.

    It keeps the username and password hash it registered with, so its firmware needs no change, and is then
    authenticated on its own: suspending the bootstrap credential does not stop it.
    """

    client_id: str
    label: str
    bootstrap: str | None
    username: str
    password_hash: str = field(repr=False)
    state: CredentialState
    roles: tuple[str, ...]
    created: float
    state_since: float
    last_used: float | None = None
    last_address: str | None = None

    @property
    def ref(self) -> CredentialRef:
        return CredentialRef(CredentialKind.DEVICE, self.client_id)

    @property
    def display_name(self) -> str:
        return f"device '{self.label}' ({self.client_id})" if self.label else f"device '{self.client_id}'"


class TokenField(StrEnum):
    """Where a client puts its token in the CONNECT."""

    PASSWORD = "password"  # the password field; the username is anything (or must equal the identity claim)
    USERNAME = "username"  # the username field, for clients whose password field cannot carry one


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    """Who may sign tokens that admit clients: an HMAC secret (HS256/384/512) or a public key PEM (RS*, ES*, PS*,
    EdDSA), with the claims a token must carry and the roles its holders get (see core/tokens.py)."""

    name: str
    key: str = field(repr=False)  # the HMAC secret or the public key PEM: never shown, never logged
    hmac: bool
    issuer: str | None = None  # the `iss` a token must carry (None: not checked)
    audience: str | None = None  # an `aud` a token must carry (None: not checked)
    claim: str = "sub"  # the claim that names the identity
    token_field: TokenField = TokenField.PASSWORD
    username_must_match: bool = False  # password field only: the CONNECT username must equal the identity claim
    roles: tuple[str, ...] = ()
    created: float = 0.0
    fingerprint: str = ""  # of the key: a session admitted under another key ends when the key changes


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
    bootstraps: Mapping[str, Bootstrap] = field(default_factory=dict)
    devices: Mapping[str, Device] = field(default_factory=dict)
    # the credential that last connected with each clientId (a bootstrap credential may not claim those)
    client_id_owners: Mapping[str, CredentialRef] = field(default_factory=dict)
    # (pattern, user) for every clientId pattern a user reserved, derived from `users` once per snapshot
    reservations: tuple[tuple[str, str], ...] = ()
    # client certificates: the subject (RFC 4514) of each trusted imported CA by its name, and revoked serials (hex)
    trusted_ca_subjects: Mapping[str, str] = field(default_factory=dict)
    revoked_serials: frozenset[str] = frozenset()
    token_issuers: Mapping[str, TokenIssuer] = field(default_factory=dict)
    external: ExternalSettings = field(default_factory=ExternalSettings)

    def rules_of(self, role_names: tuple[str, ...]) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        for name in role_names:
            role = self.roles.get(name)
            if role is not None:
                rules.extend(role.rules)
        return tuple(rules)


EMPTY_DIRECTORY = Directory(users={}, roles={}, anonymous=AnonymousPolicy(enabled=False))
