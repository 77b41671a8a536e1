"""The credential-source seam: every credential kind has exactly one source, each source answers for its own
kind everywhere the core asks, and the order a CONNECT's username is tried in is the documented one."""

from __future__ import annotations

import inspect

import pytest

from mqttdesk.auth import recorder
from mqttdesk.core import sources
from mqttdesk.core.decide import credential_record, revalidate
from mqttdesk.core.decision import Grant, SessionHolder
from mqttdesk.core.model import (
    AnonymousPolicy,
    Bootstrap,
    CredentialKind,
    CredentialRef,
    Device,
    Directory,
    Method,
    Role,
    User,
)
from mqttdesk.core.states import CredentialState
from mqttdesk.core.topic_rules import describe_subject, roles_of
from mqttdesk.store.changes import ChangeKind

ACTIVE = CredentialState.ACTIVE


def _directory(**overrides: object) -> Directory:
    users = {"alice": User("alice", "h-alice", ACTIVE, ("staff",), 0.0, 0.0)}
    bootstraps = {"fleet": Bootstrap("fleet", "h-fleet", ACTIVE, ("sensors",), True, 0.0, 0.0)}
    devices = {"DVES_1A2B3C": Device("DVES_1A2B3C", "", "fleet", "fleet", "h-fleet", ACTIVE, ("plugs",), 0.0, 0.0)}
    fields: dict[str, object] = {
        "users": users, "bootstraps": bootstraps, "devices": devices,
        "roles": {name: Role(name) for name in ("staff", "sensors", "plugs")},
        "anonymous": AnonymousPolicy(enabled=True, roles=("guests",)),
    }
    fields.update(overrides)
    return Directory(**fields)  # type: ignore[arg-type]


def test_every_credential_kind_has_one_source() -> None:
    assert {source.kind for source in sources.SOURCES} == set(CredentialKind)
    assert len(sources.SOURCES) == len(CredentialKind)
    for kind in CredentialKind:
        assert sources.source_of(kind).kind is kind


def test_every_credential_change_kind_maps_to_its_source() -> None:
    for source in sources.SOURCES:
        if source.change_kind is not None:
            assert ChangeKind(source.change_kind).value == source.kind.value
            assert sources.source_of_change(source.change_kind) is source
    assert sources.source_of_change(ChangeKind.ROLE.value) is None
    assert sources.source_of_change(ChangeKind.SETTINGS.value) is None


def test_last_used_is_written_for_every_kind_that_has_records() -> None:
    # a kind forgotten here would never show "last used" and never leave the Inactive state silently
    for source in sources.SOURCES:
        kind = source.kind
        assert kind in recorder.USE_WRITERS or kind in recorder.USES_NOT_WRITTEN or kind is CredentialKind.DEVICE


def test_the_match_order_is_devices_then_users_then_bootstrap_credentials() -> None:
    assert [source.kind for source in sources.MATCH_ORDER] == [
        CredentialKind.DEVICE, CredentialKind.USER, CredentialKind.BOOTSTRAP]
    directory = _directory()
    assert isinstance(credential_record("DVES_1A2B3C", "fleet", directory), Device)
    assert isinstance(credential_record("DVES_999999", "fleet", directory), Bootstrap)  # not registered
    assert isinstance(credential_record("DVES_1A2B3C", "alice", directory), User)  # not the device's username
    assert credential_record("x", "nobody", directory) is None
    assert credential_record("x", None, directory) is None


def test_a_registered_device_keeps_its_name_after_its_username_becomes_a_user() -> None:
    # the bootstrap credential was deleted and a user took its name: the device still logs in as itself
    directory = _directory(bootstraps={}, users={"fleet": User("fleet", "h-user", ACTIVE, (), 0.0, 0.0)})
    assert isinstance(credential_record("DVES_1A2B3C", "fleet", directory), Device)
    assert isinstance(credential_record("other", "fleet", directory), User)


def _grant(kind: CredentialKind, name: str, method: Method, username: str | None, client_id: str,
           registers: str | None = None) -> Grant:
    return Grant(method, CredentialRef(kind, name), username, client_id, registers=registers)


