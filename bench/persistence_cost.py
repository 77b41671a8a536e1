"""`python -m bench.persistence_cost`: what persistence costs the publish path, measured beside itself.

Two (or three) `mqttdesk serve` processes from one data template are up at once: persistence on (the default),
persistence off, and with `--baseline-tree DIR` the same command run from another checkout (e.g. main, which has no
persistence). Each case runs on every system in turn, round after round (interleaved, as `python -m bench` does,
so a burst of other work on the machine hits every system alike): QoS 0 and QoS 1 1 → 1 with a clean subscriber,
and QoS 1 1 → 1 to a subscriber with a persistent session (clean session 0), the session the write-behind copies.
Printed: deliveries/s (median) and the broker's CPU microseconds per delivery (median), the figure that a busy
machine disturbs least.

    .venv/bin/python -m bench.persistence_cost [--rounds 5] [--qos0 20000] [--qos1 5000] [--baseline-tree ../main]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.load.client import Endpoint, connect_or_raise
from bench.load.throughput import flow
from bench.settings import HOST, PASSWORD, USER
from bench.systems.desk_data import cli, fresh_copy, make_template
from bench.systems.process import ChildProcess

START_TIMEOUT = 60.0
DEADLINE = 120.0


def _start(name: str, data_dir: Path, logs: Path, tree: Path | None) -> tuple[ChildProcess, int]:
    # -P: not the current directory first, so that PYTHONPATH picks which checkout runs
    argv = [sys.executable, *(["-P"] if tree else []), "-m", "mqttdesk", "--data-dir", str(data_dir), "serve",
            "--host", HOST, "--port", "0"]
    env = {"PYTHONPATH": str(tree)} if tree else None
    process = ChildProcess(name, argv, logs / f"{name}.log", env=env)
    _, port, _ = process.wait_listening(START_TIMEOUT)
    return process, port


async def _case(port: int, process: ChildProcess, qos: int, messages: int, clean: bool, prefix: str
                ) -> tuple[float, float]:
    endpoint = Endpoint(HOST, port, USER, PASSWORD)
    run = await flow(endpoint, endpoint, prefix=prefix, qos=qos, messages=messages, subscribers=1,
                     deadline=DEADLINE, broker_cpu=process.cpu_seconds, clean=clean)
    if not clean:  # end the persistent session: it would queue what the other cases publish meanwhile
        link = await connect_or_raise(endpoint, f"{prefix}-sub-0", clean=True)
        await link.close()
    if run.delivered != run.expected:
        raise RuntimeError(f"{prefix}: {run.delivered} of {run.expected} delivered {run.note}")
    assert run.broker_cpu is not None
    return run.rate, run.broker_cpu / run.delivered * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.persistence_cost")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qos0", type=int, default=20_000)
    parser.add_argument("--qos1", type=int, default=5_000)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout to run beside (e.g. main)")
    args = parser.parse_args()
    cases = [("QoS 0, clean subscriber", 0, args.qos0, True), ("QoS 1, clean subscriber", 1, args.qos1, True),
             ("QoS 1, persistent subscriber", 1, args.qos1, False)]
    with tempfile.TemporaryDirectory(prefix="mqttdesk-persistence-cost-") as work:
        root = Path(work)
        template = make_template(root / "template")
        systems: dict[str, tuple[ChildProcess, int]] = {}
        try:
            for name, persistence, tree in (("persistence on", "on", None), ("persistence off", "off", None),
                                            *((("baseline", "", args.baseline_tree.resolve()),)
                                              if args.baseline_tree else ())):
                data = root / name.replace(" ", "-")
                fresh_copy(template, data)
                if persistence:
                    cli(data, "config", "set", "persistence", persistence)
                systems[name] = _start(name.replace(" ", "-"), data, root, tree)
            results: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for round_number in range(args.rounds):
                for label, qos, messages, clean in cases:
                    for name, (process, port) in systems.items():
                        prefix = f"r{round_number}-{qos}-{int(clean)}-{name.split()[-1]}"
                        results.setdefault((label, name), []).append(
                            asyncio.run(_case(port, process, qos, messages, clean, prefix)))
            print(f"{'case':32} " + " ".join(f"{name:>26}" for name in systems))
            for label, *_ in cases:
                cells = []
                for name in systems:
                    runs = results[(label, name)]
                    rate = statistics.median(r for r, _ in runs)
                    cpu = statistics.median(c for _, c in runs)
                    cells.append(f"{rate:>10,.0f}/s {cpu:>7.1f} µs/msg")
                print(f"{label:32} " + " ".join(f"{cell:>26}" for cell in cells))
            for name, (process, _) in systems.items():
                print(f"{name}: broker CPU {process.cpu_seconds():.1f} s in all; load average "
                      f"{os.getloadavg()[0]:.1f} at the end ({time.strftime('%H:%M:%S')})")
        finally:
            for process, _ in systems.values():
                process.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
