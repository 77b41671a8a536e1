"""Which loop `serve --loop` means (broker/event_loops.py)."""

from __future__ import annotations

import asyncio

import pytest

from mqttdesk.broker import event_loops
from mqttdesk.core.errors import MqttdeskError


def _without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_loops, "uvloop_available", lambda: False)


def test_auto_is_uvloop_where_it_is_installed() -> None:
    assert event_loops.uvloop_available()  # a dependency of mqttdesk where it runs (not Windows)
    assert event_loops.resolve("auto") == "uvloop"
    loop = event_loops.loop_factory("auto")()
    try:
        assert event_loops.loop_name(loop) == "uvloop"
    finally:
        loop.close()


def test_auto_is_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_uvloop(monkeypatch)
    assert event_loops.resolve("auto") == "asyncio"
    assert event_loops.loop_factory("auto") is asyncio.new_event_loop


def test_asking_for_a_missing_uvloop_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_uvloop(monkeypatch)
    with pytest.raises(MqttdeskError, match=r"uvloop is not installed \(pip install uvloop, or --loop asyncio\)"):
        event_loops.resolve("uvloop")


def test_asyncio_is_asyncio_and_an_unknown_name_is_refused() -> None:
    loop = event_loops.loop_factory("asyncio")()
    try:
        assert event_loops.loop_name(loop) == "asyncio"
    finally:
        loop.close()
    with pytest.raises(MqttdeskError, match="unknown event loop 'trio'"):
        event_loops.resolve("trio")
