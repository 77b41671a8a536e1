"""`Stream`: the byte stream of one client connection, whatever carries it (TCP, TLS, WebSocket, WebSocket over TLS).

The connection code (CONNECT reading, `Connection`, and later a sans-I/O protocol core) sees only this: bytes in
with `read()`, bytes out with `write()`, and a few questions about the connection. MQTT over WebSocket is a byte
stream too: a packet may span several binary messages and one message may hold several packets, so the WebSocket
stream (websocket.py) hands out the bytes of its messages as they come and sends what is written as binary messages.
A TCP or TLS stream can also hand what arrives to callbacks instead of `read()` (`SocketStream.deliver`).

The interface, in full (see `Stream`):

    peer: tuple[str, int]                 the client's address and port
    listener: ListenerInfo                name, kind (tcp|tls|ws|wss) and bound (host, port) of the listener
    tls: TlsFacts | None                  TLS version, cipher and the client's certificate (subject, DER) if any
    async read() -> bytes                 what has arrived, up to 64 KiB (more: the loop runs first); b"" at the end
    write(data) -> None                   queue bytes for sending; never blocks
    write_buffer_size() -> int            bytes written but not yet handed to the kernel (a slow reader's backlog)
    is_closing() -> bool                  closed or being closed, by either side
    close() -> None                       close once what was written has been sent
    abort() -> None                       close now, dropping unsent bytes
    closed_by_peer() -> bool              the client has gone (FIN, reset or WebSocket close) - even with unread data
    has_unread() -> bool                  bytes have arrived that read() has not returned yet
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

from mqttdesk.broker.tls import TlsFacts, server_handshake

log = logging.getLogger(__name__)

READ_CHUNK = 65536
READ_PAUSE = 256 * 1024  # unread bytes at which a connection stops being read until its handler catches up
WEBSOCKET_CLOSE_TIMEOUT = 5.0  # here, not in websocket.py: the listeners wait this long without its library


@dataclass(frozen=True, slots=True)
class ListenerInfo:
    name: str  # e.g. "tcp", "tls", "ws", "wss"
    kind: str  # tcp | tls | ws | wss
    host: str
    port: int


Handler = Callable[["Stream"], Coroutine[Any, Any, None]]


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def socket_descriptor(transport: asyncio.BaseTransport) -> int:
    sock = transport.get_extra_info("socket")
    return int(sock.fileno()) if sock is not None else -1


class Stream(Protocol):
    """The byte stream of one client connection (module docstring: the interface in one table)."""

    peer: tuple[str, int]
    listener: ListenerInfo
    tls: TlsFacts | None

    async def handshake(self) -> None:
        """Finish what the transport needs before MQTT bytes flow (TLS: the handshake, after which `tls` is set).

        Raises `HandshakeFailed` with the reason in words; the caller closes the stream.
        """
    async def read(self) -> bytes:
        """What has arrived, as soon as some bytes are there; b"" once the client has closed its side."""
    def write(self, data: bytes) -> None:
        """Queue `data`; it is sent in order, as fast as the client takes it."""
    def write_buffer_size(self) -> int:
        """Bytes written and not yet handed to the kernel: how far behind the client is."""
    def is_closing(self) -> bool: ...
    def close(self) -> None:
        """Close after sending what was written."""
    def abort(self) -> None:
        """Close now; unsent bytes are dropped (a dead peer would otherwise hold the close for TCP's timeout)."""
    def closed_by_peer(self) -> bool:
        """The client has closed or reset its connection (asked while its CONNECT is decided)."""
    def has_unread(self) -> bool:
        """Bytes have arrived that `read()` has not returned yet (the client sent in time; we are behind)."""
    def descriptor(self) -> int:
        """The socket's file descriptor (-1 once closed): how close the process is to its limit."""


class Receiver(Protocol):
    """What `SocketStream.deliver` hands a connection's bytes, and then its end, to (`Connection`)."""

    def bytes_received(self, data: bytes) -> None: ...
    def stream_ended(self, error: Exception | None) -> None:
        """None: the client closed its side; else the error that ended the connection."""


_HOSTS: dict[str, str] = {}  # each peer address once (see `peer_address`)
_HOSTS_KEPT = 4096  # bounded, unlike sys.intern (its strings are immortal on Python 3.12)


def peer_address(peername: Any) -> tuple[str, int]:
    """(host, port) of a socket's peer name (IPv6's four-tuple too; ("", 0) when there is none). The clients behind
    one address (a gateway, a NAT, loopback) share one string of it."""
    if not peername:
        return ("", 0)
    host = str(peername[0])
    shared = _HOSTS.get(host)
    if shared is None:
        if len(_HOSTS) >= _HOSTS_KEPT:
            _HOSTS.clear()
        shared = _HOSTS[host] = host
    return (shared, int(peername[1]))


class SocketStream(asyncio.Protocol):
    """TCP, or TLS with `context`: accepted as TCP, then `handshake()` runs the TLS handshake on it.

    It is the connection's asyncio protocol itself rather than a StreamReader/StreamWriter pair: the broker only
    ever asks for "whatever has arrived", and the stream classes' buffering, limits and drain machinery cost a
    tenth of a sequential CONNECT. What is kept of them: reading pauses while more than `READ_PAUSE` bytes wait
    unread (a client flooding a connection whose handler is busy), and an error that ended the connection is
    raised by the next `read()` once the bytes before it are taken. After `deliver`, the same holds for the
    callbacks: bytes go to `received` as they come, and the end (with its error) once they are all handed over.
    """

    __slots__ = (
        "_buffered", "_chunks", "_context", "_drain_scheduled", "_eof", "_error", "_handler", "_held",
        "_listener_of", "_more", "_paused", "_receiver", "_task", "_transport", "_waiter", "listener", "peer", "tls"
    )

    def __init__(self, listener: Callable[[SocketStream], ListenerInfo], handler: Handler,
                 context: ssl.SSLContext | None = None) -> None:
        self._listener_of = listener
        self._handler = handler
        self._context = context
        self._transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        # what arrived and was not handed on yet; the shared empty tuple until then (an idle connection's empty
        # list was 56 bytes of it)
        self._chunks: list[bytes] | tuple[()] = ()
        self._buffered = 0
        self._paused = False
        self._more = False  # the last read() left bytes in the buffer
        self._eof = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # set by `deliver`: what arrives goes to it instead of waiting for read()
        self._receiver: Receiver | None = None
        self._held = False  # delivery paused by the receiver (a packet it handles is waiting)
        self._drain_scheduled = False
        self.peer: tuple[str, int] = ("", 0)
        self.listener: ListenerInfo = None  # type: ignore[assignment]  # set by connection_made
        self.tls: TlsFacts | None = None

    # -- asyncio.Protocol: called by the transport ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.peer = peer_address(transport.get_extra_info("peername"))
        self.listener = self._listener_of(self)
        if self._context is not None:  # the ClientHello is the TLS layer's to read (start_tls resumes reading)
            self._transport.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._handler(self))
        self._task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._task = None  # a connection served by callbacks outlives its handler task: let the task go
        if not task.cancelled() and task.exception() is not None:
            log.error("connection handler failed", exc_info=task.exception())

    def data_received(self, data: bytes) -> None:
        receiver = self._receiver
        chunks = self._chunks
        if receiver is not None and not self._held and not chunks and len(data) <= READ_CHUNK:
            receiver.bytes_received(data)  # the common case of a connection served by callbacks: straight through
            return
        if chunks:
            chunks.append(data)
        else:
            self._chunks = [data]
        self._buffered += len(data)
        # before the TLS handshake nothing more is read (uvloop starts reading once connection_made returns, even
        # when it paused reading; what came stays for the handshake: server_handshake's `early`)
        if not self._paused and (self._context is not None or self._buffered > READ_PAUSE):
            self._paused = True
            self._transport.pause_reading()
        if receiver is not None:
            self._schedule_drain()
        else:
            self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        self._schedule_drain()
        return self.tls is None  # plain TCP stays half-open so that what is pending still goes out

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake()
        self._schedule_drain()

    # -- delivery by callbacks ------------------------------------------------------------------

    def deliver(self, receiver: Receiver) -> None:
        """From now on hand what arrives to `receiver.bytes_received` as it comes (in bites of at most `READ_CHUNK`,
        with a loop turn between them) and the end of the stream, once, to `receiver.stream_ended` (None: the client
        closed; else the error), instead of waiting in read(). A connection served this way needs no task (see
        `Connection.serve`). (One object rather than two callbacks: two bound methods were 128 bytes of every
        idle client.)"""
        self._receiver = receiver
        self._schedule_drain()

    def hold(self) -> None:
        """Deliver nothing until `release()` (the receiver is busy with a packet; what arrives is buffered and
        reading pauses beyond `READ_PAUSE`)."""
        self._held = True

    def release(self) -> None:
        self._held = False
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if self._receiver is not None and not self._drain_scheduled and not self._held and (
                self._chunks or self._eof):
            self._drain_scheduled = True
            asyncio.get_running_loop().call_soon(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        receiver = self._receiver
        if self._held or receiver is None:
            return
        if self._chunks:
            data = self._take(min(self._buffered, READ_CHUNK))
            if self._paused and self._buffered <= READ_PAUSE:
                self._paused = False
                self._transport.resume_reading()
            receiver.bytes_received(data)
            self._schedule_drain()  # the next bite, or the end, after a loop turn
        elif self._eof:
            self._receiver = None  # the end is told once
            receiver.stream_ended(self._error)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- Stream -----------------------------------------------------------------------------------

    def sockname(self) -> tuple[str, int]:
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    async def handshake(self) -> None:
        context, self._context = self._context, None
        if context is None:
            return
        early = self._take(self._buffered) if self._chunks else b""
        self._transport, self.tls = await server_handshake(self._transport, self, context, early=early,
                                                           ended=self._eof)
        self._paused = False  # (the TLS transport reads)

    async def read(self) -> bytes:
        if self._more:  # the last read left bytes behind: the loop (timers, other clients, the window) goes first
            self._more = False
            await asyncio.sleep(0)
        while not self._chunks:
            if self._eof:
                error, self._error = self._error, None
                if error is not None:
                    raise error
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        if self._buffered <= READ_CHUNK:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._chunks = ()
            self._buffered = 0
        else:
            data = self._take(READ_CHUNK)
            self._more = True
        if self._paused and self._buffered <= READ_PAUSE:
            self._paused = False
            self._transport.resume_reading()
        return data

    def take_at_hand(self) -> bytes:
        """What has arrived, when it can be handed out now without waiting: b"" when nothing has, when a TLS
        handshake must read it first, or when it is more than one read's worth (`read` hands that out in bites)."""
        if self._context is not None or not self._chunks or self._buffered > READ_CHUNK or self._more:
            return b""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = ()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        return data

    def _take(self, limit: int) -> bytes:
        """The first `limit` bytes of what is buffered (a flooding client's backlog is handed out in bites, so
        that one read never holds the loop for more than `READ_CHUNK` bytes of packets)."""
        chunks = cast(list[bytes], self._chunks)  # (something is buffered: a list)
        taken: list[bytes] = []
        size = 0
        while size < limit:
            chunk = chunks[0]
            room = limit - size
            if len(chunk) <= room:
                taken.append(chunk)
                size += len(chunk)
                del chunks[0]
            else:
                taken.append(chunk[:room])
                chunks[0] = chunk[room:]
                size = limit
        self._buffered -= size
        if not chunks:
            self._chunks = ()
        return b"".join(taken)

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def descriptor(self) -> int:
        return socket_descriptor(self._transport)

    def write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size())

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())

    def close(self) -> None:
        self._transport.close()

    def abort(self) -> None:
        self._transport.abort()

    def closed_by_peer(self) -> bool:
        # a client that sent more bytes after its CONNECT and then closed has gone too, unread bytes or not
        return self._eof or bool(self._transport.is_closing())

    def has_unread(self) -> bool:
        return bool(self._chunks)
