"""A rejected CONNECT carries what it said before the fault, for the Auth log."""

from __future__ import annotations

import struct

import pytest

from mqttdesk.broker.connect_packet import ConnectRejected, parse_connect


def _string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def _body(flags: int, *fields: bytes, name: bytes = b"MQTT", level: int = 4, properties: bytes = b"") -> bytes:
    return _string(name) + bytes([level, flags]) + struct.pack("!H", 60) + properties + b"".join(fields)


@pytest.mark.parametrize(("body", "expected"), [
    # the username is not UTF-8: the clientId was read
    (_body(0x82, _string(b"dev-1"), _string(b"\xff")), ("MQTT level 4", "dev-1", None)),
    # the password is cut off: clientId and username were read
    (_body(0xC2, _string(b"dev-2"), _string(b"lamp"), b"\x00\x09ab"), ("MQTT level 4", "dev-2", "lamp")),
    # the will QoS is 3: nothing after the flags was read
    (_body(0x1E, _string(b"dev-3")), ("MQTT level 4", None, None)),
    # MQTT 3.1 and MQTT 5 (properties first): refused with CONNACK 1, named all the same
    (_body(0x82, _string(b"dev-4"), _string(b"lamp"), name=b"MQIsdp", level=3), ("MQIsdp level 3", "dev-4", "lamp")),
    (_body(0x86, _string(b"dev-5"), b"\x00", _string(b"will/t"), _string(b"bye"), _string(b"lamp"), level=5,
           properties=b"\x05\x11\x00\x00\x00\x3c"), ("MQTT level 5", "dev-5", "lamp")),
])
def test_a_rejection_carries_the_fields_read_before_the_fault(body: bytes, expected: tuple[object, ...]) -> None:
    with pytest.raises(ConnectRejected) as rejected:
        parse_connect(body)
    assert (rejected.value.protocol, rejected.value.client_id, rejected.value.username) == expected


def test_an_unknown_protocol_name_carries_nothing() -> None:
    with pytest.raises(ConnectRejected) as rejected:
        parse_connect(_body(0x02, _string(b"dev"), name=b"HTTP"))
    assert (rejected.value.protocol, rejected.value.client_id, rejected.value.username) == (None, None, None)
