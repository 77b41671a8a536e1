"""A persistent session and its clientId belong to the identity that created them (issue "Close the holes", 1 and 2).

Regression tests for two holes found by probing: user bob resuming user alice's offline session and reading the
messages queued for her, and a fleet device (registering bootstrap credential) claiming a user's clientId.
"""

from __future__ import annotations

import json

import pytest

from mqttdesk.core.acl import Permission
from mqttdesk.core.fixes import FixAction, suggest_fix_for_entry
from tests.integration.conftest import fast_hash
from tests.integration.harness import run_cli

FLEET_PASSWORD = "flash-me-once"


@pytest.fixture
def people(admin, instance):
    """alice reads private/alice/#, bob only bob/#; root publishes anywhere; 'plugs' registers devices."""
    for role, topic in (("alice", "private/alice/#"), ("bob", "bob/#"), ("admin", "#")):
        admin.roles.add(role)
        admin.roles.allow(role, topic, Permission.READWRITE)
    admin.users.add("alice", fast_hash("alicepw"), ("alice",))
    admin.users.add("bob", fast_hash("bobpw"), ("bob",))
    admin.users.add("root", fast_hash("rootpw"), ("admin",))
    admin.roles.add("tasmota")
    admin.roles.allow("tasmota", "tele/%c/#", Permission.WRITE)
    admin.bootstraps.add("plugs", fast_hash(FLEET_PASSWORD), ("tasmota",), register_devices=True)
    instance.sync()
    return instance


def _last_connect(instance, client_id):  # type: ignore[no-untyped-def]
    instance.flush_log()
    entries = [e for e in instance.call(instance.store.auth_log.recent, 500)
               if e.kind == "CONNECT" and e.client_id == client_id]
    return entries[-1]


def _alice_away_with_three_queued(people, client):  # type: ignore[no-untyped-def]
    alice = client("alice-phone", username="alice", password="alicepw", clean_session=False)
    assert alice.connect() == 0
    assert alice.subscribe("private/alice/#", 1) == 1
    alice.disconnect()
    root = client("root-1", username="root", password="rootpw")
    assert root.connect() == 0
    for n in range(3):
        root.publish("private/alice/secret", f"secret {n}", qos=1)
    assert people.call(lambda: people.service.registry.get_offline("alice-phone").queued) == 3


def test_another_user_cannot_resume_a_persistent_session(people, client):
    _alice_away_with_three_queued(people, client)
    bob = client("alice-phone", username="bob", password="bobpw", clean_session=False)
    assert bob.connect() == 2  # identifier rejected
    assert bob.messages.empty()
    entry = _last_connect(people, "alice-phone")
    assert entry.reason_code == "client-id-session-owned"
    assert "persistent session of user 'alice', offline since" in entry.reason

    alice = client("alice-phone", username="alice", password="alicepw", clean_session=False)
    assert alice.connect() == 0
    assert alice.session_present
    assert sorted(alice.expect_message().payload for _ in range(3)) == [b"secret 0", b"secret 1", b"secret 2"]


def test_a_clean_session_of_another_user_does_not_wipe_it_either(people, client):
    _alice_away_with_three_queued(people, client)
    assert client("alice-phone", username="bob", password="bobpw", clean_session=True).connect() == 2
    assert people.call(lambda: people.service.registry.get_offline("alice-phone").queued) == 3


def test_a_registering_bootstrap_cannot_take_an_offline_session(people, client):
    _alice_away_with_three_queued(people, client)
    device = client("alice-phone", username="plugs", password=FLEET_PASSWORD)
    assert device.connect() == 2
    assert _last_connect(people, "alice-phone").reason_code == "client-id-session-owned"
    assert people.call(people.store.devices.find, "alice-phone") is None


def test_discarding_the_session_frees_the_client_id(people, client):
    _alice_away_with_three_queued(people, client)
    people.flush_log()
    refused = client("alice-phone", username="bob", password="bobpw", clean_session=False)
    assert refused.connect() == 2
    entry = _last_connect(people, "alice-phone")
    fix = people.call(lambda: suggest_fix_for_entry(entry.kind, entry.reason_code, entry.client_id, entry.username,
                                                    entry.topic, people.service.pipeline.directory))
    assert fix is not None
    assert fix.action is FixAction.DISCARD_SESSION
    assert fix.command == "mqttdesk session discard alice-phone"

    listed = run_cli(people.data_dir, "session", "list", "--json")
    sessions = {s["client_id"]: s for s in json.loads(listed.stdout)}
    assert sessions["alice-phone"]["connected"] is False
    assert sessions["alice-phone"]["queued"] == 3
    assert sessions["alice-phone"]["offline_since"] is not None

    result = run_cli(people.data_dir, "session", "discard", "alice-phone")
    assert result.returncode == 0, result.stderr
    assert "discarded the session kept for 'alice-phone' (3 queued messages)" in result.stdout
    assert "released clientId 'alice-phone' (last used by user 'alice')" in result.stdout
    assert people.call(people.service.registry.get_offline, "alice-phone") is None

    bob = client("alice-phone-2", username="bob", password="bobpw")
    assert bob.connect() == 0  # bob is fine with his own id
    again = client("alice-phone", username="bob", password="bobpw", clean_session=False)
    assert again.connect() == 0
    assert not again.session_present
    assert again.messages.empty()


