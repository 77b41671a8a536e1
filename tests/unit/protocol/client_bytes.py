"""Building the bytes an MQTT client sends, written out from the spec's layouts, for the protocol core's tests."""

from __future__ import annotations

import struct

from mqttdesk.broker.protocol.packets import Connect, Subscribe, Unsubscribe
from mqttdesk.broker.protocol.properties import EMPTY_PROPERTIES, Properties, encode_properties
from mqttdesk.broker.protocol.wire_format import encode_varint


def u16(value: int) -> bytes:
    return struct.pack("!H", value)


def string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return u16(len(raw)) + raw


def binary(data: bytes) -> bytes:
    return u16(len(data)) + data


def frame(first: int, body: bytes) -> bytes:
    return bytes((first,)) + encode_varint(len(body)) + body


def connect_packet(connect: Connect) -> bytes:
    """A CONNECT for either version (3.1.1 section 3.1, 5 section 3.1)."""
    v5 = connect.protocol_version == 5
    flags = (0x02 if connect.clean_start else 0) | (0x80 if connect.username is not None else 0) \
        | (0x40 if connect.password is not None else 0)
    will = connect.will
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    body = string(connect.protocol_name) + bytes((connect.protocol_version, flags)) + u16(connect.keep_alive)
    if v5:
        body += encode_properties(connect.properties)
    body += string(connect.client_id)
    if will is not None:
        if v5:
            body += encode_properties(will.properties)
        body += string(will.topic) + binary(will.payload)
    if connect.username is not None:
        body += string(connect.username)
    if connect.password is not None:
        body += binary(connect.password)
    return frame(0x10, body)


def connect_v4(client_id: str = "c1", *, keep_alive: int = 60, clean: bool = True) -> bytes:
    return connect_packet(Connect("MQTT", 4, client_id, clean, keep_alive))


def connect_v5(client_id: str = "c1", *, keep_alive: int = 60, properties: Properties = EMPTY_PROPERTIES) -> bytes:
    return connect_packet(Connect("MQTT", 5, client_id, True, keep_alive, properties=properties))


def subscribe_packet(subscribe: Subscribe, version: int) -> bytes:
    body = u16(subscribe.packet_id)
    if version == 5:
        body += encode_properties(subscribe.properties)
    for topic_filter, options in subscribe.subscriptions:
        byte = options.qos
        if version == 5:
            byte |= (0x04 if options.no_local else 0) | (0x08 if options.retain_as_published else 0) \
                | (options.retain_handling << 4)
        body += string(topic_filter) + bytes((byte,))
    return frame(0x82, body)


def unsubscribe_packet(unsubscribe: Unsubscribe, version: int) -> bytes:
    body = u16(unsubscribe.packet_id)
    if version == 5:
        body += encode_properties(unsubscribe.properties)
    for topic_filter in unsubscribe.topic_filters:
        body += string(topic_filter)
    return frame(0xA2, body)


def publish_v4(topic: str, payload: bytes = b"", *, qos: int = 0, packet_id: int | None = None,
               retain: bool = False, dup: bool = False) -> bytes:
    first = 0x30 | (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    return frame(first, string(topic) + (u16(packet_id) if packet_id is not None else b"") + payload)


def publish_v5(topic: str, payload: bytes = b"", *, qos: int = 0, packet_id: int | None = None,
               properties: Properties = EMPTY_PROPERTIES, retain: bool = False) -> bytes:
    first = 0x30 | (qos << 1) | (1 if retain else 0)
    return frame(first, string(topic) + (u16(packet_id) if packet_id is not None else b"")
                 + encode_properties(properties) + payload)
