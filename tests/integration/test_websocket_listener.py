"""MQTT over WebSocket (path /mqtt, subprotocol mqtt) and over WebSocket with TLS: same auth, same messages; a failed
TLS handshake on `wss` is in the Auth log as on `tls`, and the handshakes count against the caps on waiting sockets."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from mqttdesk.broker.service import ListenerOverrides
from mqttdesk.core.limits import AdmissionLimits
from mqttdesk.store.db import Store
from tests.integration.conftest import provision_tls_lamp
from tests.integration.harness import TIMEOUT, Instance
from tests.integration.mqtt_client import TestClient
from tests.integration.raw_mqtt import (
    PacketType,
    decode_packet,
    encode_connect,
    encode_empty,
    encode_subscribe,
    split_frame,
)
from tests.integration.test_pending_connections import close_all, closed_by_server, open_idle
from tests.integration.test_tls_listener import TlsRefusals, plain_connect, tls_handshake
from tests.integration.tls_certs import TlsFiles


@pytest.fixture
def ws_instance(admin: Store, data_dir: Path, certs: TlsFiles) -> Iterator[Instance]:
    provision_tls_lamp(admin, certs)
    running = Instance(data_dir)
    running.start(overrides=ListenerOverrides(ws_port=0, wss_port=0))
    yield running
    running.stop()


@pytest.fixture
def made() -> Iterator[list[TestClient]]:
    clients: list[TestClient] = []
    yield clients
    for client in clients:
        client.close()


def _client(made: list[TestClient], client_id: str, port: int, **options: object) -> TestClient:
    client = TestClient(client_id, port, **options)  # type: ignore[arg-type]
    made.append(client)
    return client


def _read_packets(ws, count: int) -> list:  # type: ignore[no-untyped-def, type-arg]
    """`count` MQTT packets from a raw WebSocket, however the server split them into messages."""
    buffer = bytearray()
    packets = []
    while len(packets) < count:
        frame = split_frame(buffer)
        if frame is None:
            buffer += ws.recv(timeout=TIMEOUT)
            continue
        first, body, used = frame
        del buffer[:used]
        packets.append(decode_packet(first, body))
    return packets


def _exchange_both_ways(over_ws: TestClient, over_tcp: TestClient, to_ws: bytes, to_tcp: bytes) -> None:
    """Both connect, subscribe, and each gets what the other publishes (QoS 1)."""
    assert over_ws.connect() == 0
    assert over_tcp.connect() == 0
    assert over_ws.subscribe("home/to-ws", 1) == 1
    assert over_tcp.subscribe("home/to-tcp", 1) == 1
    over_tcp.publish("home/to-ws", to_ws, qos=1)
    assert over_ws.expect_message().payload == to_ws
    over_ws.publish("home/to-tcp", to_tcp, qos=1)
    assert over_tcp.expect_message().payload == to_tcp


def test_paho_over_websocket_is_authenticated_and_exchanges_messages_with_tcp(ws_instance: Instance,
                                                                              made: list[TestClient]) -> None:
    over_ws = _client(made, "lamp-ws", ws_instance.ports["ws"], username="lamp", password="s3cret",
                      transport="websockets")
    over_tcp = _client(made, "lamp-tcp", ws_instance.port, username="lamp", password="s3cret")
    # the second message is larger than one read: several WebSocket messages' worth
    _exchange_both_ways(over_ws, over_tcp, b"hello ws", b"x" * 200_000)
    sessions = {s["client_id"]: s for s in ws_instance.call(
        lambda: [s.to_json() for s in ws_instance.service.registry.snapshot()])}
    assert (sessions["lamp-ws"]["listener"], sessions["lamp-ws"]["transport"]) == ("ws", "ws")
    assert sessions["lamp-tcp"]["transport"] == "tcp"
    entry = ws_instance.last_entry("lamp-ws", "CONNECT")
    assert entry.steps[0] == f"over WebSocket on listener 'ws' (127.0.0.1:{ws_instance.ports['ws']})"


def test_wrong_password_over_websocket_gets_4_like_on_tcp(ws_instance: Instance, made: list[TestClient]) -> None:
    assert _client(made, "lamp-ws", ws_instance.ports["ws"], username="lamp", password="nope",
                   transport="websockets").connect() == 4
    entry = ws_instance.last_entry("lamp-ws", "CONNECT")
    assert (entry.allowed, entry.reason_code) == (False, "bad-password")


def test_paho_over_websocket_with_tls(ws_instance: Instance, made: list[TestClient], certs: TlsFiles) -> None:
    client = _client(made, "lamp-wss", ws_instance.ports["wss"], username="lamp", password="s3cret",
                     transport="websockets", tls=certs.trusting_client())
    assert client.connect() == 0
    assert client.subscribe("home/wss", 0) == 0
    client.publish("home/wss", b"secure", qos=1)
    assert client.expect_message().payload == b"secure"
    entry = ws_instance.last_entry("lamp-wss", "CONNECT")
    assert entry.steps[0].startswith("over WebSocket over TLS (TLS 1.")


def test_wss_client_that_does_not_trust_our_certificate_is_in_the_auth_log(ws_instance: Instance) -> None:
    refusals = TlsRefusals(ws_instance)
    port = ws_instance.ports["wss"]
    assert isinstance(tls_handshake(port, ssl.create_default_context()), ssl.SSLCertVerificationError)
    entry = refusals.wait()[0]
    assert (entry.kind, entry.allowed, entry.address) == ("CONNECT", False, "127.0.0.1")
    assert entry.reason == "the client refused our certificate: tlsv1 alert unknown ca"
    assert f"on listener 'wss' (127.0.0.1:{port})" in entry.steps[0]


def test_plain_tcp_on_the_wss_port_is_in_the_auth_log_and_nothing_is_left_waiting(ws_instance: Instance) -> None:
    refusals = TlsRefusals(ws_instance)
    plain_connect(ws_instance.ports["wss"])
    assert refusals.wait()[0].reason == "not a TLS client (plain MQTT on the TLS port?)"
    assert ws_instance.call(lambda: ws_instance.service._broker.admission.pending) == 0  # type: ignore[union-attr]


def test_wss_exchanges_messages_with_tcp_after_a_failed_handshake(ws_instance: Instance, made: list[TestClient],
                                                                  certs: TlsFiles) -> None:
    refusals = TlsRefusals(ws_instance)
    plain_connect(ws_instance.ports["wss"])
    refusals.wait()
    over_wss = _client(made, "lamp-wss", ws_instance.ports["wss"], username="lamp", password="s3cret",
                       transport="websockets", tls=certs.trusting_client())
    over_tcp = _client(made, "lamp-tcp", ws_instance.port, username="lamp", password="s3cret")
    _exchange_both_ways(over_wss, over_tcp, b"hello wss", b"hello tcp")
    sessions = {s["client_id"]: s for s in ws_instance.call(
        lambda: [s.to_json() for s in ws_instance.service.registry.snapshot()])}
    assert sessions["lamp-wss"]["transport"] == "wss"


@pytest.mark.parametrize("kind", ["ws", "wss"])
def test_sockets_that_never_start_their_websocket_handshake_count_against_the_pending_caps(
        admin: Store, data_dir: Path, certs: TlsFiles, made: list[TestClient], kind: str) -> None:
    provision_tls_lamp(admin, certs)
    admin.settings.set_admission_limits(AdmissionLimits(max_pending_per_address=4, max_pending=1000))
    running = Instance(data_dir)
    running.start(overrides=ListenerOverrides(ws_port=0, wss_port=0, no_tcp=True))
    flood = open_idle(running.ports[kind], "127.0.0.8", 6)
    try:
        closed = closed_by_server(flood, timeout=5.0, until=2)
        assert len(closed) == 2  # over the cap of 4 per address: closed unread
        assert closed_by_server([s for s in flood if s not in closed], timeout=0.5) == []
        legit = _client(made, f"lamp-{kind}", running.ports[kind], username="lamp", password="s3cret",
                        transport="websockets", tls=certs.trusting_client() if kind == "wss" else None)
        assert legit.connect() == 0  # from 127.0.0.1
    finally:
        close_all(flood)
        for client in made:
            client.close()
        made.clear()
        running.stop()


def test_other_paths_get_404_and_other_subprotocols_400(ws_instance: Instance) -> None:
    port = ws_instance.ports["ws"]
    with pytest.raises(InvalidStatus) as wrong_path:
        ws_connect(f"ws://127.0.0.1:{port}/", subprotocols=["mqtt"], open_timeout=TIMEOUT)  # type: ignore[list-item]
    assert wrong_path.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as no_mqtt:
        ws_connect(f"ws://127.0.0.1:{port}/mqtt", subprotocols=["mqttv3.1"],  # type: ignore[list-item]
                   open_timeout=TIMEOUT)
    assert no_mqtt.value.response.status_code == 400


def test_packets_split_across_messages_and_packed_into_one_are_one_byte_stream(ws_instance: Instance) -> None:
    data = encode_connect("raw-ws") + encode_subscribe(1, [("home/#", 0)]) + encode_empty(PacketType.PINGREQ)
    with ws_connect(f"ws://127.0.0.1:{ws_instance.ports['ws']}/mqtt", subprotocols=["mqtt"],  # type: ignore[list-item]
                    open_timeout=TIMEOUT) as ws:
        assert ws.subprotocol == "mqtt"
        for start in range(0, len(data), 5):  # 5-byte messages: every packet spans several
            ws.send(data[start:start + 5])
        connack, suback, pong = _read_packets(ws, 3)
        assert (connack.type, connack.return_code) == (PacketType.CONNACK, 0)
        assert (suback.type, suback.return_codes) == (PacketType.SUBACK, (0,))
        assert pong.type is PacketType.PINGRESP
        ws.send(encode_empty(PacketType.PINGREQ) * 2)  # two packets in one message
        assert [p.type for p in _read_packets(ws, 2)] == [PacketType.PINGRESP] * 2


def test_a_text_message_closes_the_connection(ws_instance: Instance) -> None:
    with ws_connect(f"ws://127.0.0.1:{ws_instance.ports['ws']}/mqtt", subprotocols=["mqtt"],  # type: ignore[list-item]
                    open_timeout=TIMEOUT) as ws:
        ws.send(encode_connect("texting"))
        _read_packets(ws, 1)
        ws.send("hello")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1003
