"""The command line as a user types it: `serve`, admin commands, errors and exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys

import pytest

from tests.integration.harness import assert_port_free, run_cli
from tests.integration.mqtt_client import TestClient


def _serve(data_dir, *args):  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_listening_and_exits_cleanly_on_signal(data_dir, signum):
    process = _serve(data_dir, "--port", "0")
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on 127.0.0.1:"), (line, process.stderr.read() if process.poll() else "")
        port = int(line.rsplit(":", 1)[1])
        plug = TestClient("DVES_1A2B3C", port)
        assert plug.connect() == 0
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0
        assert plug.wait_disconnected()
        plug.close()
        stderr = process.stderr.read()
        assert "Traceback" not in stderr, stderr
        assert "Task was destroyed" not in stderr, stderr
        assert_port_free(port)
        assert not (data_dir / "instance.json").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_reports_a_port_in_use_in_one_line(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(data_dir, "--port", str(port))
        out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err.strip().splitlines() == [f"mqttdesk: error: port {port} on 127.0.0.1 is already in use "
                                        "(is another broker running?)"]


def test_store_file_is_private_and_data_dir_comes_from_the_environment(tmp_path):
    data_dir = tmp_path / "from-env"
    env = {**os.environ, "MQTTDESK_DATA_DIR": str(data_dir)}
    result = subprocess.run([sys.executable, "-m", "mqttdesk", "role", "add", "r"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    mode = stat.S_IMODE((data_dir / "mqttdesk.sqlite3").stat().st_mode)
    assert mode == 0o600


def test_user_lifecycle_and_json_keys(data_dir):
    assert run_cli(data_dir, "role", "add", "lamps").returncode == 0
    assert run_cli(data_dir, "user", "add", "lamp", "--role", "lamps", "--password-stdin", stdin="pw\n").returncode == 0
    generated = run_cli(data_dir, "user", "add", "fridge")
    assert generated.returncode == 0
    assert "shown once" in generated.stdout
    users = json.loads(run_cli(data_dir, "user", "list", "--json").stdout)
    assert [u["name"] for u in users] == ["fridge", "lamp"]
    assert {"name", "state", "roles", "created", "last_used"} <= set(users[0])
    assert users[1]["roles"] == ["lamps"]
    assert users[1]["state"] == "inactive"
    assert run_cli(data_dir, "user", "revoke", "lamp").returncode == 0
    refused = run_cli(data_dir, "user", "activate", "lamp")
    assert refused.returncode == 1
    assert refused.stderr.startswith("mqttdesk: error: ")
    assert refused.stderr.count("\n") == 1
    assert "revoked" in refused.stderr
    shown = json.loads(run_cli(data_dir, "user", "show", "lamp", "--json").stdout)
    assert [h["action"] for h in shown["history"]] == ["create", "revoke"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "add", "x", "--password-stdin"), "\n", "empty password"),
        (("user", "add", "x", "--role", "nope", "--password-stdin"), "pw\n", "no role named 'nope'"),
        (("role", "allow", "missing", "a/#", "read"), None, "no role named 'missing'"),
        (("user", "suspend", "ghost"), None, "no user named 'ghost'"),
        (("log", "--limit", "0"), None, "--limit must be at least 1"),
        (("clients",), None, "no running mqttdesk instance"),
    ],
)
def test_errors_are_one_line_with_exit_1(data_dir, args, stdin, message):
    result = run_cli(data_dir, *args, stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_bad_filter_and_permission_are_refused(data_dir):
    assert run_cli(data_dir, "role", "add", "r").returncode == 0
    bad_filter = run_cli(data_dir, "role", "allow", "r", "a/b#", "read")
    assert bad_filter.returncode == 1
    assert "'#' must be a whole level" in bad_filter.stderr
    bad_permission = run_cli(data_dir, "role", "deny", "r", "a/#", "publish")
    assert bad_permission.returncode == 1
    assert "read, write or readwrite" in bad_permission.stderr


def test_usage_errors_exit_2(data_dir):
    assert run_cli(data_dir, "frobnicate").returncode == 2
    assert run_cli(data_dir, "user").returncode == 2


def test_anonymous_on_keeps_the_roles_given_before(data_dir):
    assert run_cli(data_dir, "role", "add", "guests").returncode == 0
    assert run_cli(data_dir, "anonymous", "on", "--role", "guests").returncode == 0
    assert run_cli(data_dir, "anonymous", "off").returncode == 0
    back = run_cli(data_dir, "anonymous", "on")
    assert "roles guests" in back.stdout  # not "every topic"
    misuse = run_cli(data_dir, "anonymous", "off", "--role", "guests")
    assert misuse.returncode == 1
    assert "--role goes with 'anonymous on'" in misuse.stderr


def test_revoked_credentials_get_no_new_password_and_errors_name_the_credential(data_dir):
    assert run_cli(data_dir, "user", "add", "bob", "--password-stdin", stdin="pw\n").returncode == 0
    assert run_cli(data_dir, "user", "revoke", "bob").returncode == 0
    passwd = run_cli(data_dir, "user", "passwd", "bob", "--password-stdin", stdin="new\n")
    assert passwd.returncode == 1
    assert "user 'bob' is revoked" in passwd.stderr
    again = run_cli(data_dir, "user", "suspend", "bob")
    assert again.returncode == 1
    assert again.stderr.startswith("mqttdesk: error: user 'bob': ")


def test_a_second_instance_on_the_same_data_dir_is_refused(data_dir):
    first = _serve(data_dir, "--port", "0")
    try:
        assert first.stdout.readline().startswith("listening on ")
        second = _serve(data_dir, "--port", "0")
        _out, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert err.strip().startswith("mqttdesk: error: another mqttdesk instance already runs for")
        assert run_cli(data_dir, "clients").returncode == 0  # the first one is still the one the CLI reaches
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=20)
