"""mqttdesk with its window, for the GUI responsiveness benchmark: the real `mqttdesk.app.run_gui`, plus a heartbeat.

    QT_QPA_PLATFORM=offscreen python -m bench.gui_runner --data-dir D [--host 127.0.0.1] [--port 0]

The app itself (store, `BrokerService`, control server and `MainWindow(service)` under qasync), with the Clients tab
in front (where a storm shows), driven through `run_gui`'s `ready` hook. The broker listens on the given host and
port (port 0 lets the bench run anywhere) and the app prints "listening on H:P" once it does. Then this obeys one
command per line on stdin, answering each on stdout:

    begin NAME   start recording heartbeat stalls into phase NAME   -> "ok"
    end          stop recording                                     -> "ok"
    report       the stall summary of every phase                   -> "report {json}"
    quit         close the window (the broker stops) and exit; so does end of input
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bench.heartbeat import Heartbeat
from mqttdesk.broker.service import BrokerState, BrokerStatus

if TYPE_CHECKING:
    from mqttdesk.gui.main_window import MainWindow


def _read_commands(loop: asyncio.AbstractEventLoop, commands: asyncio.Queue[str]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(commands.put_nowait, line.strip())
    loop.call_soon_threadsafe(commands.put_nowait, "quit")


async def _obey(commands: asyncio.Queue[str], heartbeat: Heartbeat) -> None:
    while True:
        command, _, argument = (await commands.get()).partition(" ")
        if command == "begin":
            heartbeat.begin(argument or "phase")
            print("ok", flush=True)
        elif command == "end":
            heartbeat.end()
            print("ok", flush=True)
        elif command == "report":
            print("report " + json.dumps(heartbeat.summary()), flush=True)
        elif command == "quit":
            return
        elif command:
            print(f"error unknown command {command!r}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gui_runner", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)


    from mqttdesk.app import run_gui

    async def drive(window: MainWindow, status: BrokerStatus) -> None:
        """Runs inside the real app once it listens: heartbeat and commands; the app closes the window after."""
        if status.state is not BrokerState.LISTENING:
            print(f"error: {status.error}", file=sys.stderr, flush=True)
            return
        window.tabs.setCurrentWidget(window.tab("Clients"))
        heartbeat = Heartbeat()
        heartbeat.start()
        commands: asyncio.Queue[str] = asyncio.Queue()
        threading.Thread(target=_read_commands, args=(asyncio.get_running_loop(), commands), daemon=True).start()
        await _obey(commands, heartbeat)
        heartbeat.stop()

    return run_gui(args.data_dir, host=args.host, port=args.port, ready=drive)


if __name__ == "__main__":
    raise SystemExit(main())
