"""MQTT over WebSocket, plain (`ws`) and over TLS (`wss`): the connection from the accepted socket to its stream.

The `websockets` library's own server runs the TLS handshake inside `serve(ssl=...)`, before any code of ours sees
the connection: a failed one was a line in its log, and nothing in the Auth log. So, as the `tls` listener does, the
listener accepts plain TCP (`HeldSocket`) and hands it to the broker as a `WebSocketUpgrade` stream whose
`handshake()` — run by the broker under the caps and the deadline of sockets that have not sent their CONNECT —
does the TLS handshake itself (`loop.start_tls`, failures in words as `HandshakeFailed`: a refused CONNECT in the
Auth log) and then the WebSocket opening handshake, with the library's sans-I/O protocol and its `ServerConnection`
over the transport we upgraded. After that the stream is the connection's `WebSocketStream` (below).

The opening handshake: path `/mqtt` only (others: HTTP 404) and the `mqtt` subprotocol only (MQTT 3.1.1's name;
"mqttv3.1" clients speak MQTT 3.1, which the broker does not support anyway: HTTP 400). A refused or broken one
ends the connection as a `ConnectionError` (no Auth log entry: nothing of MQTT or TLS went wrong).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import cast

from websockets.asyncio.connection import Connection as WebSocketConnection
from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol as WebSocketProtocol
from websockets.typing import Subprotocol

from mqttdesk.broker.tls import TlsFacts, server_handshake
from mqttdesk.broker.transport import READ_CHUNK, WEBSOCKET_CLOSE_TIMEOUT, ListenerInfo, peer_address, socket_descriptor

log = logging.getLogger(__name__)

WEBSOCKET_PATH = "/mqtt"
WEBSOCKET_SUBPROTOCOL = "mqtt"
WEBSOCKET_MAX_MESSAGE = 16 * 1024 * 1024 + 16  # the largest packet the broker accepts, in one message


def websocket_server() -> WebSocketServer:
    """The library's `Server` for our connections: what a `ServerConnection` asks of it during the opening handshake
    (a server that is closing answers 503) and the listening socket's life (`wrap` it around the asyncio server).
    It never runs a connection itself: the broker does (`WebSocketUpgrade`)."""
    return WebSocketServer(_not_used, logger=log)


async def _not_used(connection: ServerConnection) -> None:
    raise AssertionError("WebSocket connections are run by the broker, not by the websockets Server")


class HeldSocket(asyncio.Protocol):
    """An accepted TCP connection, held until the broker admits it and runs its handshakes.

    Nothing is read before that (reading is paused: a socket over the caps is closed unread); what arrives between
    the TLS and the WebSocket handshake waits here and goes to the WebSocket connection with the transport.
    """

    def __init__(self, accepted: Callable[[HeldSocket], None]) -> None:
        self._accepted = accepted
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False
        self._holding = True  # until the TLS handshake or the WebSocket connection takes the bytes over
        self.lost = False

    def has_unread(self) -> bool:
        return bool(self._buffer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.transport.pause_reading()
        self._accepted(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self.transport is not None and self._holding:
            # uvloop reads once connection_made returns, whatever it paused: a held socket reads one bite at most
            # (the TCP transport's: once TLS runs over it, start_tls pauses and resumes it itself)
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        self._eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def take_early(self) -> tuple[bytes, bool]:
        """What came before the TLS handshake and whether the end came too, for `server_handshake` (only uvloop
        reads that early)."""
        self._holding = False
        early, ended = bytes(self._buffer), self._eof
        self._buffer.clear()
        self._eof = False
        return early, ended

    def hand_over(self, protocol: WebSocketConnection, transport: asyncio.Transport) -> None:
        """`protocol` takes over `transport` (the TCP one, or the TLS one over it) and what was held for it."""
        self._holding = False
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._buffer:
            protocol.data_received(bytes(self._buffer))
            self._buffer.clear()
        if self._eof:
            protocol.eof_received()
        transport.resume_reading()


class _BrokerRunConnection(ServerConnection):
    """A `ServerConnection` the broker runs itself: not registered with the library's `Server`, which would start
    its own handler task for it (handshake, handler, close) instead of ours."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        WebSocketConnection.connection_made(self, transport)


