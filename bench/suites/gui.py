"""GUI responsiveness: mqttdesk with its window (offscreen, Clients tab in front) and a 20 ms heartbeat.

Phases, each recorded separately by the GUI process (see `bench/gui_runner.py`):
- `idle`: a second of nothing, the floor;
- `storm`: N devices connect at once through the bootstrap credential — cold, so the first CONNECT pays the one
  PBKDF2 verification — registering N devices, then a second for the batched writes and table updates;
- `storm-disconnect`: all of them leave at once, and a second more;
- `flood`: a QoS 0 flood, one publisher → one subscriber (the password user, whose password was verified by an
  untimed connect before), until all arrive.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bench.context import Context
from bench.load.connects import close_all, storm, warm_up
from bench.load.throughput import flow
from bench.settings import RUN_TIMEOUT
from bench.systems.launch import running
from bench.systems.process import ChildProcess

SETTLE = 1.0
COMMAND_TIMEOUT = 30.0


def _command(process: ChildProcess, line: str) -> str:
    process.send(line)
    for _ in range(1000):  # the GUI process may print other lines first (it should not)
        reply = process.read_line(COMMAND_TIMEOUT)
        if reply == "ok" or reply.startswith(("report ", "error ")):
            return reply
    raise RuntimeError(f"no answer to {line!r} from the GUI process")


async def _scenario(ctx: Context, process: ChildProcess, fleet: Any, user: Any) -> dict[str, Any]:
    async def command(line: str) -> str:
        return await asyncio.to_thread(_command, process, line)

    counts = ctx.counts
    figures: dict[str, Any] = {}
    await asyncio.sleep(SETTLE)  # the window has just been shown
    await command("begin idle")
    await asyncio.sleep(SETTLE)
    await command("end")

    await command("begin storm")
    result = await storm(fleet, [f"gui-storm-{i:05d}" for i in range(counts.gui_storm)], RUN_TIMEOUT)
    await asyncio.sleep(SETTLE)
    await command("end")
    figures["storm_load"] = {**result.run.to_json(), "distinct_accepted": len(set(result.accepted_ids))}

    await command("begin storm-disconnect")
    await close_all(result.links)
    await asyncio.sleep(SETTLE)
    await command("end")

    await asyncio.to_thread(warm_up, user, "gui-flood-warm", 1)  # the password check is not part of the flood
    await command("begin flood")
    flood = await flow(user, user, prefix="gui-flood", qos=0, messages=counts.gui_flood, subscribers=1,
                       deadline=RUN_TIMEOUT, broker_cpu=process.cpu_seconds)
    await asyncio.sleep(SETTLE / 2)
    await command("end")
    figures["flood_load"] = flood.to_json()

    report = await command("report")
    if not report.startswith("report "):
        raise RuntimeError(f"the GUI process answered {report!r}")
    figures["stalls"] = json.loads(report.removeprefix("report "))
    return figures


def run(ctx: Context) -> dict[str, Any]:
    ctx.say(f"GUI responsiveness: mqttdesk window offscreen, storm of {ctx.counts.gui_storm}, "
            f"QoS 0 flood of {ctx.counts.gui_flood}")
    with running(ctx, "mqttdesk", gui=True) as target:
        figures = asyncio.run(_scenario(ctx, target.process, target.fleet, target.user))
        target.process.send("quit")
    return figures
