"""Credential sources: every kind of credential a session can be admitted by, behind one small interface.

A source knows its own records in a `Directory` snapshot and answers, for its kind only, what the rest of the core
asks: does this CONNECT name one of my credentials (`find`), which record is behind this reference (`record`),
which roles apply to a session it admitted (`roles`), how sentences name the credential and its clients
(`label`, `holder_words`, `subject_words`), and why a live session must end after a change (`revalidate`). The
CONNECT rules (`decide.py`), the topic rules (`topic_rules.py`), clientId ownership (`client_ids.py`), the
pipeline and the broker look the source up by `CredentialKind` (`source_of`) instead of switching on the kind,
so adding a kind of credential is one class here, registered in `SOURCES`, and nothing else to find and edit.

The order a CONNECT's username is tried in (`MATCH_ORDER`, first match wins):

0. a verified client certificate (mutual TLS) whose CN names a user that logs in by certificate (`User.auth`):
   the session is that user's, with its state and roles and the method `certificate` (decide.py has its rules);
1. registered devices: the device whose clientId is presented, when the username is the one it registered with
   (its bootstrap credential's name: a device keeps working after that credential changes or goes);
2. local users;
3. bootstrap credentials (users and bootstrap credentials share one namespace, so 2 and 3 never both match).

Anonymous access is a source too (`ANONYMOUS`), used when a CONNECT has no username; it matches nothing by name.

Sources that are not local (`NOT_LOCAL`: tokens, then the external HTTP service) are consulted only when no local
source matched the username: the pipeline asks them before the CONNECT rules and hands their `SourceAnswer` to
`decide_connect`, which applies the common rules to it. A local username is always decided locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from mqttdesk.core.decision import Grant, SessionHolder
from mqttdesk.core.model import Bootstrap, CredentialKind, CredentialRef, Device, Directory, Method, User
from mqttdesk.core.reasons import ReasonCode
from mqttdesk.core.states import CredentialState
from mqttdesk.core.timefmt import format_time

Record = User | Bootstrap | Device


class CredentialSource:
    """One kind of credential (see the module docstring). Subclasses set the class attributes and `records`."""

    kind: ClassVar[CredentialKind]
    method: ClassVar[Method]  # how a session admitted by it authenticated
    noun: ClassVar[str]  # "user", "bootstrap credential", "device"
    # the store's change kind whose key is one of this source's names (None: its changes are settings)
    change_kind: ClassVar[str | None]

    def records(self, directory: Directory) -> Mapping[str, Record]:
        """This kind's records in the snapshot, by name."""
        return {}

    def record(self, name: str, directory: Directory) -> Record | None:
        return self.records(directory).get(name)

    def find(self, client_id: str, username: str, directory: Directory) -> Record | None:
        """The record a CONNECT with this clientId (empty: assigned by the broker) and username authenticates
        against, if it is one of this source's."""
        return None

    def label(self, record: Record) -> str:
        """How a sentence names the credential, e.g. "user 'alice'"."""
        return f"{self.noun} '{record_name(record)}'"

    def ref_label(self, ref: CredentialRef) -> str:
        return f"{self.noun} '{ref.name}'"

    def change_key(self, ref: CredentialRef) -> str:
        """The key a store change about this credential carries (`change_kind`)."""
        return ref.name

    def roles(self, grant: Grant, directory: Directory) -> tuple[str, ...] | None:
        """The roles whose rules apply to a session it admitted now; None: unrestricted."""
        record = self.record(grant.credential.name, directory)
        return record.roles if record is not None else ()

    def holder_words(self, holder: SessionHolder) -> str:
        """Who holds a session, for a refusal naming it, e.g. "user 'alice'"."""
        return f"{self.noun} '{holder.username}'"

    def subject_words(self, grant: Grant) -> str:
        """How a topic decision names the client, e.g. "user 'alice'"."""
        return f"{grant.method.value} '{grant.username}'" if grant.username else "anonymous client"

    def expired(self, grant: Grant) -> tuple[ReasonCode, str]:
        """Why a session it admitted ends at `grant.valid_until` (set by the sources whose credentials expire)."""
        raise NotImplementedError(f"{self.noun} credentials do not expire")

    def revalidate(self, grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
        """Why a session it admitted must end now (deleted, suspended, revoked, password changed), or None."""
        record = self.record(grant.credential.name, directory)
        label = self.ref_label(grant.credential)
        if record is None:
            return f"{label} was deleted"
        if record.state is CredentialState.SUSPENDED:
            return f"{label} was suspended"
        if record.state is CredentialState.REVOKED:
            return f"{label} was revoked"
        if password_hash is not None and record.password_hash != password_hash:
            return f"the password of {label} was changed"
        return None


def record_name(record: Record) -> str:
    return record.client_id if isinstance(record, Device) else record.name


class UserSource(CredentialSource):
    kind = CredentialKind.USER
    method = Method.PASSWORD
    noun = "user"
    change_kind = "user"

    def records(self, directory: Directory) -> Mapping[str, Record]:
        return directory.users

    def find(self, client_id: str, username: str, directory: Directory) -> Record | None:
        return directory.users.get(username)

    def holder_words(self, holder: SessionHolder) -> str:
        return f"user '{holder.username}'" if holder.username else "an anonymous client"

    def subject_words(self, grant: Grant) -> str:
        if grant.username and grant.method in (Method.PASSWORD, Method.CERTIFICATE):
            return f"user '{grant.username}'"
        return super().subject_words(grant)

    def expired(self, grant: Grant) -> tuple[ReasonCode, str]:
        """A user's session expires when the client certificate that logged it in does."""
        assert grant.valid_until is not None
        return ReasonCode.CERT_EXPIRED, (f"the client certificate of user '{grant.credential.name}' (serial "
                                         f"{grant.certificate_serial}) expired at {format_time(grant.valid_until)}")

    def revalidate(self, grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
        why = super().revalidate(grant, directory, password_hash)
        serial = grant.certificate_serial
        if why is not None or serial is None:
            return why
        # logged in by a client certificate: revoking it, or taking certificates away from the user, ends it too
        user = directory.users.get(grant.credential.name)
        if serial in directory.revoked_serials:
            return f"the client certificate of user '{grant.credential.name}' (serial {serial}) was revoked"
        if user is not None and not user.auth.takes_certificate:
            return f"user '{grant.credential.name}' no longer logs in with a client certificate"
        return None


class BootstrapSource(CredentialSource):
    kind = CredentialKind.BOOTSTRAP
    method = Method.BOOTSTRAP
    noun = "bootstrap credential"
    change_kind = "bootstrap"

    def records(self, directory: Directory) -> Mapping[str, Record]:
        return directory.bootstraps

    def find(self, client_id: str, username: str, directory: Directory) -> Record | None:
        return directory.bootstraps.get(username)

    def holder_words(self, holder: SessionHolder) -> str:
        return f"a device of bootstrap credential '{holder.username}'"

    def subject_words(self, grant: Grant) -> str:
        return f"device '{grant.client_id}' (bootstrap '{grant.username}')"


class DeviceSource(CredentialSource):
    kind = CredentialKind.DEVICE
    method = Method.DEVICE
    noun = "device"
    change_kind = "device"

    def records(self, directory: Directory) -> Mapping[str, Record]:
        return directory.devices

    def find(self, client_id: str, username: str, directory: Directory) -> Record | None:
        device = directory.devices.get(client_id) if client_id else None
        return device if device is not None and device.username == username else None

    def label(self, record: Record) -> str:
        assert isinstance(record, Device)
        return record.display_name

    def roles(self, grant: Grant, directory: Directory) -> tuple[str, ...] | None:
        """Its own roles plus those of the bootstrap credential that registered it (while that exists)."""
        device = directory.devices.get(grant.credential.name)
        if device is None:
            # the CONNECT that registers it (its will is checked before the device exists): its bootstrap's roles
            origin = directory.bootstraps.get(grant.registers or "")
            return origin.roles if origin is not None else ()
        origin = directory.bootstraps.get(device.bootstrap or "")
        return tuple(dict.fromkeys(device.roles + (origin.roles if origin is not None else ())))

    def holder_words(self, holder: SessionHolder) -> str:
        return f"device '{holder.client_id}'"

    def subject_words(self, grant: Grant) -> str:
        return f"device '{grant.client_id}'"


class AnonymousSource(CredentialSource):
    kind = CredentialKind.ANONYMOUS
    method = Method.ANONYMOUS
    noun = "anonymous access"
    change_kind = None  # anonymous access is a setting

    def roles(self, grant: Grant, directory: Directory) -> tuple[str, ...] | None:
        return None if directory.anonymous.unrestricted else directory.anonymous.roles

    def holder_words(self, holder: SessionHolder) -> str:
        return "an anonymous client"

    def subject_words(self, grant: Grant) -> str:
        return "anonymous client"

    def revalidate(self, grant: Grant, directory: Directory, password_hash: str | None) -> str | None:
        return None if directory.anonymous.enabled else "anonymous access was turned off"


# the sources that are not local are in their own module; it builds on `CredentialSource` above
from mqttdesk.core.remote_sources import EXTERNAL, TOKENS  # noqa: E402

DEVICES, USERS, BOOTSTRAPS, ANONYMOUS = DeviceSource(), UserSource(), BootstrapSource(), AnonymousSource()
MATCH_ORDER: tuple[CredentialSource, ...] = (DEVICES, USERS, BOOTSTRAPS)  # see the module docstring
NOT_LOCAL: tuple[CredentialSource, ...] = (TOKENS, EXTERNAL)  # asked in this order when no local source matched
SOURCES: tuple[CredentialSource, ...] = (*MATCH_ORDER, ANONYMOUS, *NOT_LOCAL)
_BY_KIND: dict[CredentialKind, CredentialSource] = {source.kind: source for source in SOURCES}
_BY_CHANGE: dict[str, CredentialSource] = {s.change_kind: s for s in SOURCES if s.change_kind is not None}


def source_of(kind: CredentialKind) -> CredentialSource:
    """The source of a credential kind (every kind has one: tests/unit/test_sources.py checks it)."""
    return _BY_KIND[kind]


def source_of_change(change_kind: str) -> CredentialSource | None:
    """The source whose names a store change of this kind is about (None: not a credential change)."""
    return _BY_CHANGE.get(change_kind)


def match(client_id: str, username: str, directory: Directory) -> tuple[CredentialSource, Record] | None:
    """The source and record a CONNECT's username names, trying `MATCH_ORDER`; None when nobody has that name."""
    for source in MATCH_ORDER:
        record = source.find(client_id, username, directory)
        if record is not None:
            return source, record
    return None
