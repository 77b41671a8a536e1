"""A 1,000-cycle connect/disconnect storm leaves nothing behind: open file descriptors, asyncio tasks, threads and
memory (RSS) are back near where they started once the clients are gone.

The broker runs in this process (harness.Instance), so what it holds is what this process holds. The cycles mix
what devices do: a clean DISCONNECT, a connection dropped without one, a subscription and a QoS 1 publish first, a
persistent session that is then cleaned, a refused password, and a socket that closes before its CONNECT. Before
measuring the start, 100 cycles warm the caches up (lazy imports, the store's page cache, the decision caches).
Loopback only, from 16 source addresses.
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Instance
from tests.integration.raw_mqtt import PacketType, RawClient

CYCLES = 1000
WARM_UP = 100
SOURCES = 16
WAIT = 10.0
SETTLE = 10.0  # seconds for the broker to finish with the last cycles (bounded wait on a condition)
FD_SLACK = 4  # the store's WAL may grow a page file; the recorder's thread pool may open one more
TASK_SLACK = 0
THREAD_SLACK = 1
RSS_SLACK = 24 * 1024 * 1024  # what 1,000 more Auth log rows and allocator fragmentation may cost; a leak is more


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _tasks(instance: Instance) -> int:
    async def count() -> int:
        current = asyncio.current_task()
        return sum(1 for task in asyncio.all_tasks() if task is not current and not task.done())

    return instance.run(count())


def _measure(instance: Instance) -> dict[str, int]:
    return {"fds": _fds(), "tasks": _tasks(instance), "threads": threading.active_count(), "rss": _rss()}


def _cycle(port: int, number: int) -> None:
    source = f"127.0.2.{number % SOURCES + 1}"
    kind = number % 6
    if kind == 5:  # a port probe: connects and closes before any CONNECT
        RawClient(port, name="probe", timeout=WAIT, source=source).close()
        return
    with RawClient(port, name=f"c{number}", timeout=WAIT, source=source) as raw:
        client_id = f"storm-{number % 50}"
        if kind == 4:
            assert raw.connect(client_id, username="dev", password="wrong").return_code == 4
            assert raw.wait_closed(WAIT)
            return
        assert raw.connect(client_id, username="dev", password="pw", clean_session=kind != 3).return_code == 0
        if kind == 2:
            assert raw.subscribe(f"storm/{number}/#", 1) == 1
            raw.publish(f"storm/{number}/x", b"payload", qos=1)
            raw.expect(PacketType.PUBLISH)
        if kind == 1:
            raw.close_abruptly(reset=number % 2 == 0)
            return
        assert raw.disconnect(timeout=WAIT)
    if kind == 3:  # the persistent session it left is cleaned by the same client, as a device would on reset
        with RawClient(port, name=f"c{number}-clean", timeout=WAIT, source=source) as raw:
            assert raw.connect(client_id, username="dev", password="pw", clean_session=True).return_code == 0
            assert raw.disconnect(timeout=WAIT)


def _settled(instance: Instance) -> bool:
    def idle() -> bool:
        broker = instance.service._broker
        assert broker is not None
        return (len(instance.service.registry) == 0 and not instance.service.registry.offline()
                and broker.admission.pending == 0 and broker.open_connections.total == 0)

    return instance.until(idle, SETTLE)


@pytest.fixture
def figures() -> Iterator[dict[str, Any]]:
    measured: dict[str, Any] = {}
    yield measured
    if measured:
        print("\nconnection storm:", ", ".join(f"{k} {v}" for k, v in measured.items()))


def test_a_thousand_connects_and_disconnects_leave_nothing_behind(dev_user: Instance, figures: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    for number in range(WARM_UP):
        _cycle(dev_user.port, number)
    assert _settled(dev_user)
    dev_user.flush_log()
    before = _measure(dev_user)
    started = time.monotonic()
    for number in range(WARM_UP, WARM_UP + CYCLES):
        _cycle(dev_user.port, number)
    elapsed = time.monotonic() - started
    assert _settled(dev_user), "sessions or connections still open after the storm"
    dev_user.flush_log()
    after = _measure(dev_user)
    figures.update({"cycles": CYCLES, "seconds": round(elapsed, 1),
                    **{f"{key} before/after": f"{before[key]}/{after[key]}" for key in before}})
    assert after["fds"] <= before["fds"] + FD_SLACK, (before, after)
    assert after["tasks"] <= before["tasks"] + TASK_SLACK, (before, after)
    assert after["threads"] <= before["threads"] + THREAD_SLACK, (before, after)
    assert after["rss"] <= before["rss"] + RSS_SLACK, (before, after)
    broker = dev_user.service._broker
    assert broker is not None
    assert dev_user.call(lambda: (len(broker._states), len(broker._client_gates), len(broker._connection_tasks))) == \
        (0, 0, 0)
