"""Suspend and resume: the event loop's clock jumps an hour ahead, as it does when the machine sleeps.

The instance runs on a loop whose clock the test moves (`JumpingLoop`): every keep-alive timer is then due at once.
A client that is alive (paho, pinging every 2 s) stays connected; a silent one is disconnected for its keep-alive,
but only a fresh keep-alive period after the resume, not at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.core.reasons import ReasonCode
from tests.integration.harness import Instance
from tests.integration.mqtt_client import TestClient
from tests.integration.raw_mqtt import RawClient

KEEPALIVE = 2  # seconds: the broker allows 1.5 × that of silence
JUMP = 3600.0
WAIT = 10.0


class JumpingLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock can be moved ahead, as a sleeping machine moves it."""

    offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset


class JumpingInstance(Instance):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.loop.close()
        self.loop = JumpingLoop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mqttdesk-instance", daemon=True)

    def jump(self, seconds: float) -> None:
        loop = self.loop
        assert isinstance(loop, JumpingLoop)

        def move() -> None:
            loop.offset += seconds

        self.call(move)


@pytest.fixture
def jumping(tmp_path: Path) -> Iterator[JumpingInstance]:
    instance = JumpingInstance(tmp_path / "data")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def _keepalive_ends(instance: Instance) -> list[str]:
    instance.flush_log()
    return [e.client_id for e in instance.call(instance.store.auth_log.recent, 200)
            if e.reason_code == ReasonCode.KEEPALIVE_TIMEOUT.value]


def test_after_a_jump_live_clients_stay_and_silent_ones_go_a_keepalive_later(jumping: JumpingInstance) -> None:
    alive = TestClient("alive", jumping.port, keepalive=KEEPALIVE)
    assert alive.connect() == 0
    silent = RawClient(jumping.port, name="silent", timeout=WAIT)
    assert silent.connect("silent", keep_alive=KEEPALIVE).return_code == 0
    silent.go_silent()
    try:
        jumped_at = time.monotonic()
        jumping.jump(JUMP)
        assert silent.wait_closed(WAIT)  # gone: it said nothing within a fresh 1.5 × keep-alive ...
        waited = time.monotonic() - jumped_at
        assert waited >= 1.5 * KEEPALIVE - 0.5, f"closed {waited:.1f} s after the jump: no fresh period was given"
        assert _keepalive_ends(jumping) == ["silent"]  # ... and the live one is still there
        assert alive.is_connected
        assert jumping.call(lambda: "alive" in jumping.service.registry)
        broker = jumping.service._broker
        assert broker is not None
        assert broker.clock_jumps is not None
        assert broker.clock_jumps.jumps == 1
    finally:
        alive.close()
        silent.close()


def test_without_a_jump_a_silent_client_still_times_out(jumping: JumpingInstance) -> None:
    with RawClient(jumping.port, name="quiet", timeout=WAIT) as quiet:
        assert quiet.connect("quiet", keep_alive=1).return_code == 0
        quiet.go_silent()
        assert quiet.wait_closed(WAIT)
    assert _keepalive_ends(jumping) == ["quiet"]
    broker = jumping.service._broker
    assert broker is not None
    assert broker.clock_jumps is not None
    assert broker.clock_jumps.jumps == 0
