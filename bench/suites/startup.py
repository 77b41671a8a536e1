"""Startup: seconds from starting the process to the broker accepting connections (median of N starts).

- mqttdesk headless: `python -m mqttdesk --data-dir D serve --host 127.0.0.1 --port 0`, until it prints
  "listening on H:P";
- mqttdesk GUI: the real app, `python -m mqttdesk --data-dir D` offscreen, with `listen.port` set to a free port
  beforehand (the app prints nothing), until that port accepts a TCP connection (polled every 2 ms);
- bare amqtt and mosquitto for reference, the same way (printed line, polled port).
Each start gets a fresh data directory; preparing it is not timed.

mqttdesk's modules are byte-compiled first, as `pip install` leaves them: a checkout run with
PYTHONDONTWRITEBYTECODE set (this machine and CI set it) would otherwise compile every module at every start,
a second of start-up that no installed copy pays.
"""

from __future__ import annotations

import compileall
import sys
from pathlib import Path
from typing import Any

import mqttdesk
from bench.context import Context
from bench.settings import START_TIMEOUT
from bench.stats import median
from bench.systems import desk_data
from bench.systems.launch import GUI_ENV, available, start
from bench.systems.process import ChildProcess, free_port


def _gui_app_once(ctx: Context) -> float:
    data = ctx.desk_data()
    port = free_port()
    desk_data.cli(data, "config", "set", "listen.port", str(port))
    process = ChildProcess("mqttdesk-app-gui", [sys.executable, "-m", "mqttdesk", "--data-dir", str(data)],
                           ctx.log_path("mqttdesk-app-gui"), env=GUI_ENV)
    try:
        return process.wait_port(port, START_TIMEOUT)
    finally:
        process.stop()


def _once(ctx: Context, name: str) -> float:
    if name == "mqttdesk_gui":
        return _gui_app_once(ctx)
    system = "mqttdesk" if name == "mqttdesk_headless" else name
    target = start(ctx, system)
    target.process.stop()
    return target.startup_seconds


def run(ctx: Context) -> dict[str, Any]:
    names = ["mqttdesk_headless", "mqttdesk_gui", *[s for s in available(ctx) if s != "mqttdesk"]]
    results: dict[str, Any] = {}
    compileall.compile_dir(str(Path(mqttdesk.__file__).parent), quiet=1)
    for name in names:
        ctx.say(f"startup: {name} ({ctx.counts.startups} starts)")
        seconds = [_once(ctx, name) for _ in range(ctx.counts.startups)]
        results[name] = {"median_s": round(median(seconds), 3), "runs": [round(s, 3) for s in seconds]}
    return results
