"""Profile with py-spy: mqttdesk headless during the connect-rate, storm, QoS 0 and QoS 1 loads; the mqttdesk GUI
process during the storm and a flood (what stalls the window); bare amqtt during the same loads, for comparison.

py-spy samples the processes from outside (250 Hz; the GUI process, with its many threads, 100 Hz; `--function`:
lines are where functions start), so they run unmodified; each load gets its own recording. mqttdesk's loads are
three times the benchmark's (three storms in a row) for enough samples. py-spy pauses the process for each sample
(its `--nonblocking` mode truncates a fifth of the stacks), which costs the broker some 20% of its speed: the shares
are what to read, not the rates.

The collapsed stacks are kept next to the JSON (`bench/results/<stamp>-profile-<system>-<load>.folded`, loadable in
speedscope or flamegraph.pl) and summarised by `bench/report/hotspots.py`. Without py-spy (`pip install py-spy`)
the suite says so and is skipped.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.load.connects import close_all, sequential, storm, warm_up
from bench.load.throughput import flow
from bench.report import hotspots
from bench.settings import RUN_TIMEOUT
from bench.systems.launch import Running, running
from bench.systems.process import ChildProcess

RATE = 250
GUI_RATE = 100  # the GUI process has many threads, and py-spy stops them all for each sample
GUI_SETTLE = 1.0  # seconds after the storm's last CONNACK and after its disconnect: batched writes and table updates
SCALE = 3  # each profiled load is this many times the benchmark's


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _storms(target: Running, count: int, rounds: int) -> Callable[[], Any]:
    async def work() -> Any:
        for round_ in range(rounds):
            result = await storm(target.fleet, [f"prof-storm{round_}-{i:05d}" for i in range(count)], RUN_TIMEOUT)
            await close_all(result.links)
        return result.run

    return lambda: asyncio.run(work())


def _loads(ctx: Context, target: Running, scale: int) -> list[tuple[str, Callable[[], Any]]]:
    c = ctx.counts
    return [
        ("connect", lambda: sequential(target.user, "prof-seq", c.connects * scale, RUN_TIMEOUT)),
        ("storm", _storms(target, c.storm, scale)),
        ("qos0", lambda: asyncio.run(flow(target.user, target.user, prefix="prof-qos0", qos=0,
                                          messages=c.qos0 * scale, subscribers=1, deadline=RUN_TIMEOUT))),
        ("qos1", lambda: asyncio.run(flow(target.user, target.user, prefix="prof-qos1", qos=1,
                                          messages=c.qos1 * scale, subscribers=1, deadline=RUN_TIMEOUT))),
    ]


def _record(ctx: Context, spy: str, target: Running, name: str, work: Callable[[], Any],
            folded: Path, rate: int = RATE) -> dict[str, Any]:
    recorder = ChildProcess(f"py-spy-{name}", [spy, "record", "-p", str(target.process.pid), "-r", str(rate),
                                               "--function", "--format", "raw", "-o", str(folded)],
                            ctx.log_path(f"py-spy-{name}"))
    try:
        for _ in range(100):  # py-spy says "Sampling process ..." once it is attached
            if "Sampling" in recorder.read_line(30):
                break
        started = time.perf_counter()
        load = work()
        seconds = time.perf_counter() - started
    finally:
        recorder.stop(signal.SIGINT)  # py-spy writes its output when interrupted
    summary = hotspots.summarise(folded.read_text() if folded.exists() else "", seconds=seconds, rate=rate)
    summary["rate_hz"] = rate
    summary["load"] = load.to_json() if hasattr(load, "to_json") else None
    summary["folded"] = str(folded)
    return summary


def _profile(ctx: Context, spy: str, system: str, scale: int, keep: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"scale": scale}
    with running(ctx, system) as target:
        warm_up(target.user, "prof-warm", ctx.counts.warmup)
        warm_up(target.fleet, "prof-storm-warm", 1)
        for name, work in _loads(ctx, target, scale):
            ctx.say(f"profile: {system} during {name} (load ×{scale})")
            folded = keep.with_name(f"{keep.name}-profile-{system}-{name}.folded")
            results[name] = _record(ctx, spy, target, name, work, folded)
    return results


def _gui_storm(target: Running, count: int) -> Callable[[], Any]:
    async def work() -> Any:
        result = await storm(target.fleet, [f"prof-gui-{i:05d}" for i in range(count)], RUN_TIMEOUT)
        await asyncio.sleep(GUI_SETTLE)
        await close_all(result.links)
        await asyncio.sleep(GUI_SETTLE)
        return result.run

    return lambda: asyncio.run(work())


def _profile_gui(ctx: Context, spy: str, keep: Path) -> dict[str, Any]:
    """The GUI process (window offscreen) during a cold storm and a QoS 0 flood: what stalls the window."""
    c = ctx.counts
    results: dict[str, Any] = {"scale": 1}
    with running(ctx, "mqttdesk", gui=True) as target:
        warm_up(target.user, "prof-gui-warm", 1)  # as in the GUI suite: the flood does not pay the password check
        loads = [
            ("storm", _gui_storm(target, c.gui_storm)),
            ("flood", lambda: asyncio.run(flow(target.user, target.user, prefix="prof-gui-flood", qos=0,
                                               messages=c.gui_flood, subscribers=1, deadline=RUN_TIMEOUT))),
        ]
        for name, work in loads:
            ctx.say(f"profile: mqttdesk GUI process during {name}")
            folded = keep.with_name(f"{keep.name}-profile-mqttdesk_gui-{name}.folded")
            results[name] = _record(ctx, spy, target, name, work, folded, GUI_RATE)
        target.process.send("quit")
    return results


def run(ctx: Context, keep: Path) -> dict[str, Any]:
    """`keep`: path prefix for the collapsed stack files (the results file's path without .json).

    mqttdesk is profiled with loads ×SCALE; bare amqtt, for comparison, with the benchmark's loads as they are
    (it is many times slower at QoS 0).
    """
    spy = find_py_spy()
    if spy is None:
        ctx.say("profile: py-spy not found (.venv/bin/pip install py-spy); skipped")
        return {"skipped": "py-spy not installed"}
    keep.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"profiler": f"py-spy record --rate {RATE} --function (sampling from outside; "
                                          "read the shares, not the rates)"}
    jobs: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("mqttdesk", lambda: _profile(ctx, spy, "mqttdesk", SCALE, keep)),
        ("mqttdesk_gui", lambda: _profile_gui(ctx, spy, keep)),
        ("bare_amqtt", lambda: _profile(ctx, spy, "bare_amqtt", 1, keep)),
    ]
    for system, job in jobs:
        try:
            results[system] = job()
        except Exception as exc:
            ctx.say(f"! profile of {system} failed: {type(exc).__name__}: {exc}")
            results[system] = {"error": f"{type(exc).__name__}: {exc}"}
    return results
