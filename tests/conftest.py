"""Fixtures shared by the unit, integration and GUI tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where a test's store lives (created on first use, as the app creates it)."""
    return tmp_path / "data"