class WebSocketUpgrade:
    """A connection on a `ws` or `wss` listener: a `Stream` whose `handshake()` runs TLS (wss) and the WebSocket
    opening handshake, and which is the connection's `WebSocketStream` after that (module docstring)."""

    def __init__(self, held: HeldSocket, listener: ListenerInfo, context: ssl.SSLContext | None,
                 server: WebSocketServer) -> None:
        assert held.transport is not None
        self._held = held
        self._transport: asyncio.Transport = held.transport
        self._context = context
        self._server = server
        self._ws: WebSocketStream | None = None
        self.peer: tuple[str, int] = peer_address(self._transport.get_extra_info("peername"))
        self.listener = listener
        self.tls: TlsFacts | None = None

    async def handshake(self) -> None:
        if self._context is not None:
            await self._start_tls(self._context)
        if self._held.lost:
            raise ConnectionResetError("the client closed the connection before its WebSocket handshake")
        connection = _BrokerRunConnection(
            WebSocketProtocol(subprotocols=[Subprotocol(WEBSOCKET_SUBPROTOCOL)], max_size=WEBSOCKET_MAX_MESSAGE,
                              logger=log),
            self._server, ping_interval=None,  # MQTT's keep-alive watches the connection
            close_timeout=WEBSOCKET_CLOSE_TIMEOUT)
        self._held.hand_over(connection, self._transport)
        try:
            await connection.handshake(_check_websocket_request)
        except (WebSocketException, OSError) as exc:
            raise ConnectionAbortedError(f"WebSocket opening handshake failed: {exc}") from None
        if connection.protocol.state is not State.OPEN:
            status = connection.response.status_code if connection.response is not None else "error"
            raise ConnectionAbortedError(f"WebSocket opening handshake refused with HTTP {status}")
        self._ws = WebSocketStream(connection, self.listener, self.tls)

    def descriptor(self) -> int:
        return socket_descriptor(self._transport)

    async def _start_tls(self, context: ssl.SSLContext) -> None:
        """Our own TLS handshake, as `SocketStream.handshake` does it for the `tls` listener."""
        early, ended = self._held.take_early()
        self._transport, self.tls = await server_handshake(self._transport, self._held, context,
                                                           shutdown_timeout=WEBSOCKET_CLOSE_TIMEOUT,
                                                           early=early, ended=ended)

    def _open(self) -> WebSocketStream:
        if self._ws is None:
            raise ConnectionAbortedError("the WebSocket handshake has not been done")
        return self._ws

    async def read(self) -> bytes:
        return await self._open().read()

    def write(self, data: bytes) -> None:
        self._open().write(data)

    def write_buffer_size(self) -> int:
        return self._ws.write_buffer_size() if self._ws is not None else 0

    def is_closing(self) -> bool:
        return self._ws.is_closing() if self._ws is not None else self._transport.is_closing()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        else:
            self._transport.close()  # after an HTTP refusal: it is sent first

    def abort(self) -> None:
        if self._ws is not None:
            self._ws.abort()
        else:
            self._transport.abort()

    def closed_by_peer(self) -> bool:
        if self._ws is not None:
            return self._ws.closed_by_peer()
        return self._held.lost or self._transport.is_closing()

    def has_unread(self) -> bool:
        # before the upgrade, what HeldSocket holds is the HTTP request: in time, and ours to get to
        return self._ws.has_unread() if self._ws is not None else self._held.has_unread()

    async def finished(self, grace: float) -> None:
        """Wait (at most `grace` seconds) for the last bytes and the close frame; the listener awaits this."""
        if self._ws is not None:
            await self._ws.finished(grace)
        elif not self._transport.is_closing():
            self._transport.abort()


def _check_websocket_request(connection: ServerConnection, request: Request) -> Response | None:
    """Only `/mqtt`, and only clients that speak the `mqtt` subprotocol; anything else gets an HTTP error."""
    if request.path.split("?", 1)[0] != WEBSOCKET_PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, f"MQTT over WebSocket is served at {WEBSOCKET_PATH}\n")
    offered = _subprotocols(request.headers)
    if WEBSOCKET_SUBPROTOCOL not in offered:
        return connection.respond(HTTPStatus.BAD_REQUEST,
                                  f"MQTT over WebSocket needs the '{WEBSOCKET_SUBPROTOCOL}' subprotocol "
                                  "(MQTT 3.1.1)\n")
    return None


