"""Whether Qt can open a window here, said in one line instead of Qt's abort.

Qt ends the process (qFatal, then abort) when its platform plugin cannot be loaded or the display cannot be reached,
after several lines of advice about plugins that mean nothing to someone who just ran `mqttdesk`. Two guards:

- before the QApplication: on Linux with the xcb plugin, load the plugin with the dynamic linker to learn which
  system libraries it misses, and name the Debian packages that bring them (`XCB_PACKAGES`, checked with `ldd` on the
  libqxcb.so PySide6 ships);
- around the QApplication: a Qt message handler turns a fatal message into one `mqttdesk: error:` line and exit 1.

Both suggest `mqttdesk serve`, the same broker without a window.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from mqttdesk.core.errors import MqttdeskError

HEADLESS_HINT = "run the broker without a window: mqttdesk serve"

# every system library libqxcb.so (PySide6 6.11/6.12) and libQt6XcbQpa.so.6 need, by soname, and its Debian package
XCB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
}

_MISSING = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


def missing_library(loader_error: str) -> str | None:
    """The soname a dynamic linker error names as missing ("libxcb-icccm.so.4: cannot open shared object file…")."""
    found = _MISSING.search(loader_error)
    return found.group(1) if found else None


def unloadable(sonames: list[str]) -> list[str]:
    """Those of `sonames` the dynamic linker cannot load here (the loader names only the first one it misses)."""
    missing = []
    for soname in sonames:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def explain_missing(sonames: list[str]) -> str:
    """One sentence: which libraries are missing and the `apt-get install` line that brings them."""
    packages = sorted({XCB_PACKAGES[soname] for soname in sonames if soname in XCB_PACKAGES})
    install = f"sudo apt-get install {' '.join(packages)}" if packages else "install the packages that have them"
    return (f"the window cannot open: Qt's xcb plugin needs the system libraries {', '.join(sonames)}: {install} "
            f"(the README lists what Qt needs), or {HEADLESS_HINT}")


def _platform_name() -> str:
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    return chosen.split(":", 1)[0].split(";", 1)[0].strip()


def _xcb_plugin() -> Path | None:
    from PySide6.QtCore import QLibraryInfo

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def check_platform() -> None:
    """Raise MqttdeskError, in one line, when the window cannot open here (Linux; elsewhere Qt's guard serves)."""
    if not sys.platform.startswith("linux"):
        return
    platform = _platform_name()
    if platform and platform != "xcb":
        return  # wayland, offscreen, vnc…: Qt's own failure is caught by `fatal_messages_as_errors`
    if not platform and os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return  # Qt picks its Wayland plugin
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise MqttdeskError(f"no display to open the window on (DISPLAY is not set); {HEADLESS_HINT}")
    plugin = _xcb_plugin()
    if plugin is None:
        return
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        soname = missing_library(str(exc))
        # a frozen build's loader says "not found when the application was frozen" instead: ask library by library
        missing = [soname] if soname is not None else []
        missing += unloadable([name for name in XCB_PACKAGES if name != soname])
        if missing:
            raise MqttdeskError(explain_missing(missing)) from None
        raise MqttdeskError(f"the window cannot open: Qt's xcb plugin cannot be loaded ({exc}); {HEADLESS_HINT}"
                            ) from None


@contextlib.contextmanager
def fatal_messages_as_errors() -> Iterator[None]:
    """While Qt sets up its platform: a fatal Qt message becomes one line on stderr and exit status 1."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    seen: list[str] = []

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind is not QtMsgType.QtFatalMsg:
            seen.append(message)  # Qt's advice before the fatal line: kept for the one line, not printed
            return
        first = next((line for line in seen if line.strip()), message).strip().splitlines()[0]
        print(f"mqttdesk: error: the window cannot open: {first.rstrip('.')}; {HEADLESS_HINT}",
              file=sys.stderr, flush=True)
        os._exit(1)  # Qt aborts right after the handler returns: leave first, with our status

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)
        for message in seen:
            print(message, file=sys.stderr)
