"""Bootstrap credentials and registered devices against the real broker (issue: bootstrap credentials)."""

from __future__ import annotations

import asyncio
import json

import pytest

from mqttdesk.core.acl import Permission
from mqttdesk.core.states import StateAction
from tests.integration.conftest import fast_hash
from tests.integration.harness import run_cli
from tests.integration.raw_mqtt import RawClient
from tests.integration.storm import close_all, storm

FLEET_PASSWORD = "flash-me-once"


@pytest.fixture
def fleet(admin, instance):
    """Bootstrap 'fleet' (virtual devices) and 'plugs' (registers devices); role 'tasmota' for both."""
    admin.roles.add("tasmota")
    admin.roles.allow("tasmota", "tele/%c/#", Permission.WRITE)
    admin.roles.allow("tasmota", "cmnd/%c/#", Permission.READ)
    admin.roles.allow("tasmota", "tele/+/LWT", Permission.READ)
    admin.bootstraps.add("fleet", fast_hash(FLEET_PASSWORD), ("tasmota",))
    admin.bootstraps.add("plugs", fast_hash(FLEET_PASSWORD), ("tasmota",), register_devices=True)
    admin.roles.add("admin")
    admin.roles.allow("admin", "#", Permission.READWRITE)
    admin.users.add("root", fast_hash("rootpw"), ("admin",))
    instance.sync()
    return instance


def _connects(instance, client_id):  # type: ignore[no-untyped-def]
    instance.flush_log()
    return [e for e in instance.call(instance.store.auth_log.recent, 500) if e.kind == "CONNECT"
            and e.client_id == client_id]


def test_bootstrap_admits_a_device_with_its_own_client_id(fleet, client):
    device = client("DVES_1A2B3C", username="fleet", password=FLEET_PASSWORD)
    assert device.connect() == 0
    entry = _connects(fleet, "DVES_1A2B3C")[-1]
    assert entry.method == "bootstrap"
    assert "virtual device 'DVES_1A2B3C'" in entry.reason
    assert fleet.call(fleet.service.registry.get, "DVES_1A2B3C").virtual


def test_wrong_bootstrap_password_gets_4(fleet, client):
    assert client("DVES_1", username="fleet", password="nope").connect() == 4
    assert _connects(fleet, "DVES_1")[-1].reason_code == "bad-password"


def test_empty_client_id_refused_with_2(fleet):
    # paho invents an id when given none; the raw client sends the empty one
    with RawClient(fleet.port) as raw:
        assert raw.connect("", username="fleet", password=FLEET_PASSWORD).return_code == 2
    assert _connects(fleet, "")[-1].reason_code == "client-id-empty"


def test_client_id_of_a_connected_password_user_refused_with_2(fleet, client):
    root = client("shared", username="root", password="rootpw")
    assert root.connect() == 0
    assert client("shared", username="fleet", password=FLEET_PASSWORD).connect() == 2
    entry = _connects(fleet, "shared")[-1]
    assert entry.reason_code == "client-id-in-use"
    assert "user 'root'" in entry.reason
    assert root.is_connected


def test_bootstrap_device_never_takes_over_another_bootstrap_device(fleet, client):
    first = client("DVES_AAAAAA", username="fleet", password=FLEET_PASSWORD)
    assert first.connect() == 0
    assert client("DVES_AAAAAA", username="fleet", password=FLEET_PASSWORD).connect() == 2
    assert first.is_connected


