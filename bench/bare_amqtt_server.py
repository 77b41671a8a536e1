"""Plain amqtt 0.12.1 in its own process, as a new user would run it: the baseline of the benchmark.

    python -m bench.bare_amqtt_server [--host 127.0.0.1] [--port 0]

amqtt's own `Broker` with exactly one plugin, `AnonymousAuthPlugin` with `allow_anonymous: True` (without it
amqtt 0.12.1 loads its defaults, which add packet/event loggers and the $SYS plugin). Logging is set up the way
mqttdesk sets it up (warnings, amqtt itself only errors), so neither side pays for log lines the other does not
write. Prints "listening on HOST:PORT" once bound; SIGTERM or SIGINT shut it down.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from amqtt.broker import Broker

ANONYMOUS = "amqtt.plugins.authentication.AnonymousAuthPlugin"


def config(host: str, port: int) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {ANONYMOUS: {"allow_anonymous": True}},
    }


async def serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    broker = Broker(config(host, port))
    await broker.start()
    server = broker._servers["default"]  # amqtt has no public way to read the bound port
    bound = server.instance.sockets[0].getsockname()  # type: ignore[union-attr]
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_amqtt_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
