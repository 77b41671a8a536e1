"""The broker's state that outlives a restart, in its own SQLite file: `sessions.sqlite` in the data directory.

Why a file of its own rather than tables in the store: the broker writes here twice a second while messages flow,
and the store is shared with every CLI process and the window, whose writes would then wait behind those batches
(and ours behind theirs: the store's busy timeout is a quarter of a second on the event loop). Its contents are a
cache of the running broker, not records a person made: losing the file loses retained messages and kept sessions,
never a credential, so it needs none of the store's migrations, change notices or history, and deleting it (or
turning persistence off, which does) is always safe. Like the store it is created 0600 (WAL and its sidecars too)
in the private data directory: it holds message payloads and the password hash a session was admitted with (to
notice a password change made while the broker was down, as a live session would).

This module knows rows, not sessions: `broker/persistence.py` turns the broker's objects into these rows and back.
Every `write` is one transaction, so a crash leaves the state of the last batch that committed, whole.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SESSIONS_FILENAME = "sessions.sqlite"
SCHEMA_VERSION = 1
SIDECARS = ("-wal", "-shm")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    client_id TEXT NOT NULL, topic_filter TEXT NOT NULL, options TEXT NOT NULL,
    PRIMARY KEY (client_id, topic_filter));
-- outgoing QoS 1/2 messages of a session: in flight (packet_id > 0) or queued (packet_id 0), in order of `seq`
CREATE TABLE IF NOT EXISTS outgoing (
    client_id TEXT NOT NULL, seq INTEGER NOT NULL, packet_id INTEGER NOT NULL, released INTEGER NOT NULL,
    qos INTEGER NOT NULL, retain INTEGER NOT NULL, message BLOB NOT NULL, expires_at REAL,
    PRIMARY KEY (client_id, seq));
-- QoS 2 messages received from the client and not yet released; message NULL: refused, only the id is kept
CREATE TABLE IF NOT EXISTS incoming (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, message BLOB,
    PRIMARY KEY (client_id, packet_id));
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, message BLOB NOT NULL, expires_at REAL);
"""


@dataclass(frozen=True, slots=True)
class OutgoingRow:
    seq: int
    packet_id: int  # 0: queued, not sent yet
    released: bool  # QoS 2: PUBREC arrived, PUBREL sent
    qos: int
    retain: bool
    message: bytes  # the message as `broker/persistence.py` encodes it
    expires_at: float | None  # Unix time (MQTT 5 message expiry)


@dataclass(slots=True)
class SessionRows:
    """A session as it was read back: its record (JSON) and what belongs to it."""

    client_id: str
    record: str
    subscriptions: list[tuple[str, str]] = field(default_factory=list)  # (filter, options JSON)
    outgoing: list[OutgoingRow] = field(default_factory=list)  # in order of `seq`
    incoming: list[tuple[int, bytes | None]] = field(default_factory=list)


@dataclass(slots=True)
class SessionChange:
    """What one batch writes of one session; None leaves that part as it is in the file."""

    client_id: str
    record: str
    subscriptions: list[tuple[str, str]] | None = None  # the whole set, replacing the one in the file
    incoming: list[tuple[int, bytes | None]] | None = None  # the whole set
    outgoing_added: list[OutgoingRow] = field(default_factory=list)
    outgoing_updated: list[tuple[int, int, bool]] = field(default_factory=list)  # (seq, packet_id, released)
    outgoing_removed: list[int] = field(default_factory=list)  # seqs
    replace_all: bool = False  # a new session under this clientId: what the file had of the old one goes first


@dataclass(slots=True)
class Batch:
    """Everything one flush writes, in one transaction."""

    sessions: list[SessionChange] = field(default_factory=list)
    removed_sessions: list[str] = field(default_factory=list)
    retained: list[tuple[str, bytes, float | None]] = field(default_factory=list)  # (topic, message, expires_at)
    removed_retained: list[str] = field(default_factory=list)
    saved_at: float | None = None  # Unix time of the snapshot (what a crash counts the time spent down from)
    clear_first: bool = False  # the whole state follows: forget what the file has first

    def __bool__(self) -> bool:
        return bool(self.sessions or self.removed_sessions or self.retained or self.removed_retained
                    or self.clear_first)


@dataclass(slots=True)
class Contents:
    sessions: list[SessionRows]
    retained: list[tuple[str, bytes, float | None]]
    saved_at: float | None  # the last batch's snapshot time; None for a new file