def test_virtual_device_loses_its_subscription_on_reconnect(fleet, client):
    device = client("DVES_V1", username="fleet", password=FLEET_PASSWORD, clean_session=False)
    assert device.connect() == 0
    assert device.subscribe("cmnd/DVES_V1/POWER", 1) == 1
    device.disconnect()
    again = client("DVES_V1", username="fleet", password=FLEET_PASSWORD, clean_session=False)
    assert again.connect() == 0
    assert again.session_present is False  # clean session was forced
    assert again.subscribe("cmnd/DVES_V1/MARK", 1) == 1  # a marker it does subscribe to, after reconnecting
    root = client("root", username="root", password="rootpw")
    assert root.connect() == 0
    root.publish("cmnd/DVES_V1/POWER", b"ON", qos=1)  # its old subscription would deliver this first
    root.publish("cmnd/DVES_V1/MARK", b"end", qos=1)
    received = again.expect_message()
    assert (received.topic, received.payload) == ("cmnd/DVES_V1/MARK", b"end")


def test_registering_bootstrap_registers_then_device_path_with_persistent_session(fleet, client, admin):
    first = client("DVES_P1", username="plugs", password=FLEET_PASSWORD, clean_session=False)
    assert first.connect() == 0
    assert "registered" in _connects(fleet, "DVES_P1")[-1].reason
    assert first.subscribe("cmnd/DVES_P1/POWER", 1) == 1
    first.disconnect()

    fleet.flush_log()
    device = admin.devices.get("DVES_P1")
    assert (device.bootstrap, device.username, device.state.value) == ("plugs", "plugs", "active")

    root = client("root", username="root", password="rootpw")
    assert root.connect() == 0
    root.publish("cmnd/DVES_P1/POWER", b"ON", qos=1)  # queued while the plug is away

    second = client("DVES_P1", username="plugs", password=FLEET_PASSWORD, clean_session=False)
    assert second.connect() == 0
    assert second.session_present is True
    assert second.expect_message().payload == b"ON"
    entry = _connects(fleet, "DVES_P1")[-1]
    assert entry.method == "device"
    assert entry.reason_code == "authenticated"


def test_registered_client_id_refused_for_other_credentials(fleet, client):
    plug = client("DVES_R1", username="plugs", password=FLEET_PASSWORD)
    assert plug.connect() == 0
    plug.disconnect()
    assert client("DVES_R1", username="fleet", password=FLEET_PASSWORD).connect() == 2
    assert _connects(fleet, "DVES_R1")[-1].reason_code == "client-id-registered"
    assert client("DVES_R1", username="root", password="rootpw").connect() == 2


def test_device_lifecycle_and_bootstrap_suspension(fleet, client, admin, data_dir):
    plug = client("DVES_L1", username="plugs", password=FLEET_PASSWORD)
    assert plug.connect() == 0
    fleet.flush_log()

    # suspending the bootstrap stops new devices; the registered one keeps working
    assert run_cli(data_dir, "bootstrap", "suspend", "plugs").returncode == 0
    fleet.sync()
    assert client("DVES_NEW", username="plugs", password=FLEET_PASSWORD).connect() == 5
    assert plug.is_connected
    plug.disconnect()
    assert client("DVES_L1", username="plugs", password=FLEET_PASSWORD).connect() == 0

    # suspending the device itself disconnects it and refuses it
    live = client("DVES_L1b", username="root", password="rootpw")  # a watcher that must stay
    assert live.connect() == 0
    result = run_cli(data_dir, "device", "suspend", "DVES_L1")
    assert result.returncode == 0, result.stderr
    fleet.sync()
    assert client("DVES_L1", username="plugs", password=FLEET_PASSWORD).connect() == 5

    # "also suspend its devices"
    assert run_cli(data_dir, "device", "activate", "DVES_L1").returncode == 0
    assert run_cli(data_dir, "bootstrap", "activate", "plugs").returncode == 0
    fleet.sync()
    assert client("DVES_L1", username="plugs", password=FLEET_PASSWORD).connect() == 0
    with_devices = run_cli(data_dir, "bootstrap", "suspend", "plugs", "--with-devices")
    assert with_devices.returncode == 0, with_devices.stderr
    assert "1 of its devices" in with_devices.stdout
    fleet.sync()
    assert admin.devices.get("DVES_L1").state.value == "suspended"


