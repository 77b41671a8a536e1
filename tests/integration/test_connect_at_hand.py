"""A CONNECT that is already there when its connection's handler first runs is read at once, with no deadline armed
for it (`WaitingConnection.read_at_once`); one that comes in pieces is waited for within its deadline as before.
Either way the connection leaves the caps on waiting connections, and a malformed one is refused in the Auth log.
The accepted CONNECT's books (Auth log entry, the Clients list, who last used the clientId) are kept once its CONNACK
is on its way, in the same loop step.

The broker's loop is held while the client connects and sends, so that the CONNECT is in the socket when the
handler starts (on uvloop the first read then comes before the handler's first step; asyncio's loop reads it one
turn later, so there the waiting path runs).
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from mqttdesk.broker.admission import WaitingConnection
from mqttdesk.store.db import Store
from tests.integration.conftest import add_dev_user
from tests.integration.harness import Instance, running_instance
from tests.integration.raw_mqtt import encode_connect

TIMEOUT = 10.0


@pytest.fixture
def read_at_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses of connections whose CONNECT was read at once."""
    seen: list[str] = []
    original = WaitingConnection.read_at_once

    def spy(self: WaitingConnection) -> None:
        seen.append(self.address)
        original(self)

    monkeypatch.setattr(WaitingConnection, "read_at_once", spy)
    return seen


def _with_dev(data_dir: Path) -> None:
    with contextlib.closing(Store.open(data_dir)) as admin:
        add_dev_user(admin)


def _connack(sock: socket.socket) -> bytes:
    answer = b""
    while len(answer) < 4:
        chunk = sock.recv(4 - len(answer))
        if not chunk:
            break
        answer += chunk
    return answer


def _pending(instance: Instance) -> int:
    broker = instance.service._broker
    assert broker is not None
    return broker.admission.pending


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_connect_there_with_the_connection_is_accepted_and_booked(data_dir: Path, loop: str,
                                                                    read_at_once: list[str]) -> None:
    _with_dev(data_dir)
    with running_instance(data_dir, loop=loop) as instance:
        with instance.held():
            sock = socket.create_connection(("127.0.0.1", instance.port), timeout=TIMEOUT)
            sock.sendall(encode_connect("at-hand", username="dev", password="pw"))
        with sock:
            assert _connack(sock) == b"\x20\x02\x00\x00"
            # the books, kept in the step that sent the CONNACK: there by the time anything else runs on the loop
            assert instance.call(lambda: "at-hand" in instance.service.registry)
            assert instance.last_entry("at-hand", "CONNECT").allowed
            owner = instance.call(lambda: instance.store.client_ids.owner("at-hand"))  # (written by last_entry)
            assert owner is not None
            assert owner[0].name == "dev"
            assert _pending(instance) == 0
        assert read_at_once == (["127.0.0.1"] if loop == "uvloop" else [])


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_connect_in_pieces_is_waited_for(data_dir: Path, loop: str, read_at_once: list[str]) -> None:
    _with_dev(data_dir)
    connect = encode_connect("in-pieces", username="dev", password="pw")
    with running_instance(data_dir, loop=loop) as instance:
        with instance.held():  # on uvloop the handler finds the first piece there and reads it at once
            sock = socket.create_connection(("127.0.0.1", instance.port), timeout=TIMEOUT)
            sock.sendall(connect[:5])
        with sock:
            assert instance.until(lambda: _pending(instance) == 1, TIMEOUT)  # waiting for the rest, in the caps
            sock.sendall(connect[5:])
            assert _connack(sock) == b"\x20\x02\x00\x00"
            assert _pending(instance) == 0
        assert read_at_once == []


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_malformed_connect_at_hand_is_refused_and_logged(data_dir: Path, loop: str) -> None:
    with running_instance(data_dir, loop=loop) as instance:
        with instance.held():
            sock = socket.create_connection(("127.0.0.1", instance.port), timeout=TIMEOUT)
            # a CONNECT naming protocol level 9: refused (in MQTT 5's words, 0x84 unsupported protocol version, as
            # Mosquitto answers it), and the connection closed
            sock.sendall(b"\x10\x0e\x00\x04MQTT\x09\x02\x00\x3c\x00\x02ab")
        with sock:
            answer = b"".join(iter(lambda: sock.recv(512), b""))
        assert answer[:1] == b"\x20"
        assert answer[3:4] == b"\x84"
        instance.flush_log()  # (recorded before the connection was closed)
        [entry] = instance.call(lambda: instance.store.auth_log.recent(1))
        assert entry.kind == "CONNECT"
        assert not entry.allowed
        assert entry.reason_code == "bad-protocol"
        assert instance.until(lambda: _pending(instance) == 0, TIMEOUT)
