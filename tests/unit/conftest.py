"""Fixtures for the unit tests: a real store in a temporary directory, and cheap password hashes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mqttdesk.store.db import Store
from tests.support import fast_hash


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = Store.open(data_dir)
    yield opened
    opened.close()


@pytest.fixture
def make_hash() -> Callable[[str], str]:
    """Cheap hashes (see tests/support.py)."""
    return fast_hash


@pytest.fixture
def pw_hash(make_hash: Callable[[str], str]) -> str:
    """A hash of the password "secret"."""
    return make_hash("secret")
