"""Credential lifecycle against live sessions: suspend, activate, revoke, who forced a disconnect, tenants."""

from __future__ import annotations

from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash
from tests.integration.harness import run_cli

DISCONNECT_BOUND = 3.0  # see test_live_changes.py


def _log(instance, kind):  # type: ignore[no-untyped-def]
    instance.flush_log()
    return [e for e in instance.call(instance.store.auth_log.recent, 200) if e.kind == kind]


def test_suspend_activate_revoke_cycle(admin, instance, client, data_dir):
    admin.users.add("lamp", fast_hash("pw"))
    instance.sync()
    first = client("lamp-1", username="lamp", password="pw")
    assert first.connect() == 0
    instance.flush_log()
    assert admin.users.get("lamp").state.value == "active"  # first use: inactive -> active

    assert run_cli(data_dir, "user", "suspend", "lamp").returncode == 0
    assert first.wait_disconnected(DISCONNECT_BOUND)
    instance.sync()
    assert client("lamp-2", username="lamp", password="pw").connect() == 5

    assert run_cli(data_dir, "user", "activate", "lamp").returncode == 0
    instance.sync()
    back = client("lamp-3", username="lamp", password="pw")
    assert back.connect() == 0

    assert run_cli(data_dir, "user", "revoke", "lamp").returncode == 0
    assert back.wait_disconnected(DISCONNECT_BOUND)
    instance.sync()
    assert client("lamp-4", username="lamp", password="pw").connect() == 5
    refused = run_cli(data_dir, "user", "activate", "lamp")
    assert refused.returncode == 1
    assert "revocation is final" in refused.stderr

    ends = [e for e in _log(instance, "DISCONNECT") if e.reason_code == "credential-changed"]
    assert [e.client_id for e in ends] == ["lamp-1", "lamp-3"]
    assert ends[0].reason == "disconnected: user 'lamp' was suspended (by cli)"
    assert not ends[0].allowed  # forced: shown as a refusal
    revoked = [e for e in _log(instance, "CONNECT") if e.client_id == "lamp-4"][-1]
    assert revoked.reason_code == "revoked"


def test_tenants_are_isolated_by_percent_t(admin, instance, client):
    admin.roles.add("tenant")
    admin.roles.allow("tenant", "tenants/%t/#", Permission.READWRITE)
    for name in ("alice@acme", "bob@acme", "eve@globex"):
        admin.users.add(name, fast_hash("pw"), ("tenant",))
    instance.sync()
    alice = client("alice", username="alice@acme", password="pw")
    bob = client("bob", username="bob@acme", password="pw")
    eve = client("eve", username="eve@globex", password="pw")
    for member in (alice, bob, eve):
        assert member.connect() == 0
    assert alice.subscribe("tenants/acme/#", 1) == 1
    assert eve.subscribe("tenants/acme/#", 1) == 0x80  # another tenant's subtree
    assert eve.subscribe("#", 1) == 1  # granted, but filtered per message
    bob.publish("tenants/acme/door", b"open", qos=1)
    eve.publish("tenants/globex/door", b"closed", qos=1)
    eve.publish("tenants/acme/door", b"forged", qos=1)  # refused: not her tenant
    assert alice.expect_message().payload == b"open"
    assert eve.expect_message().payload == b"closed"  # her own tenant only; acme's message never reached her
    bob.publish("tenants/acme/marker", b"end", qos=1)
    assert alice.expect_message().payload == b"end"  # the forged message never arrived before it
    assert eve.messages.empty()


def test_the_cli_tells_the_running_instance_at_once(admin, instance, client, data_dir):
    """No waiting for the instance's next poll: a device activated from the CLI may reconnect immediately."""
    admin.users.add("lamp", fast_hash("pw"))
    instance.sync()
    assert run_cli(data_dir, "user", "suspend", "lamp").returncode == 0
    assert client("lamp-1", username="lamp", password="pw").connect() == 5
    assert run_cli(data_dir, "user", "activate", "lamp").returncode == 0
    assert client("lamp-2", username="lamp", password="pw").connect() == 0  # no instance.sync() in between
