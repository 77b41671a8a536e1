"""The bench's verdict table checks the "Speed round 2" bars against the figures of one run."""

from __future__ import annotations

from typing import Any

from bench.report.figures import rows
from bench.report.table import figures as figures_table
from bench.report.table import targets as targets_table
from bench.report.targets import ROUND_2, evaluate


def _results(desk: float, mosquitto: float, *, rss: int, stall_ms: float) -> dict[str, Any]:
    counted = {"attempted": 1000, "accepted": 1000}
    rates = {"mqttdesk": {"rate": desk, **counted}, "mosquitto": {"rate": mosquitto, **counted}}
    stall = {"p99_ms": stall_ms, "max_ms": stall_ms}
    return {
        "connect": {case: rates for case in ("sequential", "sequential_v5", "storm")},
        "throughput": {case: rates for case in ("qos0", "qos1", "qos0_v5", "qos1_v5", "fanout")},
        "memory": {"mqttdesk": {"bytes_per_client": rss}},
        "gui": {"stalls": {phase: stall for phase in ("storm", "storm-disconnect", "flood")}},
        "startup": {"mqttdesk_headless": {"median_s": 0.2}, "mqttdesk_gui": {"median_s": 0.9}},
    }


def _round_2(results: dict[str, Any]) -> dict[str, str]:
    return {v["target"]: v["verdict"] for v in evaluate(results) if v["target"].startswith("round 2")}


def test_every_round_2_bar_is_checked_once() -> None:
    verdicts = _round_2(_results(100.0, 100.0, rss=4096, stall_ms=19.9))
    assert len(verdicts) == len(ROUND_2) == 17
    assert verdicts["round 2: QoS 1 1 → 1 vs mosquitto"] == "met"  # 1.0× is the bar
    assert verdicts["round 2: sequential connect vs mosquitto"] == "met"
    assert verdicts["round 2: bootstrap storm vs mosquitto"] == "MISSED"  # 1.5× wanted
    assert verdicts["round 2: fan-out 1 → N vs mosquitto"] == "MISSED"  # 2× wanted
    assert verdicts["round 2: RSS per idle client"] == "met"
    assert verdicts["round 2: GUI stall during the storm-disconnect, p99"] == "met"
    assert verdicts["round 2: startup to listening, headless"] == "met"
    assert verdicts["round 2: startup to listening, GUI"] == "MISSED"


def test_a_ratio_just_under_its_bar_is_missed_and_bytes_read_as_bytes() -> None:
    results = _results(79.0, 100.0, rss=5485, stall_ms=45.4)
    verdicts = _round_2(results)
    assert verdicts["round 2: sequential connect vs mosquitto"] == "MISSED"
    assert verdicts["round 2: GUI stall during the storm-disconnect, p99"] == "MISSED"
    assert verdicts["round 2: GUI stall during the storm-disconnect, max"] == "met"
    assert "| round 2: RSS per idle client | 5,485 B | <= 4,096 B | MISSED |" in targets_table(evaluate(results))


def test_a_suite_not_run_is_not_measured() -> None:
    verdicts = _round_2({})
    assert set(verdicts.values()) == {"n/a"}


def test_the_storm_row_says_whose_listen_backlog_dropped_syns() -> None:
    counted = {"attempted": 1000, "accepted": 1000}
    storm = {"mosquitto": {"rate": 100.0, "listen_drops": 1019, **counted},
             "mqttdesk": {"rate": 150.0, "listen_drops": 0, **counted}}
    row = next(row for row in rows({"connect": {"storm": storm}}) if row.key == "connect_storm")
    assert row.notes == {"mosquitto": "1000/1000 in, 1,019 SYNs dropped", "mqttdesk": "1000/1000 in"}
    assert "| 100 (1000/1000 in, 1,019 SYNs dropped) | 150 (1000/1000 in) |" in figures_table([row])


def test_the_storm_verdict_says_whose_backlog_dropped_syns() -> None:
    results = _results(150.0, 100.0, rss=4096, stall_ms=10.0)
    storm = results["connect"]["storm"] = {name: dict(run) for name, run in results["connect"]["storm"].items()}
    storm["mosquitto"]["listen_drops"] = 8
    storm["mqttdesk"]["listen_drops"] = 0
    table = targets_table(evaluate(results))
    assert "| round 2: bootstrap storm vs mosquitto | 1.50× (mosquitto dropped 8 SYNs) | >= 1.5× | met |" in table
    storm["mosquitto"]["listen_drops"] = 0
    table = targets_table(evaluate(results))
    assert "| round 2: bootstrap storm vs mosquitto | 1.50× (no SYN dropped) | >= 1.5× | met |" in table


def test_a_storm_without_drop_counts_has_no_note() -> None:
    verdicts = {v["target"]: v for v in evaluate(_results(100.0, 100.0, rss=4096, stall_ms=10.0))}
    assert "note" not in verdicts["round 2: bootstrap storm vs mosquitto"]
