"""mqttdesk with its window, for the GUI responsiveness benchmark: built like `mqttdesk.app.run_gui`, plus a heartbeat.

    QT_QPA_PLATFORM=offscreen python -m bench.gui_runner --data-dir D [--host 127.0.0.1] [--port 0]

Store, `BrokerService`, control server and `MainWindow(service)` under qasync, as the app does, with the Clients tab
in front (where a storm shows). The broker listens on the given host and port (the app uses the stored listener;
port 0 lets the bench run anywhere) and "listening on H:P" is printed once it does. Then it obeys one command per
line on stdin, answering each on stdout:

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

from bench.heartbeat import Heartbeat


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

    from mqttdesk.app import configure_logging

    configure_logging()
    import qasync
    from PySide6.QtWidgets import QApplication

    from mqttdesk.broker.service import BrokerService, BrokerState, format_address
    from mqttdesk.control.server import ControlServer
    from mqttdesk.gui.main_window import MainWindow
    from mqttdesk.store.db import Store

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("mqttdesk")
    app.setQuitOnLastWindowClosed(False)

    async def run() -> int:
        store = Store.open(args.data_dir)
        service = BrokerService(store)
        control = ControlServer(service, args.data_dir)
        window: MainWindow | None = None
        try:
            await service.open()
            await control.start()
            window = MainWindow(service)
            window.tabs.setCurrentWidget(window.tab("Clients"))
            window.show()
            status = await service.start(args.host, args.port)
            if status.state is not BrokerState.LISTENING:
                print(f"error: {status.error}", file=sys.stderr, flush=True)
                return 1
            heartbeat = Heartbeat()
            heartbeat.start()
            for address in status.addresses:
                print(f"listening on {format_address(*address)}", flush=True)
            commands: asyncio.Queue[str] = asyncio.Queue()
            threading.Thread(target=_read_commands, args=(asyncio.get_running_loop(), commands), daemon=True).start()
            await _obey(commands, heartbeat)
            heartbeat.stop()
            return 0
        finally:
            if window is not None:
                await window.shutdown()
            await control.close()
            await service.close()
            store.close()

    return int(qasync.run(run()) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
