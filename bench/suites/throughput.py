"""Throughput: QoS 0 and QoS 1 one publisher → one subscriber, and QoS 0 fan-out 1 → N, 100-byte payloads.

One broker process per system serves all three cases; each case connects its own clients (the password user; on
bare amqtt, anonymous). Runs are interleaved across the systems (see `interleave.py`); the median of `repeats` is
reported.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.context import Context
from bench.load.throughput import flow
from bench.settings import RUN_TIMEOUT
from bench.suites.interleave import Measure, interleaved
from bench.systems.launch import Running


def cases(ctx: Context) -> list[tuple[str, int, int, int]]:
    """(name, QoS, messages, subscribers)"""
    c = ctx.counts
    return [("qos0", 0, c.qos0, 1), ("qos1", 1, c.qos1, 1), ("fanout", 0, c.fanout_messages, c.fanout_subscribers)]


def one(target: Running, name: str, qos: int, messages: int, subscribers: int, tag: str) -> dict[str, Any]:
    result = asyncio.run(flow(target.user, target.user, prefix=f"{name}{tag}", qos=qos, messages=messages,
                              subscribers=subscribers, deadline=RUN_TIMEOUT, broker_cpu=target.process.cpu_seconds))
    return result.to_json()


def _measure(name: str, qos: int, messages: int, subscribers: int) -> Measure:
    return lambda target, tag: one(target, name, qos, messages, subscribers, tag)


def run(ctx: Context) -> dict[str, Any]:
    what = "throughput (" + ", ".join(f"{name} {messages}×{subscribers}" for name, _, messages, subscribers
                                      in cases(ctx)) + ")"
    return interleaved(ctx, what, [(case[0], _measure(*case)) for case in cases(ctx)])
