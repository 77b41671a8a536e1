"""The credential that last connected with each clientId (see `core/client_ids.py` for why it matters).

Written by the broker's recorder in batches, with no change notice: the running pipeline already knows, and a
notice per connect would rebuild its snapshot all through a storm. Releasing a clientId (`mqttdesk session discard`)
is an administrator's change and is announced.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mqttdesk.core.model import CredentialKind, CredentialRef
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    from mqttdesk.store.db import Store

KEEP_SECONDS = 180 * 86400.0  # a clientId unused for half a year is free again
MAX_ROWS = 200_000


class ClientIdsRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def owners(self) -> dict[str, CredentialRef]:
        with self._store.read() as db:
            rows = db.execute("SELECT client_id, credential_kind, credential_name FROM client_ids").fetchall()
        return {row["client_id"]: CredentialRef(CredentialKind(row["credential_kind"]), row["credential_name"])
                for row in rows}

    def owner(self, client_id: str) -> tuple[CredentialRef, float] | None:
        row = self._store.connection.execute(
            "SELECT credential_kind, credential_name, last_used FROM client_ids WHERE client_id = ?", (client_id,)
        ).fetchone()
        if row is None:
            return None
        return CredentialRef(CredentialKind(row["credential_kind"]), row["credential_name"]), float(row["last_used"])

    def record(self, uses: dict[str, tuple[CredentialRef, float]]) -> None:
        """Remember who used each clientId last (inside the caller's write transaction, or one of its own)."""
        if not uses:
            return
        with self._store.write() as db:
            db.executemany(
                "INSERT INTO client_ids (client_id, credential_kind, credential_name, last_used) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET credential_kind = excluded.credential_kind,"
                " credential_name = excluded.credential_name, last_used = excluded.last_used",
                [(client_id, ref.kind.value, ref.name, when) for client_id, (ref, when) in uses.items()],
            )

    def release(self, client_id: str) -> CredentialRef | None:
        """Forget who last used `client_id`; returns that credential (None when nothing was recorded)."""
        found = self.owner(client_id)
        if found is None:
            return None
        with self._store.write(Change(ChangeKind.CLIENT_ID, client_id)) as db:
            db.execute("DELETE FROM client_ids WHERE client_id = ?", (client_id,))
        return found[0]

    def prune(self, *, keep_seconds: float = KEEP_SECONDS, max_rows: int = MAX_ROWS) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM client_ids WHERE last_used < ?", (time.time() - keep_seconds,))
            db.execute("DELETE FROM client_ids WHERE client_id IN (SELECT client_id FROM client_ids"
                       " ORDER BY last_used DESC LIMIT -1 OFFSET ?)", (max_rows,))
