"""PySide6 6.12.0 on Python < 3.12 drops references to None/True (PYSIDE-3474); the GUI package guards against it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from mqttdesk.gui.pyside_refcount_guard import needs_protection, protect_singletons

_MANY_QT_CALLS = textwrap.dedent(
    """
    import os
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import mqttdesk.gui
    from PySide6.QtCore import QCoreApplication, QObject, QStringListModel
    app = QCoreApplication([])
    model, obj = QStringListModel(), QObject()
    for _ in range(50_000):
        obj.setObjectName("x")  # returns nothing: dropped a reference to None on the affected versions
        model.layoutChanged.emit()  # dropped a reference to True
    print("survived")
    """
)


def test_the_guard_is_applied_where_needed() -> None:
    assert protect_singletons() is needs_protection()


def test_a_long_session_of_qt_calls_does_not_abort_the_interpreter() -> None:
    result = subprocess.run([sys.executable, "-c", _MANY_QT_CALLS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived"
