"""Fixtures for the unit tests: a real store in a temporary directory, and cheap password hashes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mqttdesk.core.passwords import hash_password
from mqttdesk.store.db import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = Store.open(data_dir)
    yield opened
    opened.close()


@pytest.fixture
def make_hash() -> Callable[[str], str]:
    """Hash with 1000 iterations: the default (210 000) is tested once in test_passwords.py, elsewhere it only costs."""

    def make(password: str) -> str:
        return hash_password(password, iterations=1000)

    return make


@pytest.fixture
def pw_hash(make_hash: Callable[[str], str]) -> str:
    """A hash of the password "secret"."""
    return make_hash("secret")
