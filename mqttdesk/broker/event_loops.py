"""Which asyncio event loop `mqttdesk serve` runs on: uvloop where it is installed, asyncio's own otherwise.

uvloop (libuv, in C) accepts and reads connections with a fraction of the Python work of asyncio's selector
loop: with the same broker, ~1.4× the sequential connects per second and ~20 % less broker CPU per CONNECT in a
storm (bench/README.md, "uvloop for serve"). The window cannot use it: Qt's event loop is the loop there, and
qasync puts asyncio on top of it. The broker does not depend on which loop it runs on; that is tested by
running the integration tests on both (tests/integration/test_event_loops.py).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

from mqttdesk.core.errors import MqttdeskError

if TYPE_CHECKING:  # (asyncio itself is imported by what runs a loop: `serve --help` and the other commands need not)
    import asyncio

LOOP_CHOICES = ("auto", "uvloop", "asyncio")

LoopFactory = Callable[[], "asyncio.AbstractEventLoop"]


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def resolve(choice: str) -> str:
    """The loop `choice` ("auto", "uvloop" or "asyncio") means here: "auto" is uvloop when it is installed."""
    if choice not in LOOP_CHOICES:
        raise MqttdeskError(f"unknown event loop {choice!r} (one of: {', '.join(LOOP_CHOICES)})")
    if choice == "auto":
        return "uvloop" if uvloop_available() else "asyncio"
    if choice == "uvloop" and not uvloop_available():
        raise MqttdeskError("uvloop is not installed (pip install uvloop, or --loop asyncio)")
    return choice


def loop_factory(choice: str) -> LoopFactory:
    """A function making a new loop of the kind `choice` resolves to."""
    if resolve(choice) == "uvloop":
        import uvloop  # imported only for the loop it makes: ~5 ms a `--loop asyncio` start saves

        return uvloop.new_event_loop
    import asyncio

    return asyncio.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio": what a running loop is, as `status` and the logs say it."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
