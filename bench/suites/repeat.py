"""Repeated runs (the median one is reported, every rate kept) and regrouping figures by case."""

from __future__ import annotations

from typing import Any


def median_run(runs: list[dict[str, Any]], key: str = "rate") -> dict[str, Any]:
    if not runs:
        return {}
    ordered = sorted(runs, key=lambda r: r.get(key) or 0.0)
    chosen = dict(ordered[(len(ordered) - 1) // 2])  # the lower median: an even count never flatters
    chosen["runs"] = [r.get(key) for r in runs]
    return chosen


def by_case(per_system: dict[str, dict[str, Any]], cases: list[str]) -> dict[str, dict[str, Any]]:
    """{system: {case: figures}} → {case: {system: figures}}; a failed system's error lands under every case."""
    out: dict[str, dict[str, Any]] = {case: {} for case in cases}
    for system, figures in per_system.items():
        for case in cases:
            out[case][system] = figures.get(case, {"error": figures.get("error", "not measured")})
    return out
