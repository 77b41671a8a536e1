"""`mqttdesk --version`, and one line instead of Qt's abort when the window cannot open (run as a user would)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from mqttdesk import __version__
from mqttdesk.gui.qt_platform import XCB_PACKAGES, explain_missing, missing_library
from tests.integration.raw_mqtt import RawClient

REPO = Path(__file__).resolve().parents[2]


def run_mqttdesk(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("QT_QPA_PLATFORM", "DISPLAY",
                                                                                 "WAYLAND_DISPLAY")}
    environment.update(env, PYTHONPATH=str(REPO), MQTTDESK_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "mqttdesk", *args], env=environment, capture_output=True,
                          text=True, timeout=60, check=False)


def test_version_prints_the_version(data_dir: Path) -> None:
    done = run_mqttdesk(["--version"], data_dir)
    assert (done.returncode, done.stdout) == (0, f"mqttdesk {__version__}\n")


def test_a_platform_plugin_qt_cannot_load_is_one_line_suggesting_serve(data_dir: Path) -> None:
    done = run_mqttdesk([], data_dir, QT_QPA_PLATFORM="no-such-plugin")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("mqttdesk: error: the window cannot open: ")
    assert 'no-such-plugin' in done.stderr
    assert done.stderr.rstrip().endswith("run the broker without a window: mqttdesk serve")


def test_no_display_is_one_line_suggesting_serve(data_dir: Path) -> None:
    done = run_mqttdesk([], data_dir)
    if sys.platform.startswith("linux"):
        assert (done.returncode, done.stderr) == (
            1, "mqttdesk: error: no display to open the window on (DISPLAY is not set); run the broker without a "
               "window: mqttdesk serve\n")


def test_a_missing_xcb_library_names_its_debian_package() -> None:
    error = ("libxcb-icccm.so.4: cannot open shared object file: No such file or directory")
    assert missing_library(error) == "libxcb-icccm.so.4"
    assert missing_library("some other failure") is None
    line = explain_missing(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in line
    assert line.endswith("mqttdesk serve")
    assert XCB_PACKAGES["libxcb-cursor.so.0"] == "libxcb-cursor0"


def test_the_readme_names_every_package_the_xcb_plugin_needs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b(lib[a-z0-9.+-]*[0-9])\b", readme.split("## Quick start")[0].split("## Set up")[1]))
    assert set(XCB_PACKAGES.values()) <= named, set(XCB_PACKAGES.values()) - named


def test_the_window_app_serves_a_client_then_quits_cleanly_on_sigterm_and_keeps_its_window_state(
        data_dir: Path) -> None:
    assert run_mqttdesk(["config", "set", "listen.port", "0"], data_dir).returncode == 0
    environment = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    environment.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO), MQTTDESK_DATA_DIR=str(data_dir))
    process = subprocess.Popen([sys.executable, "-m", "mqttdesk"], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the broker listens, the window shown
        assert line.startswith("listening on 127.0.0.1:"), line
        port = int(line.split()[2].rsplit(":", 1)[1])
        # the window's own event loop (event_loop.SlicedEventLoop) answers a CONNECT (anonymous: refused, answered)
        with RawClient(port) as client:
            assert client.connect("window-loop-probe").return_code in (0, 5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (data_dir / "window.ini").is_file()  # saved on the way out
