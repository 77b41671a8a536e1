"""The CLI imports the heavy libraries only for the commands that use them (each test CLI call and each user's
`mqttdesk user list` pays for what is imported), and declares little beyond the command it runs; `serve` starts
listening with none of them loaded unless a listener or a setting needs one."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

from mqttdesk.cli import build_parser, command_word
from mqttdesk.commands import COMMANDS, MODULES

HEAVY = ("cryptography", "aiohttp", "jwt", "PySide6")
SERVE_HEAVY = (*HEAVY, "websockets", "zeroconf", "qasync")

# run `serve` until it prints "listening on", then report what it had imported by then
SERVE_PROBE = """
import json, os, sys
class Watch:
    def __init__(self, out): self.out = out
    def write(self, text):
        if "listening on" in text:
            print(json.dumps([m for m in sys.modules if m.split(".")[0] in {heavy}]), file=sys.stderr, flush=True)
            os._exit(0)
        return self.out.write(text)
    def flush(self): self.out.flush()
sys.stdout = Watch(sys.stdout)
from mqttdesk.cli import main
main(sys.argv[1:])
"""

PROBE = """
import json, sys
from mqttdesk.cli import main
status = main(sys.argv[1:])
print(json.dumps([m for m in sys.modules if m.split(".")[0] in {heavy}]), file=sys.stderr)
"""


def _imported_by(data_dir: Path, *argv: str, probe: str = PROBE, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    result = subprocess.run([sys.executable, "-c", probe.format(heavy=set(heavy)), "--data-dir", str(data_dir), *argv],
                            capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(result.stderr.strip().splitlines()[-1]))


def test_commands_about_users_and_roles_import_no_crypto_http_or_qt(tmp_path: Path) -> None:
    assert _imported_by(tmp_path, "user", "list") == []
    assert _imported_by(tmp_path, "role", "list") == []


def test_a_certificate_command_still_finds_its_handler(tmp_path: Path) -> None:
    imported = _imported_by(tmp_path, "trust", "list")
    assert "cryptography.x509" in imported
    assert "PySide6" not in imported


def test_serve_listens_without_tls_http_websocket_mdns_or_qt_libraries(tmp_path: Path) -> None:
    imported = _imported_by(tmp_path, "serve", "--host", "127.0.0.1", "--port", "0", probe=SERVE_PROBE,
                            heavy=SERVE_HEAVY)
    assert imported == []


def test_a_websocket_listener_imports_its_library(tmp_path: Path) -> None:
    imported = _imported_by(tmp_path, "serve", "--host", "127.0.0.1", "--port", "0", "--ws-port", "0",
                            probe=SERVE_PROBE, heavy=SERVE_HEAVY)
    assert "websockets" in imported
    assert "PySide6" not in imported


def test_each_command_is_declared_by_the_module_the_table_names() -> None:
    declared: dict[str, str] = {}
    for name in MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"mqttdesk.commands.{name}").register(sub)
        declared.update(dict.fromkeys(sub.choices, name))
    assert declared == COMMANDS


def test_the_parser_of_one_command_parses_it_as_the_full_parser_does() -> None:
    argv = ["--data-dir", "/tmp/x", "user", "add", "alice", "--role", "ops"]
    assert command_word(argv) == "user"
    assert vars(build_parser("user").parse_args(argv)) == vars(build_parser().parse_args(argv))
    assert command_word(["--data-dir=/tmp/x", "serve"]) == "serve"
    assert command_word(["--version"]) is None
    assert command_word(["--data-dir", "/tmp/x"]) == ""  # the window: no command's parser is declared
    window = build_parser("").parse_args(["--data-dir", "/tmp/x"])
    assert window.command is None
    assert window.data_dir == Path("/tmp/x")
    subcommands = next(action for action in build_parser("")._actions
                       if isinstance(action, argparse._SubParsersAction))
    assert subcommands.choices == {}
