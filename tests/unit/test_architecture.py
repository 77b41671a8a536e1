"""The layer order of docs/ARCHITECTURE.md, checked on the source with `ast` so a wrong-way import fails the build.

core < pki and interop (siblings) < store < auth < broker < control < commands and gui (siblings) < the entry
points (app, cli): a module may import its own layer and those below it, never one above. On top of that, core/ and
interop/ are pure, pki/ is pure but for `cryptography`, and only gui/ uses Qt.

Every `import` counts, wherever it is: at module level, inside a function, or under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

QT = {"PySide6", "shiboken6", "qasync"}
CORE_FORBIDDEN = QT | {"asyncio", "amqtt", "sqlite3"}
PKI_FORBIDDEN = CORE_FORBIDDEN  # the CA's domain: `cryptography` and the standard library's pure parts only
INTEROP_FORBIDDEN = CORE_FORBIDDEN  # other brokers' file formats: pure, over core/
STORE_FORBIDDEN = QT | {"amqtt"}
GUI_WIRING = {"mqttdesk.app"}  # builds the GUI and runs it under qasync
ABOVE_GUI = GUI_WIRING | {"mqttdesk.cli", "mqttdesk.__main__"}
# rank of each layer; modules of equal rank (commands and gui) may not import each other either
# (cli_output formats JSON and times for the CLI and the window's exports alike: below both)
LAYERS = {"mqttdesk.core": 0, "mqttdesk.pki": 1, "mqttdesk.interop": 1, "mqttdesk.store": 2, "mqttdesk.auth": 3,
          "mqttdesk.broker": 4,
          "mqttdesk.control": 5, "mqttdesk.cli_output": 5, "mqttdesk.commands": 6, "mqttdesk.gui": 6}
TOP = 7  # app, cli, __main__: they wire everything
# the one upward import: `serve` and `gui` start the wiring, imported inside their handlers so that every other
# command runs without loading the broker's listeners or Qt
ALLOWED_UPWARD = {("mqttdesk.commands.instance", "mqttdesk.app")}


def layer_of(module: str) -> tuple[str, int]:
    for package, rank in LAYERS.items():
        if _within(module, package):
            return package, rank
    return module, TOP


@dataclass(frozen=True, slots=True)
class ImportSite:
    path: Path  # relative to the root, for messages
    line: int
    importer: str  # dotted module name of the file
    target: str  # dotted name imported (for `from a import b`: "a.b")

    @property
    def top(self) -> str:
        return self.target.split(".")[0]

    def imports_from(self, package: str) -> bool:
        return _within(self.target, package)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path, root: Path) -> Iterator[ImportSite]:
    importer = _module_name(path, root)
    relative = path.relative_to(root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportSite(relative, node.lineno, importer, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            for alias in node.names:
                yield ImportSite(relative, node.lineno, importer, base if alias.name == "*" else f"{base}.{alias.name}")


def scan(root: Path) -> list[ImportSite]:
    return [site for path in sorted((root / "mqttdesk").rglob("*.py")) for site in _imports_of(path, root)]


def violations(sites: list[ImportSite]) -> list[str]:
    found: list[str] = []
    for site in sites:
        module = site.importer
        if _within(module, "mqttdesk.core"):
            if site.imports_from("mqttdesk") and not site.imports_from("mqttdesk.core"):
                found.append(f"{site}: core/ imports nothing of ours outside core")
            if site.top in CORE_FORBIDDEN:
                found.append(f"{site}: core/ is pure (no Qt, qasync, asyncio, amqtt, sqlite3)")
        if _within(module, "mqttdesk.pki") and site.top in PKI_FORBIDDEN:
            found.append(f"{site}: pki/ is pure (no Qt, qasync, asyncio, amqtt, sqlite3)")
        if _within(module, "mqttdesk.interop") and site.top in INTEROP_FORBIDDEN:
            found.append(f"{site}: interop/ is pure (no Qt, qasync, asyncio, amqtt, sqlite3)")
        if _within(module, "mqttdesk.store") and site.top in STORE_FORBIDDEN:
            found.append(f"{site}: store/ uses neither Qt, qasync nor amqtt")
        if not _within(module, "mqttdesk.gui") and module not in GUI_WIRING and site.top in QT:
            found.append(f"{site}: only gui/ (and app.py, which wires it) may use Qt or qasync")
        if site.top == "amqtt":
            found.append(f"{site}: mqttdesk runs no amqtt (it is a test and benchmark baseline only)")
        if not _within(module, "mqttdesk.gui") and module not in ABOVE_GUI and site.imports_from("mqttdesk.gui"):
            found.append(f"{site}: nothing below gui/ imports gui/")
        elif site.imports_from("mqttdesk") and not _within(module, "mqttdesk.core"):  # core: its own rule above
            own, own_rank = layer_of(module)
            target, target_rank = layer_of(site.target)
            allowed = any(module == low and _within(site.target, high) for low, high in ALLOWED_UPWARD)
            if not allowed and (target_rank > own_rank or (target_rank == own_rank and target != own
                                                           and own_rank != TOP)):
                found.append(f"{site}: {own.removeprefix('mqttdesk.')} may not reach up to "
                             f"{target.removeprefix('mqttdesk.')} (layer order in docs/ARCHITECTURE.md)")
    return found


def test_scan_sees_the_package() -> None:
    importers = {site.importer for site in scan(ROOT)}
    assert {"mqttdesk.core.decide", "mqttdesk.pki.ca", "mqttdesk.store.db"} <= importers


def test_dependencies_point_downwards() -> None:
    broken = violations(scan(ROOT))
    assert not broken, "wrong-way imports:\n" + "\n".join(broken)


# -- the checker itself must catch what it claims to --------------------------------------------------------


def _write(root: Path, relative: str, source: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    files = {
        "mqttdesk/__init__.py": "",
        "mqttdesk/core/__init__.py": "",
        "mqttdesk/core/good.py": "from mqttdesk.core.errors import ValidationError\nfrom . import topics\nimport re\n",
        "mqttdesk/core/bad.py": (
            "import sqlite3\n"
            "from ..store import db\n"
            "def later():\n"
            "    import asyncio\n"
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from mqttdesk.auth.pipeline import AuthPipeline\n"
        ),
        "mqttdesk/store/__init__.py": "",
        "mqttdesk/store/bad.py": "from PySide6.QtCore import QObject\nimport sqlite3\nfrom mqttdesk.core import acl\n",
        "mqttdesk/auth/__init__.py": "from mqttdesk import gui\n",
        "mqttdesk/auth/bad.py": "import asyncio\nimport amqtt.broker\nfrom mqttdesk.gui.models import users\n",
        "mqttdesk/broker/ok.py": "import asyncio\nimport websockets\n",
        "mqttdesk/broker/bad.py": "from amqtt.broker import Broker\n",
        "mqttdesk/store/up.py": "from mqttdesk.broker import router\n",
        "mqttdesk/pki/__init__.py": "",
        "mqttdesk/pki/ok.py": "from cryptography import x509\nfrom mqttdesk.core.errors import ValidationError\n",
        "mqttdesk/pki/bad.py": "import sqlite3\nfrom mqttdesk.store.db import Store\n",
        "mqttdesk/store/uses_pki.py": "from mqttdesk.pki.ca import create_ca\n",
        "mqttdesk/commands/sideways.py": "from mqttdesk.gui import main_window\n",
        "mqttdesk/gui/ok.py": "from PySide6 import QtWidgets\nimport qasync\nfrom mqttdesk.store.db import Store\n",
        "mqttdesk/app.py": "import qasync\nfrom mqttdesk.gui import main_window\n",
        "mqttdesk/cli.py": "from mqttdesk.gui import main_window\nimport qasync\n",
    }
    for relative, source in files.items():
        _write(tmp_path, relative, source)
    return tmp_path


def test_checker_reports_file_line_and_import(fake_tree: Path) -> None:
    found = violations(scan(fake_tree))
    assert sorted(found) == sorted(
        [
            "mqttdesk/auth/__init__.py:1 imports mqttdesk.gui: nothing below gui/ imports gui/",
            "mqttdesk/auth/bad.py:2 imports amqtt.broker: mqttdesk runs no amqtt (it is a test and benchmark "
            "baseline only)",
            "mqttdesk/broker/bad.py:1 imports amqtt.broker.Broker: mqttdesk runs no amqtt (it is a test and "
            "benchmark baseline only)",
            "mqttdesk/auth/bad.py:3 imports mqttdesk.gui.models.users: nothing below gui/ imports gui/",
            "mqttdesk/cli.py:2 imports qasync: only gui/ (and app.py, which wires it) may use Qt or qasync",
            "mqttdesk/core/bad.py:1 imports sqlite3: core/ is pure (no Qt, qasync, asyncio, amqtt, sqlite3)",
            "mqttdesk/core/bad.py:2 imports mqttdesk.store.db: core/ imports nothing of ours outside core",
            "mqttdesk/core/bad.py:4 imports asyncio: core/ is pure (no Qt, qasync, asyncio, amqtt, sqlite3)",
            "mqttdesk/core/bad.py:7 imports mqttdesk.auth.pipeline.AuthPipeline: "
            "core/ imports nothing of ours outside core",
            "mqttdesk/store/bad.py:1 imports PySide6.QtCore.QObject: store/ uses neither Qt, qasync nor amqtt",
            "mqttdesk/store/up.py:1 imports mqttdesk.broker.router: store may not reach up to broker (layer order in "
            "docs/ARCHITECTURE.md)",
            "mqttdesk/commands/sideways.py:1 imports mqttdesk.gui.main_window: nothing below gui/ imports gui/",
            "mqttdesk/pki/bad.py:1 imports sqlite3: pki/ is pure (no Qt, qasync, asyncio, amqtt, sqlite3)",
            "mqttdesk/pki/bad.py:2 imports mqttdesk.store.db.Store: pki may not reach up to store (layer order in "
            "docs/ARCHITECTURE.md)",
            "mqttdesk/store/bad.py:1 imports PySide6.QtCore.QObject: "
            "only gui/ (and app.py, which wires it) may use Qt or qasync",
        ]
    )


def test_relative_imports_are_resolved(fake_tree: Path) -> None:
    targets = {(site.importer, site.target) for site in scan(fake_tree)}
    assert ("mqttdesk.core.good", "mqttdesk.core.topics") in targets
    assert ("mqttdesk.core.bad", "mqttdesk.store.db") in targets
