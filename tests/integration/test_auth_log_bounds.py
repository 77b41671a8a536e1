"""The Auth log against hostile clients on a real broker: 64 KB identities and topics, floods of refusals.

Before these bounds one refused CONNECT with a 64 KB username and clientId stored ~460 KB, and a flood of junk
could push every real entry out of the log. Each load loop here is bounded in count and in time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mqttdesk.core.acl import Permission
from mqttdesk.core.clip import CLIP_LENGTH, clip
from mqttdesk.store.db import DB_FILENAME, Store
from mqttdesk.store.settings_repo import MIN_AUTH_LOG_MAX_BYTES
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance, run_cli
from tests.integration.raw_mqtt import PacketType, RawClient

BIG = 65_535  # the longest string MQTT can carry
CONNECTS = 500
DEADLINE = 60.0  # seconds for one loop of CONNECTs, far above what it takes


def _store_bytes(data_dir: Path) -> int:
    """The data file with its WAL: what the log costs on disk."""
    return sum(path.stat().st_size for path in data_dir.iterdir() if path.name.startswith(DB_FILENAME))


def _refused_connects(instance: Instance, count: int, *, same_identity: bool = False,
                      source: str | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    username = "u" * BIG
    for n in range(count):
        assert time.monotonic() < deadline, f"only {n} of {count} CONNECTs in {DEADLINE} s"
        client_id = "c" * BIG if same_identity else f"{n:05d}" + "c" * (BIG - 5)
        with RawClient(instance.port, source=source) as raw:
            assert raw.connect(client_id, username=username, password=b"x").return_code == 4


def test_500_refused_connects_with_64_kb_fields_keep_the_store_small(admin: Store, unguarded: None,
                                                                     instance: Instance, data_dir: Path) -> None:
    instance.flush_log()
    instance.call(instance.store.connection.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
    before = (data_dir / DB_FILENAME).stat().st_size
    _refused_connects(instance, CONNECTS)  # every clientId different: nothing folds, clipping alone bounds it
    instance.flush_log()
    on_disk = _store_bytes(data_dir)  # the WAL included: it is checkpointed every ~4 MiB and truncated back
    assert on_disk < 8 * 1024 * 1024, f"{on_disk:,} bytes on disk after {CONNECTS} refused CONNECTs"
    instance.call(instance.store.connection.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
    per_connect = ((data_dir / DB_FILENAME).stat().st_size - before) / CONNECTS
    assert per_connect < 4096, f"{per_connect:,.0f} bytes per refused CONNECT (it was ~460 KB)"
    assert instance.call(instance.store.auth_log.count) == CONNECTS
    [entry] = instance.call(instance.store.auth_log.recent, 1)
    assert entry.username == clip("u" * BIG)
    assert entry.client_id == clip(f"{CONNECTS - 1:05d}" + "c" * (BIG - 5))
    assert entry.reason == f"no user or bootstrap credential named '{clip('u' * BIG)}'"
    assert all(len(step) < 2 * CLIP_LENGTH + 100 for step in entry.steps)


def test_a_refusal_repeated_from_one_address_is_one_counted_entry(admin: Store, unguarded: None,
                                                                  instance: Instance, data_dir: Path) -> None:
    _refused_connects(instance, 200, same_identity=True)
    _refused_connects(instance, 3, same_identity=True, source="127.0.0.2")  # another peer: its own entry
    instance.flush_log()
    result = run_cli(data_dir, "log", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [(e["address"], e["count"]) for e in entries] == [("127.0.0.1", 200), ("127.0.0.2", 3)]
    first = entries[0]
    assert first["username"] == "u" * CLIP_LENGTH + f"… ({BIG:,} characters)"
    assert first["first_time"] <= first["time"]
    assert {"id", "time", "kind", "allowed", "client_id", "username", "method", "address", "topic", "reason_code",
            "reason", "steps", "count", "first_time", "protocol"} == set(first)
    table = run_cli(data_dir, "log").stdout
    assert "REFUSED ×200" in table
    assert len(table) < 10_000  # two rows of clipped values, not 64 KB ones


def test_a_flood_of_junk_neither_fills_the_disk_nor_erases_a_known_credentials_refusal(
        admin: Store, unguarded: None, instance: Instance, data_dir: Path) -> None:
    admin.users.add("lamp", fast_hash("s3cret"))
    admin.settings.set_auth_log_max_bytes(MIN_AUTH_LOG_MAX_BYTES)
    instance.sync()
    with RawClient(instance.port, source="127.0.0.3") as raw:
        assert raw.connect("lamp-1", username="lamp", password=b"guess").return_code == 4
    instance.flush_log()
    _refused_connects(instance, CONNECTS)
    instance.flush_log()
    store = instance.store
    assert instance.call(store.used_bytes) <= MIN_AUTH_LOG_MAX_BYTES
    assert instance.call(store.auth_log.count) < CONNECTS  # the budget pruned the oldest junk
    instance.call(store.connection.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
    assert (data_dir / DB_FILENAME).stat().st_size <= 2 * MIN_AUTH_LOG_MAX_BYTES  # and the file shrank back
    [trail] = [e for e in instance.call(store.auth_log.recent, 1000) if e.username == "lamp"]
    assert (trail.reason_code, trail.address) == ("bad-password", "127.0.0.3")


def test_a_sessions_refused_60_kb_topics_cost_little(admin: Store, instance: Instance, data_dir: Path) -> None:
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    admin.users.add("lamp", fast_hash("s3cret"), ("lamps",))
    instance.sync()
    instance.flush_log()
    before = _store_bytes(data_dir)
    deadline = time.monotonic() + DEADLINE
    with RawClient(instance.port) as raw:
        assert raw.connect("lamp-1", username="lamp", password=b"s3cret").return_code == 0
        for n in range(256):
            assert time.monotonic() < deadline
            raw.publish(f"elsewhere/{n:03d}/" + "x" * 60_000, b"1")
        raw.send(b"\xc0\x00")  # PINGREQ: answered only once every publish before it was handled
        raw.expect(PacketType.PINGRESP)
        raw.disconnect()
    instance.flush_log()
    refused = [e for e in instance.call(instance.store.auth_log.recent, 1000) if e.kind == "PUBLISH"]
    assert len(refused) == 256
    assert all(e.topic is not None and e.topic.endswith(f"({len('elsewhere/000/') + 60_000:,} characters)")
               for e in refused)
    grown = _store_bytes(data_dir) - before
    assert grown < 2 * 1024 * 1024, f"{grown:,} bytes for 256 refused topics"


def test_the_byte_budget_is_a_setting_with_a_floor(data_dir: Path) -> None:
    too_small = run_cli(data_dir, "config", "set", "auth_log.max_bytes", "1000")
    assert (too_small.returncode, too_small.stderr.count("\n")) == (1, 1)
    assert "auth_log.max_bytes must be at least 262,144" in too_small.stderr
    changed = run_cli(data_dir, "config", "set", "auth_log.max_bytes", "1000000")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "auth_log.max_bytes = 1000000 (applies at once)"
    shown = json.loads(run_cli(data_dir, "config", "show", "--json").stdout)
    assert shown["auth_log.max_bytes"] == 1_000_000
