"""The rows of the figures table, read out of the results dict (one value per system, ratios between them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.report.dig import dig
from bench.stats import ratio

SYSTEMS = ("bare_amqtt", "mosquitto", "mqttdesk")
RATIOS = (("mqttdesk", "bare_amqtt"), ("mqttdesk", "mosquitto"), ("bare_amqtt", "mosquitto"))


@dataclass(frozen=True)
class Row:
    key: str  # stable id, also used by targets
    label: str
    values: dict[str, float | None]
    digits: int = 0
    notes: dict[str, str] | None = None  # per system, shown after the value (e.g. "1000/1000 in")
    note_only: bool = False  # show the note instead of the value (p50/p99/max triples)

    def ratios(self) -> dict[str, float | None]:
        return {f"{a}/{b}": ratio(self.values.get(a), self.values.get(b)) for a, b in RATIOS}



def _per_system(results: dict[str, Any], suite: str, case: str, field: str) -> dict[str, float | None]:
    return {s: dig(results, suite, case, s, field) for s in SYSTEMS}


def _not_applicable(results: dict[str, Any], suite: str, case: str, system: str) -> str | None:
    """"n/a" where the case does not apply to the system (MQTT 5 on bare amqtt)."""
    return "n/a" if dig(results, suite, case, system, "not_applicable") else None


def _accepted_notes(results: dict[str, Any], suite: str, case: str) -> dict[str, str]:
    notes = {}
    for system in SYSTEMS:
        run = dig(results, suite, case, system)
        if run and "accepted" in run:
            notes[system] = f"{run['accepted']}/{run['attempted']} in"
        elif (na := _not_applicable(results, suite, case, system)) is not None:
            notes[system] = na
    return notes


def _storm_notes(results: dict[str, Any]) -> dict[str, str]:
    """`_accepted_notes`, with the SYNs the kernel dropped during that run (a listen backlog was full): a dropped
    SYN connects only after the kernel's one-second retry, so a broker whose backlog overflows loses its storm rate
    to it. Shown because a storm ratio with drops on one side measures the backlog, not what a CONNECT costs."""
    notes = _accepted_notes(results, "connect", "storm")
    for system in SYSTEMS:
        drops = dig(results, "connect", "storm", system, "listen_drops")
        if drops:
            notes[system] = f"{notes[system]}, {drops:,} SYNs dropped" if system in notes else f"{drops:,} SYNs dropped"
    return notes


def _load_notes(results: dict[str, Any], case: str) -> dict[str, str]:
    """The load generator's CPU share (cores) beside each system's figure: near 1, it set the pace, not the broker."""
    notes = {}
    for system in SYSTEMS:
        share = dig(results, "connect", case, system, "load_cpu_share")
        if share is not None:
            notes[system] = f"load {share:.2f}"
    return notes


def _lost_notes(results: dict[str, Any], case: str) -> dict[str, str]:
    notes = {}
    for system in SYSTEMS:
        lost = dig(results, "throughput", case, system, "lost")
        if lost:
            notes[system] = f"{lost} lost"
        elif (na := _not_applicable(results, "throughput", case, system)) is not None:
            notes[system] = na
    return notes


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    if "connect" in results:
        out.append(Row("connect_sequential", "connect+disconnect, sequential (/s)",
                       _per_system(results, "connect", "sequential", "rate"),
                       notes=_accepted_notes(results, "connect", "sequential")))
        out.append(Row("connect_storm", "connect storm, all at once (/s)",
                       _per_system(results, "connect", "storm", "rate"), notes=_storm_notes(results)))
        for case, label in (("sequential", "broker CPU per connect, sequential (µs)"),
                            ("storm", "broker CPU per connect, storm (µs; load generator's cores)")):
            if dig(results, "connect", case, "mqttdesk", "broker_cpu_us_per_connect") is None:
                continue  # a results file from before this figure
            out.append(Row(f"connect_{case}_cpu", label,
                           _per_system(results, "connect", case, "broker_cpu_us_per_connect"),
                           notes=_load_notes(results, case)))
        if dig(results, "connect", "sequential_v5"):
            out.append(Row("connect_sequential_v5", "MQTT 5 connect+disconnect, sequential (/s)",
                           _per_system(results, "connect", "sequential_v5", "rate"),
                           notes=_accepted_notes(results, "connect", "sequential_v5")))
    if "throughput" in results:
        for case, label in (("qos0", "QoS 0, 1 → 1 (msg/s)"), ("qos1", "QoS 1, 1 → 1 (msg/s)"),
                            ("fanout", "QoS 0 fan-out 1 → N (deliveries/s)"),
                            ("qos0_v5", "MQTT 5 QoS 0, 1 → 1 (msg/s)"), ("qos1_v5", "MQTT 5 QoS 1, 1 → 1 (msg/s)")):
            if case.endswith("_v5") and not dig(results, "throughput", case):
                continue  # a results file from before the MQTT 5 cases
            out.append(Row(case, label, _per_system(results, "throughput", case, "rate"),
                           notes=_lost_notes(results, case)))
    if "memory" in results:
        out.append(Row("memory_per_client", "RSS per idle client (bytes)",
                       {s: dig(results, "memory", s, "bytes_per_client") for s in SYSTEMS}))
        out.append(Row("memory_empty", "RSS with 0 clients (MiB)",
                       {s: (v / 2**20 if (v := dig(results, "memory", s, "rss_empty")) else None) for s in SYSTEMS},
                       digits=1))
    if "startup" in results:
        out.append(Row("startup_headless", "startup to listening, headless (s, median)",
                       {"bare_amqtt": dig(results, "startup", "bare_amqtt", "median_s"),
                        "mosquitto": dig(results, "startup", "mosquitto", "median_s"),
                        "mqttdesk": dig(results, "startup", "mqttdesk_headless", "median_s")}, digits=3))
        out.append(Row("startup_gui", "startup to listening, GUI (s, median)",
                       {"mqttdesk": dig(results, "startup", "mqttdesk_gui", "median_s")}, digits=3))
    if "gui" in results:
        for phase in ("idle", "storm", "storm-disconnect", "flood"):
            stalls = dig(results, "gui", "stalls", phase)
            if stalls:
                out.append(Row(f"gui_{phase}", f"GUI stall during {phase} p50/p99/max (ms)",
                               {"mqttdesk": stalls["p99_ms"]}, digits=1, note_only=True,
                               notes={"mqttdesk": f"{stalls['p50_ms']:.1f}/{stalls['p99_ms']:.1f}/"
                                                  f"{stalls['max_ms']:.1f}"}))
    if "login" in results:
        guesses, clients = dig(results, "login", "guesses"), dig(results, "login", "burst_clients")
        for key, label, path in (
            ("login_abandoned_wait", f"correct login after {guesses} abandoned guesses, wait (s)",
             ("abandoned", "login_wait_s")),
            ("login_abandoned_cpu", f"broker CPU for {guesses} abandoned guesses (s)", ("abandoned", "broker_cpu_s")),
            ("login_burst_wait", f"correct login during a {clients}-way guessing burst, wait (s)",
             ("burst", "login_wait_s")),
        ):
            out.append(Row(key, label, {"mqttdesk": dig(results, "login", *path)}, digits=2))
    return out
