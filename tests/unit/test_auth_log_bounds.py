"""The Auth log's bounds: folded entries, pruning in tiers (noise first), the byte budget and a file that shrinks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import Method
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.store.auth_log_prune import LOW_WATER
from mqttdesk.store.auth_log_repo import AuthLogEntry, entry_from_decision
from mqttdesk.store.db import DB_FILENAME, Store
from mqttdesk.store.migrations import MIGRATIONS
from mqttdesk.store.settings_repo import MIN_AUTH_LOG_MAX_BYTES


def _noise(n: int, when: float = 1.0) -> AuthLogEntry:
    """An unknown username from a script: what a flood is made of."""
    reason = Reason(ReasonCode.UNKNOWN_USER, f"no user or bootstrap credential named 'bot{n}'" + " " * 300)
    return entry_from_decision(Decision(Kind.CONNECT, False, reason, f"bot-{n}", username=f"bot{n}",
                                        address="127.0.0.9", steps=("x" * 400,)), when=when)


def _known(client_id: str, *, allowed: bool, when: float = 1.0) -> AuthLogEntry:
    code, text = ((ReasonCode.AUTHENTICATED, "user 'lamp' authenticated by password") if allowed
                  else (ReasonCode.BAD_PASSWORD, "wrong password for user 'lamp'"))
    return entry_from_decision(Decision(Kind.CONNECT, allowed, Reason(code, text), client_id, username="lamp",
                                        method=Method.PASSWORD, address="127.0.0.2"), when=when)


def _file_bytes(store: Store) -> int:
    return sum(path.stat().st_size for path in store.path.parent.iterdir() if path.name.startswith(DB_FILENAME))


def test_a_fold_counts_repeats_in_its_row(store: Store) -> None:
    [first] = store.auth_log.append([_known("c1", allowed=False, when=100.0)])
    assert (first.count, first.first_time, first.started) == (1, None, 100.0)
    folded = store.auth_log.add_to_fold(first, 36, 130.0)
    assert folded is not None
    assert (folded.id, folded.count, folded.first_time, folded.time) == (first.id, 37, 100.0, 130.0)
    assert store.auth_log.recent() == [folded]
    assert folded.to_json()["count"] == 37
    assert folded.to_json()["first_time"] == 100.0
    assert store.auth_log.count_since(0.0, kinds=("CONNECT",), allowed=False) == 37


def test_a_fold_whose_row_was_pruned_says_so(store: Store) -> None:
    [first] = store.auth_log.append([_known("c1", allowed=False)])
    store.auth_log.append([_known("c2", allowed=True)])
    store.connection.execute("DELETE FROM auth_log WHERE id = ?", (first.id,))
    assert store.auth_log.add_to_fold(first, 1, 2.0) is None


def _anonymous(client_id: str) -> AuthLogEntry:
    return entry_from_decision(Decision(Kind.CONNECT, True, Reason(ReasonCode.ANONYMOUS_ALLOWED, "anonymous access"),
                                        client_id, method=Method.ANONYMOUS, address="127.0.0.9"), when=1.0)


def test_the_row_bound_prunes_noise_then_routine_then_refusals_of_known_credentials(store: Store) -> None:
    store.auth_log.append([_known("refused-early", allowed=False), _known("allowed-early", allowed=True),
                           _anonymous("anonymous-early")])
    store.auth_log.append(_noise(n) for n in range(19))
    store.auth_log.append([_noise(99)])
    assert store.auth_log.prune(keep=5) == 18  # the anonymous connect is noise too: it went first
    assert [e.client_id for e in store.auth_log.recent()] == ["refused-early", "allowed-early", "bot-17", "bot-18",
                                                             "bot-99"]
    store.auth_log.prune(keep=2)  # noise goes, but never the newest row; then the routine of a known credential
    assert [e.client_id for e in store.auth_log.recent()] == ["refused-early", "bot-99"]


def test_the_byte_budget_prunes_noise_first_and_the_file_shrinks(store: Store) -> None:
    budget = MIN_AUTH_LOG_MAX_BYTES
    store.auth_log.append([_known("refused-early", allowed=False)])
    for start in range(0, 3000, 500):
        store.auth_log.append(_noise(n) for n in range(start, start + 500))
    store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = store.path.stat().st_size
    assert full > 3 * budget
    deleted = store.auth_log.enforce_budget(budget)
    assert deleted > 2000
    assert store.used_bytes() <= budget * LOW_WATER
    assert store.auth_log.enforce_budget(budget) == 0  # under budget: nothing to do
    assert store.auth_log.recent(1)[0].client_id == "bot-2999"  # the newest noise is kept, the oldest went
    oldest = store.connection.execute("SELECT client_id FROM auth_log ORDER BY id LIMIT 1").fetchone()[0]
    assert oldest == "refused-early"  # older than all the noise, and kept
    assert store.path.stat().st_size < budget  # incremental auto-vacuum handed the pages back


def test_a_new_file_uses_incremental_auto_vacuum(store: Store) -> None:
    assert store.connection.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_an_older_file_is_pruned_to_its_budget_and_converted_once(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    path = data_dir / DB_FILENAME
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for version, script in enumerate(MIGRATIONS[:4]):  # a file of the version before folding and auto-vacuum
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;")
    db.executemany(
        "INSERT INTO auth_log (time, kind, allowed, client_id, username, reason_code, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(float(n), "CONNECT", 0, f"bot-{n}", "u" * 20_000, "unknown-user", "no user") for n in range(300)])
    db.execute("INSERT INTO settings (key, value) VALUES ('auth_log.max_bytes', ?)", (str(MIN_AUTH_LOG_MAX_BYTES),))
    db.close()
    assert path.stat().st_size > 10 * MIN_AUTH_LOG_MAX_BYTES
    store = Store.open(data_dir)
    try:
        assert store.connection.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert _file_bytes(store) <= MIN_AUTH_LOG_MAX_BYTES  # the VACUUM's WAL is checkpointed away too
        [newest] = store.auth_log.recent(1)
        assert (newest.client_id, newest.count, newest.first_time, newest.started) == ("bot-299", 1, None, 299.0)
    finally:
        store.close()


def test_the_budget_setting_has_a_floor(store: Store) -> None:
    assert store.settings.auth_log_max_bytes() == 32 * 1024 * 1024
    with pytest.raises(ValidationError, match="at least 262,144"):
        store.settings.set_auth_log_max_bytes(1000)
    store.settings.set_auth_log_max_bytes(1_000_000)
    assert store.settings.auth_log_max_bytes() == 1_000_000
