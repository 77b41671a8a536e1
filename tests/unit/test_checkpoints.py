"""The store's WAL is checkpointed by a thread of its own, not by the commits of the thread that writes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from mqttdesk.store.checkpoints import BackgroundCheckpoints
from mqttdesk.store.db import Store


def _until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        event.wait(0.02)  # (polling a file and a counter another thread moves: nothing to wait on)
    return False


def test_the_wal_is_checkpointed_by_the_thread_once_it_passes_the_threshold(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (x BLOB)")
    checkpoints = BackgroundCheckpoints(path, threshold=64 * 1024, every=0.01)
    try:
        for _ in range(40):
            writer.execute("INSERT INTO t VALUES (?)", (b"x" * 4096,))
        assert _until(lambda: checkpoints.checkpoints >= 1)
    finally:
        checkpoints.close()
        writer.close()
    assert not checkpoints._thread.is_alive()


def test_the_store_never_checkpoints_in_a_commit_and_stops_its_thread_on_close(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    assert store.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert store._checkpoints is None  # no thread for a store that is only read
    store.settings.set_mdns(True)
    assert store._checkpoints is not None
    thread = store._checkpoints._thread
    assert thread.is_alive()
    store.close()
    assert not thread.is_alive()
