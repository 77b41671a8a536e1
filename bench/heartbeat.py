"""A 20 ms QTimer that measures how late the Qt event loop runs it: the stall a user feels as a stuck window.

Each tick records (actual interval − 20 ms), clipped at 0, into the current phase. Only Qt is needed; it runs in
the GUI process (see `bench/gui_runner.py`).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer

from bench.stats import percentile

INTERVAL_MS = 20


class Heartbeat(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._last: float | None = None
        self._phase: str | None = None
        self.stalls: dict[str, list[float]] = {}  # phase -> stalls in ms

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def begin(self, phase: str) -> None:
        self._phase = phase
        self.stalls[phase] = []

    def end(self) -> None:
        self._phase = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None and self._phase is not None:
            self.stalls[self._phase].append(max(0.0, (now - self._last) * 1000 - INTERVAL_MS))
        self._last = now

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for phase, values in self.stalls.items():
            ordered = sorted(values)
            out[phase] = {
                "ticks": len(ordered),
                "p50_ms": round(percentile(ordered, 50), 2),
                "p99_ms": round(percentile(ordered, 99), 2),
                "max_ms": round(ordered[-1], 2) if ordered else 0.0,
                "over_50ms": sum(1 for v in ordered if v > 50),
            }
        return out
