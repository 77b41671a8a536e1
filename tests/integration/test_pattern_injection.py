"""A username or clientId holding `#`, `+` or `/` never widens what a `%u` / `%c` rule grants: a real broker, real
paho clients. User `#` with `allow home/%u/#` must not read or write `home/alice/...` (as `home/#/#` would if the
value were pasted in), and clientId `+` with `allow dev/%c/#` must not reach `dev/lamp/...`.

Each refused publish is followed by an allowed one from a client that may write: the observer (anonymous on
loopback, every topic) receives the allowed message, so had the refused one been routed it would have come first.
"""

from __future__ import annotations

import pytest

from mqttdesk.core.acl import Permission
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance

REFUSED = 0x80


@pytest.fixture
def homes(admin: Store, instance: Instance) -> Instance:
    admin.roles.add("homes")
    admin.roles.allow("homes", "home/%u/#", Permission.READWRITE)
    admin.roles.allow("homes", "dev/%c/#", Permission.READWRITE)
    for name in ("#", "+", "a/b", "$SYS", "alice", "%c"):
        admin.users.add(name, fast_hash("pw"), ("homes",))
    instance.sync()
    return instance


@pytest.mark.parametrize("username", ["#", "+", "a/b", "$SYS"])
def test_a_username_with_a_wildcard_or_a_level_gets_nothing_from_a_u_rule(homes: Instance, client,  # type: ignore[no-untyped-def]
                                                                          username: str) -> None:
    observer = client("observer")
    assert observer.connect() == 0
    assert observer.subscribe("home/#", 1) == 1
    alice = client("alice-1", username="alice", password="pw")
    assert alice.connect() == 0
    odd = client("odd-1", username=username, password="pw")
    assert odd.connect() == 0
    for wide in ("home/#", "home/+/#", "home/alice/#", f"home/{username}/#" if "/" in username else "home/a/b/#"):
        assert odd.subscribe(wide, 1) == REFUSED, wide
    odd.publish("home/alice/lamp", "from the odd one", qos=1)
    alice.publish("home/alice/lamp", "from alice", qos=1)
    assert observer.expect_message().payload == b"from alice"  # the odd one's never came before it
    assert observer.messages.empty()
    homes.flush_log()
    entries = [e for e in homes.call(homes.store.auth_log.recent, 200) if e.username == username and e.topic]
    assert entries
    assert all(not e.allowed for e in entries)
    assert any("cannot be applied safely" in e.reason for e in entries)


def test_a_percent_in_a_username_is_a_literal_level_not_another_pattern(homes: Instance, client) -> None:  # type: ignore[no-untyped-def]
    """User '%c' gets `home/%c/#` as written, a level named '%c', and never `home/<its clientId>/#`."""
    observer = client("observer")
    assert observer.connect() == 0
    assert observer.subscribe("home/#", 1) == 1
    percent = client("lamp", username="%c", password="pw")
    assert percent.connect() == 0
    assert percent.subscribe("home/lamp/#", 1) == REFUSED
    percent.publish("home/lamp/state", "expanded twice", qos=1)
    percent.publish("home/%c/state", "literal", qos=1)
    assert observer.expect_message().payload == b"literal"
    assert observer.messages.empty()


@pytest.mark.parametrize("client_id", ["+", "#", "lamp/x"])
def test_a_client_id_with_a_wildcard_or_a_level_gets_nothing_from_a_c_rule(homes: Instance, client,  # type: ignore[no-untyped-def]
                                                                            client_id: str) -> None:
    observer = client("observer")
    assert observer.connect() == 0
    assert observer.subscribe("dev/#", 1) == 1
    lamp = client("lamp", username="alice", password="pw")
    assert lamp.connect() == 0
    odd = client(client_id, username="alice", password="pw")
    assert odd.connect() == 0
    assert odd.subscribe("dev/+/#", 1) == REFUSED
    assert odd.subscribe("dev/lamp/#", 1) == REFUSED
    odd.publish("dev/lamp/cmd", "from the odd id", qos=1)
    lamp.publish("dev/lamp/cmd", "from lamp", qos=1)
    assert observer.expect_message().payload == b"from lamp"
    assert observer.messages.empty()
