"""Fixtures shared by the unit, integration and GUI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis's per-example deadline is a timed assertion: on a loaded 2-core machine (two test workers) an example
# can take longer than 200 ms for reasons that have nothing to do with the code under test.
settings.register_profile("mqttdesk", deadline=None)
settings.load_profile("mqttdesk")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where a test's store lives (created on first use, as the app creates it)."""
    return tmp_path / "data"
