"""Listener settings, overrides, status wording, TLS failure words and the transport step of a CONNECT."""

from __future__ import annotations

import ssl
from dataclasses import replace

import pytest

from mqttdesk.broker.service import BrokerState, BrokerStatus, ListenerOverrides, listener_specs
from mqttdesk.broker.tls import ListenerError, TlsFiles, handshake_failure_hint, handshake_failure_words, server_context
from mqttdesk.broker.transport import ListenerInfo
from mqttdesk.core.decision import ConnectRequest
from mqttdesk.store.settings_repo import ListenerSettings


def _ssl_error(reason: str, text: str) -> ssl.SSLError:
    error = ssl.SSLError(1, text)
    error.reason = reason  # type: ignore[misc]  # what OpenSSL sets; the constructor cannot
    return error


def test_overrides_switch_listeners_on_for_one_run_and_tcp_off() -> None:
    stored = ListenerSettings()
    assert [spec.kind for spec in listener_specs(stored)] == ["tcp"]
    changed = ListenerOverrides(port=0, tls_port=0, ws_port=9100, no_tcp=True).apply(stored)
    assert [(spec.kind, spec.port) for spec in listener_specs(changed)] == [("tls", 0), ("ws", 9100)]
    assert ListenerOverrides(host="::1").apply(stored).host == "::1"


def test_status_names_each_listener_with_its_kind_and_what_did_not_start() -> None:
    status = BrokerStatus(BrokerState.LISTENING, (
        ListenerInfo("tcp", "tcp", "127.0.0.1", 1883), ListenerInfo("tls", "tls", "127.0.0.1", 8883),
        ListenerInfo("ws", "ws", "::1", 9001)), warnings=("the WSS listener did not start: no files",))
    assert status.describe() == ("listening on 127.0.0.1:1883, 127.0.0.1:8883 (tls), [::1]:9001 (ws); "
                                 "the WSS listener did not start: no files")
    assert status.addresses == (("127.0.0.1", 1883), ("127.0.0.1", 8883), ("::1", 9001))


@pytest.mark.parametrize(("error", "words"), [
    (_ssl_error("TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca"),
     "the client refused our certificate: tlsv1 alert unknown ca"),
    (_ssl_error("SSLV3_ALERT_BAD_CERTIFICATE", "sslv3 alert bad certificate"),
     "the client refused our certificate: sslv3 alert bad certificate"),
    (_ssl_error("TLSV1_ALERT_PROTOCOL_VERSION", "x"), "the client ended the handshake: tlsv1 alert protocol version"),
    (_ssl_error("WRONG_VERSION_NUMBER", "wrong version number"), "not a TLS client (plain MQTT on the TLS port?)"),
    (_ssl_error("HTTP_REQUEST", "http request"), "not a TLS client (plain MQTT on the TLS port?)"),
    (_ssl_error("NO_SHARED_CIPHER", "no shared cipher"), "TLS handshake failed: no shared cipher"),
    (TimeoutError(), "the TLS handshake did not finish within 10 s"),
    (ConnectionResetError(), "the client closed the connection during the TLS handshake"),
])
def test_handshake_failures_in_words(error: BaseException, words: str) -> None:
    assert handshake_failure_words(error) == words


def test_verify_failure_names_openssls_verify_message() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "unable to get local issuer certificate"
    assert handshake_failure_words(error) == ("the client's certificate is not trusted: certificate verify failed: "
                                              "unable to get local issuer certificate")


@pytest.mark.parametrize(("error", "hint"), [
    (_ssl_error("TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca"), "the device does not trust mqttdesk's CA: "
     "install ca.crt on it (mqttdesk ca export FILE), or on Tasmota set the fingerprint (mqttdesk server-cert show)"),
    (_ssl_error("WRONG_VERSION_NUMBER", "wrong version number"), "connect to the plain MQTT port, or switch the "
     "client to TLS (mqtts://) for this one"),
    (_ssl_error("NO_SHARED_CIPHER", "no shared cipher"), None),
    (ConnectionResetError(), None),
])
def test_handshake_failures_come_with_what_usually_fixes_them(error: BaseException, hint: str | None) -> None:
    assert handshake_failure_hint(error) == hint


@pytest.mark.parametrize(("message", "start"), [
    ("certificate has expired", "issue the device a new certificate"),
    ("certificate revoked", "this certificate was revoked"),
    ("unable to get local issuer certificate", "the certificate was not issued by mqttdesk's CA or a trusted CA"),
])
def test_a_refused_client_certificate_gets_a_hint(message: str, start: str) -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = message
    hint = handshake_failure_hint(error)
    assert hint is not None
    assert hint.startswith(start)


def test_tls_needs_its_files_and_says_which_are_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ListenerError, match="set tls.cert_file and tls.key_file"):
        server_context(TlsFiles(None, None))
    with pytest.raises(ListenerError, match="set tls.key_file"):
        server_context(TlsFiles(str(tmp_path / "cert.pem"), None))
    with pytest.raises(ListenerError, match=r"tls.cert_file .*cert.pem does not exist"):
        server_context(TlsFiles(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")))


@pytest.mark.parametrize(("transport", "version", "subject", "step"), [
    ("tcp", None, None, "over TCP on listener 'tcp' (127.0.0.1:1883)"),
    ("tls", "TLSv1.3", None, "over TLS 1.3 on listener 'tls' (127.0.0.1:1883)"),
    ("tls", "TLSv1.2", "CN=lamp", "over TLS 1.2 on listener 'tls' (127.0.0.1:1883), client certificate CN=lamp"),
    ("ws", None, None, "over WebSocket on listener 'ws' (127.0.0.1:1883)"),
    ("wss", "TLSv1.3", None, "over WebSocket over TLS (TLS 1.3) on listener 'wss' (127.0.0.1:1883)"),
])
def test_the_transport_step_of_a_connect(transport: str, version: str | None, subject: str | None,
                                         step: str) -> None:
    request = ConnectRequest("lamp-1", "lamp", listener=transport, transport=transport, tls_version=version,
                             peer_certificate_subject=subject)
    assert replace(request, listener_address="127.0.0.1:1883").transport_step() == step
    assert ConnectRequest("lamp-1", "lamp").transport_step() is None
