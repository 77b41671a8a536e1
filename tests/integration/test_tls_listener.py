"""The TLS listener: we run the handshake, so every failed one is a refused CONNECT in the Auth log, in words."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.broker.service import BrokerState, ListenerOverrides
from mqttdesk.core.limits import AdmissionLimits
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store
from tests.integration.conftest import provision_tls_lamp
from tests.integration.harness import TIMEOUT, Instance, running_tls
from tests.integration.mqtt_client import TestClient
from tests.integration.raw_mqtt import RawClient, encode_connect
from tests.integration.test_pending_connections import close_all, closed_by_server, open_idle
from tests.integration.tls_certs import TlsFiles


@pytest.fixture
def tls_instance(admin: Store, data_dir: Path, certs: TlsFiles) -> Iterator[Instance]:
    provision_tls_lamp(admin, certs, client_ca=True)
    with running_tls(data_dir) as running:
        yield running


class TlsRefusals:
    """Auth log entries with reason tls-handshake-failed as the instance writes them (waits, never sleeps)."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._changed = threading.Condition()
        self._latest: dict[int, AuthLogEntry] = {}
        instance.call(instance.service.recorder.on_entries, self._written)

    def _written(self, entries: list[AuthLogEntry]) -> None:
        with self._changed:
            for entry in entries:
                if entry.reason_code == "tls-handshake-failed":
                    self._latest[entry.id] = entry
            self._changed.notify_all()

    def wait(self, count: int = 1) -> list[AuthLogEntry]:
        """The entries once they stand for `count` handshakes in all (folded repeats included)."""
        with self._changed:
            done = self._changed.wait_for(lambda: sum(e.count for e in self._latest.values()) >= count, TIMEOUT)
            assert done, list(self._latest.values())
            return list(self._latest.values())


@pytest.fixture
def refusals(tls_instance: Instance) -> TlsRefusals:
    return TlsRefusals(tls_instance)


def tls_handshake(port: int, context: ssl.SSLContext) -> bytes | Exception:
    """Connect with TLS and read; what came back (b"": the server closed) or the error the client saw."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            # TLS 1.3 finishes the client's side before the server has checked the client's certificate: the
            # refusal shows at the first read
            return tls.recv(1)
    except (ssl.SSLError, ConnectionError) as exc:
        return exc


def plain_connect(port: int) -> None:
    """A plain MQTT CONNECT on a TLS port (tls or wss); returns once the server has closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        raw.sendall(encode_connect("plain-on-tls"))
        while raw.recv(4096):  # perhaps a TLS alert, then the end
            pass


def test_paho_over_tls_is_authenticated_and_the_entry_says_how_it_came(tls_instance: Instance,
                                                                     certs: TlsFiles) -> None:
    client = TestClient("lamp-tls", tls_instance.ports["tls"], username="lamp", password="s3cret",
                        tls=certs.trusting_client())
    try:
        assert client.connect() == 0
        assert client.subscribe("home/x", 1) == 1
        client.publish("home/x", b"on", qos=1)
        assert client.expect_message().payload == b"on"
        sessions = {s["client_id"]: s for s in tls_instance.call(
            lambda: [s.to_json() for s in tls_instance.service.registry.snapshot()])}
        assert (sessions["lamp-tls"]["listener"], sessions["lamp-tls"]["transport"]) == ("tls", "tls")
    finally:
        client.close()
    tls_instance.flush_log()
    entry = next(e for e in tls_instance.call(tls_instance.store.auth_log.recent, 50)
                 if e.kind == "CONNECT" and e.client_id == "lamp-tls")
    assert entry.allowed
    assert entry.reason_code == "authenticated"
    assert entry.steps[0].startswith("over TLS 1.")
    assert f"on listener 'tls' (127.0.0.1:{tls_instance.ports['tls']})" in entry.steps[0]


def test_wrong_password_over_tls_gets_4(tls_instance: Instance, certs: TlsFiles) -> None:
    client = TestClient("lamp-tls", tls_instance.ports["tls"], username="lamp", password="nope",
                        tls=certs.trusting_client())
    try:
        assert client.connect() == 4
    finally:
        client.close()


def test_client_that_does_not_trust_our_certificate_is_logged(tls_instance: Instance,
                                                              refusals: TlsRefusals) -> None:
    context = ssl.create_default_context()  # the system's CAs: ours is not among them
    assert isinstance(tls_handshake(tls_instance.ports["tls"], context), ssl.SSLCertVerificationError)
    entry = refusals.wait()[0]
    assert not entry.allowed
    assert entry.kind == "CONNECT"
    assert entry.address == "127.0.0.1"
    assert entry.reason == "the client refused our certificate: tlsv1 alert unknown ca"
    assert f"listener 'tls' (127.0.0.1:{tls_instance.ports['tls']})" in entry.steps[0]
    assert entry.steps[-1].startswith("hint: the device does not trust mqttdesk's CA: install ca.crt on it")


