"""`mqttdesk serve` settles the garbage collector once it listens: start-up's objects frozen, and young objects looked
at after HEADLESS_YOUNG_THRESHOLD new ones instead of Python's 700 (see mqttdesk/app.py for why)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk import app
from mqttdesk.broker.service import ListenerOverrides


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The collector as the test found it: its thresholds, and nothing frozen if nothing was."""
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    yield
    if not frozen:
        gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settling_freezes_start_up_and_sets_only_the_young_threshold(collector_restored: None) -> None:
    gc.set_threshold(700, 11, 12)
    kept = [[index] for index in range(1000)]  # container objects that exist "at start-up"
    app._settle_garbage_collector(young_threshold=5_000)
    assert gc.get_threshold() == (5_000, 11, 12)
    assert not any(tracked is kept[0] for tracked in gc.get_objects())  # (frozen objects are not listed there)


def test_settling_without_a_threshold_leaves_the_thresholds(collector_restored: None) -> None:
    gc.set_threshold(700, 10, 10)
    app._settle_garbage_collector()
    assert gc.get_threshold() == (700, 10, 10)


def test_serve_settles_the_collector_with_the_headless_threshold_once_it_listens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector_restored: None) -> None:
    stop = asyncio.Event()
    asked: list[int | None] = []

    def settle(young_threshold: int | None = None) -> None:
        asked.append(young_threshold)
        stop.set()  # listening, and settled: the test has seen what it came for

    monkeypatch.setattr(app, "_settle_garbage_collector", settle)
    overrides = ListenerOverrides(host="127.0.0.1", port=0)
    code = asyncio.run(asyncio.wait_for(app.serve(tmp_path / "data", overrides, stop), timeout=30))
    assert code == 0
    assert asked == [app.HEADLESS_YOUNG_THRESHOLD]
    assert app.HEADLESS_YOUNG_THRESHOLD == 10_000
