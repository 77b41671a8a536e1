"""How times read in sentences."""

from __future__ import annotations

import time


def format_time(timestamp: float) -> str:
    """Local time to the minute, as people read it in a log sentence."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def format_clock(timestamp: float, now: float) -> str:
    """Local time to the second ("03:14:07"), with the date when it is not within the next or last 20 hours."""
    if abs(timestamp - now) < 20 * 3600:
        return time.strftime("%H:%M:%S", time.localtime(timestamp))
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