def test_plain_mqtt_on_the_tls_port_is_logged(tls_instance: Instance, refusals: TlsRefusals) -> None:
    plain_connect(tls_instance.ports["tls"])
    entry = refusals.wait()[0]
    assert entry.reason == "not a TLS client (plain MQTT on the TLS port?)"


def test_client_certificate_the_server_does_not_trust_is_logged(tls_instance: Instance, certs: TlsFiles,
                                                                refusals: TlsRefusals) -> None:
    context = certs.trusting_client()
    context.load_cert_chain(str(certs.stranger_cert), str(certs.stranger_key))
    seen = tls_handshake(tls_instance.ports["tls"], context)
    assert seen == b"" or isinstance(seen, ssl.SSLError | ConnectionError), seen
    entry = refusals.wait()[0]
    assert entry.reason.startswith("the client's certificate is not trusted: certificate verify failed: ")
    assert "unable to get local issuer certificate" in entry.reason


def test_a_trusted_client_certificate_travels_with_the_connect(tls_instance: Instance, certs: TlsFiles) -> None:
    context = certs.trusting_client()
    context.load_cert_chain(str(certs.trusted_client_cert), str(certs.trusted_client_key))
    client = TestClient("lamp-cert", tls_instance.ports["tls"], username="lamp", password="s3cret", tls=context)
    try:
        assert client.connect() == 0
    finally:
        client.close()
    entry = tls_instance.last_entry("lamp-cert", "CONNECT")
    assert "client certificate CN=lamp-device,O=mqttdesk tests" in entry.steps[0]


def test_repeated_handshake_failures_fold_into_one_entry(tls_instance: Instance, refusals: TlsRefusals) -> None:
    for _ in range(3):
        plain_connect(tls_instance.ports["tls"])
    entries = refusals.wait(3)
    assert len(entries) == 1
    assert entries[0].count == 3


def test_tls_switched_on_without_files_says_why_and_tcp_still_works(admin: Store, data_dir: Path) -> None:
    running = Instance(data_dir)
    running._thread.start()
    running.store = running.call(Store.open, data_dir)
    from mqttdesk.broker.service import BrokerService
    running.service = running.call(BrokerService, running.store)
    try:
        status = running.run(running.service.start("127.0.0.1", 0, ListenerOverrides(tls_port=0)))
        assert status.state is BrokerState.LISTENING
        assert [info.kind for info in status.listeners] == ["tcp"]
        assert status.warnings == ("the TLS listener did not start: the TLS listener needs a certificate and its "
                                   "key: set tls.cert_file and tls.key_file (mqttdesk config set tls.cert_file "
                                   "PATH), or create mqttdesk's own CA (mqttdesk ca init)",)
        assert "the TLS listener did not start" in status.describe()
        with RawClient(status.listeners[0].port) as raw:
            assert raw.connect("still-tcp").return_code == 0
    finally:
        running.run(running.service.close())
        running.call(running.store.close)
        running.loop.call_soon_threadsafe(running.loop.stop)
        running._thread.join(TIMEOUT)


def test_sockets_that_never_start_their_handshake_count_against_the_pending_caps(admin: Store, data_dir: Path,
                                                                                 certs: TlsFiles) -> None:
    """A TLS listener is no way around the caps on sockets waiting for their CONNECT: the handshake is inside them."""
    admin.settings.set_tls_file("cert_file", str(certs.cert))
    admin.settings.set_tls_file("key_file", str(certs.key))
    admin.settings.set_admission_limits(AdmissionLimits(max_pending_per_address=4, max_pending=1000))
    running = Instance(data_dir)
    running.start(overrides=ListenerOverrides(tls_port=0, no_tcp=True))
    flood = open_idle(running.ports["tls"], "127.0.0.7", 6)
    try:
        closed = closed_by_server(flood, timeout=5.0, until=2)
        assert len(closed) == 2
        assert closed_by_server([s for s in flood if s not in closed], timeout=0.5) == []
        client = TestClient("legit-tls", running.ports["tls"], tls=certs.trusting_client())  # from 127.0.0.1
        try:
            assert client.connect() == 0
        finally:
            client.close()
    finally:
        close_all(flood)
        running.stop()
