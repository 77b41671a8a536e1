"""The store: one SQLite file (mode 0600, WAL) in a private data directory (0700), its migrations, repositories and
change notification.

The file uses `auto_vacuum = INCREMENTAL`, so space the Auth log's pruning frees goes back to the file system
(`reclaim_space`); a file made before that is converted once, at open, by a VACUUM after pruning it to its budget.
The WAL file is truncated back to `_WAL_SIZE_LIMIT` after each checkpoint instead of keeping its largest size, and
checkpoints run in a thread of their own from the first write on (`checkpoints.py`), not inside a commit.

Every mutation runs in one short transaction through `Store.write()`, which also appends its change notices to
`change_log`. Listeners in this process are told right after the commit; another process (the CLI changing the
store while the GUI runs) is noticed by `poll_external_changes()`, which the running instance calls a few times a
second — a single cheap `PRAGMA data_version` check when nothing changed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mqttdesk.core.client_ids import reservations_of
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.core.model import Directory
from mqttdesk.store.auth_log_repo import AuthLogRepo
from mqttdesk.store.bans_repo import BansRepo
from mqttdesk.store.bootstraps_repo import BootstrapsRepo
from mqttdesk.store.changes import Change, ChangeKind, ChangeListener
from mqttdesk.store.checkpoints import BackgroundCheckpoints
from mqttdesk.store.client_ids_repo import ClientIdsRepo
from mqttdesk.store.devices_repo import DevicesRepo
from mqttdesk.store.migrations import migrate
from mqttdesk.store.roles_repo import RolesRepo
from mqttdesk.store.settings_repo import SettingsRepo
from mqttdesk.store.token_issuers_repo import TokenIssuersRepo
from mqttdesk.store.users_repo import UsersRepo

if TYPE_CHECKING:
    from mqttdesk.store.authority import StoredAuthority

log = logging.getLogger(__name__)

DB_FILENAME = "mqttdesk.sqlite3"
_CHANGE_LOG_KEEP_SECONDS = 3600.0
_WAL_SIZE_LIMIT = 4 * 1024 * 1024
_AUTO_VACUUM_INCREMENTAL = 2
# SQLite's own page cache, per connection. Its default (2 MiB) filled with the Auth log pages every CONNECT appends
# and nobody reads again (380 bytes of every connected client in the memory bench, up to 2 MiB of the broker's);
# the kernel caches the file anyway, and what a CONNECT reads (credentials, bans, bootstraps) is a few hot pages.
# 256 KiB: no change in the connect benchmarks against the default.
_PAGE_CACHE_KIB = 256


def make_private_dir(data_dir: Path, notice: Callable[[str], None]) -> None:
    """Create `data_dir` mode 0700, or make an existing one private: 0700 when group or others could reach it.

    An existing directory open to others is tightened, with a one-line `notice`, rather than refused: it is the
    user's own (made by hand, or unpacked from a backup) and refusing would only make them type the same chmod.
    One that cannot be tightened (another user's, or a file system that ignores modes) is refused, since the
    store holds password hashes and `instance.json` the token that controls the running broker.
    """
    try:
        data_dir.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        if not data_dir.is_dir():
            raise MqttdeskError(f"the data directory {data_dir} is not a directory") from None
    else:
        os.chmod(data_dir, 0o700)  # exactly: mkdir's mode passes through the umask
        return
    if os.name != "posix":  # Windows reports 0777 for every directory; its ACLs are another matter
        return
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if not mode & 0o077:
        return
    reason = "its mode did not change"
    try:
        os.chmod(data_dir, 0o700)
    except PermissionError as exc:
        reason = exc.strerror or "permission denied"
    if stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        raise MqttdeskError(f"the data directory {data_dir} is open to other users (mode {mode:04o}) and cannot be "
                            f"made private ({reason}); use a directory of your own")
    notice(f"the data directory {data_dir} was open to other users (mode {mode:04o}); it is now private (0700)")


class Store:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path
        self.origin = uuid.uuid4().hex
        self.has_written = False  # whether this connection committed a change (the CLI then nudges the instance)
        self._listeners: list[ChangeListener] = []
        self._pending: list[Change] = []
        self._depth = 0
        self._checkpoints: BackgroundCheckpoints | None = None  # from the first write on
        self._data_version = self._read_data_version()
        self._last_change_id = int(connection.execute("SELECT COALESCE(MAX(id), 0) FROM change_log").fetchone()[0])
        self.users = UsersRepo(self)
        self.bootstraps = BootstrapsRepo(self)
        self.devices = DevicesRepo(self)
        self.roles = RolesRepo(self)
        self.settings = SettingsRepo(self)
        self.auth_log = AuthLogRepo(self)
        self.client_ids = ClientIdsRepo(self)
        self.token_issuers = TokenIssuersRepo(self)
        self.bans = BansRepo(self)

    @functools.cached_property
    def pki(self) -> StoredAuthority:
        """The CA, its files and the certificates; built on first use because `cryptography` takes a third of
        the CLI's start-up to import, and most commands never touch a certificate."""
        from mqttdesk.store.authority import StoredAuthority

        return StoredAuthority(self, self.path.parent)

    @classmethod
    def open(cls, data_dir: Path | str, *, notice: Callable[[str], None] = log.warning) -> Store:
        """Open (creating when needed) the store in `data_dir`, made private first (see `make_private_dir`).

        The file is created mode 0600; `notice` hears the one line saying that an existing directory was tightened.
        """
        data_dir = Path(data_dir)
        make_private_dir(data_dir, notice)
        path = data_dir / DB_FILENAME
        if not path.exists():
            # create the file ourselves so it is never world-readable, not even for an instant
            with contextlib.suppress(FileExistsError):  # another process (CLI or GUI) was faster
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        elif os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)  # copied in with a wider mode; the directory alone already keeps others out
        connection = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        try:
            connection.row_factory = sqlite3.Row
            # takes effect only while the file has no table yet (a new file); older files are converted below
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
            # checkpoints run in a thread of their own, not in a commit on the event loop (checkpoints.py)
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute(f"PRAGMA cache_size = -{_PAGE_CACHE_KIB}")
            migrate(connection)
        except BaseException:
            connection.close()
            raise
        for suffix in ("-wal", "-shm"):
            sidecar = path.with_name(path.name + suffix)
            if sidecar.exists():
                os.chmod(sidecar, 0o600)
        store = cls(connection, path)
        store._convert_to_incremental_vacuum()
        return store

    def _convert_to_incremental_vacuum(self) -> None:
        """Once per file made before auto-vacuum: prune the Auth log to its budget, then VACUUM (which copies only
        what is left, and is what makes the new auto-vacuum mode stick)."""
        if int(self._connection.execute("PRAGMA auto_vacuum").fetchone()[0]) == _AUTO_VACUUM_INCREMENTAL:
            return
        try:
            self.auth_log.enforce_budget(self.settings.auth_log_max_bytes())
            self._connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self._connection.execute("VACUUM")
            # the VACUUM went through the WAL: a copy of the whole file, which would otherwise stay on disk
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.OperationalError as exc:  # another process has it open in a transaction: next time
            log.warning("could not convert %s to incremental auto-vacuum yet: %s", self.path, exc)

    def used_bytes(self) -> int:
        """Bytes of the file in use (pages not on the free list), as the current transaction sees them."""
        pages = int(self._connection.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._connection.execute("PRAGMA freelist_count").fetchone()[0])
        page_size = int(self._connection.execute("PRAGMA page_size").fetchone()[0])
        return (pages - free) * page_size

    def reclaim_space(self) -> None:
        """Hand the free pages back to the file system, and let the file shrink now rather than at some later
        checkpoint. (A plain `execute` of incremental_vacuum frees one page: the pragma works one page per step.)"""
        if self._depth or self._connection.in_transaction:
            return
        self._connection.executescript("PRAGMA incremental_vacuum;")
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another process's transaction before failing with "database is locked"."""
        self._connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None
        self._connection.close()

    # -- transactions and notification -------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        return self._connection

    @contextlib.contextmanager
    def write(self, *changes: Change) -> Iterator[sqlite3.Connection]:
        """One write transaction; `changes` (and any added with `note`) are announced after the commit."""
        outermost = self._depth == 0
        if outermost:
            self._connection.execute("BEGIN IMMEDIATE")
        self._depth += 1
        self._pending.extend(changes)
        try:
            yield self._connection
            if outermost:
                if self._pending:  # (an Auth log batch announces nothing: no statement for it)
                    self._record_changes(self._pending)
                self._connection.execute("COMMIT")
                self.has_written = True
                if self._checkpoints is None:
                    self._checkpoints = BackgroundCheckpoints(self.path)
        except BaseException:
            self._depth -= 1
            if outermost:
                if self._connection.in_transaction:  # also when COMMIT itself failed
                    self._connection.execute("ROLLBACK")
                self._pending.clear()
            raise
        self._depth -= 1
        if outermost:
            # `_data_version` and `_last_change_id` are left alone: our own commit does not move `data_version`,
            # and skipping to our own change_log rows would lose what other processes wrote since the last poll.
            announced, self._pending = tuple(dict.fromkeys(self._pending)), []
            if announced:
                self._announce(announced)

    def note(self, change: Change) -> None:
        """Add a change notice to the write transaction in progress."""
        self._pending.append(change)

    def _record_changes(self, changes: list[Change]) -> None:
        now = time.time()
        self._connection.executemany(
            "INSERT INTO change_log (origin, kind, key, time) VALUES (?, ?, ?, ?)",
            [(self.origin, change.kind.value, change.key, now) for change in dict.fromkeys(changes)],
        )

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _announce(self, changes: tuple[Change, ...]) -> None:
        for listener in list(self._listeners):
            try:
                listener(changes)
            except Exception:
                log.exception("store change listener failed")

    def _read_data_version(self) -> int:
        return int(self._connection.execute("PRAGMA data_version").fetchone()[0])

    def poll_external_changes(self) -> tuple[Change, ...]:
        """Announce (and return) what other processes changed since the last poll."""
        version = self._read_data_version()
        if version == self._data_version:
            return ()
        self._data_version = version
        rows = self._connection.execute(
            "SELECT id, origin, kind, key FROM change_log WHERE id > ? ORDER BY id", (self._last_change_id,)
        ).fetchall()
        if rows:
            self._last_change_id = int(rows[-1]["id"])
        changes = tuple(
            dict.fromkeys(Change(ChangeKind(row["kind"]), row["key"]) for row in rows if row["origin"] != self.origin)
        )
        if changes:
            self._announce(changes)
        return changes

    def prune(self, *, auth_log_keep: int = 200_000) -> None:
        """Housekeeping: bound the change feed and the Auth log (in rows and in bytes)."""
        with self.write() as db:
            # never the newest row: SQLite would hand its id out again, and pollers only read ids above the last
            db.execute("DELETE FROM change_log WHERE time < ? AND id < (SELECT MAX(id) FROM change_log)",
                       (time.time() - _CHANGE_LOG_KEEP_SECONDS,))
        self.auth_log.prune(auth_log_keep)
        self.client_ids.prune()
        self.bans.prune()
        self.auth_log.enforce_budget(self.settings.auth_log_max_bytes())

    def last_actor(self, credential_kind: str, name: str) -> str | None:
        """Who made the latest recorded change to a credential ("cli", "admin", ...), for forced-disconnect notes."""
        row = self._connection.execute(
            "SELECT actor FROM credential_history WHERE credential_kind = ? AND name = ? ORDER BY id DESC LIMIT 1",
            (credential_kind, name),
        ).fetchone()
        return None if row is None else str(row["actor"])

    # -- snapshots ---------------------------------------------------------------------------------

    def directory(self, listen_host: str | None = None) -> Directory:
        """A consistent snapshot of everything an auth decision needs (anonymous access depends on the host)."""
        with self.read():
            users = self.users.list()
            return Directory(
                users={user.name: user for user in users},
                roles={role.name: role for role in self.roles.list()},
                anonymous=self.settings.anonymous_policy(listen_host),
                bootstraps={bootstrap.name: bootstrap for bootstrap in self.bootstraps.list()},
                devices={device.client_id: device for device in self.devices.list()},
                client_id_owners=self.client_ids.owners(),
                reservations=reservations_of(users),
                # read here rather than through `pki`, which imports cryptography: a decision needs two columns
                trusted_ca_subjects={row["name"]: row["subject"] for row in self._connection.execute(
                    "SELECT name, subject FROM trusted_cas")},
                revoked_serials=frozenset(format(int(row["serial"], 16), "x") for row in self._connection.execute(
                    "SELECT serial FROM certificates WHERE revoked_at IS NOT NULL")),
                token_issuers={issuer.name: issuer for issuer in self.token_issuers.list()},
                external=self.settings.external(),
            )

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction, so several SELECTs see one state even while another process writes."""
        if self._depth or self._connection.in_transaction:
            yield self._connection
            return
        self._connection.execute("BEGIN")
        try:
            yield self._connection
        finally:
            self._connection.execute("COMMIT")
