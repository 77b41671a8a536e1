"""Repeated runs: report the median one (by rate), with every run's rate kept for the record."""

from __future__ import annotations

from typing import Any


def median_run(runs: list[dict[str, Any]], key: str = "rate") -> dict[str, Any]:
    if not runs:
        return {}
    ordered = sorted(runs, key=lambda r: r.get(key) or 0.0)
    chosen = dict(ordered[(len(ordered) - 1) // 2])  # the lower median: an even count never flatters
    chosen["runs"] = [r.get(key) for r in runs]
    return chosen

