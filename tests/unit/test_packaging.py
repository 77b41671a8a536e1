"""packaging/: the desktop entry and the AppStream metainfo name the same application and icon; the spec's files
exist; the smoke script passes against the source tree (the PyInstaller build itself is not run here: minutes)."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
APP_ID = "org.mqttdesk.mqttdesk"


def test_desktop_entry_and_metainfo_agree() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive
    entry.read(PACKAGING / f"{APP_ID}.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert (desktop["Type"], desktop["Exec"], desktop["Icon"]) == ("Application", "mqttdesk", APP_ID)
    component = ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()
    assert component.findtext("id") == APP_ID
    assert component.findtext("launchable") == f"{APP_ID}.desktop"
    assert component.findtext("provides/binary") == "mqttdesk"
    from mqttdesk import __version__

    assert component.find("releases/release").get("version") == __version__  # type: ignore[union-attr]


def test_the_icon_set_is_there() -> None:
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (PACKAGING / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").stat().st_size > 0
    assert (PACKAGING / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (PACKAGING / "icons" / "mqttdesk.ico").is_file()
    assert (PACKAGING / "icons" / "mqttdesk.icns").is_file()


def test_the_smoke_script_passes_against_the_source_tree() -> None:
    done = subprocess.run([sys.executable, str(PACKAGING / "smoke.py"), "--", sys.executable, "-m", "mqttdesk"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "a client connected, subscribed and got its message back" in done.stdout
    assert "stopped cleanly (exit 0)" in done.stdout


def test_the_version_is_the_projects() -> None:
    import tomllib

    from mqttdesk import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert __version__ == project["version"]
