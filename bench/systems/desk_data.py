"""The mqttdesk data directory every benchmark instance starts from, made once with the real CLI and then copied.

Set-up: role `bench` with readwrite on `bench/#`; user `benchuser` (password) and bootstrap credential `fleet`
(registers devices) with that role; anonymous access off; the delivery limits raised like mosquitto's, and the
cap on connections waiting for their CONNECT per address lifted (mosquitto has none). Each
instance gets a fresh copy, so devices one storm registers never weigh on the next measurement.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.settings import (
    BOOTSTRAP,
    BOOTSTRAP_PASSWORD,
    MAX_INFLIGHT,
    MAX_PENDING_PER_ADDRESS,
    MAX_QUEUED,
    PASSWORD,
    REPO,
    ROLE,
    TOPIC_FILTER,
    USER,
)


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), *args], cwd=REPO,
                            input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mqttdesk {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def make_template(data_dir: Path) -> Path:
    cli(data_dir, "role", "add", ROLE)
    cli(data_dir, "role", "allow", ROLE, TOPIC_FILTER, "readwrite")
    cli(data_dir, "user", "add", USER, "--role", ROLE, "--password-stdin", stdin=PASSWORD + "\n")
    cli(data_dir, "bootstrap", "add", BOOTSTRAP, "--register-devices", "--role", ROLE, "--password-stdin",
        stdin=BOOTSTRAP_PASSWORD + "\n")
    cli(data_dir, "anonymous", "off")
    cli(data_dir, "config", "set", "max_inflight_messages", str(MAX_INFLIGHT))
    cli(data_dir, "config", "set", "max_queued_messages", str(MAX_QUEUED))
    # every simulated device connects from 127.0.0.1, where a real fleet has an address per device: up to a
    # few hundred of them wait for their CONNECT at once during the storm
    cli(data_dir, "config", "set", "max_pending_per_address", str(MAX_PENDING_PER_ADDRESS))
    return data_dir


def fresh_copy(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target
