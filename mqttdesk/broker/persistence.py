"""Persistence: retained messages and the sessions kept for clients survive a restart of the broker.

What is kept (Mosquitto's `persistence true`): retained messages, and every session that outlives its connection
(MQTT 3.1.1 clean session 0, MQTT 5 session expiry > 0) with its subscriptions, its QoS 1/2 messages in flight (with
their packet ids, and whether a QoS 2 one was released) and queued, the QoS 2 messages received from the client and
not yet released, its last packet id and when its client went away. After a restart such a session is kept for its
client as if the client had just gone away, and resumes with session present 1: what was in flight is resent with
DUP set. Time spent down counts: an MQTT 5 session whose expiry interval passed meanwhile is gone, and a message
whose expiry interval passed is not sent (neither queued nor retained). A session whose credential no longer admits
it (deleted, suspended, password changed while the broker was down) is dropped at start, as it would have been
while running. A delayed will pending at the stop is not kept: a stopping broker publishes no will.

How it is written (write-behind): nothing on the publish path touches the file. The session and the router mark
what changed (`SessionState.*_changed`, `RetainedMessages.changes`: one attribute store per message); every
`FLUSH_INTERVAL` a snapshot of what changed since the last one is taken on the event loop — references to the
immutable messages, and per session the difference against what the file has (so an offline session's queue of a
thousand messages costs one new row per new message, not a rewrite) — and written in one transaction in a worker
thread (`store/session_store.py`). A message that comes and goes between two flushes (the usual case of a connected
client) is never written. A crash (kill -9) loses what changed after the last flush, at most about
`FLUSH_INTERVAL`; a clean stop writes everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqttdesk.broker.protocol import OutgoingPublish, Publish
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.properties import decode_properties, encode_properties
from mqttdesk.broker.registry import LiveSession
from mqttdesk.broker.session_state import NEVER_EXPIRES, Outgoing, SessionState
from mqttdesk.broker.subscription import Subscription
from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.decide import revalidate
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import CredentialKind, CredentialRef, Directory, Method
from mqttdesk.store.session_store import Batch, OutgoingRow, SessionChange, SessionFile, SessionRows

if TYPE_CHECKING:
    from mqttdesk.broker.desk_broker import DeskBroker

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5  # seconds between two batches: what a crash can lose
HEARTBEAT_INTERVAL = 5.0  # while connected sessions have an expiry: how stale "when it went away" is after a crash


# -- messages, grants and subscriptions as the file keeps them ----------------------------------------------------


def encode_message(publish: Publish) -> bytes:
    """A message as bytes: flags (QoS, retain), topic, MQTT 5 properties (without a topic alias), payload."""
    properties = publish.properties
    if properties.topic_alias is not None:  # an inbound alias means nothing once the connection is gone
        properties = replace(properties, topic_alias=None)
    return bytes((publish.qos | (4 if publish.retain else 0),)) + wf.encode_string(publish.topic) + \
        encode_properties(properties) + publish.payload


def decode_message(data: bytes) -> Publish:
    end = len(data)
    flags = data[0]
    topic, offset = wf.read_string(data, 1, end)
    properties, offset = decode_properties(data, offset, end, wf.PUBLISH)
    return Publish(topic, bytes(data[offset:]), flags & 3, bool(flags & 4), properties=properties)


def grant_to_json(grant: Grant) -> dict[str, Any]:
    return {"method": grant.method.value, "kind": grant.credential.kind.value, "name": grant.credential.name,
            "username": grant.username, "client_id": grant.client_id, "tenant": grant.tenant,
            "certificate_serial": grant.certificate_serial, "valid_until": grant.valid_until,
            "rules": [[r.role, r.topic_filter, r.permission.value, r.effect.value] for r in grant.rules],
            "verified_with": grant.verified_with}


def grant_from_json(data: dict[str, Any]) -> Grant:
    """The grant a kept session was admitted with (its registration, if any, happened when it was made)."""
    return Grant(method=Method(data["method"]), credential=CredentialRef(CredentialKind(data["kind"]), data["name"]),
                 username=data["username"], client_id=data["client_id"], tenant=data["tenant"],
                 certificate_serial=data["certificate_serial"], valid_until=data["valid_until"],
                 rules=tuple(Rule(role, f, Permission(p), Effect(e)) for role, f, p, e in data["rules"]),
                 verified_with=data["verified_with"])


def subscription_to_json(subscription: Subscription) -> str:
    return json.dumps([subscription.qos, subscription.no_local, subscription.retain_as_published,
                       subscription.retain_handling, list(subscription.identifiers)])


def subscription_from_json(text: str) -> Subscription:
    qos, no_local, retain_as_published, retain_handling, identifiers = json.loads(text)
    return Subscription(qos, no_local, retain_as_published, retain_handling, tuple(identifiers))


def expiry_left(session_expiry: int, away_since: float, now: float) -> float | None:
    """Seconds an MQTT 5 session kept since `away_since` has left at `now` (≤ 0: expired); None: never expires."""
    if session_expiry == NEVER_EXPIRES:
        return None
    return session_expiry - max(0.0, now - away_since)


# -- what the file has of each session --------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Written:
    """What the file holds of one session: its outgoing messages by object, with the row each one is.

    The queue only grows at its end (`offer`) and shrinks at its front (`_refill`), so `queued` mirrors the part of
    it that is written, in order: the difference is found from both ends, at the cost of what changed, however long
    the queue of a client that is away has grown. The in-flight window is small: it is compared whole.
    """

    state: SessionState
    # id(outgoing) -> (the message, its row's seq, packet id and released as written); holding the message keeps
    # its id from being reused while it is here
    rows: dict[int, tuple[Outgoing, int, int, bool]] = field(default_factory=dict)
    queued: deque[Outgoing] = field(default_factory=deque)  # written while queued, in queue order
    inflight: set[int] = field(default_factory=set)  # ids of those written while in flight


@dataclass(frozen=True, slots=True)
class Restored:
    """What a start read back (for the log line and tests)."""

    sessions: int = 0
    messages: int = 0  # queued and in flight
    retained: int = 0
    expired_sessions: int = 0  # their MQTT 5 session expiry passed while the broker was down
    discarded_sessions: int = 0  # their credential no longer admits them (or they could not be read)

    def describe(self) -> str:
        text = f"restored {self.sessions} session(s) with {self.messages} message(s), {self.retained} retained"
        if self.expired_sessions or self.discarded_sessions:
            text += f"; dropped {self.expired_sessions} expired, {self.discarded_sessions} no longer admitted"
        return text


class BrokerPersistence:
    """The write-behind of one running `DeskBroker` into its `SessionFile`.

    `clock` is Unix time (what MQTT 5 expiry across a restart is measured with; tests move it forward), `monotonic`
    the clock the broker's own deadlines use.
    """

    def __init__(self, file: SessionFile, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, interval: float = FLUSH_INTERVAL) -> None:
        self.file = file
        self._clock = clock
        self._monotonic = monotonic
        self._interval = interval
        self._broker: DeskBroker | None = None
        self._written: dict[str, _Written] = {}
        self._seq = 0
        self._encoded: dict[int, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self._writing: asyncio.Future[None] | None = None
        self._resync = False  # a write failed: the next batch rewrites everything
        self._last_write = 0.0
        self.batches = 0  # written so far (tests, the report)

    @classmethod
    def open(cls, data_dir: Path, **options: Any) -> BrokerPersistence:
        return cls(SessionFile.open(data_dir), **options)

    # -- start: read back ---------------------------------------------------------------------

    def restore(self, broker: DeskBroker, directory: Directory) -> Restored:
        """Give `broker` (not listening yet) the sessions and retained messages the file has."""
        self._broker = broker
        broker.router.retained.changes = set()
        contents = self.file.load()
        now, mono = self._clock(), self._monotonic()
        saved_at = contents.saved_at if contents.saved_at is not None else now
        gone = Batch()
        sessions = messages = expired = discarded = 0
        for rows in contents.sessions:
            try:
                record = json.loads(rows.record)
                away_since = record["offline_since"] or saved_at  # connected at a crash: gone since the last batch
                left = expiry_left(record["session_expiry"], away_since, now)
                grant = grant_from_json(record["grant"])
                why = revalidate(grant, directory, record["password_hash"])
                state, written = self._session(rows, record, grant, away_since, broker, now, mono)
            except Exception as exc:  # one session that cannot be read costs that session, not the others
                log.warning("not restoring the session of %s: it could not be read (%r)", rows.client_id, exc)
                discarded += 1
                gone.removed_sessions.append(rows.client_id)
                continue
            if (left is not None and left <= 0) or why is not None:
                if why is not None:
                    log.info("not restoring the session of %s: %s", rows.client_id, why)
                expired += why is None
                discarded += why is not None
                gone.removed_sessions.append(rows.client_id)
                continue
            self._written[rows.client_id] = written
            self._seq = max([self._seq, *(row.seq for row in rows.outgoing)])
            broker.adopt_session(state, left)
            sessions += 1
            messages += len(state.queue) + len(state.inflight)
        retained = 0
        for topic, message, expires_at in contents.retained:
            if expires_at is not None and expires_at <= now:
                gone.removed_retained.append(topic)  # [MQTT-3.3.2-5]: its expiry passed while the broker was down
                continue
            broker.router.retained.restore(decode_message(message),
                                           None if expires_at is None else mono + expires_at - now)
            retained += 1
        if gone:
            self.file.write(gone)
        return Restored(sessions, messages, retained, expired, discarded)

    def _session(self, rows: SessionRows, record: dict[str, Any], grant: Grant, away_since: float,
                 broker: DeskBroker, now: float, mono: float) -> tuple[SessionState, _Written]:
        live = LiveSession(
            client_id=rows.client_id, username=record["username"], method=record["method"],
            address=record["address"], connected_since=record["connected_since"], clean_session=False,
            grant=grant, password_hash=record["password_hash"], offline_since=away_since,
            listener=record["listener"], transport=record["transport"], protocol=record["protocol"])
        state = SessionState(rows.client_id, False, grant, live, broker.limits,
                             session_expiry=record["session_expiry"], version=record["version"])
        state._last_packet_id = record["last_packet_id"]
        for topic_filter, options in rows.subscriptions:  # (none: the shared empty table, as for a new session)
            state.add_subscription(topic_filter, subscription_from_json(options))
        written = _Written(state)
        for row in rows.outgoing:
            expires_at = None if row.expires_at is None else mono + row.expires_at - now
            outgoing = Outgoing(OutgoingPublish(decode_message(row.message)), row.qos, row.retain, expires_at,
                                row.packet_id, row.released)
            if row.packet_id:
                state.keep_in_flight(outgoing)
                written.inflight.add(id(outgoing))
            else:
                state.enqueue(outgoing)
                written.queued.append(outgoing)
            written.rows[id(outgoing)] = (outgoing, row.seq, row.packet_id, row.released)
        for packet_id, message in rows.incoming:
            state.hold_incoming(packet_id, None if message is None else decode_message(message))
        state.messages_changed = state.subscriptions_changed = state.record_changed = False
        return state, written

    # -- running: write behind -------------------------------------------------------------------

    def start(self) -> None:
        """Flush every `interval` from now on (call after `restore`, once the broker listens)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mqttdesk-persistence")

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                if not failing:  # once per streak: a full disk would otherwise log a traceback twice a second
                    log.exception("writing the broker's sessions to %s failed; retrying with all of them",
                                  self.file.path)
                failing = True
            else:
                if failing:
                    log.warning("writing the broker's sessions to %s works again", self.file.path)
                failing = False

    async def flush(self) -> None:
        """Write what changed since the last batch, in a worker thread (the event loop goes on meanwhile).

        A batch that fails leaves the file as it was: the next one then rewrites everything (`_resync`)."""
        batch = self.snapshot()
        if not batch and not self._heartbeat_due():
            return
        writing = self._writing = asyncio.ensure_future(asyncio.to_thread(self.file.write, batch))
        try:
            await asyncio.shield(writing)  # cancelled meanwhile (the broker stops): the write goes on, `close` waits
        except asyncio.CancelledError:
            raise
        except Exception:
            self._resync = True
            raise
        finally:
            if writing.done():
                self._writing = None
        self._last_write = self._monotonic()
        self.batches += 1

    def _heartbeat_due(self) -> bool:
        """A connected session with an expiry is counted as gone since the last batch after a crash: keep that
        time fresh even when nothing else changes."""
        if self._monotonic() - self._last_write < HEARTBEAT_INTERVAL:
            return False
        return any(w.state.connected and w.state.session_expiry != NEVER_EXPIRES for w in self._written.values())

    async def close(self) -> None:
        """The broker stopped (its sessions are parked): write everything still unwritten, close the file."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._writing is not None:  # a batch on its way: it goes first, or ours would be undone by it
            (outcome,) = await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None
            if isinstance(outcome, BaseException):
                self._resync = True
        try:
            if self._broker is not None:
                self.file.write(self.snapshot())
        finally:
            self.file.close()

    def snapshot(self) -> Batch:
        """What changed since the last snapshot, as rows; the broker's state is only read."""
        broker = self._broker
        now = self._clock()
        batch = Batch(saved_at=now)
        if broker is None:
            return batch
        if self._resync:
            self._resync = False
            batch.clear_first = True
            self._written.clear()
            batch.retained.extend(self._retained_rows(broker, broker.router.retained.topics(), now))
        offset = now - self._monotonic()  # monotonic deadline + offset = Unix time
        persistent = broker.persistent_states()
        self._encoded = {}  # by id(publish): valid during this snapshot only, while every publish is alive
        for client_id, state in persistent.items():
            written = self._written.get(client_id)
            new = written is None or written.state is not state
            if new:
                written = self._written[client_id] = _Written(state)
            elif not (state.record_changed or state.subscriptions_changed or state.messages_changed):
                continue
            assert written is not None
            batch.sessions.append(self._session_change(written, new, offset))
        self._encoded = {}
        for client_id in [c for c in self._written if c not in persistent]:
            del self._written[client_id]
            batch.removed_sessions.append(client_id)
        changed = broker.router.retained.changes
        if changed:
            broker.router.retained.changes = set()
            batch.retained.extend(self._retained_rows(broker, changed, now))
            batch.removed_retained.extend(t for t in changed if broker.router.retained.get(t) is None)
        return batch

    def _session_change(self, written: _Written, new: bool, offset: float) -> SessionChange:
        state = written.state
        change = SessionChange(state.client_id, json.dumps(self._record(state)), replace_all=new)
        if new or state.subscriptions_changed:
            change.subscriptions = [(f, subscription_to_json(s)) for f, s in state.subscriptions.items()]
        if new or state.messages_changed:
            change.incoming = [(packet_id, None if publish is None else encode_message(publish))
                               for packet_id, publish in state.incoming_qos2.items()]
            self._outgoing_diff(written, change, offset)
        state.record_changed = state.subscriptions_changed = state.messages_changed = False
        return change

    def _outgoing_diff(self, written: _Written, change: SessionChange, offset: float) -> None:
        state, rows, mirror = written.state, written.rows, written.queued
        queue = state.queue
        left: list[Outgoing] = []  # taken from the queue's front since: now in flight, or dropped
        while mirror and (not queue or mirror[0] is not queue[0]):
            left.append(mirror.popleft())
        appended: list[Outgoing] = []  # added at the queue's end since
        last = mirror[-1] if mirror else None
        for outgoing in reversed(queue):
            if outgoing is last:
                break
            appended.append(outgoing)
        appended.reverse()
        inflight = {id(o): o for o in state.inflight.values()}
        for key in [k for k in written.inflight if k not in inflight]:
            change.outgoing_removed.append(rows.pop(key)[1])
        for outgoing in left:
            if id(outgoing) not in inflight:
                change.outgoing_removed.append(rows.pop(id(outgoing))[1])
        for key, outgoing in inflight.items():  # in order, and before what is queued (seq keeps the order)
            row = rows.get(key)
            if row is None:
                self._add(written, outgoing, change, offset)
            elif (row[2], row[3]) != (outgoing.packet_id, outgoing.released):
                rows[key] = (outgoing, row[1], outgoing.packet_id, outgoing.released)
                change.outgoing_updated.append((row[1], outgoing.packet_id, outgoing.released))
        written.inflight = set(inflight)
        for outgoing in appended:
            self._add(written, outgoing, change, offset)
            mirror.append(outgoing)

    def _add(self, written: _Written, outgoing: Outgoing, change: SessionChange, offset: float) -> None:
        self._seq += 1
        written.rows[id(outgoing)] = (outgoing, self._seq, outgoing.packet_id, outgoing.released)
        publish = outgoing.message.publish
        encoded = self._encoded.get(id(publish))  # one message queued for many sessions is encoded once
        if encoded is None:
            encoded = self._encoded[id(publish)] = encode_message(publish)
        expires_at = None if outgoing.expires_at is None else outgoing.expires_at + offset
        change.outgoing_added.append(OutgoingRow(self._seq, outgoing.packet_id, outgoing.released, outgoing.qos,
                                                 outgoing.retain, encoded, expires_at))

    @staticmethod
    def _record(state: SessionState) -> dict[str, Any]:
        live = state.live
        return {"grant": grant_to_json(state.grant), "username": live.username, "method": live.method,
                "address": live.address, "connected_since": live.connected_since,
                "password_hash": live.password_hash, "listener": live.listener, "transport": live.transport,
                "protocol": live.protocol, "session_expiry": state.session_expiry, "version": state.version,
                "last_packet_id": state._last_packet_id,
                "offline_since": None if state.connected else live.offline_since}

    def _retained_rows(self, broker: DeskBroker, topics: set[str], now: float) -> list[tuple[str, bytes, float | None]]:
        rows = []
        offset = now - self._monotonic()
        for topic in topics:
            found = broker.router.retained.get(topic)
            if found is not None:
                publish, expires_at = found
                rows.append((topic, encode_message(publish), None if expires_at is None else expires_at + offset))
        return rows
