"""`Finished`: the end of a connection, awaited by a takeover or a shutdown (an Event without its deque), made only
for a connection someone waits on."""

from __future__ import annotations

import asyncio

import pytest

from mqttdesk.broker.connection import Connection, Finished
from mqttdesk.broker.protocol import ServerProtocol
from mqttdesk.broker.registry import LiveSession
from mqttdesk.broker.session_state import SessionState
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import ANONYMOUS_REF, Method


def test_waiters_wake_when_it_is_set_and_one_giving_up_does_not_cancel_it_for_the_others() -> None:
    async def run() -> tuple[bool, bool, bool]:
        finished = Finished()
        patient = asyncio.ensure_future(finished.wait())
        impatient = asyncio.ensure_future(asyncio.wait_for(finished.wait(), 0.01))
        with pytest.raises(TimeoutError):
            await impatient
        before = patient.done()
        finished.set()
        await asyncio.wait_for(patient, 5.0)
        await asyncio.wait_for(finished.wait(), 5.0)  # set already: returns at once
        return before, finished.is_set(), patient.done()

    assert asyncio.run(run()) == (False, True, True)



class _Sink:
    def wants_flush(self, connection: object) -> None:
        pass


def _connection(client_id: str) -> Connection:
    grant = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, client_id)
    state = SessionState(client_id, True, grant, LiveSession(client_id, None, "anonymous", None, 0.0, True, grant))
    return Connection(None, ServerProtocol(), state, _Sink())  # type: ignore[arg-type]  # never written to here


def test_a_connection_makes_its_finished_only_for_a_waiter() -> None:
    unwatched, watched = _connection("a"), _connection("b")
    assert unwatched._finished is None  # nothing of its own for an idle connection
    waiting_on = watched.finished
    for connection in (unwatched, watched):
        connection.set_finished()
    assert unwatched.finished.is_set()
    assert watched.finished is waiting_on
    assert waiting_on.is_set()
    assert unwatched.finished is not waiting_on  # the shared, already-set end: nobody's waiter is woken by it