def test_deleting_a_device_frees_its_client_id(fleet, client, admin, data_dir):
    plug = client("DVES_D1", username="plugs", password=FLEET_PASSWORD)
    assert plug.connect() == 0
    plug.disconnect()
    fleet.flush_log()
    assert run_cli(data_dir, "device", "delete", "DVES_D1").returncode == 0
    fleet.sync()
    assert client("DVES_D1", username="fleet", password=FLEET_PASSWORD).connect() == 0


def test_device_list_json_keys(fleet, client, data_dir):
    plug = client("DVES_J1", username="plugs", password=FLEET_PASSWORD)
    assert plug.connect() == 0
    fleet.flush_log()
    assert run_cli(data_dir, "device", "label", "DVES_J1", "kitchen plug").returncode == 0
    listed = run_cli(data_dir, "device", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (device,) = json.loads(listed.stdout)
    assert {"client_id", "label", "bootstrap", "state", "registered", "last_seen", "connected"} <= set(device)
    assert device["label"] == "kitchen plug"
    assert device["connected"] is True
    assert device["bootstrap"] == "plugs"


def test_two_hundred_concurrent_bootstrap_devices_all_accepted_none_twice(fleet):
    ids = [f"DVES_{n:06X}" for n in range(200)]
    racing = ids + ids[:50]  # 50 ids race with themselves: exactly one of each pair may get in
    verifier = fleet.service.pipeline.verifier
    computed_before = verifier.hashes_computed

    async def run():  # type: ignore[no-untyped-def]
        result = await storm(fleet.port, racing, "fleet", FLEET_PASSWORD)
        try:
            return result, len(fleet.service.registry)
        finally:
            await close_all(result)

    result, connected = asyncio.run(run())
    accepted = result.accepted()
    assert sorted(accepted) == sorted(ids)  # every id once, no id twice
    assert connected == 200
    assert all(sorted(codes) == [0, 2] for cid, codes in result.codes.items() if cid in ids[:50])
    assert verifier.hashes_computed - computed_before == 1  # one PBKDF2 for 250 CONNECTs with the same password


def test_suspending_a_registered_device_suspends_in_state_machine(fleet, client, admin):
    plug = client("DVES_S1", username="plugs", password=FLEET_PASSWORD)
    assert plug.connect() == 0
    fleet.flush_log()
    admin.devices.apply("DVES_S1", StateAction.SUSPEND)
    fleet.sync()
    assert plug.wait_disconnected(3.0)


def test_first_connect_of_a_registering_device_with_a_tasmota_will_is_accepted(fleet, client, admin):
    """The will is checked before the device exists: the bootstrap credential's roles apply to it."""
    plug = client("DVES_W1", username="plugs", password=FLEET_PASSWORD,
                  will=("tele/DVES_W1/LWT", b"Offline", 1, True))
    assert plug.connect() == 0
    plug.publish("tele/DVES_W1/LWT", b"Online", qos=1, retain=True)
    fleet.flush_log()
    assert admin.devices.get("DVES_W1").bootstrap == "plugs"


def test_deleting_a_bootstrap_credential_does_not_hand_its_devices_to_a_namesake(fleet, client, admin, data_dir):
    plug = client("DVES_N1", username="plugs", password=FLEET_PASSWORD)
    assert plug.connect() == 0
    plug.disconnect()
    fleet.flush_log()
    assert run_cli(data_dir, "bootstrap", "delete", "plugs").returncode == 0
    assert admin.devices.get("DVES_N1").bootstrap is None
    admin.bootstraps.add("plugs", fast_hash("other"), ("admin",))  # same name, much more power
    explained = run_cli(data_dir, "explain", "--username", "plugs", "--client-id", "DVES_N1", "--password-stdin",
                        "--topic", "secret/x", stdin=FLEET_PASSWORD + "\n")
    assert explained.returncode == 1, explained.stdout  # the device keeps only its own (no) roles
    assert "may not publish to 'secret/x'" in explained.stdout
