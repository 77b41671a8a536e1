"""Start one system under test in its own process and say how to reach it; stop it for sure afterwards.

Systems: `bare_amqtt` (anonymous), `mosquitto` (password user + ACL), `mqttdesk` (headless `mqttdesk serve`, on uvloop
unless `--desk-loop` says otherwise, or `gui=True` for the offscreen window with the stall heartbeat, see
`bench/gui_runner.py`). mosquitto 2 and mqttdesk also speak MQTT 5; bare amqtt does not.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.context import Context
from bench.load.client import Endpoint
from bench.settings import BOOTSTRAP, BOOTSTRAP_PASSWORD, HOST, PASSWORD, START_TIMEOUT, USER
from bench.systems import mosquitto
from bench.systems.process import ChildProcess, free_port

SYSTEMS = ("bare_amqtt", "mosquitto", "mqttdesk")
LABELS = {"bare_amqtt": "bare amqtt", "mosquitto": "mosquitto", "mqttdesk": "mqttdesk"}
NOTES = {
    "bare_amqtt": "anonymous (no plugins but AnonymousAuthPlugin)",
    "mosquitto": "password user + ACL; no bootstrap concept, so its storm uses the password user",
    "mqttdesk": "password user + ACL; storm through bootstrap credential 'fleet' (registers devices)",
}
GUI_ENV = {"QT_QPA_PLATFORM": "offscreen"}
MQTT5_SYSTEMS = ("mosquitto", "mqttdesk")  # amqtt 0.12.1 speaks MQTT 3.1.1 only
NO_MQTT5 = "n/a: speaks MQTT 3.1.1 only"


@dataclass
class Running:
    system: str
    process: ChildProcess
    port: int
    startup_seconds: float

    @property
    def user(self) -> Endpoint:
        """How the connect-rate, throughput and memory loads log in."""
        if self.system == "bare_amqtt":
            return Endpoint(HOST, self.port)
        return Endpoint(HOST, self.port, USER, PASSWORD)

    @property
    def fleet(self) -> Endpoint:
        """How storm devices log in: mqttdesk's bootstrap credential, else the same as `user`."""
        if self.system == "mqttdesk":
            return Endpoint(HOST, self.port, BOOTSTRAP, BOOTSTRAP_PASSWORD)
        return self.user


def available(ctx: Context) -> list[str]:
    return [s for s in SYSTEMS if s != "mosquitto" or ctx.mosquitto is not None]


def argv_bare() -> list[str]:
    return [sys.executable, "-m", "bench.bare_amqtt_server", "--host", HOST, "--port", "0"]


def argv_desk(data_dir: str, *, gui: bool = False, loop: str = "auto") -> list[str]:
    if gui:
        return [sys.executable, "-m", "bench.gui_runner", "--data-dir", data_dir, "--host", HOST, "--port", "0"]
    chosen = [] if loop == "auto" else ["--loop", loop]
    return [sys.executable, "-m", "mqttdesk", "--data-dir", data_dir, "serve", "--host", HOST, "--port", "0", *chosen]


def start(ctx: Context, system: str, *, gui: bool = False, wrap: list[str] | None = None) -> Running:
    """`wrap` prefixes the command (e.g. a profiler); the child must still print "listening on H:P"."""
    prefix = wrap or []
    if system == "mosquitto":
        assert ctx.mosquitto is not None
        port = free_port()
        conf = mosquitto.write_config(ctx.mosquitto, ctx.fresh_dir("mosquitto"), port)
        process = ChildProcess("mosquitto", [*prefix, ctx.mosquitto.binary, "-c", str(conf)], ctx.log_path(system))
        try:
            seconds = process.wait_port(port, START_TIMEOUT)
        except BaseException:
            process.stop()
            raise
        return Running(system, process, port, seconds)
    if system == "bare_amqtt":
        argv, env = argv_bare(), None
    elif system == "mqttdesk":
        argv, env = argv_desk(str(ctx.desk_data()), gui=gui, loop=ctx.desk_loop), GUI_ENV if gui else None
    else:
        raise ValueError(f"unknown system {system!r}")
    name = f"{system}-gui" if gui else system
    process = ChildProcess(name, [*prefix, *argv], ctx.log_path(name), env=env)
    try:
        _, port, seconds = process.wait_listening(START_TIMEOUT)
    except BaseException:
        process.stop()
        raise
    return Running(system, process, port, seconds)


@contextlib.contextmanager
def running(ctx: Context, system: str, *, gui: bool = False, wrap: list[str] | None = None) -> Iterator[Running]:
    target = start(ctx, system, gui=gui, wrap=wrap)
    try:
        yield target
    finally:
        target.process.stop()


def for_each(ctx: Context, what: str, work: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """`work(system)` for every available system; a system that fails is reported, the others still run."""
    results: dict[str, Any] = {}
    for system in available(ctx):
        ctx.say(f"{what}: {LABELS[system]}")
        try:
            results[system] = work(system)
        except Exception as exc:
            ctx.say(f"! {LABELS[system]} failed: {type(exc).__name__}: {exc}")
            results[system] = {"error": f"{type(exc).__name__}: {exc}"}
    return results
