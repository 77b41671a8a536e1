"""Checkpoints of the store's WAL in a thread of their own, never in the thread that writes.

SQLite checkpoints a WAL by itself in the commit that takes it past 1,000 pages: that commit copies the WAL into
the database file and syncs it, 16-40 ms here (27 such commits in 6,000 single Auth log writes), on the event loop
that serves the broker and the window. So the writing connection never checkpoints (`wal_autocheckpoint = 0`,
set by `Store.open`), and a daemon thread with a connection of its own runs a PASSIVE checkpoint - one that never
waits for a writer nor makes one wait - whenever the WAL has grown past `CHECKPOINT_BYTES`, looking every
`CHECK_SECONDS`. sqlite3 lets go of the GIL while SQLite works, so the loop runs on meanwhile. The last connection
to close still checkpoints what is left, as SQLite does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_BYTES = 1024 * 1024  # a quarter of what SQLite lets a WAL grow to before it checkpoints by itself
CHECK_SECONDS = 0.5


class BackgroundCheckpoints:
    """The thread that checkpoints the WAL of the database at `path` (module docstring); `close` stops it."""

    def __init__(self, path: Path, *, threshold: int = CHECKPOINT_BYTES, every: float = CHECK_SECONDS) -> None:
        self._path = path
        self._wal = path.with_name(path.name + "-wal")
        self._threshold = threshold
        self._every = every
        self._stop = threading.Event()
        self.checkpoints = 0  # how many ran (tests, and a debugger's curiosity)
        self._thread = threading.Thread(target=self._run, name="mqttdesk-wal-checkpoints", daemon=True)
        self._thread.start()

    def _wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except OSError:  # no WAL yet, or it was just removed by the last connection closing
            return 0

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=5.0)
        try:
            while not self._stop.wait(self._every):
                if self._wal_bytes() < self._threshold:
                    continue
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # another process's checkpoint, a locked file: the next look retries
                    log.debug("WAL checkpoint of %s did not run: %s", self._path, exc)
        finally:
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
