"""PySide6 6.12.0 on Python < 3.12 drops a reference to None on every Qt call that returns nothing, and one to
True on every signal emit (upstream PYSIDE-3474): the interpreter aborts after a few thousand calls. pyproject.toml
therefore installs PySide6 6.11 on Python 3.11. This test fails loudly if a broken combination is ever installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_MANY_QT_CALLS = textwrap.dedent(
    """
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QCoreApplication, QObject, QStringListModel
    app = QCoreApplication([])
    model, obj = QStringListModel(), QObject()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(50_000):
        obj.setObjectName("x")  # returns nothing
        model.layoutChanged.emit()
    print(sys.getrefcount(None) - none_before, sys.getrefcount(True) - true_before)
    """
)


def test_qt_calls_do_not_leak_or_drop_references_to_none_and_true() -> None:
    result = subprocess.run([sys.executable, "-c", _MANY_QT_CALLS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    none_drift, true_drift = (int(value) for value in result.stdout.split())
    # immortal objects (3.12+) report a constant; on 3.11 a correct binding leaves the counts where they were
    assert abs(none_drift) < 1000
    assert abs(true_drift) < 1000