def test_discard_with_nothing_to_discard_fails_with_one_line(people):
    result = run_cli(people.data_dir, "session", "discard", "nobody-here")
    assert result.returncode == 1
    assert result.stderr.strip() == ("mqttdesk: error: no session is kept for 'nobody-here' and no credential has "
                                     "claimed it")


def test_queued_messages_are_checked_again_on_resume(people, admin, client):
    """Defence in depth: read permission taken away while alice was away applies to what waits for her."""
    _alice_away_with_three_queued(people, client)
    admin.roles.deny("alice", "private/alice/secret", Permission.READ)
    people.sync()
    alice = client("alice-phone", username="alice", password="alicepw", clean_session=False)
    assert alice.connect() == 0
    assert alice.session_present
    root = client("root-2", username="root", password="rootpw")
    assert root.connect() == 0
    root.publish("private/alice/other", "still readable", qos=1)
    assert alice.expect_message().payload == b"still readable"  # and none of the three secrets before it
    assert alice.messages.empty()


def test_a_device_cannot_register_a_client_id_a_user_used_last(people, client):
    laptop = client("alice-laptop", username="alice", password="alicepw")
    assert laptop.connect() == 0
    laptop.disconnect()  # clean session: nothing is kept, but alice was the last to use the id
    device = client("alice-laptop", username="plugs", password=FLEET_PASSWORD)
    assert device.connect() == 2
    entry = _last_connect(people, "alice-laptop")
    assert entry.reason_code == "client-id-taken"
    assert entry.reason == ("clientId 'alice-laptop' was last used by user 'alice': bootstrap credential 'plugs' "
                            "may not claim it")
    assert people.call(people.store.devices.find, "alice-laptop") is None
    assert client("alice-laptop", username="alice", password="alicepw").connect() == 0


def test_the_last_user_is_kept_in_the_store(people, admin, client):
    """What a fresh pipeline (after a restart) reads: the recorder writes who used each clientId."""
    laptop = client("alice-laptop", username="alice", password="alicepw")
    assert laptop.connect() == 0
    laptop.disconnect()
    people.flush_log()
    found = admin.client_ids.owner("alice-laptop")
    assert found is not None
    assert found[0].name == "alice"
    assert admin.directory().client_id_owners["alice-laptop"].kind.value == "user"


def test_registered_devices_keep_working_and_fleet_ids_stay_free(people, client):
    first = client("DVES_1A2B3C", username="plugs", password=FLEET_PASSWORD)
    assert first.connect() == 0
    first.disconnect()
    assert client("DVES_1A2B3C", username="plugs", password=FLEET_PASSWORD).connect() == 0
    assert _last_connect(people, "DVES_1A2B3C").method == "device"


def test_reserved_client_ids_are_for_their_user_alone(people, admin, client):
    result = run_cli(people.data_dir, "user", "reserve", "alice", "alice-*")
    assert result.returncode == 0, result.stderr
    device = client("alice-tablet", username="plugs", password=FLEET_PASSWORD)
    assert device.connect() == 2
    entry = _last_connect(people, "alice-tablet")
    assert entry.reason_code == "client-id-reserved"
    assert entry.reason == "clientId 'alice-tablet' is reserved for user 'alice' (pattern 'alice-*')"
    assert client("alice-tablet", username="bob", password="bobpw").connect() == 2
    assert client("alice-tablet", username="alice", password="alicepw").connect() == 0
    shown = json.loads(run_cli(people.data_dir, "user", "show", "alice", "--json").stdout)
    assert shown["reserved_client_ids"] == ["alice-*"]

    assert run_cli(people.data_dir, "user", "unreserve", "alice", "alice-*").returncode == 0
    assert client("alice-watch", username="bob", password="bobpw").connect() == 0


def test_a_reservation_that_covers_everything_is_refused(people):
    result = run_cli(people.data_dir, "user", "reserve", "alice", "*")
    assert result.returncode == 1
    assert "would reserve every clientId" in result.stderr
