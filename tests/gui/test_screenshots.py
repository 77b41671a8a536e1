"""The README's screenshots stay current: the script that takes them runs here, offscreen, in its fast mode, and
writes one PNG per tab of the real window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from mqttdesk.gui.main_window import TABS
from tests.gui.screenshots import shot_name
from tests.gui.tab_screenshots import SIZE

ROOT = Path(__file__).resolve().parents[2]


def test_the_screenshot_script_writes_one_png_per_tab(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    done = subprocess.run([sys.executable, "-m", "tests.gui.tab_screenshots", "--fast", str(out)], cwd=ROOT,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    wanted = sorted(shot_name(title) for title, _ in TABS)
    assert sorted(path.name for path in out.glob("*.png")) == wanted
    for name in wanted:
        image = QImage(str(out / name))
        assert (image.width(), image.height()) == SIZE, name


def test_the_readme_shows_the_screenshots_of_every_tab() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for title, _ in TABS:
        name = shot_name(title)
        assert f"docs/screenshots/{name}" in readme, name
        assert (ROOT / "docs" / "screenshots" / name).is_file(), name
