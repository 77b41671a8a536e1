"""The protocol core stays sans-I/O and typed: it imports only pure standard-library modules, and mypy --strict
accepts it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "mqttdesk" / "broker" / "protocol"
ALLOWED = {"__future__", "collections", "collections.abc", "dataclasses", "enum", "struct", "time", "typing"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_imports_only_pure_modules(path: Path) -> None:
    foreign = {name for name in _imports(path) if name not in ALLOWED
               and not name.startswith("mqttdesk.broker.protocol")}
    assert not foreign, f"{path.name} imports {sorted(foreign)}: the protocol core does no I/O"


def test_mypy_strict() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.fail(f"mypy is not installed next to {sys.executable}: install the test extras (.[test])")
    result = subprocess.run([mypy, "--strict", "mqttdesk/broker/protocol"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
