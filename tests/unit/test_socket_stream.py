"""`SocketStream`: a client's backlog is handed out in bites with a loop turn between them, by `read()` and by
delivery to callbacks (`deliver`), which also holds what arrives while the receiver is busy and ends once."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from mqttdesk.broker import transport
from mqttdesk.broker.transport import READ_CHUNK, READ_PAUSE, ListenerInfo, SocketStream, Stream, peer_address


class _Receiver:
    """A `transport.Receiver` made of two callables."""

    def __init__(self, received: Callable[[bytes], object], ended: Callable[[Exception | None], object]) -> None:
        self.bytes_received = received
        self.stream_ended = ended


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


def _stream() -> tuple[SocketStream, _Transport]:
    stream = SocketStream(lambda _stream: ListenerInfo("tcp", "tcp", "127.0.0.1", 1883), _no_handler)
    transport = _Transport()
    stream.connection_made(transport)
    return stream, transport


async def _no_handler(_stream: Stream) -> None:
    return None


def test_delivery_hands_over_what_came_before_then_each_arrival_and_the_end_once() -> None:
    async def run() -> list[object]:
        stream, _ = _stream()
        got: list[object] = []
        ended = asyncio.Event()
        first = asyncio.Event()

        def take(data: bytes) -> None:
            got.append(data)
            first.set()

        def end(error: Exception | None) -> None:
            got.append(("end", error))
            ended.set()

        stream.data_received(b"before")
        stream.deliver(_Receiver(take, end))
        await asyncio.wait_for(first.wait(), 1)
        stream.data_received(b"direct")
        stream.eof_received()
        stream.connection_lost(None)
        await asyncio.wait_for(ended.wait(), 1)
        return got

    assert asyncio.run(run()) == [b"before", b"direct", ("end", None)]


def test_delivery_comes_in_bites_with_other_callbacks_between_and_resumes_reading() -> None:
    async def run() -> tuple[list[int], list[str], bool, bool]:
        stream, transport = _stream()
        order: list[str] = []
        sizes: list[int] = []
        done = asyncio.Event()
        backlog = bytes(range(256)) * (READ_PAUSE // 256 + 1000)
        received = bytearray()

        def take(data: bytes) -> None:
            order.append("bite")
            sizes.append(len(data))
            received.extend(data)
            asyncio.get_running_loop().call_soon(order.append, "other")
            if len(received) == len(backlog):
                done.set()

        stream.deliver(_Receiver(take, lambda _error: None))
        stream.data_received(backlog)
        paused = transport.paused
        await asyncio.wait_for(done.wait(), 5)
        assert bytes(received) == backlog
        return sizes, order, paused, transport.paused

    sizes, order, paused_at_first, paused_at_end = asyncio.run(run())
    assert max(sizes) == READ_CHUNK
    assert order[:3] == ["bite", "other", "bite"]
    assert paused_at_first
    assert not paused_at_end


def test_a_held_stream_keeps_what_arrives_and_its_end_until_released() -> None:
    async def run() -> tuple[list[object], list[object]]:
        stream, _ = _stream()
        got: list[object] = []
        ended = asyncio.Event()

        def end(error: Exception | None) -> None:
            got.append(("end", error))
            ended.set()

        stream.deliver(_Receiver(got.append, end))
        stream.hold()
        stream.data_received(b"while busy")
        stream.connection_lost(ConnectionResetError("reset"))
        for _ in range(3):  # loop turns in which a drain would have run: nothing may be delivered
            await asyncio.sleep(0)
        while_held = list(got)
        stream.release()
        await asyncio.wait_for(ended.wait(), 1)
        return while_held, got

    while_held, got = asyncio.run(run())
    assert while_held == []
    assert got[0] == b"while busy"
    end = got[1]
    assert isinstance(end, tuple)
    assert end[0] == "end"
    assert isinstance(end[1], ConnectionResetError)


def test_peer_addresses_are_shared_and_what_is_remembered_of_them_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_HOSTS", {})
    monkeypatch.setattr(transport, "_HOSTS_KEPT", 2)
    first = peer_address(("".join(["10.0.0.", "1"]), 50001))  # built at run time: not the same object as below
    again = peer_address(("10.0.0.1", 50002))
    assert first == ("10.0.0.1", 50001)
    assert again[0] is first[0]
    assert peer_address(("fe80::1", 50003, 0, 2)) == ("fe80::1", 50003)  # IPv6's four-tuple
    assert peer_address(None) == ("", 0)
    peer_address(("10.0.0.3", 1))  # a third address: the table starts again instead of growing
    assert len(transport._HOSTS) <= 2


def test_what_is_at_hand_is_taken_once_but_never_before_a_tls_handshake_nor_more_than_a_bite() -> None:
    async def run() -> None:
        stream, transport = _stream()
        assert stream.take_at_hand() == b""  # nothing came yet
        stream.data_received(b"CON")
        stream.data_received(b"NECT")
        assert stream.take_at_hand() == b"CONNECT"
        assert stream.take_at_hand() == b""
        assert not stream.has_unread()

        flood, flooded = _stream()
        flood.data_received(b"x" * (READ_PAUSE + 1))  # paused, and more than one read's worth: `read` bites it
        assert flooded.paused
        assert flood.take_at_hand() == b""
        assert len(await flood.read()) == READ_CHUNK

        tls = SocketStream(lambda _stream: ListenerInfo("tls", "tls", "127.0.0.1", 8883), _no_handler,
                           context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
        tls.connection_made(_Transport())
        tls.data_received(b"\x16\x03\x01")  # a ClientHello is the handshake's to read
        assert tls.take_at_hand() == b""
        assert tls.has_unread()
        assert not transport.paused

    asyncio.run(run())
