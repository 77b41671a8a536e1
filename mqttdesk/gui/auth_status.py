"""The status bar's auth counters: "N refused in the last minute" (click: the Auth log, refusals only) and
"M forced disconnects today".

Both start from the store (`count_since`) and then follow the recorder's entries as they are stored. The minute
count also has to fall while nothing happens, so a single-shot timer is armed for the moment the oldest counted
refusal turns a minute old (and one for midnight): event-driven expiry, no polling.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from mqttdesk.gui.formatting import plural
from mqttdesk.gui.models.auth_log_model import OUTCOME_COLOR, Outcome
from mqttdesk.store.auth_log_repo import AuthLogEntry, LogFilter
from mqttdesk.store.db import Store

REFUSAL_KINDS = ("CONNECT", "SUBSCRIBE", "PUBLISH")
WINDOW_SECONDS = 60.0

Clock = Callable[[], float]


def is_refusal(entry: AuthLogEntry) -> bool:
    return not entry.allowed and entry.kind in REFUSAL_KINDS


def start_of_day(now: float) -> float:
    return datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class AuthCounters(QObject):
    changed = Signal()

    def __init__(self, store: Store, clock: Clock = time.time, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock
        now = clock()
        since = now - WINDOW_SECONDS
        recent = store.auth_log.count_since(since, kinds=REFUSAL_KINDS, allowed=False)
        entries = store.auth_log.query(LogFilter(allowed=False, kinds=REFUSAL_KINDS), limit=recent) if recent else []
        # (time, how many): a folded entry stands for several refusals, and arrives again as its count grows
        self._refusals: deque[tuple[float, int]] = deque(sorted((e.time, e.count) for e in entries if e.time >= since))
        self._refused = sum(count for _time, count in self._refusals)
        self._counted: dict[int, tuple[int, float]] = {e.id: (e.count, e.time) for e in entries}
        self._day = start_of_day(now)
        self.forced_today = store.auth_log.count_forced_since(self._day)
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self._expire)
        self._midnight = QTimer(self)
        self._midnight.setSingleShot(True)
        self._midnight.timeout.connect(self._new_day)
        self._arm_midnight(now)
        self._expire()

    @property
    def refused_last_minute(self) -> int:
        return self._refused

    def on_entries(self, entries: list[AuthLogEntry]) -> None:
        refused = [(entry.time, self._new_refusals(entry)) for entry in entries if is_refusal(entry)]
        forced = sum(1 for entry in entries if entry.forced_end and entry.time >= self._day)
        if not refused and not forced:
            return
        self._refusals.extend(item for item in refused if item[1] > 0)
        self._refused += sum(count for _time, count in refused)
        self.forced_today += forced
        self._expire()

    def _new_refusals(self, entry: AuthLogEntry) -> int:
        """How many refusals an entry adds: all of its count the first time, the growth of a folded one after."""
        seen, _time = self._counted.get(entry.id, (0, 0.0))
        self._counted[entry.id] = (entry.count, entry.time)
        return max(entry.count - seen, 0)

    def _expire(self) -> None:
        now = self._clock()
        while self._refusals and self._refusals[0][0] < now - WINDOW_SECONDS:
            self._refused -= self._refusals.popleft()[1]
        if len(self._counted) > 1024:  # a fold grows for at most a minute: older ids will not come again
            self._counted = {key: value for key, value in self._counted.items()
                             if value[1] >= now - 3 * WINDOW_SECONDS}
        if self._refusals:
            due = self._refusals[0][0] + WINDOW_SECONDS - now
            self._expiry.start(max(10, int(due * 1000) + 10))
        else:
            self._expiry.stop()
        self.changed.emit()

    def _arm_midnight(self, now: float) -> None:
        tomorrow = datetime.fromtimestamp(self._day) + timedelta(days=1)
        self._midnight.start(max(1000, int((tomorrow.timestamp() - now) * 1000)))

    def _new_day(self) -> None:
        now = self._clock()
        self._day = start_of_day(now)
        self.forced_today = self._store.auth_log.count_forced_since(self._day)
        self._arm_midnight(now)
        self.changed.emit()


class AuthStatusWidgets:
    """The two status bar widgets over `AuthCounters`; `refused_button` is flat, but a button (so it can be clicked
    and reached with the keyboard)."""

    def __init__(self, counters: AuthCounters, open_refusals: Callable[[], None], parent: QWidget | None = None
                 ) -> None:
        self.counters = counters
        self.refused_button = QPushButton(parent)
        self.refused_button.setFlat(True)
        self.refused_button.setToolTip("Refused CONNECT, SUBSCRIBE and PUBLISH decisions in the last 60 seconds; "
                                       "click to see every refusal in the Auth log")
        self.refused_button.clicked.connect(open_refusals)
        self.forced_label = QLabel(parent)
        self.forced_label.setToolTip("Sessions the broker ended today: kicked, or ended because their credential "
                                     "was suspended, revoked, deleted or got a new password")
        counters.changed.connect(self.update)
        self.update()

    def update(self) -> None:
        refused = self.counters.refused_last_minute
        self.refused_button.setText(f"{refused} refused in the last minute")
        color = OUTCOME_COLOR[Outcome.REFUSED] if refused else "palette(window-text)"
        self.refused_button.setStyleSheet(f"QPushButton {{ color: {color}; padding: 0 6px; border: none;"
                                          f" font-weight: {600 if refused else 400}; }}")
        self.forced_label.setText(plural(self.counters.forced_today, "forced disconnect") + " today")
