"""The session registry: who is connected right now, with counters, and who wants to hear about it.

It also lists the persistent sessions kept for clients that are away (clean session 0): `offline()`, with the
OFFLINE and DISCARDED events. Those are not "connected" — `len()`, iteration and `snapshot()` are live sessions
only — but they hold their clientId (`holders()`): only the identity that created one may resume it.

Pure bookkeeping (no amqtt, no Qt): the broker adapter feeds it, the GUI's Clients model and the control socket
read it. Listeners get `SessionEvent`s; counters change often, so `messages_in/out` updates are not announced one
by one: views that show them refresh on `changed()` batches, which the broker emits at most a few times a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from mqttdesk.broker.limit_counts import LimitCounts
from mqttdesk.broker.subscription import Subscription
from mqttdesk.core.decision import MQTT_311, Grant, SessionHolder
from mqttdesk.core.model import CredentialRef
from mqttdesk.core.values import value_record

log = logging.getLogger(__name__)


class SessionView(Protocol):
    """What a connection's record reads of its session (`broker.session_state.SessionState`) instead of copying."""

    @property
    def subscriptions(self) -> Mapping[str, Subscription]: ...
    @property
    def queue(self) -> Sized: ...


# read-only: a write meant for one session fails instead of reaching every one that shares it
NO_SUBSCRIPTIONS: Mapping[str, Subscription] = MappingProxyType({})


@dataclass(slots=True, eq=False)
class LiveSession:
    """One connection of a session, as the views see it: who, from where, since when, and its counters.

    What belongs to the session rather than to this connection — its subscriptions and its queue — is read from the
    session itself (`session`), never copied: one object holds each fact. `offline_since` is set while the session
    is kept after this, its last connection, ended.
    """

    client_id: str
    username: str | None
    method: str
    address: str | None
    connected_since: float
    clean_session: bool
    grant: Grant = field(repr=False)
    password_hash: str | None = field(default=None, repr=False)  # what admitted it, to notice a password change
    virtual: bool = False  # a bootstrap device that is not registered (its session ends with the connection)
    messages_in: int = 0
    messages_out: int = 0
    # topic decisions already logged; made at the first (an empty set is 216 bytes of every idle client)
    logged: set[tuple[object, ...]] | None = field(default=None, repr=False)
    offline_since: float | None = None  # set while the session is kept for a client that is away
    listener: str | None = None  # the listener it connected on, e.g. "tls"
    transport: str | None = None  # tcp | tls | ws | wss
    protocol: str = MQTT_311  # the MQTT version of the connection: "3.1.1" or "5"
    session: SessionView | None = field(default=None, repr=False)  # the session it belongs to (set by the broker)

    @property
    def subscriptions(self) -> Mapping[str, Subscription]:
        """The session's subscriptions: filter -> granted QoS and options."""
        return NO_SUBSCRIPTIONS if self.session is None else self.session.subscriptions

    @property
    def queued(self) -> int:
        """Messages waiting for the client in the session's queue (beyond those in flight)."""
        return 0 if self.session is None else len(self.session.queue)

    @property
    def credential(self) -> CredentialRef:
        return self.grant.credential

    def holder(self) -> SessionHolder:
        """What a CONNECT decision needs to know of this session when another client asks for its clientId."""
        return SessionHolder(self.client_id, self.username, self.credential, self.address, self.connected_since,
                             self.offline_since)

    def to_json(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "username": self.username,
            "credential": {"kind": self.credential.kind.value, "name": self.credential.name},
            "method": self.method,
            "expires_at": self.grant.valid_until,  # a token's `exp` or a certificate's end; None: it does not expire
            "address": self.address,
            "connected_since": self.connected_since,
            "clean_session": self.clean_session,
            "virtual": self.virtual,
            "subscriptions": [{"filter": f, "qos": s.qos} for f, s in self.subscriptions.items()],
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "connected": self.offline_since is None,
            "offline_since": self.offline_since,
            "queued": self.queued,
            "listener": self.listener,
            "transport": self.transport,
            "protocol": self.protocol,
        }


