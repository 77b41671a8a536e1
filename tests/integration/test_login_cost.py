"""Wrong passwords cost the broker little: fair queueing per address, no hash for clients that left (real sockets).

The user's hash is made to cost about 50 ms here (see `costly_hash`), so the order in which the broker spends its
two hashing threads shows. Flooders connect from 127.0.0.2, the legitimate client from 127.0.0.3: on Linux any
127.x.y.z is a loopback source address.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mqttdesk.core.acl import Permission
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import encode_connect
from tests.support import costly_hash

FLOODER, LEGIT = "127.0.0.2", "127.0.0.3"
PASSWORD = "the-right-one"
GUESSES = 30
DEADLINE = 30.0  # every wait below is bounded by this


@pytest.fixture
def lamp(admin, instance):  # type: ignore[no-untyped-def]
    """User 'lamp' whose password costs ~50 ms to verify; returns (instance, seconds one verification took)."""
    make_hash, seconds = costly_hash(0.05)
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    admin.users.add("lamp", make_hash(PASSWORD), ("lamps",))
    instance.sync()
    return instance, seconds


async def _open(port: int, source: str, password: str, client_id: str = "lamp-1"):  # type: ignore[no-untyped-def]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(encode_connect(client_id, username="lamp", password=password))
    await writer.drain()
    return reader, writer


async def _connack(reader: asyncio.StreamReader) -> int:
    packet = await asyncio.wait_for(reader.readexactly(4), DEADLINE)
    return packet[3]


def _wait_until(instance: Instance, condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Ask the instance's loop until `condition()` holds there; bounded by DEADLINE (each ask is a round trip)."""
    deadline = time.monotonic() + DEADLINE
    while not instance.call(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


def test_a_correct_login_is_not_stuck_behind_a_flood_of_guesses_from_another_address(lamp):
    instance, hash_seconds = lamp
    verifier = instance.service.pipeline.verifier
    answered: list[str] = []  # who got a CONNACK, in order

    async def guess(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        code = await _connack(reader)
        answered.append("guess")
        writer.close()
        return code

    async def run() -> tuple[list[int], int, float, float]:
        started = time.perf_counter()
        # the guesses use the victim's own clientId too: they must not hold its lock while their hashes run
        links = [await _open(instance.port, FLOODER, f"guess-{n}") for n in range(GUESSES)]
        guesses = [asyncio.ensure_future(guess(*link)) for link in links]
        await asyncio.to_thread(_wait_until, instance, lambda: verifier.queued >= GUESSES - 10, "the flood to queue")
        login_started = time.perf_counter()
        answered.append("login sent")  # guesses answered before this did not make the login wait
        reader, writer = await _open(instance.port, LEGIT, PASSWORD)
        login = await _connack(reader)
        answered.append("login")
        login_wait = time.perf_counter() - login_started
        writer.write(b"\xe0\x00")
        writer.close()
        codes = await asyncio.wait_for(asyncio.gather(*guesses), DEADLINE)
        return codes, login, login_wait, time.perf_counter() - started

    codes, login, login_wait, flood_seconds = asyncio.run(run())
    waited_for = answered.index("login") - answered.index("login sent") - 1
    figures = (f"one hash {hash_seconds * 1000:.0f} ms, login waited {login_wait * 1000:.0f} ms, flood took "
               f"{flood_seconds * 1000:.0f} ms, answered while the login waited: {waited_for} guesses")
    assert login == 0, figures
    assert codes == [4] * GUESSES, figures
    # round-robin: the login waits for the hashes already running and at most one more guess of the flood
    assert waited_for <= 5, figures
    assert login_wait < 8 * hash_seconds + 0.5, figures
    assert login_wait < flood_seconds / 2, figures


def test_guesses_sent_and_abandoned_cost_no_hash_and_are_logged(lamp):
    instance, _ = lamp
    verifier = instance.service.pipeline.verifier
    hashes_before = instance.call(lambda: verifier.hashes_computed)

    async def fire_and_forget() -> None:
        for n in range(GUESSES):
            _, writer = await _open(instance.port, FLOODER, f"abandoned-{n}", client_id=f"gone-{n}")
            writer.close()
            await writer.wait_closed()

    asyncio.run(fire_and_forget())

    def logged() -> list[str]:
        instance.service.recorder.flush()
        return [e.reason_code for e in instance.store.auth_log.recent(500)
                if e.kind == "CONNECT" and e.client_id.startswith("gone-")]

    _wait_until(instance, lambda: len(logged()) == GUESSES and verifier.queued == 0, "every guess to be decided")
    codes = instance.call(logged)
    hashed = instance.call(lambda: verifier.hashes_computed) - hashes_before
    # only a guess whose hash started before its close was seen is computed: at most one per hashing thread
    # and a couple more for closes still in flight
    assert hashed <= 4, (hashed, codes)
    assert codes.count("client-gone") >= GUESSES - hashed
    assert set(codes) <= {"client-gone", "bad-password"}

    async def login() -> int:
        reader, writer = await _open(instance.port, LEGIT, PASSWORD, client_id="lamp-2")
        code = await _connack(reader)
        writer.close()
        return code

    assert asyncio.run(login()) == 0


def test_a_full_queue_answers_connack_3_and_still_lets_another_address_in(lamp):
    instance, _ = lamp
    verifier = instance.service.pipeline.verifier
    instance.call(setattr, verifier._queue, "limit", 3)  # 256 by default: a small bound shows the same rules

    async def run() -> tuple[list[int], int]:
        links = [await _open(instance.port, FLOODER, f"guess-{n}", client_id=f"busy-{n}") for n in range(12)]
        answers = [asyncio.ensure_future(_connack(reader)) for reader, _ in links]
        # two guesses are being hashed and three wait: the other seven are refused at once
        await asyncio.wait(answers, timeout=DEADLINE, return_when=asyncio.FIRST_COMPLETED)
        reader, writer = await _open(instance.port, LEGIT, PASSWORD)
        login = await _connack(reader)
        writer.close()
        codes = await asyncio.wait_for(asyncio.gather(*answers), DEADLINE)
        for _, guess_writer in links:
            guess_writer.close()
        return codes, login

    codes, login = asyncio.run(run())
    assert login == 0
    assert sorted(set(codes)) == [3, 4]
    assert codes.count(4) <= 5  # at most the two being hashed and the three queued (one may give way to the login)
    instance.flush_log()
    busy = [e for e in instance.call(instance.store.auth_log.recent, 100) if e.reason_code == "server-busy"]
    assert len(busy) == codes.count(3)
    assert all(e.username == "lamp" and e.address == FLOODER and not e.allowed for e in busy)
    assert "too many password checks" in busy[0].reason