def _subprotocols(headers: Headers) -> list[str]:
    return [name.strip() for value in headers.get_all("Sec-WebSocket-Protocol") for name in value.split(",")]


class WebSocketStream:
    """MQTT over a websockets server connection: binary messages in and out, as one byte stream.

    Writes go through one sender task that awaits `ServerConnection.send`, so the library's flow control applies
    (it waits while the socket's buffer is above its high-water mark); until then the bytes wait here and count in
    `write_buffer_size()`. A text message is a protocol violation for MQTT over WebSocket: the connection is
    closed (1003).
    """

    def __init__(self, connection: ServerConnection, listener: ListenerInfo, tls: TlsFacts | None = None) -> None:
        self._ws = connection
        self.peer: tuple[str, int] = peer_address(connection.remote_address)
        self.listener = listener
        self.tls = tls
        self._received = bytearray()
        self._outgoing = bytearray()
        self._wake = asyncio.Event()
        self._closing = False
        self._ended = False  # the client's side ended (close frame, EOF, text frame)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop(), name="mqttdesk-ws-sender")

    async def handshake(self) -> None:
        """Nothing left to do: `WebSocketUpgrade` (websocket.py) made this stream after the TLS (wss) and WebSocket
        handshakes."""

    async def _next_message(self) -> bool:
        if self._ended:
            return False
        try:
            message = await self._ws.recv()
        except ConnectionClosed:
            self._ended = True
            return False
        if isinstance(message, str):
            log.info("closing the WebSocket of %s:%d: a text message (MQTT uses binary ones)", *self.peer)
            self._ended = True
            self._closing = True
            await self._ws.close(1003, "MQTT over WebSocket uses binary messages")
            return False
        self._received += message
        return True

    async def read(self) -> bytes:
        while not self._received:
            if not await self._next_message():
                return b""
        data = bytes(self._received[:READ_CHUNK])
        del self._received[:READ_CHUNK]
        return data

    async def readexactly(self, count: int) -> bytes:
        while len(self._received) < count:
            if not await self._next_message():
                partial = bytes(self._received)
                self._received.clear()
                raise asyncio.IncompleteReadError(partial, count)
        data = bytes(self._received[:count])
        del self._received[:count]
        return data

    def write(self, data: bytes) -> None:
        if self._closing:
            return
        self._outgoing += data
        self._wake.set()

    def write_buffer_size(self) -> int:
        transport = self._ws.transport
        return len(self._outgoing) + (transport.get_write_buffer_size() if transport is not None else 0)

    def is_closing(self) -> bool:
        return self._closing or self._ws.state is not State.OPEN

    def close(self) -> None:
        self._closing = True
        self._wake.set()  # the sender sends what is left, then the close frame

    def abort(self) -> None:
        self._closing = True
        self._outgoing.clear()
        self._ended = True
        self._sender.cancel()
        if self._ws.transport is not None:
            self._ws.transport.abort()

    def closed_by_peer(self) -> bool:
        transport = self._ws.transport
        return self._ended or self._ws.state in (State.CLOSING, State.CLOSED) or (
            transport is not None and transport.is_closing())

    def has_unread(self) -> bool:
        # only what this stream holds: messages still inside the websockets connection are not counted
        return bool(self._received)

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outgoing:
                    data = bytes(self._outgoing)
                    self._outgoing.clear()
                    await self._ws.send(data)
                if self._closing:
                    await self._ws.close()
                    return
        except (ConnectionClosed, OSError) as exc:  # the client went: nobody is left to send to
            log.debug("WebSocket sender for %s:%d ended with %r", *self.peer, exc)
            self._outgoing.clear()

    async def finished(self, grace: float) -> None:
        """Wait (at most `grace` seconds) for the last bytes and the close frame to go out; the listener awaits this."""
        self.close()
        done, _ = await asyncio.wait({self._sender}, timeout=grace)
        if not done:
            self.abort()
        await asyncio.gather(self._sender, return_exceptions=True)
