"""Login cost: what wrong passwords cost the broker, and how long a correct login from another address waits.

mqttdesk only (the figures are about its queue of password checks), at full cost: user `benchuser` has a hash with
the default 210,000 PBKDF2 iterations. Each case gets a fresh instance, so the correct login is never in the
verified-password cache:

- abandoned: N CONNECTs with N different wrong passwords from 127.0.0.2, each socket closed right after its
  CONNECT is written (the attacker never waits for an answer), then one correct login from 127.0.0.3;
- burst: C clients at 127.0.0.2 guess in a loop (CONNECT, wait for CONNACK, next guess) for S seconds; one second
  in, a correct login from 127.0.0.3.

Figures: the correct login's wait (socket open → CONNACK), the broker's CPU seconds from the first guess until it
is idle again (and how long that took), the attacker's own CPU seconds, and how the guesses were answered.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.context import Context
from bench.load import packets
from bench.load.connects import connack_code
from bench.settings import HOST, PASSWORD, RUN_TIMEOUT, USER
from bench.systems.launch import Running, running
from bench.systems.process import ChildProcess

ATTACKER, LEGIT = "127.0.0.2", "127.0.0.3"  # any 127.x.y.z is a loopback source address on Linux
ANSWER_TIMEOUT = 120.0  # long enough to see a login stuck behind a whole flood (it was 78 s)
IDLE_SAMPLE = 0.5  # the broker is idle once it used less than IDLE_CPU in one sample
IDLE_CPU = 0.02
LOGIN_DELAY = 1.0  # into the burst, when the correct login comes


async def _open(port: int, source: str, client_id: str, password: str) -> tuple[asyncio.StreamReader,
                                                                                 asyncio.StreamWriter]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port, local_addr=(source, 0)),
                                            ANSWER_TIMEOUT)
    writer.write(packets.connect(client_id, USER, password))
    return reader, writer


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    return await connack_code(reader, writer, ANSWER_TIMEOUT)


async def _login(port: int, client_id: str) -> tuple[int, float]:
    started = time.perf_counter()
    code = await _answer(*await _open(port, LEGIT, client_id, PASSWORD))
    return code, time.perf_counter() - started


def _until_idle(process: ChildProcess, deadline: float) -> float:
    """Wait until the broker stops burning CPU; the monotonic time it became idle."""
    last = process.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(IDLE_SAMPLE)  # sampling /proc: the granularity is part of the measurement
        now = process.cpu_seconds()
        if now - last < IDLE_CPU:
            return time.monotonic() - IDLE_SAMPLE
        last = now
    return deadline


async def _abandoned(port: int, guesses: int) -> dict[str, Any]:
    attacker_cpu = time.process_time()
    for n in range(guesses):
        _, writer = await _open(port, ATTACKER, f"guess-{n}", f"wrong-{n}")
        writer.close()
    attacker_cpu = time.process_time() - attacker_cpu
    code, wait = await _login(port, "legit-after-abandoned")
    return {"login_code": code, "login_wait_s": round(wait, 3), "attacker_cpu_s": round(attacker_cpu, 3)}


async def _burst(port: int, clients: int, seconds: float) -> dict[str, Any]:
    codes: Counter[int] = Counter()
    stop_at = time.monotonic() + seconds

    async def guesser(worker: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            codes[await _answer(*await _open(port, ATTACKER, f"guesser-{worker}", f"wrong-{worker}-{n}"))] += 1
            n += 1

    attacker_cpu = time.process_time()
    guessers = [asyncio.ensure_future(guesser(worker)) for worker in range(clients)]
    await asyncio.sleep(LOGIN_DELAY)  # let the burst build up its queue first
    code, wait = await _login(port, "legit-during-burst")
    await asyncio.wait_for(asyncio.gather(*guessers), seconds + ANSWER_TIMEOUT)
    attacker_cpu = time.process_time() - attacker_cpu
    return {"login_code": code, "login_wait_s": round(wait, 3), "attacker_cpu_s": round(attacker_cpu, 3),
            "guesses_answered": {str(k): v for k, v in sorted(codes.items())}}


def _measured(target: Running, work: Any) -> dict[str, Any]:
    started, cpu_before = time.monotonic(), target.process.cpu_seconds()
    figures: dict[str, Any] = asyncio.run(work)
    idle_at = _until_idle(target.process, started + RUN_TIMEOUT)
    figures["broker_cpu_s"] = round(target.process.cpu_seconds() - cpu_before, 2)
    figures["broker_busy_s"] = round(idle_at - started, 2)
    return figures


def run(ctx: Context) -> dict[str, Any]:
    guesses, clients, seconds = ctx.counts.login_guesses, ctx.counts.login_burst, ctx.counts.login_burst_seconds
    results: dict[str, Any] = {"guesses": guesses, "burst_clients": clients, "burst_seconds": seconds}
    ctx.say(f"login cost: {guesses} abandoned wrong-password CONNECTs, then a correct login from elsewhere")
    with running(ctx, "mqttdesk") as target:
        results["abandoned"] = _measured(target, _abandoned(target.port, guesses))
    ctx.say(f"login cost: {clients} clients guessing for {seconds} s, a correct login from elsewhere")
    with running(ctx, "mqttdesk") as target:
        results["burst"] = _measured(target, _burst(target.port, clients, seconds))
    return results
