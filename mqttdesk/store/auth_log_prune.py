"""Keeping the Auth log within its bounds (rows and bytes) without letting noise push out the trail of an incident.

Pruning goes oldest first within tiers, the least telling tier first:

0. noise — decisions about no known credential: unknown usernames, malformed or unsupported connects, refused
   anonymous clients, and any entry without a username (anonymous sessions and their ends);
1. the routine of known credentials — their accepted decisions and normal session ends;
2. refusals of known credentials — wrong passwords, suspended or revoked credentials, refused topics, kicks.

So a flood of junk CONNECTs only ever pushes out older junk while a real credential's refusals stay. The byte bound
is measured on the file itself (pages in use, every table and index included); with `auto_vacuum = INCREMENTAL`
the pages freed are handed back to the file system, so the file shrinks too. The newest row is never pruned:
SQLite would hand its id out again, and the views page and update rows by id.
"""

from __future__ import annotations

import math
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mqttdesk.store.db import Store

NOISE_CODES = ("unknown-user", "bad-protocol", "anonymous-refused", "missing-username")
_NOISE = f"(username IS NULL OR username = '' OR reason_code IN ({', '.join(repr(c) for c in NOISE_CODES)}))"
TIERS = (_NOISE, f"(NOT {_NOISE} AND allowed = 1)", f"(NOT {_NOISE} AND allowed = 0)")
LOW_WATER = 0.8  # over budget, prune down to this share of it: not again at the very next append
_MAX_ROUNDS = 12  # per tier; each round deletes what the average row size says is needed, then measures again


def _delete_oldest(store: Store, tier: str, rows: int) -> int:
    cursor = store.connection.execute(
        f"DELETE FROM auth_log WHERE id IN (SELECT id FROM auth_log WHERE {tier}"
        " AND id < (SELECT MAX(id) FROM auth_log) ORDER BY id LIMIT ?)", (rows,))
    return max(cursor.rowcount, 0)


def prune_rows(store: Store, keep: int) -> int:
    """Keep at most `keep` rows (and at least the newest one), noise first."""
    deleted = 0
    with store.write() as db:
        excess = int(db.execute("SELECT COUNT(*) FROM auth_log").fetchone()[0]) - max(keep, 1)
        for tier in TIERS:
            if excess <= 0:
                break
            gone = _delete_oldest(store, tier, excess)
            excess -= gone
            deleted += gone
    if deleted:
        store.reclaim_space()
    return deleted


# what one row costs on disk, estimated from its values: the text of the row, its client and username again in
# their indexes, and the record and cell headers
_ROW_BYTES = (
    "SELECT AVG(length(CAST(steps AS BLOB)) + length(CAST(reason AS BLOB)) + 2 * length(CAST(client_id AS BLOB))"
    " + 2 * COALESCE(length(CAST(username AS BLOB)), 0) + COALESCE(length(CAST(address AS BLOB)), 0)"
    " + COALESCE(length(CAST(topic AS BLOB)), 0) + length(reason_code) + 64) FROM auth_log")


def _row_bytes(db: sqlite3.Connection, file_share: float) -> float:
    """A row's share of the file. The whole file over the rows (`file_share`) counts the schema and the other
    tables too, which on a small budget made the rounds shrink until a tier ran out of them and pruning went on
    to the next, more telling tier; the row's own bytes converge in a round or two and never exceed that share."""
    estimate = db.execute(_ROW_BYTES).fetchone()[0]
    return min(file_share, float(estimate)) if estimate else file_share


def prune_bytes(store: Store, max_bytes: int) -> int:
    """When the file holds more than `max_bytes`, prune (noise first) until it holds at most `LOW_WATER` of it."""
    if store.used_bytes() <= max_bytes:
        return 0
    target = int(max_bytes * LOW_WATER)
    deleted = 0
    with store.write() as db:
        for tier in TIERS:
            for _round in range(_MAX_ROUNDS):
                used = store.used_bytes()
                rows = int(db.execute("SELECT COUNT(*) FROM auth_log").fetchone()[0])
                if used <= target or rows <= 1:
                    break
                per_row = _row_bytes(db, used / rows)
                gone = _delete_oldest(store, tier, max(1, math.ceil((used - target) / per_row)))
                if not gone:
                    break  # this tier is empty: the next one
                deleted += gone
    if deleted:
        store.reclaim_space()
    return deleted
