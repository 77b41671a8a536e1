"""`SocketStream.read`: a client's backlog is handed out in bites with a loop turn between them."""

from __future__ import annotations

import asyncio
from typing import Any

from mqttdesk.broker.transport import READ_CHUNK, READ_PAUSE, ListenerInfo, SocketStream


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return False


def test_a_backlog_comes_in_bites_and_other_callbacks_run_between_them() -> None:
    async def run() -> tuple[list[int], list[str], bool, bool]:
        handled = asyncio.Event()
        stream = SocketStream(lambda _stream: ListenerInfo("tcp", "tcp", "127.0.0.1", 1883),
                              lambda _stream: handled.wait())
        transport = _Transport()
        stream.connection_made(transport)
        backlog = bytes(range(256)) * (READ_PAUSE // 256 + 1000)  # over the pause mark, in one arrival
        stream.data_received(backlog[:1000])
        stream.data_received(backlog[1000:])
        paused = transport.paused
        order: list[str] = []
        sizes: list[int] = []
        received = b""
        while len(received) < len(backlog):
            asyncio.get_running_loop().call_soon(order.append, "other")
            data = await stream.read()
            order.append("read")
            sizes.append(len(data))
            received += data
        handled.set()
        assert received == backlog
        return sizes, order, paused, transport.paused

    sizes, order, paused_at_first, paused_at_end = asyncio.run(run())
    assert max(sizes) == READ_CHUNK
    assert len(sizes) == -(-(READ_PAUSE + 256_000) // READ_CHUNK)
    assert order[:2] == ["read", "other"]
    assert order[2:4] == ["other", "read"]
    assert paused_at_first
    assert not paused_at_end
