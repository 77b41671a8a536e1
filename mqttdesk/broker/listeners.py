"""The broker's listeners: TCP, TLS (our own handshake), WebSocket and WebSocket over TLS, each feeding a `Stream`.

All of them hand every connection to one handler, `async handler(stream)`, and know nothing of MQTT.

- TCP: asyncio's server with a long kernel queue and short accept bites (see `_long_backlog`).
- TLS: accepted as plain TCP; the handler then runs the handshake itself (`Stream.handshake()`, under the same
  caps and deadline as a socket waiting for its CONNECT), so that a failed one is not just a line in asyncio's
  debug log but a refused CONNECT in the Auth log, in words (see tls.py).
- WebSocket: the `websockets` library's server, path `/mqtt` only (others: HTTP 404) and the `mqtt` subprotocol
  only (MQTT 3.1.1's name; "mqttv3.1" clients speak MQTT 3.1, which the broker does not support anyway: HTTP 400).
  Over TLS (`wss`) the library runs the handshake with the same certificate; a failed one there is only logged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from http import HTTPStatus

from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mqttdesk.broker.tls import HANDSHAKE_TIMEOUT, tls_facts
from mqttdesk.broker.transport import Handler, ListenerInfo, SocketStream, WebSocketStream

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 4096
ACCEPTS_PER_WAKEUP = 16
WEBSOCKET_PATH = "/mqtt"
WEBSOCKET_SUBPROTOCOL = "mqtt"
WEBSOCKET_MAX_MESSAGE = 16 * 1024 * 1024 + 16  # the largest packet the broker accepts, in one message
WEBSOCKET_CLOSE_TIMEOUT = 5.0

@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str
    kind: str  # tcp | tls | ws | wss
    host: str
    port: int



def _long_backlog(server: asyncio.Server) -> None:
    # asyncio uses one number both as the kernel's listen queue and as how many connections it accepts in one
    # callback. A queue of 100 dropped SYNs in a 1,000-device storm (devices retried a second later); accepting
    # 1,000 in one callback froze the window for 80 ms. So: a long queue, short bites.
    for sock in server.sockets:
        with socket.socket(fileno=os.dup(sock.fileno())) as listening:
            listening.listen(LISTEN_BACKLOG)


class Listeners:
    """The running listeners of one broker: start them one by one, ask where they listen, close them all."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._infos: dict[tuple[str, tuple[str, int]], ListenerInfo] = {}
        self._servers: list[tuple[ListenerSpec, asyncio.Server | WebSocketServer]] = []

    async def start(self, spec: ListenerSpec, context: ssl.SSLContext | None = None) -> None:
        """Bind and listen; OSError when the address cannot be bound (the caller explains it)."""
        host = spec.host.strip("[]")  # IPv6 literals may come with their brackets
        server: asyncio.Server | WebSocketServer
        if spec.kind in ("tcp", "tls"):
            tls = context if spec.kind == "tls" else None
            listener_of = functools.partial(self._info, spec)
            server = await asyncio.get_running_loop().create_server(
                lambda: SocketStream(listener_of, self._handler, tls), host, spec.port, reuse_address=True,
                backlog=ACCEPTS_PER_WAKEUP)
            _long_backlog(server)
        elif spec.kind in ("ws", "wss"):
            server = await serve(
                functools.partial(self._websocket_connected, spec=spec), host, spec.port,
                ssl=context if spec.kind == "wss" else None, subprotocols=[WEBSOCKET_SUBPROTOCOL],  # type: ignore[list-item]
                process_request=_check_websocket_request, compression=None, max_size=WEBSOCKET_MAX_MESSAGE,
                ping_interval=None,  # MQTT's keep-alive watches the connection
                open_timeout=HANDSHAKE_TIMEOUT, close_timeout=WEBSOCKET_CLOSE_TIMEOUT, reuse_address=True,
                backlog=ACCEPTS_PER_WAKEUP, logger=log)
        else:
            raise ValueError(f"unknown listener kind {spec.kind!r}")
        self._servers.append((spec, server))

    def bound(self) -> list[ListenerInfo]:
        """Every (name, kind, host, port) actually listened on (port 0 becomes the real port here)."""
        bound: list[ListenerInfo] = []
        for spec, server in self._servers:
            for sock in server.sockets or ():
                host, port = sock.getsockname()[:2]
                bound.append(ListenerInfo(spec.name, spec.kind, host, port))
        return bound

    def stop_accepting(self) -> None:
        """Close the listening sockets; connections already served are the broker's to end."""
        for _, server in self._servers:
            if isinstance(server, WebSocketServer):
                server.close(close_connections=False)
            else:
                server.close()

    async def close(self) -> None:
        """Stop accepting and wait until the WebSocket servers are down."""
        self.stop_accepting()
        for _, server in self._servers:
            if isinstance(server, WebSocketServer):
                await server.wait_closed()
        self._servers.clear()

    def _info(self, spec: ListenerSpec, stream: SocketStream) -> ListenerInfo:
        # the address the client reached (a wildcard listener has several): one record per address, not per socket
        address = stream.sockname()
        info = self._infos.get((spec.name, address))
        if info is None:
            info = self._infos[(spec.name, address)] = ListenerInfo(spec.name, spec.kind, *address)
        return info

    async def _websocket_connected(self, connection: ServerConnection, *, spec: ListenerSpec) -> None:
        host, port = connection.local_address[:2]
        info = ListenerInfo(spec.name, spec.kind, host, port)
        tls = tls_facts(connection.transport.get_extra_info("ssl_object")) if spec.kind == "wss" else None
        stream = WebSocketStream(connection, info, tls)
        try:
            await self._handler(stream)
        finally:
            await stream.finished(WEBSOCKET_CLOSE_TIMEOUT)


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