class SessionEventKind(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UPDATED = "updated"  # subscriptions or counters changed
    OFFLINE = "offline"  # after DISCONNECTED: the persistent session is kept for the client's return
    DISCARDED = "discarded"  # a kept session was dropped (discarded by an administrator, credential gone, clean)


@value_record
class SessionEvent:
    kind: SessionEventKind
    client_id: str
    session: LiveSession
    reason: str | None = None  # for DISCONNECTED and DISCARDED: why, in words


SessionListener = Callable[[SessionEvent], None]


class _Holders(Mapping[str, SessionHolder]):
    """The registry seen as clientId → holder (live first, then kept sessions), without copying it per CONNECT."""

    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry

    def __getitem__(self, client_id: str) -> SessionHolder:
        session = self._registry.get(client_id) or self._registry.get_offline(client_id)
        if session is None:
            raise KeyError(client_id)
        return session.holder()

    def get(self, client_id: str, default: SessionHolder | None = None) -> SessionHolder | None:  # type: ignore[override]
        # asked once per CONNECT, almost always for a clientId nobody holds: no KeyError raised and caught for that
        session = self._registry.get(client_id) or self._registry.get_offline(client_id)
        return default if session is None else session.holder()

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([s.client_id for s in self._registry] + [s.client_id for s in
                                                                          self._registry.offline()]))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, LiveSession] = {}
        self._offline: dict[str, LiveSession] = {}
        self._listeners: list[SessionListener] = []
        self._dirty: set[str] = set()
        self.limit_counts = LimitCounts()  # what the broker's limits refused or dropped (the Clients view shows it)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._sessions.values()))

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._sessions

    def get(self, client_id: str) -> LiveSession | None:
        return self._sessions.get(client_id)

    def snapshot(self) -> list[LiveSession]:
        return sorted(self._sessions.values(), key=lambda s: s.connected_since)

    def get_offline(self, client_id: str) -> LiveSession | None:
        return self._offline.get(client_id)

    def offline(self) -> list[LiveSession]:
        """Persistent sessions kept for clients that are away, longest away first."""
        return sorted(self._offline.values(), key=lambda s: s.offline_since or 0.0)

    def holders(self) -> Mapping[str, SessionHolder]:
        """Who holds which clientId, online or kept (what a CONNECT decision and the explainer consult)."""
        return _Holders(self)

    def by_credential(self, credential: CredentialRef) -> list[LiveSession]:
        return [s for s in self._sessions.values() if s.credential == credential]

    def subscribe(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: SessionListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def add(self, session: LiveSession) -> None:
        self._offline.pop(session.client_id, None)  # resumed: the CONNECTED row replaces the kept one
        session.offline_since = None
        self._sessions[session.client_id] = session
        self._emit(SessionEvent(SessionEventKind.CONNECTED, session.client_id, session))

    def remove(self, client_id: str, session: LiveSession, reason: str | None = None) -> None:
        """Remove `session` if it is still the one registered under `client_id` (a take-over may have replaced it)."""
        if self._sessions.get(client_id) is session:
            del self._sessions[client_id]
            self._dirty.discard(client_id)
            self._emit(SessionEvent(SessionEventKind.DISCONNECTED, client_id, session, reason))

    def park(self, session: LiveSession, since: float | None = None) -> None:
        """`session`'s connection ended (at `since`, default now) but its persistent session is kept (call after
        `remove`; a session read back after a restart comes straight here)."""
        if self._sessions.get(session.client_id) is not None:
            return  # already taken over by a new connection
        session.offline_since = time.time() if since is None else since
        self._offline[session.client_id] = session
        self._emit(SessionEvent(SessionEventKind.OFFLINE, session.client_id, session))

    def discard(self, client_id: str, reason: str | None = None) -> LiveSession | None:
        """The kept session of `client_id` was dropped; returns it (None when none was kept)."""
        session = self._offline.pop(client_id, None)
        if session is not None:
            self._dirty.discard(client_id)
            self._emit(SessionEvent(SessionEventKind.DISCARDED, client_id, session, reason))
        return session

    def discard_all_offline(self, reason: str) -> None:
        """The broker stopped: the sessions it kept are no longer in memory (persistence brings them back with the
        next start), so none of them may hold its clientId meanwhile."""
        for client_id in list(self._offline):
            self.discard(client_id, reason)

    def touch(self, session: LiveSession) -> None:
        """Mark a session's counters or subscriptions as changed; announced by the next `flush_updates()`."""
        self._dirty.add(session.client_id)

    def touch_client_ids(self, client_ids: list[str]) -> None:
        """`touch` for the sessions of these clientIds (a fan-out's receivers), in one call."""
        self._dirty.update(client_ids)

    def flush_updates(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for client_id in dirty:
            session = self._sessions.get(client_id) or self._offline.get(client_id)
            if session is not None:
                self._emit(SessionEvent(SessionEventKind.UPDATED, client_id, session))

    def _emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("session listener failed")

