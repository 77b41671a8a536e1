"""The recorder keeps what it could not write while another process held the database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from mqttdesk.auth.recorder import DecisionRecorder
from mqttdesk.core.decision import Decision, Kind
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.store.db import DB_FILENAME, Store


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
