"""The caps on connections waiting for their CONNECT, refusal bursts, and the filter for exhausted accepts."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mqttdesk.broker import accept_errors as accept_errors_module
from mqttdesk.broker import admission as admission_module
from mqttdesk.broker.accept_errors import AcceptErrorFilter
from mqttdesk.broker.admission import MAX_ADDRESSES_LOGGED, Admission, pending_cap
from mqttdesk.broker.limit_counts import LimitCounts, LimitEvent
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.limits import AdmissionLimits

REPO = Path(__file__).resolve().parents[2]


def test_the_total_cap_follows_the_file_descriptor_limit() -> None:
    limits = AdmissionLimits(max_pending_per_address=32, max_pending=1000)
    assert pending_cap(limits, 1024) == 480  # (1024 - 64 reserved) / 2: the other half is for live sessions
    assert pending_cap(limits, 1_048_576) == 1000  # the setting
    assert pending_cap(limits, 80) == 16  # a few, however small the limit
    assert pending_cap(limits, None) == 1000


@pytest.mark.parametrize("field", ["max_pending_per_address", "max_pending"])
def test_admission_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValidationError, match="must be between 1 and"):
        AdmissionLimits(**{field: 0})


def test_one_auth_log_entry_per_address_and_burst_and_a_bounded_number_per_burst(
        caplog: pytest.LogCaptureFixture) -> None:
    recorded: list[str] = []

    async def flood() -> None:
        admission = Admission(AdmissionLimits(max_pending_per_address=2, max_pending=1000), None,
                              lambda address, why: recorded.append(address))
        for _ in range(2):
            assert admission.admit("10.0.0.1") is not None
        for _ in range(100):
            assert admission.admit("10.0.0.1") is None
        for n in range(2, 40):  # a flood from many addresses
            for _ in range(3):
                admission.admit(f"10.0.0.{n}")
        admission.close()

    with caplog.at_level(logging.WARNING, logger="mqttdesk.broker.admission"):
        asyncio.run(flood())
    assert [record.getMessage() for record in caplog.records] == [  # one line for the burst
        "refusing connections before their CONNECT: 10.0.0.1 already has 2 connections waiting to send their "
        "CONNECT (at most 2 per address); further refusals are counted, not logged, until none comes for 5 s"]
    assert recorded[0] == "10.0.0.1"
    assert len(recorded) == MAX_ADDRESSES_LOGGED
    assert len(set(recorded)) == len(recorded)


def test_a_new_burst_after_a_quiet_spell_logs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission_module, "BURST_QUIET", 0.0)  # the burst ends at the next turn of the loop
    recorded: list[str] = []

    async def two_bursts() -> None:
        admission = Admission(AdmissionLimits(max_pending_per_address=1, max_pending=10), None,
                              lambda address, why: recorded.append(address))
        assert admission.admit("10.0.0.1") is not None
        assert admission.admit("10.0.0.1") is None
        assert admission.admit("10.0.0.1") is None
        await asyncio.sleep(0)  # the burst's timer becomes due
        await asyncio.sleep(0)  # and runs
        assert not admission.in_burst
        assert admission.admit("10.0.0.1") is None
        admission.close()

    asyncio.run(two_bursts())
    assert recorded == ["10.0.0.1", "10.0.0.1"]


def test_pressure_shortens_the_connect_deadline_and_ends_below_a_quarter() -> None:
    async def run() -> list[tuple[bool, float]]:
        admission = Admission(AdmissionLimits(max_pending_per_address=100, max_pending=8), None,
                              lambda address, why: None)
        seen = [(admission.pressured, admission.connect_timeout)]
        first = admission.admit("10.0.0.1")
        assert first is not None
        async with first:
            waiting = [admission.admit("10.0.0.2") for _ in range(4)]  # 5 of 8: over half
            seen.append((admission.pressured, admission.connect_timeout))
            for entered in waiting:
                assert entered is not None
                async with entered:
                    pass
            seen.append((admission.pressured, admission.connect_timeout))  # 1 of 8 left: under a quarter
        assert admission.pending == 0
        return seen

    assert asyncio.run(run()) == [(False, 10.0), (True, 2.0), (False, 10.0)]


def test_a_deadline_passing_while_its_connect_waits_unread_is_the_brokers_delay_not_the_clients() -> None:
    """A storm: every device sent its CONNECT at once, and the broker is still working through them when the
    (pressured) deadline passes. Those connections stay; one with nothing unread is dropped at its deadline."""

    async def run() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        admission = Admission(AdmissionLimits(max_pending_per_address=100, max_pending=8), None,
                              lambda address, why: None, connect_timeout=0.05, pressured_timeout=0.05)
        unread = True
        waiting = admission.admit("10.0.0.1", lambda: unread)
        assert waiting is not None
        kept = False
        async with waiting:
            four_deadlines = loop.create_future()
            loop.call_later(0.2, four_deadlines.set_result, None)
            await four_deadlines  # the broker is busy elsewhere; the CONNECT bytes wait unread
            kept = True
        unread = False
        idle = admission.admit("10.0.0.2", lambda: unread)
        assert idle is not None
        dropped = False
        try:
            async with idle:
                await loop.create_future()  # a client that sends nothing: only its deadline ends this
        except TimeoutError:
            dropped = True
        return kept, dropped

    assert asyncio.run(asyncio.wait_for(run(), 10.0)) == (True, True)


def _accept_failure() -> dict[str, Any]:
    return {"message": "socket.accept() out of system resource",
            "exception": OSError(errno.EMFILE, "Too many open files")}


def _start_serving() -> None:  # as asyncio's retry fails once its listening socket is closed
    raise ValueError("Invalid file descriptor: -1")


def test_exhausted_accepts_make_one_line_and_other_errors_pass_through(caplog: pytest.LogCaptureFixture,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accept_errors_module, "RETRY_GRACE", 0.0)
    passed_on: list[dict[str, Any]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: passed_on.append(context))
        errors = AcceptErrorFilter(loop, 1024)
        errors.install()
        for _ in range(500):
            loop.call_exception_handler(_accept_failure())
        other = {"message": "something else", "exception": OSError(errno.EMFILE, "Too many open files")}
        loop.call_exception_handler(other)
        errors.uninstall()
        # asyncio's retry timer may still fire on the closed listener: that is dropped too, for a moment
        assert loop.get_exception_handler() is errors
        loop.call_soon(_start_serving)
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the restoring timer (RETRY_GRACE is 0 here) runs
        assert loop.get_exception_handler() is not errors

    with caplog.at_level(logging.WARNING, logger="mqttdesk.broker.accept_errors"):
        asyncio.run(run())
    assert [record.getMessage() for record in caplog.records] == [
        "cannot accept connections: Too many open files (limit 1024); new clients wait in the listen queue, "
        "retrying every second"]
    assert [context["message"] for context in passed_on] == ["something else"]


def test_a_connection_on_one_of_the_last_descriptors_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    """uvloop's way: it reports no failed accept, so the descriptor of each accepted connection is watched."""

    async def run() -> None:
        errors = AcceptErrorFilter(asyncio.get_running_loop(), 160)
        errors.install()
        for descriptor in (12, 150, 157):  # far from the limit: nothing
            errors.accepted(descriptor)
        for descriptor in (158, 159, 158):  # the last two: the next accept has none left
            errors.accepted(descriptor)
        errors.uninstall()

    with caplog.at_level(logging.WARNING, logger="mqttdesk.broker.accept_errors"):
        asyncio.run(run())
    assert [record.getMessage() for record in caplog.records] == [
        "cannot accept connections: Too many open files (limit 160); new clients are refused until connections "
        "close"]


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_NOFILE on Windows")
def test_the_soft_file_limit_is_raised_to_the_hard_one() -> None:
    script = (
        "import resource\n"
        "from mqttdesk.broker.admission import raise_file_descriptor_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "hard = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "print(raise_file_descriptor_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    reported, soft, hard = done.stdout.split()
    assert reported == soft == hard


def test_every_refusal_before_the_connect_is_counted_for_the_clients_view() -> None:
    counts = LimitCounts()

    async def flood() -> None:
        admission = Admission(AdmissionLimits(max_pending_per_address=2, max_pending=1000), None,
                              lambda address, why: None, counts=counts)
        for _ in range(2):
            assert admission.admit("10.0.0.1") is not None
        for _ in range(30):
            assert admission.admit("10.0.0.1") is None
        admission.close()

    asyncio.run(flood())
    assert counts[LimitEvent.PENDING] == 30  # every socket, though only the first is in the Auth log
    assert counts.describe() == "refused: 30 waiting for their CONNECT"
