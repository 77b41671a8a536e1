"""TLS for the listeners: the server's context from the settings' files, a handshake failure in words, and the
facts of an established TLS connection (version, cipher, the client's certificate).

Python's `ssl` module does not hand over a certificate it rejected, so the subject of a presented certificate is
known only when the handshake succeeds.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mqttdesk.store.authority import TlsMaterial

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
    """The TLS handshake of a connection failed; the message says why, in words (`handshake_failure_words`), and
    `hint` what usually fixes it (`handshake_failure_hint`), when something usually does."""

    def __init__(self, words: str, hint: str | None = None) -> None:
        super().__init__(words)
        self.hint = hint


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


class ContextHolder:
    """The TLS context that new handshakes use, swapped when certificates change.

    An SSLContext cannot unload a CRL or a certificate, so a change (a revocation, a reissued server certificate)
    means a new context; the listener reads `current` for each connection it accepts, and connections already
    established keep the context they were made with (they stay connected).
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.current = context


def current_context(tls: ssl.SSLContext | ContextHolder | None) -> ssl.SSLContext | None:
    return tls.current if isinstance(tls, ContextHolder) else tls


def builtin_server_context(material: TlsMaterial) -> ssl.SSLContext:
    """The server's context from the built-in CA: its server certificate, client certificates checked against our
    CA and the trusted ones (CERT_OPTIONAL, as with tls.client_ca_file), and with `check_crl` against the CRLs.

    With `VERIFY_CRL_CHECK_LEAF` a client certificate whose issuer has no CRL loaded is refused, which is why the
    built-in CA has an (empty) CRL from the start and why the check is off when a trusted CA came without one.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(material.cert_file), str(material.key_file))
        context.load_verify_locations(cadata="".join(material.client_cas))
        if material.check_crl:
            _load_crls(context, material.crls)
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    except (ssl.SSLError, OSError) as exc:
        raise ListenerError(f"cannot use the built-in CA's certificates ({material.cert_file.parent}): "
                            f"{getattr(exc, 'reason', None) or exc}") from None
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _load_crls(context: ssl.SSLContext, crls: tuple[str, ...]) -> None:
    # `cadata` takes certificates only; a file given as `cafile` may hold CRLs (OpenSSL loads both kinds)
    with tempfile.TemporaryDirectory(prefix="mqttdesk-crl-") as directory:
        path = Path(directory) / "crls.pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write("".join(crls))
        context.load_verify_locations(cafile=str(path))


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


# what usually fixes a failed handshake, by OpenSSL's verify message (the client's certificate) or alert (ours)
_VERIFY_HINTS = {
    "certificate has expired": "issue the device a new certificate (mqttdesk cert issue CN --out DIR)",
    "certificate revoked": "this certificate was revoked (mqttdesk cert list); issue the device a new one",
    "unable to get local issuer certificate": "the certificate was not issued by mqttdesk's CA or a trusted CA: "
                                              "issue one with mqttdesk cert issue, or trust its CA (mqttdesk trust "
                                              "add PEM_FILE --name N)",
    "self signed certificate": "a self-signed client certificate is never trusted: issue one with mqttdesk cert "
                               "issue, or sign the device's CSR (mqttdesk cert sign)",
}
_ALERT_HINTS = {
    "TLSV1_ALERT_UNKNOWN_CA": "the device does not trust mqttdesk's CA: install ca.crt on it (mqttdesk ca export "
                              "FILE), or on Tasmota set the fingerprint (mqttdesk server-cert show)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the device rejects our server certificate: check that it trusts mqttdesk's CA "
                                   "(mqttdesk ca export FILE) and connects by a name the certificate lists "
                                   "(mqttdesk server-cert show)",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the device rejects our server certificate: check that it trusts mqttdesk's "
                                       "CA (mqttdesk ca export FILE) and connects by a name the certificate lists "
                                       "(mqttdesk server-cert show)",
}


def handshake_failure_hint(exc: BaseException) -> str | None:
    """What usually fixes this failure, as a step for the Auth log; None when nothing in particular does."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        message = str(exc.verify_message or "")
        return next((hint for text, hint in _VERIFY_HINTS.items() if message.startswith(text)), None)
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or "")
        if reason in _NOT_TLS:
            return "connect to the plain MQTT port, or switch the client to TLS (mqtts://) for this one"
        return _ALERT_HINTS.get(reason)
    return None


def tls_facts(ssl_object: Any) -> TlsFacts | None:
    """The TLS facts of an established connection (`ssl.SSLObject`), None when there is none."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    return TlsFacts(version=str(ssl_object.version() or ""), cipher=str(cipher[0]) if cipher else "",
                    peer_subject=certificate_subject(der) if der else None, peer_der=der or None)


def _feed(transport: asyncio.Transport, data: bytes, ended: bool) -> None:
    # the TLS protocol start_tls put on the transport: a BufferedProtocol in asyncio and in uvloop (which does not
    # subclass asyncio's classes, hence the duck typing)
    protocol: Any = transport.get_protocol()
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]
    if ended:  # after the protocol's connection_made has begun the handshake: it fails as the client closed
        asyncio.get_running_loop().call_soon(protocol.eof_received)


def certificate_subject(der: bytes) -> str | None:
    from cryptography import x509  # imported on first use: ~0.1 s of start-up a plain listener never needs

    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


async def server_handshake(transport: asyncio.Transport, protocol: asyncio.BaseProtocol, context: ssl.SSLContext,
                           *, shutdown_timeout: float | None = None,
                           early: bytes = b"", ended: bool = False) -> tuple[asyncio.Transport, TlsFacts | None]:
    """Run the server side of the TLS handshake on an accepted TCP connection: the TLS transport over it (the
    protocol stays the same) and what was agreed. A failure raises `HandshakeFailed` with the reason in words.

    `early` is what the client sent that was read before the handshake began (its ClientHello, or the plain MQTT
    of a client on the wrong port), `ended` that its end of the stream came too: uvloop starts reading a
    connection as soon as it is made, whatever the protocol asked, where asyncio's own loop reads nothing before
    the handshake.
    """
    if ended and not early:
        raise HandshakeFailed("the client closed the connection before the TLS handshake")
    loop = asyncio.get_running_loop()
    if early:
        # scheduled before start_tls schedules its TLS protocol's connection_made: the bytes wait in that
        # protocol's incoming buffer (it is on the transport by then) and the handshake begins with them
        loop.call_soon(_feed, transport, early, ended)
    try:
        tls_transport = await loop.start_tls(
            transport, protocol, context, server_side=True, ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=shutdown_timeout)
    except (ssl.SSLError, ConnectionError, EOFError, asyncio.IncompleteReadError) as exc:
        raise HandshakeFailed(handshake_failure_words(exc), handshake_failure_hint(exc)) from None
    if tls_transport is None:  # typeshed allows it; asyncio returns the TLS transport or raises
        raise HandshakeFailed("the client closed the connection during the TLS handshake")
    return tls_transport, tls_facts(tls_transport.get_extra_info("ssl_object"))
