"""The broker's listeners: TCP, TLS (our own handshake), WebSocket and WebSocket over TLS, each feeding a `Stream`.

All of them hand every connection to one handler, `async handler(stream)`, and know nothing of MQTT.

- TCP: asyncio's server with a long kernel queue and short accept bites (see `_long_backlog`).
- TLS: accepted as plain TCP; the handler then runs the handshake itself (`Stream.handshake()`, under the same
  caps and deadline as a socket waiting for its CONNECT), so that a failed one is not just a line in asyncio's
  debug log but a refused CONNECT in the Auth log, in words (see tls.py).
- WebSocket, plain and over TLS (`wss`): accepted as plain TCP too; the handler's `Stream.handshake()` runs the
  TLS handshake (wss, the same certificate) and then the WebSocket one, under the same caps and deadline, so that a
  failed TLS handshake is in the Auth log as on the `tls` listener (see websocket.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from mqttdesk.broker.tls import ContextHolder, current_context
from mqttdesk.broker.transport import WEBSOCKET_CLOSE_TIMEOUT, Handler, ListenerInfo, SocketStream

if TYPE_CHECKING:
    from websockets.asyncio.server import Server as WebSocketServer

    from mqttdesk.broker.websocket import HeldSocket, WebSocketUpgrade

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 4096
ACCEPTS_PER_WAKEUP = 16


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str
    kind: str  # tcp | tls | ws | wss
    host: str
    port: int

    @property
    def websocket(self) -> bool:
        return self.kind in ("ws", "wss")



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
        self._websocket_tasks: set[asyncio.Task[None]] = set()  # one per WebSocket connection, until it is closed

    async def start(self, spec: ListenerSpec, context: ssl.SSLContext | ContextHolder | None = None) -> None:
        """Bind and listen; OSError when the address cannot be bound (the caller explains it).

        With a `ContextHolder` the TLS and WSS listeners use the holder's context of the moment for each new connection.
        """
        host = spec.host.strip("[]")  # IPv6 literals may come with their brackets
        server: asyncio.Server | WebSocketServer
        if spec.kind in ("tcp", "tls"):
            tls = context if spec.kind == "tls" else None
            listener_of = functools.partial(self._info, spec)
            server = await asyncio.get_running_loop().create_server(
                lambda: SocketStream(listener_of, self._handler, current_context(tls)), host, spec.port,
                reuse_address=True, backlog=ACCEPTS_PER_WAKEUP)
            _long_backlog(server)
        elif spec.websocket:
            # imported here: the websockets library is start-up time that a broker without these listeners saves
            from mqttdesk.broker.websocket import HeldSocket, websocket_server

            websockets = websocket_server()
            accepted = functools.partial(self._websocket_accepted, spec=spec, server=websockets,
                                         context=context if spec.kind == "wss" else None)
            plain = await asyncio.get_running_loop().create_server(
                lambda: HeldSocket(accepted), host, spec.port, reuse_address=True, backlog=ACCEPTS_PER_WAKEUP)
            _long_backlog(plain)
            websockets.wrap(plain)
            server = websockets
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

    def specs(self) -> list[ListenerSpec]:
        """What each running listener was started with (port 0 as asked, not as bound)."""
        return [spec for spec, _ in self._servers]

    async def stop(self, name: str) -> None:
        """Close one listener's socket (a settings change restarts only that one); its connections are the
        broker's to end."""
        for entry in [entry for entry in self._servers if entry[0].name == name]:
            spec, server = entry
            self._servers.remove(entry)
            _close_listening(spec, server)
            await server.wait_closed()

    def stop_accepting(self) -> None:
        """Close the listening sockets; connections already served are the broker's to end."""
        for spec, server in self._servers:
            _close_listening(spec, server)

    async def close(self) -> None:
        """Stop accepting and wait until the WebSocket servers are down and their connections closed."""
        self.stop_accepting()
        for spec, server in self._servers:
            if spec.websocket:  # a WebSocket server waits for its connections' tasks
                await server.wait_closed()
        if self._websocket_tasks:  # the broker ended them: what is left is their close frames
            await asyncio.wait(self._websocket_tasks, timeout=WEBSOCKET_CLOSE_TIMEOUT + 1)
        self._servers.clear()

    def _info(self, spec: ListenerSpec, stream: SocketStream) -> ListenerInfo:
        # the address the client reached (a wildcard listener has several): one record per address, not per socket
        address = stream.sockname()
        info = self._infos.get((spec.name, address))
        if info is None:
            info = self._infos[(spec.name, address)] = ListenerInfo(spec.name, spec.kind, *address)
        return info

    def _websocket_accepted(self, held: HeldSocket, *, spec: ListenerSpec, server: WebSocketServer,
                            context: ssl.SSLContext | ContextHolder | None) -> None:
        from mqttdesk.broker.websocket import WebSocketUpgrade

        assert held.transport is not None
        host, port = held.transport.get_extra_info("sockname")[:2]
        stream = WebSocketUpgrade(held, ListenerInfo(spec.name, spec.kind, host, port), current_context(context),
                                  server)
        task = asyncio.get_running_loop().create_task(self._serve_websocket(stream), name="mqttdesk-ws")
        self._websocket_tasks.add(task)
        task.add_done_callback(self._websocket_tasks.discard)

    async def _serve_websocket(self, stream: WebSocketUpgrade) -> None:
        try:
            await self._handler(stream)
        finally:
            await stream.finished(WEBSOCKET_CLOSE_TIMEOUT)


def _close_listening(spec: ListenerSpec, server: asyncio.Server | WebSocketServer) -> None:
    # by the kind, not by isinstance(asyncio.Server): uvloop's server is not one
    if spec.websocket:  # the broker ends the connections of a WebSocket listener, as those of the others
        cast("WebSocketServer", server).close(close_connections=False)
    else:
        server.close()
