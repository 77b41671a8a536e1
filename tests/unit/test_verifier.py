"""PasswordVerifier with a stand-in hash the test controls: order of service, the bound, clients that left, caches.

The stand-in blocks every call until the test releases it and reports each call as it starts, so the tests see
exactly which check a worker took next; nothing waits on time except bounded timeouts.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from mqttdesk.auth.verifier import PasswordVerifier, Verdict
from tests.support import fast_hash

TIMEOUT = 5.0
STORED = "$7$stand-in"  # the stand-in never parses it
FLOOD, LEGIT = "10.0.0.1", "10.0.0.2"


class GatedHash:
    """Each call reports its password on `started`, then waits until `release(password)`; "right…" is right."""

    def __init__(self) -> None:
        self.started: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._gates: dict[str, threading.Event] = {}

    def _gate(self, password: str) -> threading.Event:
        with self._lock:
            return self._gates.setdefault(password, threading.Event())

    def __call__(self, password: str, encoded: str) -> bool:
        self.started.put(password)
        if not self._gate(password).wait(TIMEOUT):
            raise TimeoutError(f"the test never released {password!r}")
        return password.startswith("right")

    def release(self, password: str) -> None:
        self._gate(password).set()

    def open(self) -> None:
        """Let every call through from now on (for tests that only count)."""
        with self._lock:
            for gate in self._gates.values():
                gate.set()
            self._gates = _Open()

    async def next_started(self) -> str:
        return await asyncio.to_thread(self.started.get, True, TIMEOUT)

    def nothing_started(self) -> bool:
        return self.started.empty()


class _Open(dict[str, threading.Event]):
    def setdefault(self, key: str, default: threading.Event | None = None) -> threading.Event:
        event = threading.Event()
        event.set()
        return event


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), TIMEOUT * 2))


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run the checks already scheduled until `condition` holds (bounded in turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)  # one loop turn, not a delay
    raise AssertionError("condition not reached")


def start(verifier: PasswordVerifier, password: str, source: str, **options: Any) -> asyncio.Task[Verdict]:
    return asyncio.ensure_future(verifier.check(password, STORED, source=source, **options))


async def finished(task: Awaitable[Verdict]) -> Verdict:
    return await asyncio.wait_for(task, TIMEOUT)


def test_a_flood_from_one_address_waits_behind_itself() -> None:
    fake = GatedHash()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1)
        flood = [start(verifier, "flood-0", FLOOD)]
        assert await fake.next_started() == "flood-0"  # the one worker is busy with it
        flood += [start(verifier, f"flood-{n}", FLOOD) for n in range(1, 30)]
        await until(lambda: verifier.queued == 29)
        login = start(verifier, "right-login", LEGIT)
        await until(lambda: verifier.queued == 30)

        order = []
        for _ in range(30):
            done = order[-1] if order else "flood-0"
            fake.release(done)
            order.append(await fake.next_started())
        fake.release(order[-1])
        # the flood's next item was already at the head of the rotation; then it is the login's turn
        assert order[:2] == ["flood-1", "right-login"]
        assert order[2:] == [f"flood-{n}" for n in range(2, 30)]
        assert await finished(login) is Verdict.RIGHT
        assert {await finished(task) for task in flood} == {Verdict.WRONG}
        assert verifier.hashes_computed == 31
        verifier.close()

    run(scenario)


def test_queue_is_bounded_and_a_full_queue_still_makes_room_for_another_address() -> None:
    fake = GatedHash()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1, max_queued=3)
        running = start(verifier, "flood-0", FLOOD)
        assert await fake.next_started() == "flood-0"
        queued = [start(verifier, f"flood-{n}", FLOOD) for n in (1, 2, 3)]
        await until(lambda: verifier.queued == 3)
        assert await finished(start(verifier, "flood-4", FLOOD)) is Verdict.BUSY  # refused at once
        login = start(verifier, "right-login", LEGIT)
        assert await finished(queued[2]) is Verdict.BUSY  # the flood's newest made room for it
        assert verifier.queued == 3
        assert verifier.refused_busy == 2

        fake.open()
        assert await finished(login) is Verdict.RIGHT
        assert await finished(running) is Verdict.WRONG
        assert [await finished(task) for task in queued[:2]] == [Verdict.WRONG, Verdict.WRONG]
        assert verifier.hashes_computed == 4  # flood-0, 1, 2 and the login: never flood-3 or flood-4
        verifier.close()

    run(scenario)


def test_no_hash_for_a_client_that_has_gone() -> None:
    fake = GatedHash()
    closed: set[str] = set()

    def gone_test(password: str) -> Callable[[], bool]:
        return lambda: password in closed

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1)
        first = start(verifier, "wrong-0", FLOOD, gone=gone_test("wrong-0"))
        assert await fake.next_started() == "wrong-0"
        leaving = start(verifier, "wrong-1", FLOOD, gone=gone_test("wrong-1"))
        staying = start(verifier, "wrong-2", FLOOD, gone=gone_test("wrong-2"))
        await until(lambda: verifier.queued == 2)
        closed.add("wrong-1")  # the client closes its connection while its check waits
        closed.add("wrong-0")  # too late for this one: its hash has started and finishes
        fake.release("wrong-0")
        assert await fake.next_started() == "wrong-2"
        fake.release("wrong-2")
        assert await finished(leaving) is Verdict.GONE
        assert await finished(staying) is Verdict.WRONG
        assert await finished(first) is Verdict.WRONG
        assert fake.nothing_started()

        closed.add("wrong-3")  # already gone when it asks: not even queued
        assert await finished(start(verifier, "wrong-3", FLOOD, gone=gone_test("wrong-3"))) is Verdict.GONE
        assert verifier.queued == 0
        assert (verifier.hashes_computed, verifier.dropped_gone) == (2, 2)
        verifier.close()

    run(scenario)


def test_a_cancelled_caller_is_gone_too_and_a_shared_check_runs_while_anyone_waits() -> None:
    fake = GatedHash()

    left: set[str] = set()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1)
        blocker = start(verifier, "wrong-0", FLOOD)
        assert await fake.next_started() == "wrong-0"
        cancelled = start(verifier, "wrong-1", FLOOD)
        shared_a = start(verifier, "right-shared", FLOOD, gone=lambda: "a" in left)
        shared_b = start(verifier, "right-shared", LEGIT)  # same pair from elsewhere: joins the queued check
        await until(lambda: verifier.queued == 2)
        cancelled.cancel()
        left.add("a")  # the first asker of the shared check closes its connection: the other still waits
        fake.release("wrong-0")
        assert await fake.next_started() == "right-shared"  # wrong-1 was skipped: its caller gave up
        fake.release("right-shared")
        assert await finished(shared_b) is Verdict.RIGHT
        assert await finished(shared_a) is Verdict.RIGHT  # it ran anyway, so everyone hears the outcome
        assert await finished(blocker) is Verdict.WRONG
        assert verifier.hashes_computed == 2
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        verifier.close()

    run(scenario)


def test_many_concurrent_checks_of_one_pair_cost_one_hash() -> None:
    fake = GatedHash()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=2)
        tasks = [start(verifier, "right-fleet", f"10.0.{n // 250}.{n % 250}") for n in range(1000)]
        assert await fake.next_started() == "right-fleet"
        await until(lambda: all(not task.done() for task in tasks) and verifier.queued == 0)
        fake.release("right-fleet")
        assert {await finished(task) for task in tasks} == {Verdict.RIGHT}
        assert verifier.hashes_computed == 1
        assert await finished(start(verifier, "right-fleet", LEGIT)) is Verdict.RIGHT  # from the success cache
        assert verifier.hashes_computed == 1
        verifier.close()

    run(scenario)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_known_wrong_pairs_are_not_hashed_again_within_the_window() -> None:
    fake = GatedHash()
    fake.open()
    clock = Clock()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1, failure_ttl=60.0, clock=clock)
        assert await finished(start(verifier, "guess", FLOOD)) is Verdict.WRONG
        assert await finished(start(verifier, "guess", LEGIT)) is Verdict.WRONG
        assert verifier.verify_blocking("guess", STORED) is False
        assert verifier.hashes_computed == 1
        assert verifier.known_failures == 1

        clock.now += 59.0
        assert await finished(start(verifier, "guess", FLOOD)) is Verdict.WRONG
        assert verifier.hashes_computed == 1
        clock.now += 2.0  # 61 s after the first answer: hashed again
        assert await finished(start(verifier, "guess", FLOOD)) is Verdict.WRONG
        assert verifier.hashes_computed == 2

        verifier.clear()  # a credential changed
        assert verifier.known_failures == 0
        assert await finished(start(verifier, "guess", FLOOD)) is Verdict.WRONG
        assert verifier.hashes_computed == 3
        verifier.close()

    run(scenario)


def test_failure_cache_is_bounded_and_keeps_no_password() -> None:
    fake = GatedHash()
    fake.open()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1, failure_cache_size=3)
        for n in range(5):
            assert await finished(start(verifier, f"guess-{n}", FLOOD)) is Verdict.WRONG
        assert verifier.known_failures == 3
        assert await finished(start(verifier, "guess-4", FLOOD)) is Verdict.WRONG
        assert verifier.hashes_computed == 5  # the newest is remembered
        assert await finished(start(verifier, "guess-0", FLOOD)) is Verdict.WRONG
        assert verifier.hashes_computed == 6  # the oldest was forgotten
        remembered = b"".join(verifier._failed)  # what the verifier keeps: HMAC digests only
        assert len(remembered) == 3 * 32
        assert all(f"guess-{n}".encode() not in remembered for n in range(5))
        verifier.close()

    run(scenario)


def test_explainer_path_uses_the_real_hash_and_fills_both_caches() -> None:
    verifier = PasswordVerifier()
    stored = fast_hash("s3cret")
    try:
        assert verifier.verify_blocking("s3cret", stored) is True
        assert verifier.verify_blocking("nope", stored) is False
        assert verifier.verify_blocking("s3cret", stored) is True
        assert verifier.verify_blocking("nope", stored) is False
        assert verifier.hashes_computed == 2
        assert (len(verifier), verifier.known_failures) == (1, 1)
    finally:
        verifier.close()


def test_defaults_two_hashes_at_once_and_256_waiting() -> None:
    fake = GatedHash()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake)
        running = [start(verifier, f"flood-{n}", FLOOD) for n in range(2)]
        assert {await fake.next_started(), await fake.next_started()} == {"flood-0", "flood-1"}
        queued = [start(verifier, f"flood-{n}", FLOOD) for n in range(2, 2 + 256)]
        await until(lambda: verifier.queued == 256)
        assert fake.nothing_started()  # the third waits for one of the two threads
        assert await finished(start(verifier, "flood-extra", FLOOD)) is Verdict.BUSY
        fake.open()
        assert {await finished(task) for task in running + queued} == {Verdict.WRONG}
        assert verifier.hashes_computed == 258
        verifier.close()

    run(scenario)


def test_a_verifier_outlives_an_event_loop_that_ended_with_checks_queued() -> None:
    fake = GatedHash()
    verifier = PasswordVerifier(check=fake, workers=1)

    async def abandoned_loop() -> None:
        start(verifier, "stuck-0", FLOOD)
        assert await fake.next_started() == "stuck-0"
        start(verifier, "stuck-1", FLOOD)
        await until(lambda: verifier.queued == 1)
        # asyncio.run ends here: the queued check and the running hash's wake-up are lost with the loop

    async def next_loop() -> None:
        fake.open()
        assert await finished(start(verifier, "right-later", LEGIT)) is Verdict.RIGHT
        assert verifier.queued == 0

    try:
        run(abandoned_loop)
        run(next_loop)
    finally:
        verifier.close()


def test_suspect_checks_wait_behind_clean_ones_and_leave_one_worker_free() -> None:
    """Checks of an address that failed lately (`suspect`, see core/guard.py) go after every other, on at most
    workers - 1 workers: a correct login from elsewhere waits for no queue of guesses."""
    fake = GatedHash()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=2)
        guesses = [start(verifier, f"guess-{n}", FLOOD, suspect=True) for n in range(10)]
        assert await fake.next_started() == "guess-0"
        await until(lambda: verifier.queued == 9)
        assert fake.nothing_started()  # the second worker stays free for a clean check
        login = start(verifier, "right-login", LEGIT)
        assert await fake.next_started() == "right-login"  # at once, on the free worker
        fake.release("right-login")
        assert await finished(login) is Verdict.RIGHT
        order = []
        for n in range(10):  # the guesses, one at a time
            fake.release(f"guess-{n}")
            if n < 9:
                order.append(await fake.next_started())
        assert order == [f"guess-{n}" for n in range(1, 10)]
        assert {await finished(task) for task in guesses} == {Verdict.WRONG}
        verifier.close()

    run(scenario)


def test_trusted_checks_go_before_clean_ones() -> None:
    """An address with a correct login lately (`trusted`) does not queue behind the first guesses of new ones."""
    fake = GatedHash()

    async def scenario() -> None:
        verifier = PasswordVerifier(check=fake, workers=1)
        first = start(verifier, "new-0", "10.0.1.0")
        assert await fake.next_started() == "new-0"
        newcomers = [start(verifier, f"new-{n}", f"10.0.1.{n}") for n in range(1, 6)]
        await until(lambda: verifier.queued == 5)
        login = start(verifier, "right-login", LEGIT, trusted=True)
        await until(lambda: verifier.queued == 6)
        fake.release("new-0")
        assert await fake.next_started() == "right-login"
        fake.open()
        assert await finished(login) is Verdict.RIGHT
        assert {await finished(task) for task in [first, *newcomers]} == {Verdict.WRONG}
        verifier.close()

    run(scenario)
