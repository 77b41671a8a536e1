"""The targets of issue 8, of the login cost (security issue) and of "Speed round 2" (the rows whose text says
"round 2"), each checked against figures of the same run: met, MISSED, or n/a (not measured)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.report.dig import dig
from bench.stats import ratio

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _ratio(suite: str, case: str, a: str, b: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: ratio(dig(r, suite, case, a, "rate"), dig(r, suite, case, b, "rate"))


def _memory_ratio(r: dict[str, Any]) -> float | None:
    return ratio(dig(r, "memory", "mqttdesk", "bytes_per_client"), dig(r, "memory", "bare_amqtt", "bytes_per_client"))


def _stall(phase: str, figure: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: dig(r, "gui", "stalls", phase, figure)


def _startup(system: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: dig(r, "startup", system, "median_s")


def _all_in(path: tuple[str, ...]) -> Callable[[dict[str, Any]], float | None]:
    """1.0 when every storm device was accepted exactly once, else 0.0 (None when not run)."""

    def measure(r: dict[str, Any]) -> float | None:
        run = dig(r, *path)
        if not run:
            return None
        ok = run["accepted"] == run["attempted"] and run.get("distinct_accepted", run["accepted"]) == run["accepted"]
        return 1.0 if ok else 0.0

    return measure


def _storm_drops(r: dict[str, Any]) -> str | None:
    """Whose listen backlog dropped SYNs in the storm: a dropped SYN waits for the kernel's one-second retry, so a
    storm ratio with drops on one side says what a fleet powering up at once sees, not what a CONNECT costs."""
    drops = {system: dig(r, "connect", "storm", system, "listen_drops") for system in ("mosquitto", "mqttdesk")}
    if all(count == 0 for count in drops.values()):
        return "no SYN dropped"
    return ", ".join(f"{system} dropped {count:,} SYNs" for system, count in drops.items() if count) or None


@dataclass(frozen=True)
class Target:
    text: str
    measure: Callable[[dict[str, Any]], float | None]
    op: str
    threshold: float
    unit: str = "×"
    note: Callable[[dict[str, Any]], str | None] | None = None  # what the reader needs beside the figure

    def evaluate(self, results: dict[str, Any]) -> dict[str, Any]:
        value = self.measure(results)
        verdict = "n/a" if value is None else "met" if _OPS[self.op](value, self.threshold) else "MISSED"
        note = self.note(results) if self.note is not None and value is not None else None
        return {"target": self.text, "value": value, "op": self.op, "threshold": self.threshold, "unit": self.unit,
                "verdict": verdict, **({"note": note} if note else {})}


# "Speed round 2": the Python broker next to Mosquitto with its password file and ACL, both protocol versions
ROUND_2: tuple[Target, ...] = (
    *(Target(f"round 2: {text} vs mosquitto", _ratio(suite, case, "mqttdesk", "mosquitto"), ">=", bar)
      for text, suite, case, bar in (
          ("QoS 0 1 → 1", "throughput", "qos0", 1.0), ("QoS 1 1 → 1", "throughput", "qos1", 1.0),
          ("MQTT 5 QoS 0 1 → 1", "throughput", "qos0_v5", 1.0), ("MQTT 5 QoS 1 1 → 1", "throughput", "qos1_v5", 1.0),
          ("sequential connect", "connect", "sequential", 0.8),
          ("MQTT 5 sequential connect", "connect", "sequential_v5", 0.8))),
    Target("round 2: bootstrap storm vs mosquitto", _ratio("connect", "storm", "mqttdesk", "mosquitto"), ">=", 1.5,
           note=_storm_drops),
    Target("round 2: fan-out 1 → N vs mosquitto", _ratio("throughput", "fanout", "mqttdesk", "mosquitto"), ">=", 2.0),
    Target("round 2: RSS per idle client", lambda r: dig(r, "memory", "mqttdesk", "bytes_per_client"), "<=", 4096,
           unit="B"),
    *(Target(f"round 2: GUI stall during the {phase}, {figure}", _stall(phase, f"{figure}_ms"), "<", bar, unit="ms")
      for phase in ("storm", "storm-disconnect", "flood") for figure, bar in (("p99", 20), ("max", 50))),
    Target("round 2: startup to listening, headless", _startup("mqttdesk_headless"), "<", 0.3, unit="s"),
    Target("round 2: startup to listening, GUI", _startup("mqttdesk_gui"), "<", 0.8, unit="s"),
)

TARGETS: tuple[Target, ...] = (
    Target("QoS 0 throughput, auth+ACL on, vs bare amqtt", _ratio("throughput", "qos0", "mqttdesk", "bare_amqtt"),
           ">=", 0.9),
    Target("QoS 1 throughput, auth+ACL on, vs bare amqtt", _ratio("throughput", "qos1", "mqttdesk", "bare_amqtt"),
           ">=", 0.9),
    Target("QoS 0 fan-out vs bare amqtt (the QoS 0 target)", _ratio("throughput", "fanout", "mqttdesk", "bare_amqtt"),
           ">=", 0.9),
    Target("connect rate, password user, vs bare amqtt anonymous",
           _ratio("connect", "sequential", "mqttdesk", "bare_amqtt"), ">=", 0.8),
    Target("connect rate vs mosquitto", _ratio("connect", "sequential", "mqttdesk", "mosquitto"), ">=", 0.33),
    Target("QoS 0 throughput vs mosquitto", _ratio("throughput", "qos0", "mqttdesk", "mosquitto"), ">=", 0.6),
    Target("storm: every device accepted, no clientId twice (connect suite)",
           _all_in(("connect", "storm", "mqttdesk")), ">=", 1.0, unit="yes"),
    Target("storm: every device accepted, no clientId twice (GUI storm)", _all_in(("gui", "storm_load")), ">=", 1.0,
           unit="yes"),
    Target("GUI stall during the storm, p99", _stall("storm", "p99_ms"), "<", 50, unit="ms"),
    Target("GUI stall during the storm, max", _stall("storm", "max_ms"), "<", 200, unit="ms"),
    Target("GUI stall during the QoS 0 flood, p99 (storm bar)", _stall("flood", "p99_ms"), "<", 50,
           unit="ms"),
    Target("GUI stall during the QoS 0 flood, max (storm bar)", _stall("flood", "max_ms"), "<", 200,
           unit="ms"),
    Target("startup to listening, headless", _startup("mqttdesk_headless"), "<", 1.5, unit="s"),
    Target("memory per idle client vs bare amqtt", _memory_ratio, "<=", 1.2),
    # a few hashes of 0.25 s: the login waits for the checks already running and at most one guess more
    Target("correct login after abandoned guesses (login suite)",
           lambda r: dig(r, "login", "abandoned", "login_wait_s"), "<", 1.0, unit="s"),
    Target("correct login during a guessing burst (login suite)",
           lambda r: dig(r, "login", "burst", "login_wait_s"), "<", 1.0, unit="s"),
    *ROUND_2,
)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [target.evaluate(results) for target in TARGETS]
