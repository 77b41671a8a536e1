"""Small things every kind of test uses."""

from __future__ import annotations

import functools

from mqttdesk.core.passwords import hash_password

FAST_HASH_ITERATIONS = 1000  # the real default (210,000) is tested in tests/unit/test_passwords.py; elsewhere it costs

fast_hash = functools.partial(hash_password, iterations=FAST_HASH_ITERATIONS)
