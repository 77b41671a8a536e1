"""TLS for the listeners: the server's context from the settings' files, a handshake failure in words, and the
facts of an established TLS connection (version, cipher, the client's certificate).

Python's `ssl` module does not hand over a certificate it rejected, so the subject of a presented certificate is
known only when the handshake succeeds.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class TlsFacts:
    version: str  # e.g. "TLSv1.3"
    cipher: str
    peer_subject: str | None = None  # the client's certificate subject (RFC 4514), when one was presented
    peer_der: bytes | None = None


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_file: str | None
    key_file: str | None
    client_ca_file: str | None = None


class ListenerError(Exception):
    """A listener cannot start; the message is a sentence for the user."""


class HandshakeFailed(Exception):
    """The TLS handshake of a connection failed; the message says why, in words (`handshake_failure_words`)."""


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
    if isinstance(exc, TimeoutError) or (isinstance(exc, ConnectionAbortedError) and "longer than" in str(exc)):
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


async def server_handshake(transport: asyncio.Transport, protocol: asyncio.BaseProtocol, context: ssl.SSLContext,
                           *, shutdown_timeout: float | None = None) -> tuple[asyncio.Transport, TlsFacts | None]:
    """Run the server side of the TLS handshake on an accepted TCP connection: the TLS transport over it (the
    protocol stays the same) and what was agreed. A failure raises `HandshakeFailed` with the reason in words."""
    try:
        tls_transport = await asyncio.get_running_loop().start_tls(
            transport, protocol, context, server_side=True, ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=shutdown_timeout)
    except (ssl.SSLError, ConnectionError, EOFError, asyncio.IncompleteReadError) as exc:
        raise HandshakeFailed(handshake_failure_words(exc)) from None
    if tls_transport is None:  # typeshed allows it; asyncio returns the TLS transport or raises
        raise HandshakeFailed("the client closed the connection during the TLS handshake")
    return tls_transport, tls_facts(tls_transport.get_extra_info("ssl_object"))
