"""The recorder: it keeps what it could not write while another process held the database, folds repeated
refusals into one counted entry, and holds the store to its byte budget."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from mqttdesk.auth import recorder as recorder_module
from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.core.decision import Decision, Kind, session_ended
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.store.auth_log_repo import AuthLogEntry, LogFilter
from mqttdesk.store.db import DB_FILENAME, Store
from mqttdesk.store.settings_repo import MIN_AUTH_LOG_MAX_BYTES


def _decision(client_id: str) -> Decision:
    return Decision(Kind.CONNECT, False, Reason(ReasonCode.UNKNOWN_USER, "no user named 'x'"), client_id)


def test_a_busy_database_delays_the_auth_log_but_loses_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.set_busy_timeout(0.05)
    recorder = DecisionRecorder(store, flush_delay=0.01)
    blocker = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None)

    async def run() -> None:
        blocker.execute("BEGIN IMMEDIATE")  # the CLI in the middle of a long write
        for n in range(3):
            recorder.record(_decision(f"c{n}"))
        await asyncio.sleep(0.2)  # the timed flush runs and finds the database locked
        assert store.auth_log.count() == 0
        blocker.execute("ROLLBACK")
        recorder.record(_decision("c3"))
        for _ in range(200):  # the retry (1 s later) writes everything, oldest first
            if store.auth_log.count() == 4:
                break
            await asyncio.sleep(0.02)

    asyncio.run(run())
    assert [entry.client_id for entry in store.auth_log.recent(10)] == ["c0", "c1", "c2", "c3"]
    blocker.close()
    store.close()


def _refusal(client_id: str = "bot", address: str = "127.0.0.5", allowed: bool = False) -> Decision:
    return Decision(Kind.CONNECT, allowed, Reason(ReasonCode.UNKNOWN_USER, "no user named 'x'"), client_id,
                    username="x", address=address)


def test_a_refusal_repeated_from_one_address_is_one_entry_that_counts(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    recorder = DecisionRecorder(store, flush_delay=0.01)
    seen: list[AuthLogEntry] = []
    recorder.on_entries(seen.extend)

    async def run() -> None:
        for _batch in range(5):
            for _ in range(10):
                recorder.record(_refusal())
            recorder.record(_refusal(address="127.0.0.6"))  # another address: another entry
            recorder.flush()  # a flush in between: later repeats add to the stored row
        recorder.flush()

    asyncio.run(run())
    entries = store.auth_log.recent(10)
    assert [(e.address, e.count) for e in entries] == [("127.0.0.5", 50), ("127.0.0.6", 5)]
    assert entries[0].first_time is not None
    assert entries[0].started <= entries[0].time
    assert {e.id for e in seen} == {e.id for e in entries}  # listeners got the same rows again, counting up
    assert [e.count for e in seen if e.id == entries[0].id][-1] == 50
    store.close()


def test_without_a_loop_every_repeat_adds_to_the_stored_row(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    recorder = DecisionRecorder(store)
    for _ in range(3):
        recorder.record(_refusal())
    [entry] = store.auth_log.recent()
    assert entry.count == 3
    store.close()


def test_a_refusal_repeated_in_another_protocol_version_is_an_entry_of_its_own(tmp_path: Path) -> None:
    """A client that falls back from MQTT 5 to 3.1.1 is told different things: the log keeps both."""
    store = Store.open(tmp_path)
    recorder = DecisionRecorder(store)
    for protocol in ("5", "5", "3.1.1", "3.1.1", "3.1.1"):
        recorder.record(replace(_refusal(), protocol=protocol))
    assert [(e.protocol, e.count) for e in store.auth_log.recent()] == [("5", 2), ("3.1.1", 3)]
    store.close()


def test_allowed_decisions_session_ends_and_old_refusals_are_not_folded(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path)
    recorder = DecisionRecorder(store)
    for _ in range(2):
        recorder.record(_refusal(allowed=True))
        recorder.record(session_ended(Kind.KICK, ReasonCode.KICKED, "kicked by admin", client_id="c", username="u",
                                      method=None, address="127.0.0.5", forced=True))
    monkeypatch.setattr(recorder_module, "FOLD_WINDOW", 0.0)  # every refusal is "older than the window"
    recorder.record(_refusal())
    recorder.record(_refusal())
    assert [e.count for e in store.auth_log.recent()] == [1, 1, 1, 1, 1, 1]
    store.close()


def test_the_recorder_holds_the_store_to_its_byte_budget(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.settings.set_auth_log_max_bytes(MIN_AUTH_LOG_MAX_BYTES)
    recorder = DecisionRecorder(store)
    recorder.record(Decision(Kind.CONNECT, False, Reason(ReasonCode.BAD_PASSWORD, "wrong password for user 'lamp'"),
                             "lamp-1", username="lamp", address="127.0.0.2"))
    for n in range(1500):  # every one different: nothing folds
        recorder.record(_refusal(client_id=f"bot-{n}" + "x" * 300))
    assert store.used_bytes() <= MIN_AUTH_LOG_MAX_BYTES
    assert store.auth_log.count() < 1000
    assert store.auth_log.query(LogFilter(username="lamp"))[0].reason_code == "bad-password"
    store.close()


def test_who_used_a_client_id_is_stored_except_for_anonymous_and_oversized_ids(tmp_path: Path) -> None:
    from mqttdesk.auth.recorder import MAX_RECORDED_CLIENT_ID
    from mqttdesk.core.model import ANONYMOUS_REF, CredentialKind, CredentialRef

    store = Store.open(tmp_path)
    recorder = DecisionRecorder(store)
    alice = CredentialRef(CredentialKind.USER, "alice")
    recorder.record_client_id("alice-phone", alice)
    recorder.record_client_id("lab", ANONYMOUS_REF)
    recorder.record_client_id("x" * (MAX_RECORDED_CLIENT_ID + 1), alice)
    recorder.flush()
    assert store.client_ids.owners() == {"alice-phone": alice}
    store.close()


@pytest.mark.parametrize("watched", [True, False])
def test_a_timed_write_takes_at_most_a_batch_of_client_ids_and_the_rest_follow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watched: bool) -> None:
    """A batch with a window watching (a listener takes the entries) is BATCH, with nobody UNWATCHED_BATCH."""
    from mqttdesk.core.model import CredentialKind, CredentialRef

    monkeypatch.setattr(recorder_module, "BATCH", 10)
    monkeypatch.setattr(recorder_module, "UNWATCHED_BATCH", 15)
    store = Store.open(tmp_path)
    recorder = DecisionRecorder(store, flush_delay=0.01)
    if watched:
        recorder.on_entries(lambda entries: None)
    fleet = CredentialRef(CredentialKind.BOOTSTRAP, "fleet")
    sizes: list[int] = []
    write = store.client_ids.record

    def counted(due: dict[str, tuple[CredentialRef, float]]) -> None:
        sizes.append(len(due))
        write(due)

    monkeypatch.setattr(store.client_ids, "record", counted)

    async def run() -> None:
        for n in range(35):  # a storm's devices, each with its own clientId
            recorder.record_client_id(f"dev-{n}", fleet)
        for _ in range(200):
            if len(store.client_ids.owners()) == 35:
                break
            await asyncio.sleep(0.02)

    asyncio.run(run())
    assert len(store.client_ids.owners()) == 35
    assert sizes == ([10, 10, 10, 5] if watched else [15, 15, 5])  # one batch per write, a loop turn between them
    store.close()