class SessionFile:
    """The open file. `write` may be called from a worker thread: one operation at a time (`_lock`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path) -> SessionFile:
        """Open or create `data_dir/sessions.sqlite` (0600); a file this version cannot read is started afresh."""
        path = data_dir / SESSIONS_FILENAME
        if not path.exists():
            with contextlib.suppress(FileExistsError):  # created 0600 from its first byte
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        _make_private(path)
        # written from a worker thread (one at a time, see _lock), read at start on the loop
        connection = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            # a process crash (kill -9) keeps every committed batch in WAL mode with NORMAL; only a power cut can
            # lose the last ones, which is the "last second" this file may lose anyway
            connection.execute("PRAGMA synchronous = NORMAL")
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            if version not in (0, SCHEMA_VERSION):  # written by a newer mqttdesk: a cache, so start afresh
                connection.executescript("DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS sessions; "
                                         "DROP TABLE IF EXISTS subscriptions; DROP TABLE IF EXISTS outgoing; "
                                         "DROP TABLE IF EXISTS incoming; DROP TABLE IF EXISTS retained;")
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            connection.close()
            raise
        for suffix in SIDECARS:
            _make_private(path.with_name(path.name + suffix))
        return cls(connection, path)

    @staticmethod
    def remove(data_dir: Path) -> bool:
        """Delete the file and its sidecars (persistence turned off); whether there was one."""
        path = data_dir / SESSIONS_FILENAME
        existed = path.exists()
        for name in (path, *(path.with_name(path.name + s) for s in SIDECARS)):
            with contextlib.suppress(FileNotFoundError):
                name.unlink()
        return existed

    @staticmethod
    def set_aside(data_dir: Path) -> Path:
        """Rename a file that cannot be read to `sessions.sqlite.damaged` (for a look later); returns the new name."""
        path = data_dir / SESSIONS_FILENAME
        aside = path.with_name(path.name + ".damaged")
        for suffix in ("", *SIDECARS):
            with contextlib.suppress(FileNotFoundError):
                os.replace(path.with_name(path.name + suffix), aside.with_name(aside.name + suffix))
        return aside

    def load(self) -> Contents:
        with self._lock:
            db = self._connection
            sessions = {client_id: SessionRows(client_id, record) for client_id, record in
                        db.execute("SELECT client_id, record FROM sessions")}
            for client_id, topic_filter, options in db.execute(
                    "SELECT client_id, topic_filter, options FROM subscriptions ORDER BY rowid"):
                if client_id in sessions:
                    sessions[client_id].subscriptions.append((topic_filter, options))
            for row in db.execute("SELECT client_id, seq, packet_id, released, qos, retain, message, expires_at "
                                  "FROM outgoing ORDER BY client_id, seq"):
                if row[0] in sessions:
                    sessions[row[0]].outgoing.append(OutgoingRow(row[1], row[2], bool(row[3]), row[4], bool(row[5]),
                                                                 row[6], row[7]))
            for client_id, packet_id, message in db.execute("SELECT client_id, packet_id, message FROM incoming"):
                if client_id in sessions:
                    sessions[client_id].incoming.append((packet_id, message))
            retained = [(topic, message, expires_at) for topic, message, expires_at in
                        db.execute("SELECT topic, message, expires_at FROM retained")]
            saved = db.execute("SELECT value FROM meta WHERE key = 'saved_at'").fetchone()
        return Contents(list(sessions.values()), retained, None if saved is None else float(saved[0]))

    def write(self, batch: Batch) -> None:
        """Apply one batch in one transaction."""
        with self._lock, self._transaction() as db:
            if batch.clear_first:
                _clear(db)
            for client_id in batch.removed_sessions:
                _delete_session(db, client_id)
            for change in batch.sessions:
                _write_session(db, change)
            db.executemany("INSERT OR REPLACE INTO retained (topic, message, expires_at) VALUES (?, ?, ?)",
                           batch.retained)
            db.executemany("DELETE FROM retained WHERE topic = ?", ((topic,) for topic in batch.removed_retained))
            if batch.saved_at is not None:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('saved_at', ?)", (batch.saved_at,))

    def clear(self) -> None:
        """Forget everything (the file stays)."""
        with self._lock, self._transaction() as db:
            _clear(db)

    def counts(self) -> dict[str, int]:
        """Rows per table (for tests and the report of what a restart keeps)."""
        with self._lock:
            return {table: int(self._connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
                    for table in ("sessions", "subscriptions", "outgoing", "incoming", "retained")}

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            self._connection.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _clear(db: sqlite3.Connection) -> None:
    for table in ("sessions", "subscriptions", "outgoing", "incoming", "retained"):
        db.execute(f"DELETE FROM {table}")  # noqa: S608 (a fixed name)


def _delete_session(db: sqlite3.Connection, client_id: str) -> None:
    for table in ("sessions", "subscriptions", "outgoing", "incoming"):
        db.execute(f"DELETE FROM {table} WHERE client_id = ?", (client_id,))  # noqa: S608 (a fixed name)


def _write_session(db: sqlite3.Connection, change: SessionChange) -> None:
    client_id = change.client_id
    if change.replace_all:
        _delete_session(db, client_id)
    db.execute("INSERT OR REPLACE INTO sessions (client_id, record) VALUES (?, ?)", (client_id, change.record))
    if change.subscriptions is not None:
        db.execute("DELETE FROM subscriptions WHERE client_id = ?", (client_id,))
        db.executemany("INSERT INTO subscriptions (client_id, topic_filter, options) VALUES (?, ?, ?)",
                       ((client_id, f, o) for f, o in change.subscriptions))
    if change.incoming is not None:
        db.execute("DELETE FROM incoming WHERE client_id = ?", (client_id,))
        db.executemany("INSERT INTO incoming (client_id, packet_id, message) VALUES (?, ?, ?)",
                       ((client_id, packet_id, message) for packet_id, message in change.incoming))
    db.executemany("DELETE FROM outgoing WHERE client_id = ? AND seq = ?",
                   ((client_id, seq) for seq in change.outgoing_removed))
    db.executemany("UPDATE outgoing SET packet_id = ?, released = ? WHERE client_id = ? AND seq = ?",
                   ((packet_id, int(released), client_id, seq) for seq, packet_id, released in
                    change.outgoing_updated))
    db.executemany("INSERT OR REPLACE INTO outgoing (client_id, seq, packet_id, released, qos, retain, message, "
                   "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _outgoing_rows(client_id, change.outgoing_added))


def _outgoing_rows(client_id: str, rows: Iterable[OutgoingRow]) -> Iterator[tuple[object, ...]]:
    for row in rows:
        yield (client_id, row.seq, row.packet_id, int(row.released), row.qos, int(row.retain), row.message,
               row.expires_at)


def _make_private(path: Path) -> None:
    if os.name == "posix" and path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o600)
