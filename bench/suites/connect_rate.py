"""Connect rate: N sequential CONNECT+DISCONNECT with a password user, and N devices connecting at once.

Both after untimed warm-up connects of the credential (mqttdesk verifies a password once and then hits its
verified-password cache; the storm's bootstrap credential is warmed the same way). Each run uses new clientIds;
the median run (by rate) of `repeats` is reported, with all rates alongside. Storm devices stay connected until
every CONNACK is in, then all disconnect at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.context import Context
from bench.load.client import Endpoint
from bench.load.connects import ConnectRun, close_all, sequential, storm, warm_up
from bench.load.netstat import listen_drops
from bench.settings import RUN_TIMEOUT
from bench.suites.repeat import by_case, median_run
from bench.systems.launch import Running, for_each, running


def _timed(target: Running, work: Any) -> tuple[Any, float]:
    """Run a coroutine (or call a function); also return the broker's CPU seconds over it."""
    before = target.process.cpu_seconds()
    result = asyncio.run(work) if asyncio.iscoroutine(work) else work()
    return result, target.process.cpu_seconds() - before


def _with_cpu(run: ConnectRun, broker_cpu: float) -> dict[str, Any]:
    figures = run.to_json()
    figures["broker_cpu_share"] = round(broker_cpu / run.seconds, 3) if run.seconds else None
    return figures


def _sequential(target: Running, count: int, tag: str) -> dict[str, Any]:
    run, cpu = _timed(target, lambda: sequential(target.user, f"seq{tag}", count, RUN_TIMEOUT))
    return _with_cpu(run, cpu)


async def _storm_and_leave(endpoint: Endpoint, client_ids: list[str]) -> tuple[ConnectRun, int, float]:
    result = await storm(endpoint, client_ids, RUN_TIMEOUT)
    disconnect_seconds = await close_all(result.links)
    return result.run, len(set(result.accepted_ids)), disconnect_seconds


def _storm(target: Running, count: int, tag: str) -> dict[str, Any]:
    ids = [f"storm{tag}-{i:05d}" for i in range(count)]
    drops = listen_drops()
    (run, distinct, disconnect_seconds), cpu = _timed(target, _storm_and_leave(target.fleet, ids))
    after = listen_drops()
    figures = _with_cpu(run, cpu)
    figures.update(distinct_accepted=distinct, all_accepted=run.accepted == count and distinct == count,
                   disconnect_seconds=round(disconnect_seconds, 3),
                   listen_drops=after - drops if after is not None and drops is not None else None)
    return figures


def run(ctx: Context) -> dict[str, Any]:
    counts = ctx.counts

    def one_system(system: str) -> dict[str, Any]:
        with running(ctx, system) as target:
            warm_up(target.user, "seq-warm", counts.warmup)
            warm_up(target.fleet, "storm-warm", 1)
            return {
                "sequential": median_run([_sequential(target, counts.connects, str(r)) for r in range(counts.repeats)]),
                "storm": median_run([_storm(target, counts.storm, str(r)) for r in range(counts.repeats)]),
            }

    what = f"connect rate ({counts.connects} sequential, storm of {counts.storm}, {counts.repeats}×)"
    return by_case(for_each(ctx, what, one_system), ["sequential", "storm"])
