"""Smoke test of a built mqttdesk: start it headless (`serve --port 0`) on a fresh data directory, connect once with
a real MQTT client (a publish that comes back through a subscription), stop it with SIGTERM, and expect exit 0.

    python3 packaging/smoke.py                      # the PyInstaller build: dist/mqttdesk/mqttdesk
    python3 packaging/smoke.py -- python -m mqttdesk # any other way of running mqttdesk

Prints how long each step took; exits 1 with one line saying what failed. Needs paho-mqtt (the `test` extra).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "dist" / "mqttdesk" / ("mqttdesk.exe" if sys.platform == "win32" else "mqttdesk")
LISTENING = re.compile(r"listening on (\S+):(\d+)$")
TIMEOUT = 60.0


def fail(message: str) -> int:
    print(f"smoke: FAILED: {message}", file=sys.stderr)
    return 1


def round_trip(host: str, port: int) -> None:
    """Connect, subscribe, publish, and wait for the message to come back."""
    received = threading.Event()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="smoke", protocol=mqtt.MQTTv311,
                         reconnect_on_failure=False)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _client, _userdata, message: message.payload == b"hello" and received.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe("smoke/test", qos=1)
        if not subscribed.wait(TIMEOUT):
            raise TimeoutError("no SUBACK")
        client.publish("smoke/test", b"hello", qos=1)
        if not received.wait(TIMEOUT):
            raise TimeoutError("the published message did not come back")
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1:] if "--" in argv else [str(BUILT)]
    if command == [str(BUILT)] and not BUILT.exists():
        return fail(f"{BUILT} does not exist: build it first (packaging/build.sh)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as data:
        process = subprocess.Popen([*command, "--data-dir", data, "serve", "--port", "0"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()  # the first line is the listener (or nothing: it died)
            found = LISTENING.search(line)
            if found is None:
                process.kill()
                return fail(f"no 'listening on' line: {line!r} {process.communicate(timeout=TIMEOUT)[1].strip()!r}")
            listening = time.monotonic()
            print(f"smoke: listening on {found.group(1)}:{found.group(2)} after {listening - started:.2f} s")
            round_trip(found.group(1), int(found.group(2)))
            connected = time.monotonic()
            print(f"smoke: a client connected, subscribed and got its message back in {connected - listening:.2f} s")
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=TIMEOUT)
        except (OSError, TimeoutError, subprocess.TimeoutExpired) as exc:
            process.kill()
            process.wait()
            return fail(str(exc) or type(exc).__name__)
    if code != 0:
        return fail(f"exit status {code} after SIGTERM")
    print(f"smoke: stopped cleanly (exit 0); {time.monotonic() - started:.2f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
