"""Persistence's pure parts: how messages, grants and subscriptions are kept, the file's batches, and the
write-behind's difference against what the file has (only what changed is written)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.broker.persistence import (
    HEARTBEAT_INTERVAL,
    BrokerPersistence,
    decode_message,
    encode_message,
    expiry_left,
    grant_from_json,
    grant_to_json,
    subscription_from_json,
    subscription_to_json,
)
from mqttdesk.broker.protocol import OutgoingPublish, Properties, Publish
from mqttdesk.broker.registry import LiveSession
from mqttdesk.broker.retained import RetainedMessages
from mqttdesk.broker.session_state import NEVER_EXPIRES, SessionLimits, SessionState
from mqttdesk.broker.subscription import Subscription
from mqttdesk.core.acl import Effect, Permission, Rule
from mqttdesk.core.decision import Grant
from mqttdesk.core.limits import BrokerLimits
from mqttdesk.core.model import ANONYMOUS_REF, AnonymousPolicy, CredentialKind, CredentialRef, Directory, Method
from mqttdesk.store.session_store import (
    SESSIONS_FILENAME,
    Batch,
    OutgoingRow,
    SessionChange,
    SessionFile,
)

GRANT = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "c")
OPEN = Directory(users={}, roles={}, anonymous=AnonymousPolicy(enabled=True, roles=()))


def test_a_message_keeps_its_flags_topic_properties_and_payload() -> None:
    properties = Properties(payload_format_indicator=1, message_expiry_interval=60, content_type="text/plain",
                            response_topic="reply/here", correlation_data=b"\x00\x01",
                            user_properties=(("a", "1"), ("a", "2")), subscription_identifiers=(3, 7))
    publish = Publish("tele/plug/LWT", b"Online\x00\xff", 2, True, properties=properties)
    assert decode_message(encode_message(publish)) == publish
    plain = Publish("a/b", b"", 1, False)
    assert decode_message(encode_message(plain)) == plain


def test_an_inbound_topic_alias_is_not_kept() -> None:
    publish = Publish("a/b", b"x", 0, False, properties=Properties(topic_alias=4))
    assert decode_message(encode_message(publish)).properties.topic_alias is None


def test_a_grant_round_trips() -> None:
    grant = Grant(Method.TOKEN, CredentialRef(CredentialKind.TOKEN, "acme:alice"), "alice", "alice-1",
                  tenant="t", registers="fleet", certificate_serial="1f", valid_until=1.5e9,
                  rules=(Rule("", "cmd/alice/#", Permission.READ, Effect.ALLOW),
                         Rule("", "cmd/alice/x", Permission.WRITE, Effect.DENY)),
                  verified_with="sha256:ab")
    back = grant_from_json(grant_to_json(grant))
    assert back == Grant(**{**{f: getattr(grant, f) for f in Grant.__slots__}, "registers": None})  # type: ignore[arg-type]


def test_a_subscription_round_trips() -> None:
    subscription = Subscription(2, no_local=True, retain_as_published=True, retain_handling=1, identifiers=(5, 9))
    assert subscription_from_json(subscription_to_json(subscription)) == subscription


@pytest.mark.parametrize(("expiry", "away_since", "now", "left"), [
    (NEVER_EXPIRES, 0.0, 1e9, None),  # 3.1.1 and "never": no deadline at all
    (60, 1000.0, 1030.0, 30.0),  # half of it spent down
    (2, 1000.0, 1010.0, -8.0),  # expired while down
    (60, 1000.0, 900.0, 60.0),  # the clock went back: no time counted, none added either
])
def test_expiry_left_counts_the_time_spent_down(expiry: int, away_since: float, now: float,
                                                left: float | None) -> None:
    assert expiry_left(expiry, away_since, now) == left


# -- the file ---------------------------------------------------------------------------------------------------


@pytest.fixture
def file(tmp_path: Path) -> Iterator[SessionFile]:
    opened = SessionFile.open(tmp_path)
    yield opened
    opened.close()


def _row(seq: int, packet_id: int = 0, payload: bytes = b"m") -> OutgoingRow:
    return OutgoingRow(seq, packet_id, False, 1, False, encode_message(Publish("t", payload, 1)), None)


def test_the_file_is_created_private(file: SessionFile) -> None:
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    for suffix in ("-wal", "-shm"):
        sidecar = file.path.with_name(file.path.name + suffix)
        assert not sidecar.exists() or stat.S_IMODE(sidecar.stat().st_mode) == 0o600


def test_batches_add_update_and_remove_rows(file: SessionFile) -> None:
    file.write(Batch([SessionChange("c", '{"v": 1}', subscriptions=[("a/#", "[1]")], incoming=[(5, None)],
                                    outgoing_added=[_row(1, 3), _row(2), _row(3)])],
                     retained=[("r/1", b"x", None), ("r/2", b"y", 99.0)], saved_at=10.0))
    file.write(Batch([SessionChange("c", '{"v": 2}', outgoing_updated=[(2, 4, True)], outgoing_removed=[1])],
                     removed_retained=["r/1"], saved_at=11.0))
    contents = file.load()
    (session,) = contents.sessions
    assert (session.record, session.subscriptions, session.incoming) == ('{"v": 2}', [("a/#", "[1]")], [(5, None)])
    assert [(r.seq, r.packet_id, r.released) for r in session.outgoing] == [(2, 4, True), (3, 0, False)]
    assert contents.retained == [("r/2", b"y", 99.0)]
    assert contents.saved_at == 11.0


def test_a_new_session_under_a_client_id_replaces_all_of_the_old_one(file: SessionFile) -> None:
    file.write(Batch([SessionChange("c", "{}", subscriptions=[("a", "[1]")], outgoing_added=[_row(1)])]))
    file.write(Batch([SessionChange("c", "{}", replace_all=True, outgoing_added=[_row(2)])]))
    (session,) = file.load().sessions
    assert (session.subscriptions, [r.seq for r in session.outgoing]) == ([], [2])
    file.write(Batch(removed_sessions=["c"]))
    assert file.counts() == {"sessions": 0, "subscriptions": 0, "outgoing": 0, "incoming": 0, "retained": 0}


def test_a_failed_batch_changes_nothing(file: SessionFile) -> None:
    file.write(Batch([SessionChange("c", "{}", outgoing_added=[_row(1)])]))
    # a new session and then one filter twice: the primary key refuses the second, the whole batch is undone
    broken = Batch([SessionChange("d", "{}", subscriptions=[("a", "[1]"), ("a", "[2]")])], removed_sessions=["c"])
    with pytest.raises(sqlite3.IntegrityError):
        file.write(broken)
    assert [s.client_id for s in file.load().sessions] == ["c"]


def test_a_file_of_a_newer_version_is_started_afresh(tmp_path: Path) -> None:
    opened = SessionFile.open(tmp_path)
    opened.write(Batch([SessionChange("c", "{}")]))
    opened.close()
    with sqlite3.connect(tmp_path / SESSIONS_FILENAME) as db:
        db.execute("PRAGMA user_version = 99")
    reopened = SessionFile.open(tmp_path)
    assert reopened.load().sessions == []
    reopened.close()


def test_remove_and_set_aside(tmp_path: Path) -> None:
    SessionFile.open(tmp_path).close()
    aside = SessionFile.set_aside(tmp_path)
    assert aside.exists()
    assert not (tmp_path / SESSIONS_FILENAME).exists()
    SessionFile.open(tmp_path).close()
    assert SessionFile.remove(tmp_path) is True
    assert [p for p in os.listdir(tmp_path) if p.startswith(SESSIONS_FILENAME)] == [aside.name]
    assert SessionFile.remove(tmp_path) is False


# -- the write-behind's difference ------------------------------------------------------------------------------


class _Router:
    def __init__(self) -> None:
        self.retained = RetainedMessages(BrokerLimits())


class _Broker:
    """What persistence reads of a `DeskBroker` and gives back to one."""

    def __init__(self) -> None:
        self.router = _Router()
        self.limits = SessionLimits()
        self.states: dict[str, SessionState] = {}
        self.adopted: dict[str, float | None] = {}

    def persistent_states(self) -> dict[str, SessionState]:
        return dict(self.states)

    def adopt_session(self, state: SessionState, expires_in: float | None) -> None:
        self.states[state.client_id] = state
        self.adopted[state.client_id] = expires_in


def _state(client_id: str = "c") -> SessionState:
    live = LiveSession(client_id, None, "anonymous", "127.0.0.1", 0.0, False, GRANT)
    return SessionState(client_id, False, GRANT, live)


def _message(payload: bytes) -> OutgoingPublish:
    return OutgoingPublish(Publish("t", payload, 1))


def _persistence(file: SessionFile, broker: _Broker, now: list[float]) -> BrokerPersistence:
    persistence = BrokerPersistence(file, clock=lambda: now[0], monotonic=lambda: now[0] - 1000.0)
    persistence.restore(broker, OPEN)  # type: ignore[arg-type]
    return persistence


def test_only_what_changed_is_in_a_batch(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["c"] = _state()
    state.resume()
    state.add_subscription("a/#", Subscription(1))
    first = persistence.snapshot()
    assert [(c.client_id, c.replace_all) for c in first.sessions] == [("c", True)]
    assert first.sessions[0].subscriptions == [("a/#", subscription_to_json(Subscription(1)))]
    assert not persistence.snapshot()  # nothing changed since
    sent = state.offer(_message(b"1"), 1, False)
    state.offer(_message(b"2"), 1, False)
    assert sent is not None
    second = persistence.snapshot()
    (change,) = second.sessions
    assert (change.replace_all, change.subscriptions) == (False, None)  # subscriptions as they were
    assert [(r.packet_id, decode_message(r.message).payload) for r in change.outgoing_added] == [(1, b"1"), (2, b"2")]
    state.puback(1)
    (change,) = persistence.snapshot().sessions
    assert (change.outgoing_added, len(change.outgoing_removed), change.outgoing_updated) == ([], 1, [])
    del broker.states["c"]
    assert persistence.snapshot().removed_sessions == ["c"]


def test_a_queued_message_becoming_in_flight_is_an_update_not_a_new_row(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["c"] = _state()
    state.disconnected()
    state.offer(_message(b"q"), 1, False)
    (change,) = persistence.snapshot().sessions
    assert [r.packet_id for r in change.outgoing_added] == [0]
    state.resume()
    (change,) = persistence.snapshot().sessions
    assert (change.outgoing_added, change.outgoing_updated) == ([], [(change.outgoing_updated[0][0], 1, False)])


def test_retained_changes_are_taken_once(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    assert broker.router.retained.changes == set()  # restore switched the tracking on
    broker.router.retained.restore(Publish("r/1", b"on", 0, True), 4060.0)  # monotonic: 60 s left
    broker.router.retained.changes = {"r/1", "r/gone"}
    batch = persistence.snapshot()
    assert [(t, e) for t, _, e in batch.retained] == [("r/1", 5060.0)]  # kept as Unix time
    assert batch.removed_retained == ["r/gone"]
    assert not persistence.snapshot()


def test_a_snapshot_read_back_is_the_same_session(file: SessionFile, tmp_path: Path) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["c"] = _state()
    state.session_expiry, state.version = 120, 5
    state.resume()
    state.offer(_message(b"flight"), 1, False)
    state.hold_incoming(9, Publish("in", b"held", 2))
    state.disconnected()
    state.live.offline_since = 4990.0
    state.offer(_message(b"queued"), 1, False, expires_at=4030.0)  # monotonic: 30 s from now
    file.write(persistence.snapshot())
    later, restored_broker = [5100.0], _Broker()  # 100 s later; 110 s since it went away
    restored = _persistence(file, restored_broker, later)
    state_back = restored_broker.states["c"]
    assert restored_broker.adopted["c"] == pytest.approx(10.0)
    assert [o.message.publish.payload for o in state_back.inflight.values()] == [b"flight"]
    assert [o.packet_id for o in state_back.inflight.values()] == [1]
    assert [o.message.publish.payload for o in state_back.queue] == [b"queued"]
    assert state_back.queue[0].expires_at == pytest.approx(4100.0 - 70)  # its 30 s ran out 70 s ago
    assert state_back.incoming_qos2 == {9: Publish("in", b"held", 2)}
    assert (state_back.session_expiry, state_back.version, state_back._last_packet_id) == (120, 5, 1)
    assert state_back.live.offline_since == 4990.0
    assert not restored.snapshot()  # what was read back is what the file has: nothing to write


def test_a_failed_write_makes_the_next_batch_rewrite_everything(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    broker.states["c"] = _state()
    broker.router.retained.restore(Publish("r", b"x", 0, True), None)
    file.write(persistence.snapshot())

    def failing(batch: Batch) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    real, file.write = file.write, failing  # type: ignore[method-assign]
    broker.states["c"].add_subscription("x", Subscription(0))
    broker.states["c"].subscriptions_changed = True
    with pytest.raises(sqlite3.OperationalError):
        asyncio.run(persistence.flush())
    file.write = real  # type: ignore[method-assign]
    batch = persistence.snapshot()
    assert batch.clear_first
    assert [c.replace_all for c in batch.sessions] == [True]
    assert [t for t, _, _ in batch.retained] == ["r"]


def test_a_message_that_comes_and_goes_between_two_batches_is_never_written(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["c"] = _state()
    state.resume()
    persistence.snapshot()
    for number in range(100):
        state.offer(_message(str(number).encode()), 1, False)
        state.puback(number + 1)
    (change,) = persistence.snapshot().sessions
    assert (change.outgoing_added, change.outgoing_removed, change.outgoing_updated) == ([], [], [])


def test_a_message_queued_for_many_sessions_is_encoded_once(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    message = _message(b"fan-out")
    for client_id in ("a", "b", "c"):
        state = broker.states[client_id] = _state(client_id)
        state.disconnected()
        state.offer(message, 1, False)
    rows = [c.outgoing_added[0].message for c in persistence.snapshot().sessions]
    assert len(rows) == 3
    assert rows[0] is rows[1] is rows[2]


def test_a_connected_session_with_an_expiry_keeps_the_time_of_the_last_batch_fresh(file: SessionFile) -> None:
    """After a crash such a session counts as gone since the last batch: an idle broker still writes that time."""
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["c"] = _state()
    state.session_expiry = 600
    state.resume()
    asyncio.run(persistence.flush())
    now[0] += 1.0
    asyncio.run(persistence.flush())  # nothing changed and the last write is recent: nothing written
    assert (persistence.batches, file.load().saved_at) == (1, 5000.0)
    now[0] += HEARTBEAT_INTERVAL
    asyncio.run(persistence.flush())
    assert (persistence.batches, file.load().saved_at) == (2, 5000.0 + 1 + HEARTBEAT_INTERVAL)
    state.session_expiry = NEVER_EXPIRES  # 3.1.1: no deadline, so no need to keep that time fresh
    now[0] += HEARTBEAT_INTERVAL * 2
    asyncio.run(persistence.flush())
    assert persistence.batches == 2


def test_stopping_waits_for_a_batch_on_its_way_before_the_last_one(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["c"] = _state()
    state.disconnected()
    release, entered, order = threading.Event(), threading.Event(), []
    real = file.write

    def slow(batch: Batch) -> None:
        if not order:
            entered.set()
            assert release.wait(10)
        order.append([len(c.outgoing_added) for c in batch.sessions])
        real(batch)

    file.write = slow  # type: ignore[method-assign]

    async def scenario() -> None:
        state.offer(_message(b"first"), 1, False)
        flushing = asyncio.ensure_future(persistence.flush())
        await asyncio.to_thread(entered.wait, 10)
        state.offer(_message(b"second"), 1, False)
        flushing.cancel()  # the broker stops while the batch is being written
        closing = asyncio.ensure_future(persistence.close())
        await asyncio.sleep(0.05)
        assert not closing.done()  # waits for the batch on its way
        release.set()
        await closing

    asyncio.run(scenario())
    assert order == [[1], [1]]  # the first batch, then the last one with what came after it
    reopened = SessionFile.open(file.path.parent)
    (session,) = reopened.load().sessions
    assert [decode_message(r.message).payload for r in session.outgoing] == [b"first", b"second"]
    reopened.close()


def test_a_session_that_cannot_be_read_costs_only_itself(file: SessionFile) -> None:
    broker, now = _Broker(), [5000.0]
    persistence = _persistence(file, broker, now)
    state = broker.states["good"] = _state("good")
    state.disconnected()
    file.write(persistence.snapshot())
    file.write(Batch([SessionChange("bad", '{"grant": {}}')]))
    again = _Broker()
    restored = BrokerPersistence(file, clock=lambda: now[0]).restore(again, OPEN)  # type: ignore[arg-type]
    assert (restored.sessions, restored.discarded_sessions) == (1, 1)
    assert list(again.states) == ["good"]
    assert [s.client_id for s in file.load().sessions] == ["good"]  # the unreadable one is gone from the file
