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


def test_a_bad_filter_is_refused(data_dir):
    assert run_cli(data_dir, "role", "add", "r").returncode == 0
    bad_filter = run_cli(data_dir, "role", "allow", "r", "a/b#", "read")
    assert bad_filter.returncode == 1
    assert "'#' must be a whole level" in bad_filter.stderr


@pytest.mark.parametrize("word", ["readonly", "publish", "READ", ""])
def test_a_permission_word_that_is_not_one_is_a_usage_error(data_dir, word):
    assert run_cli(data_dir, "role", "add", "r").returncode == 0
    bad_permission = run_cli(data_dir, "role", "deny", "r", "a/#", word)
    assert bad_permission.returncode == 2
    lines = bad_permission.stderr.splitlines()
    assert lines[0].startswith("usage: mqttdesk role deny ")
    assert lines[-1] == (f"mqttdesk role deny: error: argument permission: invalid choice: '{word}' "
                         "(choose from 'read', 'write', 'readwrite')")
    assert run_cli(data_dir, "role", "list", "--json").stdout.count("topic_filter") == 0  # nothing was added


def test_usage_errors_exit_2(data_dir):
    assert run_cli(data_dir, "frobnicate").returncode == 2
    assert run_cli(data_dir, "user").returncode == 2


def test_an_empty_data_dir_is_a_usage_error_not_the_current_directory(tmp_path):
    for empty in ("", " "):
        result = subprocess.run([sys.executable, "-m", "mqttdesk", "--data-dir", empty, "role", "add", "r"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2
        assert result.stderr.splitlines()[0].startswith("usage: mqttdesk ")
        assert result.stderr.splitlines()[-1] == "mqttdesk: error: argument --data-dir: must not be empty"
    assert list(tmp_path.iterdir()) == []  # no store appeared in the current directory


def _cli_bytes(data_dir, *args, stdin: bytes, env=None):  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), *args], input=stdin,
                          capture_output=True, timeout=60, check=False, env=env)


@pytest.mark.parametrize("locale", [None, "C", "C.UTF-8"])
@pytest.mark.parametrize("command", [("user", "add", "x"), ("bootstrap", "add", "fleet"), ("user", "passwd", "bob")])
def test_a_password_that_is_not_utf8_is_one_line_and_exit_1(data_dir, locale, command):
    assert run_cli(data_dir, "user", "add", "bob", "--password-stdin", stdin="old\n").returncode == 0
    env = {**os.environ, "LC_ALL": locale, "PYTHONUTF8": "0"} if locale else None
    result = _cli_bytes(data_dir, *command, "--password-stdin", stdin=b"caf\xe9\n", env=env)  # Latin-1, not UTF-8
    assert result.returncode == 1
    assert result.stderr.decode() == "mqttdesk: error: the password is not valid UTF-8\n"
    assert result.stdout == b""
    users = {u["name"] for u in json.loads(run_cli(data_dir, "user", "list", "--json").stdout)}
    assert users == {"bob"}
    assert json.loads(run_cli(data_dir, "bootstrap", "list", "--json").stdout) == []


def test_a_name_that_is_not_utf8_is_one_line_and_exit_1(data_dir):
    result = subprocess.run([sys.executable.encode(), b"-m", b"mqttdesk", b"--data-dir", str(data_dir).encode(),
                             b"role", b"add", b"caf\xe9"], capture_output=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.decode() == "mqttdesk: error: an argument is not valid UTF-8\n"


def test_a_utf8_password_is_taken_whatever_the_locale(data_dir):
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0"}
    assert _cli_bytes(data_dir, "user", "add", "lamp", "--password-stdin", stdin="café\n".encode(),
                      env=env).returncode == 0
    explained = _cli_bytes(data_dir, "explain", "--username", "lamp", "--client-id", "c", "--password-stdin",
                           stdin="café\n".encode())
    assert explained.returncode == 0, explained.stdout.decode()


def test_a_data_dir_open_to_others_is_made_private_with_a_notice(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    first = run_cli(shared, "role", "add", "r")
    assert first.returncode == 0, first.stderr
    assert first.stderr == (f"mqttdesk: notice: the data directory {shared} was open to other users (mode 0777); "
                            "it is now private (0700)\n")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700
    again = run_cli(shared, "role", "add", "r2")
    assert (again.returncode, again.stderr) == (0, "")


def test_a_new_data_dir_is_private(tmp_path):
    fresh = tmp_path / "a" / "b"
    assert run_cli(fresh, "role", "add", "r").returncode == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh / "mqttdesk.sqlite3").stat().st_mode) == 0o600


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


def test_config_sets_the_packet_limits(data_dir):
    for key, value in (("max_subscriptions_per_packet", "500"), ("max_subscriptions_per_client", "2000"),
                       ("max_incoming_qos2_bytes", "8388608")):
        done = run_cli(data_dir, "config", "set", key, value)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{key} = {value} (applies at the next broker start)\n"
    shown = json.loads(run_cli(data_dir, "config", "show", "--json").stdout)
    assert (shown["max_subscriptions_per_packet"], shown["max_subscriptions_per_client"],
            shown["max_incoming_qos2_bytes"], shown["max_queued_messages"]) == (500, 2000, 8388608, 1000)
    refused = run_cli(data_dir, "config", "set", "max_incoming_qos2_bytes", "1000")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "between 1048576 (1 MiB)" in refused.stderr
