"""How times read in sentences."""

from __future__ import annotations

import time


def format_time(timestamp: float) -> str:
    """Local time to the minute, as people read it in a log sentence."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
