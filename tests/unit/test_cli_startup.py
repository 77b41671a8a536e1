"""The CLI imports the heavy libraries only for the commands that use them (each test CLI call and each user's
`mqttdesk user list` pays for what is imported)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("cryptography", "aiohttp", "jwt", "PySide6")

PROBE = """
import json, sys
from mqttdesk.cli import main
status = main(sys.argv[1:])
print(json.dumps([m for m in sys.modules if m.split(".")[0] in {heavy}]), file=sys.stderr)
"""


def _imported_by(data_dir: Path, *argv: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), "--data-dir", str(data_dir), *argv],
                            capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(result.stderr.strip().splitlines()[-1]))


def test_commands_about_users_and_roles_import_no_crypto_http_or_qt(tmp_path: Path) -> None:
    assert _imported_by(tmp_path, "user", "list") == []
    assert _imported_by(tmp_path, "role", "list") == []


def test_a_certificate_command_still_finds_its_handler(tmp_path: Path) -> None:
    imported = _imported_by(tmp_path, "trust", "list")
    assert "cryptography.x509" in imported
    assert "PySide6" not in imported
