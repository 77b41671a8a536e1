"""A correct login's wait while 20 addresses guess passwords: the figure of the password-guessing throttle.

    .venv/bin/python -m bench.guessing_flood [--guessers 20] [--seconds 20] [--logins 15]

Runs `mqttdesk serve` of this tree in its own process on a fresh data directory (user `benchuser`, the default
210,000 PBKDF2 iterations). `--guessers` clients, each from its own loopback address (127.0.1.1, 127.0.1.2, …),
guess in a loop — CONNECT with a new wrong password, wait for the CONNACK, again — for `--seconds`; from the
second second on, a correct login every second, `--logins` of them, each as another user (`legit-0`, `legit-1`,
…, made beforehand), so that every one is a real PBKDF2 check and not an answer from the cache of verified
passwords. The first comes from 127.0.0.3, never seen before (`first_login_s`); then they alternate between
127.0.0.3, which has logged in correctly by then (`known_address_s`), and a new address each time (127.0.2.2, …,
`new_address_s`). Prints each login's wait (socket open → CONNACK), and how the guesses were answered (CONNACK
codes; -1: closed or timed out).

Run on demand, never by the test suite. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.load import packets
from bench.load.connects import connack_code

HOST = "127.0.0.1"
USER, PASSWORD = "benchuser", "correct horse battery staple"
LEGIT = "127.0.0.3"
ANSWER_TIMEOUT = 60.0
START_TIMEOUT = 30.0


def _cli(data_dir: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), *args], input=stdin, text=True,
                   check=True, capture_output=True, timeout=60)


async def _attempt(port: int, source: str, client_id: str, password: str, user: str = USER) -> int:
    """One CONNECT from `source`; its CONNACK return code (-1: closed or timed out without one)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port, local_addr=(source, 0)),
                                                ANSWER_TIMEOUT)
    except (OSError, TimeoutError):
        return -1
    writer.write(packets.connect(client_id, user, password))
    return await connack_code(reader, writer, ANSWER_TIMEOUT)


async def _flood(port: int, guessers: int, seconds: float, logins: int) -> dict[str, object]:
    codes: Counter[int] = Counter()
    stop_at = time.monotonic() + seconds

    async def guesser(worker: int) -> None:
        source = f"127.0.1.{worker + 1}"
        for n in range(100_000):  # bounded; the time limit ends it first
            if time.monotonic() >= stop_at:
                return
            codes[await _attempt(port, source, f"guesser-{worker}", f"wrong-{worker}-{n}")] += 1

    tasks = [asyncio.ensure_future(guesser(worker)) for worker in range(guessers)]
    waits: dict[str, list[float]] = {"first_login_s": [], "known_address_s": [], "new_address_s": []}
    login_codes: Counter[int] = Counter()
    await asyncio.sleep(1.0)  # let the flood build up first
    for n in range(logins):
        if time.monotonic() >= stop_at:
            break
        kind = "first_login_s" if n == 0 else "known_address_s" if n % 2 else "new_address_s"
        source = f"127.0.2.{n}" if kind == "new_address_s" else LEGIT
        started = time.perf_counter()
        login_codes[await _attempt(port, source, f"legit-{n}", PASSWORD, f"legit-{n}")] += 1
        wait = time.perf_counter() - started
        waits[kind].append(round(wait, 3))
        await asyncio.sleep(max(0.0, 1.0 - wait))
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + ANSWER_TIMEOUT)
    every = [wait for kind in waits.values() for wait in kind]
    return {"guessers": guessers, "seconds": seconds, **waits,
            "login_median_s": round(statistics.median(every), 3) if every else None,
            "login_max_s": max(every) if every else None,
            "login_codes": {str(k): v for k, v in sorted(login_codes.items())},
            "guesses_answered": {str(k): v for k, v in sorted(codes.items())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--guessers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--logins", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mqttdesk-flood-") as tmp:
        data_dir = Path(tmp) / "data"
        for user in (USER, *(f"legit-{n}" for n in range(args.logins))):
            _cli(data_dir, "user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
        server = subprocess.Popen([sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), "serve", "--host",
                                   HOST, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert server.stdout is not None
            deadline = time.monotonic() + START_TIMEOUT
            line = ""
            while "listening on" not in line and time.monotonic() < deadline:
                line = server.stdout.readline()
            port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
            figures = asyncio.run(_flood(port, args.guessers, args.seconds, args.logins))
        finally:
            server.terminate()
            server.wait(30)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
