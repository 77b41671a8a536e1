"""Interleaved repeats: every system is up at once, and each round measures every case on every system in turn.

On a machine that also does other work, a burst of it then hits all systems alike instead of one system's three
runs, so the ratios of the same run stay comparable. Idle brokers cost nothing measurable meanwhile. The median run
of each (case, system) is reported, with every run's rate (see `repeat.median_run`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from bench.context import Context
from bench.suites.repeat import median_run
from bench.systems.launch import LABELS, Running, available, running

Measure = Callable[[Running, str], dict[str, Any]]  # (target, round tag) -> figures of one run


def interleaved(ctx: Context, what: str, measures: list[tuple[str, Measure]],
                prepare: Callable[[Running], None] = lambda _: None,
                not_applicable: Callable[[str, str], str | None] = lambda case, system: None,
                ) -> dict[str, dict[str, Any]]:
    """{case: {system: figures}} for every case in `measures`; `prepare` runs once per system (warm-up).

    A case that `not_applicable(case, system)` explains away (e.g. MQTT 5 on a 3.1.1-only broker) is not run on
    that system; its figures are `{"not_applicable": why}`.
    """
    out: dict[str, dict[str, Any]] = {case: {} for case, _ in measures}
    for case, _ in measures:
        for system in available(ctx):
            if (why := not_applicable(case, system)) is not None:
                out[case][system] = {"not_applicable": why}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        targets: dict[str, Running] = {}
        for system in available(ctx):
            try:
                target = stack.enter_context(running(ctx, system))
                prepare(target)
                targets[system] = target
            except Exception as exc:
                ctx.say(f"! {LABELS[system]} did not start: {type(exc).__name__}: {exc}")
                for case, _ in measures:
                    out[case][system] = {"error": f"{type(exc).__name__}: {exc}"}
        ctx.say(f"{what}: {', '.join(LABELS[s] for s in targets)} up; {ctx.counts.repeats} interleaved round(s)")
        for round_ in range(ctx.counts.repeats):
            for case, measure in measures:
                for system, target in targets.items():
                    if "error" in out[case].get(system, {}) or "not_applicable" in out[case].get(system, {}):
                        continue
                    target.process.wait_quiet()  # each case measures its own load, not the last one's tail
                    try:
                        runs.setdefault((case, system), []).append(measure(target, str(round_)))
                    except Exception as exc:
                        ctx.say(f"! {case} on {LABELS[system]} failed: {type(exc).__name__}: {exc}")
                        out[case][system] = {"error": f"{type(exc).__name__}: {exc}"}
    for (case, system), figures in runs.items():
        if "error" not in out[case].get(system, {}):
            out[case][system] = median_run(figures)
    return out