@pytest.mark.parametrize(("grant", "roles", "subject"), [
    (_grant(CredentialKind.USER, "alice", Method.PASSWORD, "alice", "phone"), ("staff",), "user 'alice'"),
    (_grant(CredentialKind.BOOTSTRAP, "fleet", Method.BOOTSTRAP, "fleet", "v-1"), ("sensors",),
     "device 'v-1' (bootstrap 'fleet')"),
    (_grant(CredentialKind.DEVICE, "DVES_1A2B3C", Method.DEVICE, "fleet", "DVES_1A2B3C"), ("plugs", "sensors"),
     "device 'DVES_1A2B3C'"),
    (_grant(CredentialKind.DEVICE, "new-1", Method.BOOTSTRAP, "fleet", "new-1", registers="fleet"), ("sensors",),
     "device 'new-1'"),
    (_grant(CredentialKind.ANONYMOUS, "", Method.ANONYMOUS, None, "anon"), ("guests",), "anonymous client"),
])
def test_each_source_answers_roles_and_words_for_its_own_sessions(grant: Grant, roles: tuple[str, ...],
                                                                 subject: str) -> None:
    assert roles_of(grant, _directory()) == roles
    assert describe_subject(grant) == subject


def test_revalidation_asks_the_source_of_the_session() -> None:
    directory = _directory()
    user = _grant(CredentialKind.USER, "alice", Method.PASSWORD, "alice", "phone")
    assert revalidate(user, directory, "h-alice") is None
    assert revalidate(user, directory, "old-hash") == "the password of user 'alice' was changed"
    assert revalidate(user, _directory(users={}), None) == "user 'alice' was deleted"
    device = _grant(CredentialKind.DEVICE, "DVES_1A2B3C", Method.DEVICE, "fleet", "DVES_1A2B3C")
    suspended = {"DVES_1A2B3C": Device("DVES_1A2B3C", "", "fleet", "fleet", "h", CredentialState.SUSPENDED, (),
                                       0.0, 0.0)}
    assert revalidate(device, _directory(devices=suspended), None) == "device 'DVES_1A2B3C' was suspended"
    anonymous = _grant(CredentialKind.ANONYMOUS, "", Method.ANONYMOUS, None, "anon")
    assert revalidate(anonymous, _directory(anonymous=AnonymousPolicy(enabled=False)), None) == \
        "anonymous access was turned off"


def test_holders_are_described_by_their_source() -> None:
    def holder(kind: CredentialKind, name: str, username: str | None) -> SessionHolder:
        return SessionHolder("id-1", username, CredentialRef(kind, name), None, 0.0)

    words = {kind: sources.source_of(kind).holder_words(holder(kind, "n", "fleet")) for kind in CredentialKind}
    assert words == {CredentialKind.USER: "user 'fleet'", CredentialKind.BOOTSTRAP: "a device of bootstrap "
                     "credential 'fleet'", CredentialKind.DEVICE: "device 'id-1'",
                     CredentialKind.ANONYMOUS: "an anonymous client", CredentialKind.TOKEN: "token holder 'fleet'",
                     CredentialKind.EXTERNAL: "external user 'fleet'"}


def test_sources_that_are_not_local_come_after_the_local_ones_tokens_first() -> None:
    assert [source.kind for source in sources.NOT_LOCAL] == [CredentialKind.TOKEN, CredentialKind.EXTERNAL]
    assert not set(sources.NOT_LOCAL) & set(sources.MATCH_ORDER)
    token = sources.source_of(CredentialKind.TOKEN)
    ref = CredentialRef(CredentialKind.TOKEN, "lab:sensor-7")
    assert token.change_key(ref) == "lab"  # a store change names the issuer
    assert token.ref_label(ref) == "the token of 'sensor-7' from issuer 'lab'"
    assert sources.source_of(CredentialKind.USER).change_key(CredentialRef(CredentialKind.USER, "alice")) == "alice"


def test_nothing_outside_the_sources_switches_on_a_credential_kind_for_records() -> None:
    # the seam's point: no `if ref.kind is CredentialKind.USER: directory.users...` left in the core rules
    from mqttdesk.core import client_ids, decide, topic_rules
    for module in (decide, topic_rules, client_ids):
        text = inspect.getsource(module)
        for table in ("directory.users.get", "directory.bootstraps.get", "directory.devices.get"):
            assert table not in text, f"{module.__name__} reads {table} itself: ask its source"
