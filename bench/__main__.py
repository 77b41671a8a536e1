"""`python -m bench`: mqttdesk against bare amqtt 0.12.1 and mosquitto, same load, same run (see bench/README.md).

    python -m bench [--quick] [--only NAME ...] [--no-mosquitto] [--keep-workdir]

NAME is one of: connect, throughput, memory, startup, gui, login, profile (several: repeat --only or separate by
commas). Prints the figures with ratios, the issue's targets met or missed, and the profile's hot spots, and
writes everything to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.report import figures, machine, table, targets
from bench.settings import FULL, QUICK
from bench.suites import connect_rate, gui, login_cost, memory, profiling, startup, throughput
from bench.systems import mosquitto
from bench.systems.launch import NOTES

RESULTS = Path(__file__).resolve().parent / "results"
BUSY_WARNING = 0.1  # share of all CPUs used by other processes during a suite
Suite = Callable[[Context, Path], dict[str, Any]]
SUITES: dict[str, Suite] = {
    "connect": lambda ctx, _: connect_rate.run(ctx),
    "throughput": lambda ctx, _: throughput.run(ctx),
    "memory": lambda ctx, _: memory.run(ctx),
    "startup": lambda ctx, _: startup.run(ctx),
    "gui": lambda ctx, _: gui.run(ctx),
    "login": lambda ctx, _: login_cost.run(ctx),
    "profile": profiling.run,
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run of a minute or two")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only these suites ({', '.join(SUITES)}); repeatable or comma-separated")
    parser.add_argument("--no-mosquitto", action="store_true", help="leave the mosquitto reference out")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the scratch directory (broker logs)")
    parser.add_argument("--desk-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="the event loop of headless mqttdesk (serve --loop; auto: uvloop where installed)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for item in args.only or [] for name in item.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    args.suites = [name for name in SUITES if not chosen or name in chosen]
    return args


def _raise_file_limit() -> None:
    """A thousand clients and a thousand server sockets: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _run_suites(ctx: Context, names: list[str], keep: Path, results: dict[str, Any]) -> None:
    for name in names:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        foreign = machine.ForeignLoad()
        try:
            results[name] = SUITES[name](ctx, keep)
        except Exception as exc:  # one broken suite must not lose the others' figures
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"  ! {name} failed: {exc}", flush=True)
        results.setdefault("seconds", {})[name] = round(time.monotonic() - started, 1)
        share = foreign.share()
        results.setdefault("foreign_load", {})[name] = share
        if share is not None and share > BUSY_WARNING:
            print(f"  ! other processes used {share:.0%} of the CPUs during {name}: its figures are noisy", flush=True)


def _print(results: dict[str, Any], path: Path) -> None:
    rows = figures.rows(results)
    print()
    print(f"### mqttdesk benchmark{' (--quick)' if results['quick'] else ''}, {results['started']}")
    print(f"machine: {machine.one_line(results['machine'])}")
    foreign = {name: share for name, share in results.get("foreign_load", {}).items() if share is not None}
    print("CPU used by other processes during each suite (share of all cores): "
          + ", ".join(f"{name} {share:.0%}" for name, share in foreign.items()))
    noisy = [name for name, share in foreign.items() if share > BUSY_WARNING]
    if noisy:
        print(f"warning: the machine was busy with other work during {', '.join(noisy)}: those figures are noisy, "
              "rerun on a quiet machine before comparing runs")
    print("systems: " + "; ".join(f"{table.LABELS[s]}: {note}" for s, note in NOTES.items()))
    print()
    print(table.figures(rows))
    print()
    print(table.targets(results["targets"]))
    if "profile" in results:
        print()
        print("### where the brokers spend their CPU (py-spy)")
        print(table.profile(results["profile"]))
    print()
    print(f"results: {path}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _raise_file_limit()
    counts = QUICK if args.quick else FULL
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json"
    found = None if args.no_mosquitto else mosquitto.find(Context.say)
    if found is None:
        print("mosquitto: " + ("left out (--no-mosquitto)" if args.no_mosquitto else
                               "not installed and could not be installed; continuing without it"), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="mqttdesk-bench-"))
    workdir.chmod(0o755)  # mosquitto started as root drops to its own user, which must reach its config files
    ctx = Context(counts, workdir, found, quick=args.quick, desk_loop=args.desk_loop)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick, "suites": args.suites,
        "desk_loop": args.desk_loop,
        "counts": counts.to_json(), "machine": machine.describe(found.version if found else None), "systems": NOTES,
    }
    results["machine"]["busy_before"] = machine.background_busy()
    try:
        _run_suites(ctx, args.suites, path.with_suffix(""), results)
        results["machine"]["busy_after"] = machine.background_busy()
    finally:
        if args.keep_workdir:
            print(f"scratch directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["ratios"] = {row.key: row.ratios() for row in figures.rows(results)}
    results["targets"] = targets.evaluate(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    _print(results, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
