"""The broker's listeners: TCP, TLS (our own handshake), WebSocket and WebSocket over TLS, each feeding a `Stream`.

All of them hand every connection to one handler, `async handler(stream)`, and know nothing of MQTT.

- TCP: asyncio's server with a long kernel queue and short accept bites (see `_long_backlog`).
- TLS: accepted as plain TCP, then *we* run the handshake (`StreamWriter.start_tls`), so that a failed one is not
  just a line in asyncio's debug log: `on_tls_failure` gets the peer, the listener and the failure in words (the
  broker turns that into a refused CONNECT in the Auth log). Python's `ssl` module does not hand over a
  certificate it rejected, so the subject of a presented certificate is known only when the handshake succeeds
  (then it travels with the CONNECT in `TlsFacts`).
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from cryptography import x509
from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mqttdesk.broker.transport import ListenerInfo, SocketStream, Stream, TlsFacts, WebSocketStream

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 4096
ACCEPTS_PER_WAKEUP = 16
HANDSHAKE_TIMEOUT = 10.0
WEBSOCKET_PATH = "/mqtt"
WEBSOCKET_SUBPROTOCOL = "mqtt"
WEBSOCKET_MAX_MESSAGE = 16 * 1024 * 1024 + 16  # the largest packet the broker accepts, in one message
WEBSOCKET_CLOSE_TIMEOUT = 5.0
KINDS = ("tcp", "tls", "ws", "wss")

Handler = Callable[[Stream], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TlsFailure:
    """A TLS handshake that failed: who, where and why (in words)."""

    peer: tuple[str, int]
    listener: ListenerInfo
    why: str
    peer_subject: str | None = None


TlsFailureSink = Callable[[TlsFailure], None]


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str
    kind: str  # tcp | tls | ws | wss
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_file: str | None
    key_file: str | None
    client_ca_file: str | None = None


class ListenerError(Exception):
    """A listener cannot start; the message is a sentence for the user."""


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The server's TLS context from the certificate and key files (and the CA that client certificates need).

    With `client_ca_file` the server asks for a client certificate (CERT_OPTIONAL): one that is presented must be
    signed by that CA, none at all is fine. Mutual TLS as a way to log in is not part of this yet.
    """
    if not files.cert_file or not files.key_file:
        missing = " and ".join(name for name, value in (("tls.cert_file", files.cert_file),
                                                        ("tls.key_file", files.key_file)) if not value)
        raise ListenerError(f"the TLS listener needs a certificate and its key: set {missing} "
                            "(mqttdesk config set tls.cert_file PATH)")
    for setting, path in (("tls.cert_file", files.cert_file), ("tls.key_file", files.key_file),
                          ("tls.client_ca_file", files.client_ca_file)):
        if path and not Path(path).is_file():
            raise ListenerError(f"{setting} {path} does not exist")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(files.cert_file, files.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ListenerError(f"cannot use {files.cert_file} with {files.key_file} as the TLS certificate: "
                            f"{getattr(exc, 'reason', None) or exc}") from None
    if files.client_ca_file:
        try:
            context.load_verify_locations(cafile=files.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ListenerError(f"cannot read tls.client_ca_file {files.client_ca_file}: {exc}") from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


_NOT_TLS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE",
            "UNSUPPORTED_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "WRONG_SSL_VERSION"}


def handshake_failure_words(exc: BaseException) -> str:
    """What went wrong in a TLS handshake, for a person reading the Auth log."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the client's certificate is not trusted: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or "")
        if reason in _NOT_TLS:
            return "not a TLS client (plain MQTT on the TLS port?)"
        words = reason.lower().replace("_", " ")
        if reason.startswith(("TLSV1_ALERT", "SSLV3_ALERT", "TLSV13_ALERT")):
            return f"the client refused our certificate: {words}" if "CA" in reason or "CERTIFICATE" in reason \
                else f"the client ended the handshake: {words}"
        return f"TLS handshake failed: {words or exc}"
    if isinstance(exc, TimeoutError):
        return f"the TLS handshake did not finish within {HANDSHAKE_TIMEOUT:g} s"
    if isinstance(exc, ConnectionError | asyncio.IncompleteReadError | EOFError):
        return "the client closed the connection during the TLS handshake"
    return f"TLS handshake failed: {exc}"


def tls_facts(ssl_object: Any) -> TlsFacts | None:
    """The TLS facts of an established connection (`ssl.SSLObject`), None when there is none."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    return TlsFacts(version=str(ssl_object.version() or ""), cipher=str(cipher[0]) if cipher else "",
                    peer_subject=certificate_subject(der) if der else None, peer_der=der or None)


def certificate_subject(der: bytes) -> str | None:
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


def _long_backlog(server: asyncio.Server) -> None:
    # asyncio uses one number both as the kernel's listen queue and as how many connections it accepts in one
    # callback. A queue of 100 dropped SYNs in a 1,000-device storm (devices retried a second later); accepting
    # 1,000 in one callback froze the window for 80 ms. So: a long queue, short bites.
    for sock in server.sockets:
        with socket.socket(fileno=os.dup(sock.fileno())) as listening:
            listening.listen(LISTEN_BACKLOG)


class Listeners:
    """The running listeners of one broker: start them one by one, ask where they listen, close them all."""

    def __init__(self, handler: Handler, on_tls_failure: TlsFailureSink) -> None:
        self._handler = handler
        self._on_tls_failure = on_tls_failure
        self._servers: list[tuple[ListenerSpec, asyncio.Server | WebSocketServer]] = []
        self._handshakes: set[asyncio.Task[Any]] = set()

    async def start(self, spec: ListenerSpec, context: ssl.SSLContext | None = None) -> None:
        """Bind and listen; OSError when the address cannot be bound (the caller explains it)."""
        host = spec.host.strip("[]")  # IPv6 literals may come with their brackets
        server: asyncio.Server | WebSocketServer
        if spec.kind in ("tcp", "tls"):
            callback = functools.partial(self._socket_connected, spec=spec, context=context)
            server = await asyncio.start_server(callback, host, spec.port, reuse_address=True,
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
        """Stop accepting, abandon unfinished TLS handshakes and wait until the WebSocket servers are down."""
        self.stop_accepting()
        for task in list(self._handshakes):
            task.cancel()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        for _, server in self._servers:
            if isinstance(server, WebSocketServer):
                await server.wait_closed()
        self._servers.clear()

    def _info(self, spec: ListenerSpec, writer: asyncio.StreamWriter) -> ListenerInfo:
        host, port = writer.get_extra_info("sockname")[:2]
        return ListenerInfo(spec.name, spec.kind, host, port)

    async def _socket_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                                spec: ListenerSpec, context: ssl.SSLContext | None) -> None:
        info = self._info(spec, writer)
        tls: TlsFacts | None = None
        if spec.kind == "tls":
            assert context is not None
            task = asyncio.current_task()
            if task is not None:
                self._handshakes.add(task)
            try:
                await writer.start_tls(context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
            except (ssl.SSLError, OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as exc:
                peer = writer.get_extra_info("peername") or ("", 0)
                self._on_tls_failure(TlsFailure((str(peer[0]), int(peer[1])), info, handshake_failure_words(exc)))
                writer.transport.abort()
                return
            finally:
                if task is not None:
                    self._handshakes.discard(task)
            tls = tls_facts(writer.get_extra_info("ssl_object"))
        await self._handler(SocketStream(reader, writer, info, tls))

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
