"""`serve --tls-port --ws-port --no-tcp` and `config set listen.*|tls.*`, as a user types them."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mqttdesk.control import client as control
from tests.integration.harness import TIMEOUT, assert_port_free, run_cli
from tests.integration.mqtt_client import TestClient
from tests.integration.tls_certs import make_tls_files

LINE = re.compile(r"^listening on 127\.0\.0\.1:(\d+)(?: \((tls|ws|wss)\))?$")


def _serve(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _listening(process: subprocess.Popen[str], count: int) -> dict[str, int]:
    """The first `count` lines of `serve`: listener kind -> port."""
    assert process.stdout is not None
    ports: dict[str, int] = {}
    for _ in range(count):
        line = process.stdout.readline().rstrip("\n")
        match = LINE.match(line)
        assert match, (line, process.stderr.read() if process.poll() is not None and process.stderr else "")
        ports[match.group(2) or "tcp"] = int(match.group(1))
    return ports


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert process.stderr is not None
    return process.stderr.read()


def _connect(client_id: str, port: int, **options: object) -> int:
    client = TestClient(client_id, port, **options)  # type: ignore[arg-type]
    try:
        return client.connect()
    finally:
        client.close()


def test_serve_prints_one_line_per_listener_and_each_one_answers(data_dir: Path, tmp_path: Path) -> None:
    certs = make_tls_files(tmp_path / "certs")
    for key, path in (("tls.cert_file", certs.cert), ("tls.key_file", certs.key)):
        assert run_cli(data_dir, "config", "set", key, str(path)).returncode == 0
    process = _serve(data_dir, "--port", "0", "--tls-port", "0", "--ws-port", "0")
    try:
        ports = _listening(process, 3)
        assert list(ports) == ["tcp", "tls", "ws"]
        assert _connect("over-tcp", ports["tcp"]) == 0
        assert _connect("over-tls", ports["tls"], tls=certs.trusting_client()) == 0
        assert _connect("over-ws", ports["ws"], transport="websockets") == 0
        status = control.request(data_dir, "status")  # what the control channel tells other commands
        assert [(entry["kind"], entry["port"]) for entry in status["listeners"]] == list(ports.items())
        assert status["description"] == (f"listening on 127.0.0.1:{ports['tcp']}, 127.0.0.1:{ports['tls']} (tls), "
                                          f"127.0.0.1:{ports['ws']} (ws)")
        stderr = _stop(process)
        assert "Traceback" not in stderr, stderr
        for port in ports.values():
            assert_port_free(port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_tls_without_files_says_why_on_stderr_and_tcp_still_serves(data_dir: Path) -> None:
    process = _serve(data_dir, "--port", "0", "--tls-port", "0")
    try:
        ports = _listening(process, 1)
        assert list(ports) == ["tcp"]
        assert _connect("still-tcp", ports["tcp"]) == 0
        stderr = _stop(process)
        assert ("mqttdesk: warning: the TLS listener did not start: the TLS listener needs a certificate and its "
                "key: set tls.cert_file and tls.key_file") in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_no_tcp_listens_on_websocket_only(data_dir: Path) -> None:
    process = _serve(data_dir, "--no-tcp", "--ws-port", "0")
    try:
        ports = _listening(process, 1)
        assert list(ports) == ["ws"]
        assert _connect("ws-only", ports["ws"], transport="websockets") == 0
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_no_listener_at_all_is_an_error(data_dir: Path) -> None:
    process = _serve(data_dir, "--no-tcp")
    _, err = process.communicate(timeout=TIMEOUT * 3)
    assert process.returncode == 1
    assert err.strip() == "mqttdesk: error: no listener is switched on (mqttdesk config set listen.tcp on)"


def test_config_sets_listeners_and_tls_files(data_dir: Path, tmp_path: Path) -> None:
    cert = tmp_path / "server.pem"
    for key, value, shown in (("listen.tls", "on", "on"), ("listen.tls_port", "8884", "8884"),
                              ("listen.ws", "true", "on"), ("listen.ws_port", "9002", "9002"),
                              ("listen.tcp", "off", "off"), ("tls.cert_file", str(cert), str(cert))):
        done = run_cli(data_dir, "config", "set", key, value)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{key} = {shown} (applies at the next broker start)"
    shown = json.loads(run_cli(data_dir, "config", "show", "--json").stdout)
    assert (shown["listen.tls"], shown["listen.tls_port"], shown["listen.ws"], shown["listen.ws_port"],
            shown["listen.tcp"], shown["tls.cert_file"], shown["tls.key_file"]) == (
        True, 8884, True, 9002, False, str(cert), None)
    refused = run_cli(data_dir, "config", "set", "listen.ws", "maybe")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "mqttdesk: error: listen.ws must be on or off (true or false), not 'maybe'"


@pytest.mark.parametrize("flag", ["--tls-port", "--ws-port"])
def test_serve_refuses_a_bad_port(data_dir: Path, flag: str) -> None:
    result = run_cli(data_dir, "serve", flag, "70000")
    assert result.returncode == 1
    assert "port must be between 0 and 65535, not 70000" in result.stderr


def test_serve_runs_on_uvloop_unless_asked_for_asyncio(data_dir: Path) -> None:
    for argv, expected in ((), "uvloop"), (("--loop", "asyncio"), "asyncio"):
        process = _serve(data_dir, "--port", "0", *argv)
        try:
            port = _listening(process, 1)["tcp"]
            assert _connect(f"on-{expected}", port) == 0
            assert control.request(data_dir, "status")["event_loop"] == expected
            assert "Traceback" not in _stop(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_an_unknown_event_loop_is_one_line_and_exit_2(data_dir: Path) -> None:
    done = run_cli(data_dir, "serve", "--port", "0", "--loop", "trio")
    assert done.returncode == 2
    assert "invalid choice: 'trio'" in done.stderr.splitlines()[-1]
