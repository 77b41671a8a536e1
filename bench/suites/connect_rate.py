"""Connect rate: N sequential CONNECT+DISCONNECT with a password user (in MQTT 3.1.1, and again in MQTT 5 on the
systems that speak it), and N devices connecting at once.

Both after untimed warm-up connects of the credential (mqttdesk verifies a password once and then hits its
verified-password cache; the storm's bootstrap credential is warmed the same way). Each run uses new clientIds;
runs are interleaved across the systems (see `interleave.py`) and the median of `repeats` is reported. Storm
devices stay connected until every CONNACK is in, then all disconnect at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.context import Context
from bench.load.client import Endpoint
from bench.load.connects import ConnectRun, close_all, sequential, storm, warm_up
from bench.load.netstat import listen_drops
from bench.load.packets import MQTT_3_1_1, MQTT_5
from bench.settings import RUN_TIMEOUT
from bench.suites.interleave import interleaved
from bench.systems.launch import MQTT5_SYSTEMS, NO_MQTT5, Running


def _timed(target: Running, work: Any) -> tuple[Any, tuple[float, float]]:
    """Run a coroutine (or call a function); also return the broker's and the load generator's CPU seconds over it
    (the load runs in this process: its CPU tells whether a figure is the broker's pace or the load's own)."""
    before, load_before = target.process.cpu_seconds(), time.process_time()
    result = asyncio.run(work) if asyncio.iscoroutine(work) else work()
    return result, (target.process.cpu_seconds() - before, time.process_time() - load_before)


def _with_cpu(run: ConnectRun, cpu: tuple[float, float]) -> dict[str, Any]:
    broker_cpu, load_cpu = cpu
    figures = run.to_json()
    figures["broker_cpu_share"] = round(broker_cpu / run.seconds, 3) if run.seconds else None
    figures["load_cpu_share"] = round(load_cpu / run.seconds, 3) if run.seconds else None
    # the broker's cost of a connect, whatever the pace: where the load generator sets the pace (a storm on two
    # cores), the rate hides it and this does not
    figures["broker_cpu_us_per_connect"] = round(broker_cpu / run.attempted * 1e6, 1) if run.attempted else None
    return figures


def _sequential(target: Running, count: int, tag: str, version: int = MQTT_3_1_1) -> dict[str, Any]:
    endpoint, prefix = target.user.speaking(version), f"seq{'5' if version == MQTT_5 else ''}{tag}"
    run, cpu = _timed(target, lambda: sequential(endpoint, prefix, count, RUN_TIMEOUT))
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


def _prepare(ctx: Context) -> Callable[[Running], None]:
    def prepare(target: Running) -> None:
        warm_up(target.user, "seq-warm", ctx.counts.warmup)
        if target.system in MQTT5_SYSTEMS:
            warm_up(target.user.speaking(MQTT_5), "seq5-warm", ctx.counts.warmup)
        warm_up(target.fleet, "storm-warm", 1)

    return prepare


def run(ctx: Context) -> dict[str, Any]:
    counts = ctx.counts
    what = f"connect rate ({counts.connects} sequential in 3.1.1 and in MQTT 5, storm of {counts.storm})"
    return interleaved(ctx, what, [
        ("sequential", lambda target, tag: _sequential(target, counts.connects, tag)),
        ("storm", lambda target, tag: _storm(target, counts.storm, tag)),
        ("sequential_v5", lambda target, tag: _sequential(target, counts.connects, tag, MQTT_5)),
    ], _prepare(ctx), lambda case, system: NO_MQTT5 if case == "sequential_v5" and system not in MQTT5_SYSTEMS
        else None)
