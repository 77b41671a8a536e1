"""Issue 4 comparison: every MQTT 3.1.1 conformance scenario against plain amqtt 0.12.1 and against mqttdesk.

    python -m bench.compare_amqtt [--only NAME ...] [--jobs N] [--no-mosquitto]

Runs on demand, not in the test suite. The scenarios are the functions the integration tests run
(`tests/integration/conformance.py`); each gets a fresh broker of each kind, configured for what it needs (a user
with a password, an offline-queue bound). When Debian's mosquitto is installed, a third column shows it as the
reference the issue measured against. Prints one table row per scenario: PASS, or FAIL with what was observed,
or n/a when that broker cannot be set up for the scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.integration.bare_amqtt import BareAmqtt
from tests.integration.conformance import (
    PASSWORD,
    QUEUE_BOUND,
    SCENARIOS,
    USER,
    BareTarget,
    DeskTarget,
    Scenario,
    Target,
    Unsupported,
    running_desk,
)

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


@dataclass(frozen=True)
class Outcome:
    ok: bool | None  # None: not applicable
    note: str
    seconds: float

    def cell(self) -> str:
        if self.ok is None:
            return f"n/a: {self.note}"
        if self.ok:
            return f"pass {self.note}".strip()
        return f"FAIL: {self.note}"


# -- brokers -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bare_amqtt(scenario: Scenario) -> Iterator[Target]:
    users = {USER: PASSWORD} if "credentials" in scenario.needs else None
    bare = BareAmqtt(users=users)
    bare.start()
    try:
        yield BareTarget(bare)
    finally:
        bare.stop()


@contextlib.contextmanager
def mqttdesk(scenario: Scenario) -> Iterator[Target]:
    from mqttdesk.store.db import Store

    options = {"max_queued_messages": QUEUE_BOUND} if "queue_bound" in scenario.needs else {}
    with tempfile.TemporaryDirectory(prefix="compare-mqttdesk-") as tmp, contextlib.ExitStack() as stack:
        data_dir = Path(tmp) / "data"
        admin = Store.open(data_dir)
        stack.callback(admin.close)
        note = ""
        try:
            instance = stack.enter_context(running_desk(data_dir, **options))
        except TypeError:
            if not options:
                raise
            instance = stack.enter_context(running_desk(data_dir))
            note = "bound set on DeskBroker.limits: BrokerService has no max_queued_messages"
        target = DeskTarget(instance, admin, queue_bound=options.get("max_queued_messages"), note=note)
        if note:
            target.bound_queue(QUEUE_BOUND)
        yield target


@dataclass
class MosquittoTarget:
    port: int
    queue_bound: int | None

    def inject(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        raise Unsupported("mosquitto has no way in for a $SYS message")

    def credentials(self) -> tuple[str, str]:
        return USER, PASSWORD


_next_port = itertools.count(20000 + random.randrange(5000))


def _free_port() -> int:
    """A free port below the kernel's ephemeral range, so it cannot be one another broker here just released."""
    for port in _next_port:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@contextlib.contextmanager
def mosquitto(scenario: Scenario) -> Iterator[Target]:
    assert MOSQUITTO is not None
    bound = QUEUE_BOUND if "queue_bound" in scenario.needs else None
    with tempfile.TemporaryDirectory(prefix="compare-mosquitto-") as tmp:
        Path(tmp).chmod(0o755)  # started as root, mosquitto drops to its own user, which must read the files
        port = _free_port()
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false", "log_dest none"]
        if bound is not None:
            lines.append(f"max_queued_messages {bound}")
        if "credentials" in scenario.needs:
            passwd = Path(tmp) / "passwd"
            subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), USER, PASSWORD], check=True,
                           capture_output=True, timeout=30)
            lines.append(f"password_file {passwd}")
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"mosquitto did not start: {process.stderr.read()!r}") from None  # type: ignore[union-attr]
                    time.sleep(0.05)  # polling a starting process, not synchronising a test
            yield MosquittoTarget(port, bound)
        finally:
            process.terminate()
            process.wait(10)


Broker = Callable[[Scenario], contextlib.AbstractContextManager[Target]]


# -- running ---------------------------------------------------------------------------------------------------


def run_one(scenario: Scenario, broker: Broker) -> Outcome:
    start = time.monotonic()
    note = ""
    try:
        with broker(scenario) as target:
            note = getattr(target, "note", "")
            scenario.run(target)
    except Unsupported as exc:
        return Outcome(None, str(exc), time.monotonic() - start)
    except AssertionError as exc:
        return Outcome(False, _short(str(exc) or "assertion failed", note), time.monotonic() - start)
    except Exception as exc:  # a crash is a failure to report, not a reason to stop the comparison
        return Outcome(False, _short(f"{type(exc).__name__}: {exc}", note), time.monotonic() - start)
    return Outcome(True, f"({note})" if note else "", time.monotonic() - start)


def _short(text: str, note: str = "", limit: int = 110) -> str:
    line = " ".join(text.split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return f"{line} ({note})" if note else line




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_amqtt", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", metavar="NAME", help="scenario function names to run")
    parser.add_argument("--jobs", type=int, default=6, help="scenarios run in parallel (default 6)")
    parser.add_argument("--no-mosquitto", action="store_true", help="leave out the mosquitto reference column")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # amqtt logs every refused or dropped connection as an error

    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    columns: list[tuple[str, Broker]] = [("bare amqtt 0.12.1", bare_amqtt), ("mqttdesk", mqttdesk)]
    if MOSQUITTO and not args.no_mosquitto:
        columns.append(("mosquitto 2.0 (reference)", mosquitto))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {(s.name, name): pool.submit(run_one, s, broker) for s in scenarios for name, broker in columns}
        results = {key: future.result() for key, future in futures.items()}

    header = ["item", *[name for name, _ in columns]]
    rows = [[s.item, *[results[(s.name, name)].cell() for name, _ in columns]] for s in scenarios]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    print()
    for name, _ in columns:
        outcomes = [results[(s.name, name)] for s in scenarios]
        passed = sum(1 for o in outcomes if o.ok)
        failed = sum(1 for o in outcomes if o.ok is False)
        print(f"{name}: {passed} pass, {failed} FAIL, {len(outcomes) - passed - failed} n/a")
    print(f"({len(scenarios)} scenarios, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
