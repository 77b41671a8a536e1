"""Throughput: QoS 0 and QoS 1 one publisher → one subscriber, and QoS 0 fan-out 1 → N, 100-byte payloads; QoS 0
and QoS 1 1 → 1 once more with every client speaking MQTT 5 (mosquitto and mqttdesk only: bare amqtt has no MQTT 5).

One broker process per system serves all cases; each case connects its own clients (the password user; on bare
amqtt, anonymous). Runs are interleaved across the systems (see `interleave.py`); the median of `repeats` is
reported.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.context import Context
from bench.load.packets import MQTT_3_1_1, MQTT_5
from bench.load.throughput import flow
from bench.settings import RUN_TIMEOUT
from bench.suites.interleave import Measure, interleaved
from bench.systems.launch import MQTT5_SYSTEMS, NO_MQTT5, Running


def cases(ctx: Context) -> list[tuple[str, int, int, int, int]]:
    """(name, QoS, messages, subscribers, protocol version)"""
    c = ctx.counts
    return [("qos0", 0, c.qos0, 1, MQTT_3_1_1), ("qos1", 1, c.qos1, 1, MQTT_3_1_1),
            ("fanout", 0, c.fanout_messages, c.fanout_subscribers, MQTT_3_1_1),
            ("qos0_v5", 0, c.qos0, 1, MQTT_5), ("qos1_v5", 1, c.qos1, 1, MQTT_5)]


def one(target: Running, name: str, qos: int, messages: int, subscribers: int, version: int,
        tag: str) -> dict[str, Any]:
    endpoint = target.user.speaking(version)
    result = asyncio.run(flow(endpoint, endpoint, prefix=f"{name}{tag}", qos=qos, messages=messages,
                              subscribers=subscribers, deadline=RUN_TIMEOUT, broker_cpu=target.process.cpu_seconds))
    return result.to_json()


def _measure(name: str, qos: int, messages: int, subscribers: int, version: int) -> Measure:
    return lambda target, tag: one(target, name, qos, messages, subscribers, version, tag)


def run(ctx: Context) -> dict[str, Any]:
    chosen = cases(ctx)
    what = "throughput (" + ", ".join(f"{name} {messages}×{subscribers}" for name, _, messages, subscribers, _
                                      in chosen) + ")"
    mqtt5 = {name for name, *_, version in chosen if version == MQTT_5}
    return interleaved(ctx, what, [(case[0], _measure(*case)) for case in chosen],
                       not_applicable=lambda case, system: NO_MQTT5 if case in mqtt5 and system not in MQTT5_SYSTEMS
                       else None)
