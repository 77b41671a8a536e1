"""`Finished`: the end of a connection, awaited by a takeover or a shutdown (an Event without its deque)."""

from __future__ import annotations

import asyncio

import pytest

from mqttdesk.broker.connection import Finished


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
