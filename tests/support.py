"""Small things every kind of test uses."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from mqttdesk.core.passwords import DEFAULT_ITERATIONS, hash_password, verify_password

FAST_HASH_ITERATIONS = 1000  # the real default (210,000) is tested in tests/unit/test_passwords.py; elsewhere it costs

fast_hash = functools.partial(hash_password, iterations=FAST_HASH_ITERATIONS)


def costly_hash(seconds: float) -> tuple[Callable[[str], str], float]:
    """A hash function whose verification takes about `seconds` here and now, and what one verification took.

    For tests where the cost of PBKDF2 is the point (fairness under a flood of guesses) but 210,000 iterations
    would make them slow: the iteration count is scaled from a timed probe and kept within sane bounds.
    """
    probe_iterations = 20_000
    started = time.perf_counter()
    hash_password("probe", iterations=probe_iterations)
    elapsed = time.perf_counter() - started
    iterations = max(FAST_HASH_ITERATIONS, min(DEFAULT_ITERATIONS, int(probe_iterations * seconds / elapsed)))
    make = functools.partial(hash_password, iterations=iterations)
    encoded = make("timing")
    started = time.perf_counter()
    verify_password("timing", encoded)
    return make, time.perf_counter() - started
