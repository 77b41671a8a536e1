"""What the Auth log says about CONNECTs that break the protocol and sessions a protocol error ends."""

from __future__ import annotations

import socket

import pytest

from mqttdesk.store.db import Store
from tests.integration.harness import Instance, run_cli
from tests.integration.raw_mqtt import RawClient, encode_connect, encode_publish

WAIT = 5.0


def last_entry(instance: Instance, admin: Store, kind: str):  # type: ignore[no-untyped-def]
    instance.flush_log()
    entries = [entry for entry in admin.auth_log.recent(100) if entry.kind == kind]
    assert entries, f"no {kind} entry in the Auth log"
    return entries[-1]


def test_a_password_that_is_not_utf8_is_logged_with_the_client_id_and_username(instance, admin):
    with RawClient(instance.port) as raw:
        assert raw.connect("lamp-1", username="lamp", password=b"\xff\xfe").return_code == 4
    entry = last_entry(instance, admin, "CONNECT")
    assert (entry.allowed, entry.reason_code, entry.client_id, entry.username) == (
        False, "bad-protocol", "lamp-1", "lamp")
    assert entry.steps[0] == "CONNECT read up to the fault: protocol MQTT level 4, clientId 'lamp-1', username 'lamp'"


def test_a_connect_cut_off_after_the_username_is_logged_with_what_it_had(instance, admin):
    packet = bytearray(encode_connect("lamp-2", username="lamp", password="secret"))
    del packet[-len(b"secret"):]  # the password's length is there, the password is not
    packet[1] -= len(b"secret")
    with RawClient(instance.port) as raw:
        raw.send(bytes(packet))
        assert raw.wait_closed(WAIT)
    entry = last_entry(instance, admin, "CONNECT")
    assert (entry.allowed, entry.reason, entry.client_id, entry.username) == (
        False, "malformed CONNECT: truncated binary data", "lamp-2", "lamp")


def test_a_malformed_mqtt5_connect_is_logged_with_its_client_id_and_username(instance, admin):
    packet = bytearray(encode_connect("v5-device", username="lamp", password="secret", protocol_level=5))
    del packet[-len(b"secret"):]
    packet[1] -= len(b"secret")
    with socket.create_connection(("127.0.0.1", instance.port), timeout=WAIT) as raw:
        raw.sendall(bytes(packet))
        answer = b""
        while chunk := raw.recv(4096):  # until the broker closes
            answer += chunk
    assert answer[:1] == b"\x20"  # an MQTT 5 CONNACK ...
    assert answer[3] == 0x81  # ... malformed packet
    entry = last_entry(instance, admin, "CONNECT")
    assert (entry.reason_code, entry.client_id, entry.username) == ("bad-protocol", "v5-device", "lamp")
    assert "protocol MQTT level 5" in entry.steps[0]


def test_a_socket_closed_before_sending_anything_leaves_no_auth_log_entry(instance, admin):
    with RawClient(instance.port) as raw:
        raw.close()
    with RawClient(instance.port) as raw:  # the broker has dealt with the first one when this one is answered
        assert raw.connect("after-probe").return_code == 0
    instance.flush_log()
    assert [entry.client_id for entry in admin.auth_log.recent(100) if entry.kind == "CONNECT"] == ["after-probe"]


@pytest.mark.parametrize("violation", ["second CONNECT", "wildcard in a published topic"])
def test_a_session_ended_by_a_protocol_error_is_logged_as_a_refusal(instance, admin, data_dir, violation):
    with RawClient(instance.port) as raw:
        assert raw.connect("breaker", username=None).return_code == 0
        if violation == "second CONNECT":
            raw.send(encode_connect("breaker"))
        else:
            raw.send(encode_publish("a/+/b", b"x"))
        assert raw.wait_closed(WAIT)
    instance.call(instance.service.registry.flush_updates)
    entry = last_entry(instance, admin, "DISCONNECT")
    assert (entry.allowed, entry.reason_code, entry.client_id) == (False, "protocol-error", "breaker")
    assert entry.reason.startswith("protocol error: ")
    assert not entry.forced_end  # the client's own doing: no "disconnected by …" notice, not a forced disconnect
    assert admin.auth_log.last_forced_disconnect(client_id="breaker") is None
    assert admin.auth_log.count_forced_since(0.0) == 0
    shown = run_cli(data_dir, "log", "--limit", "1")
    assert "REFUSED" in shown.stdout, shown.stdout
    assert "forced" not in shown.stdout, shown.stdout
    assert "protocol error" in shown.stdout, shown.stdout
