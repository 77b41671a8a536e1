"""The "Last forced disconnect" column of the credential tables: when a session of the credential was last ended by
someone else (a kick, a suspension, a new password, a take-over) and why, as the Auth log recorded it.

Read lazily, one indexed query per row the first time that row is painted or sorted (with a thousand devices only
the visible rows ask), then kept current from the bridge's `auth_entries`: a kick lands on the one row it concerns
without re-reading anything else. Users and bootstrap credentials are looked up by username, devices by clientId.
An entry older than the credential itself belongs to a deleted namesake and is not shown.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable
from typing import Literal

from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store

Lookup = Literal["username", "client_id"]
HEADER = "Last forced disconnect"
HEADER_TIP = ("The last time a session of this credential was ended by someone else (kicked, credential suspended, "
              "revoked, deleted or given a new password, clientId taken over) and why")


def short_time(timestamp: float, now: float | None = None) -> str:
    """"12:03" today, "2026-11-23 12:03" before: a table cell has no room for a date it does not need."""
    local, today = time.localtime(timestamp), time.localtime(time.time() if now is None else now)
    if local[:3] == today[:3]:
        return time.strftime("%H:%M", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def forced_text(entry: AuthLogEntry | None, *, with_client: bool = False) -> str:
    """"12:03 kicked by admin", "12:05 user 'lamp' was suspended (by cli)": the column's title already says
    "disconnected", so the reason's own "disconnected: " is left out. `with_client` names the clientId too, for
    credentials many devices share."""
    if entry is None:
        return "—"
    client = f"{entry.client_id}: " if with_client and entry.client_id else ""
    reason = entry.reason.removeprefix("disconnected: ")
    return f"{short_time(entry.time)} {client}{reason}"


def forced_tooltip(entry: AuthLogEntry | None) -> str:
    if entry is None:
        return "No session of this credential was ever ended by a kick or a credential change."
    where = f" from {entry.address}" if entry.address else ""
    who = f" (username '{entry.username}')" if entry.username else ""
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(entry.time))}: client '{entry.client_id}'"
            f"{who}{where}\n{entry.reason}")


class ForcedDisconnects:
    """The latest forced disconnect per key, read on demand and updated from new Auth log entries."""

    def __init__(self, store: Store, lookup: Lookup) -> None:
        self._store = store
        self._lookup: Lookup = lookup
        self._latest: dict[str, AuthLogEntry | None] = {}

    def latest(self, key: str, *, since: float = 0.0) -> AuthLogEntry | None:
        """The latest forced disconnect of `key` no older than `since` (the credential's creation)."""
        if key not in self._latest:
            if self._lookup == "username":
                self._latest[key] = self._store.auth_log.last_forced_disconnect(username=key)
            else:
                self._latest[key] = self._store.auth_log.last_forced_disconnect(client_id=key)
        entry = self._latest[key]
        return entry if entry is not None and entry.time >= since else None

    def note(self, entries: Iterable[AuthLogEntry], known: Container[str]) -> set[str]:
        """Take in newly stored entries; return the keys among `known` whose latest forced disconnect changed."""
        changed: set[str] = set()
        for entry in entries:
            key = entry.username if self._lookup == "username" else entry.client_id
            if key is not None and key in known and entry.forced_end:
                self._latest[key] = entry
                changed.add(key)
        return changed


def forced_notices(entries: Iterable[AuthLogEntry], *, listed: int = 3) -> list[tuple[str, str]]:
    """(text, tooltip) per distinct reason among the forced ends in `entries`, for the Clients tab's notices.

    One client: "DVES_1A2B3C disconnected: device 'DVES_1A2B3C' was suspended (by admin)". Suspending a fleet ends
    hundreds of sessions for one reason in one batch: "a, b, c and 497 more disconnected: bootstrap credential …".
    """
    grouped: dict[str, list[AuthLogEntry]] = {}
    for entry in entries:
        if entry.forced_end:
            grouped.setdefault(entry.reason, []).append(entry)
    notices = []
    for reason, ended in grouped.items():
        names = [entry.client_id or "?" for entry in ended]
        if len(names) == 1:
            who = names[0]
        elif len(names) <= listed:
            who = ", ".join(names[:-1]) + " and " + names[-1]
        else:
            who = ", ".join(names[:listed]) + f" and {len(names) - listed} more"
        when = time.strftime("%H:%M:%S", time.localtime(ended[-1].time))
        shown = "\n".join(names[:20]) + (f"\n… and {len(names) - 20} more" if len(names) > 20 else "")
        notices.append((f"{who} {reason}", f"{when}: {reason}\n{shown}"))
    return notices
