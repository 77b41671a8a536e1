"""Decoding the packets a client sends, MQTT 3.1.1 and MQTT 5, with the spec's checks.

Every decoder reads a packet body straight out of a buffer, `data[start:end]`, and raises `ProtocolError` with the
MQTT 5 reason code for what is wrong: 0x81 malformed, 0x82 protocol error, or the specific code the spec names
(0x8F topic filter invalid, 0x90 topic name invalid). `decode_packet` is the entry point for one whole packet.
"""

from __future__ import annotations

from dataclasses import dataclass

from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.packets import (
    PINGREQ_PACKET,
    AckPacket,
    Auth,
    ClientPacket,
    Connect,
    Disconnect,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    Subscribe,
    SubscriptionOptions,
    Unsubscribe,
    Will,
    new_publish,
)
from mqttdesk.broker.protocol.properties import EMPTY_PROPERTIES, WILL_PROPERTIES, Properties, decode_properties
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason, ProtocolError, malformed, protocol_error
from mqttdesk.broker.protocol.topics import check_topic_filter, check_topic_name, is_shared

# [MQTT-2.1.3-1]: the fixed header flags of every packet type but PUBLISH; anything else is malformed
REQUIRED_FLAGS = {wf.CONNECT: 0, wf.PUBACK: 0, wf.PUBREC: 0, wf.PUBREL: 2, wf.PUBCOMP: 0, wf.SUBSCRIBE: 2,
                  wf.UNSUBSCRIBE: 2, wf.PINGREQ: 0, wf.DISCONNECT: 0, wf.AUTH: 0}

# the reason codes a client may put in each packet (section 3 of the MQTT 5 spec)
_PUBACK_CODES = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
_PUBREL_CODES = frozenset({0x00, 0x92})
_DISCONNECT_CODES = frozenset({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
                               0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
                               0xA2})
_AUTH_CODES = frozenset({0x00, 0x18, 0x19})
_ACK_CLASSES: dict[int, type[AckPacket]] = {wf.PUBACK: PubAck, wf.PUBREC: PubRec, wf.PUBREL: PubRel,
                                            wf.PUBCOMP: PubComp}
_ACK_CODES = {wf.PUBACK: _PUBACK_CODES, wf.PUBREC: _PUBACK_CODES, wf.PUBREL: _PUBREL_CODES,
              wf.PUBCOMP: _PUBREL_CODES}

_u16_from = wf.U16.unpack_from
# the largest QoS 1 packet kept whole beside its payload: a QoS 1 message may be held (queued for an offline session,
# in flight) in queues bounded by count, where a large one must not take twice its size; the splice saves a few
# hundred ns a delivery, nothing next to copying a large payload
QOS1_WIRE_MAX = 16384


def check_flags(packet_type: int, flags: int) -> None:
    if packet_type == wf.PUBLISH:
        if flags & 0x06 == 0x06:
            raise malformed("PUBLISH with QoS 3")  # [MQTT-3.3.1-4]
        return
    required = REQUIRED_FLAGS.get(packet_type)
    if required is None:
        name = wf.PACKET_NAMES.get(packet_type)
        if name is None:
            raise malformed(f"reserved packet type {packet_type}")
        raise protocol_error(f"a client may not send {name}")
    if flags != required:
        raise malformed(f"{wf.PACKET_NAMES[packet_type]} with reserved flags {flags:#x}")


def decode_packet(first: int, body: bytes, version: int) -> ClientPacket:
    """One whole packet from a client after CONNECT: its first byte and its body (all after the remaining length)."""
    return decode_from(first, body, 0, len(body), version)


def decode_from(first: int, data: bytes | bytearray, start: int, end: int, version: int) -> ClientPacket:
    """The packet whose first byte is `first` and whose body is `data[start:end]` (a second CONNECT is an error)."""
    packet_type, flags = first >> 4, first & 0x0F
    check_flags(packet_type, flags)
    if packet_type == wf.PUBLISH:
        return decode_publish(flags, data, start, end, version)
    if packet_type in _ACK_CLASSES:
        return decode_ack(packet_type, data, start, end, version)
    if packet_type == wf.SUBSCRIBE:
        return decode_subscribe(data, start, end, version)
    if packet_type == wf.UNSUBSCRIBE:
        return decode_unsubscribe(data, start, end, version)
    if packet_type == wf.PINGREQ:
        if end != start:
            raise malformed("PINGREQ with a body")
        return PINGREQ_PACKET
    if packet_type == wf.DISCONNECT:
        return decode_disconnect(data, start, end, version)
    if packet_type == wf.AUTH:
        return decode_auth(data, start, end, version)
    raise protocol_error("a second CONNECT")  # [MQTT-3.1.0-2]


def decode_publish(flags: int, data: bytes | bytearray, start: int, end: int, version: int,
                   packet_start: int | None = None) -> Publish:
    """The PUBLISH whose body is `data[start:end]`. With `packet_start` (where its fixed header begins), a QoS 0
    message, or a QoS 1 one of at most QOS1_WIRE_MAX bytes, that is not retained, not a duplicate and sets no topic
    alias keeps its whole packet as `wire`: a receiver of the same version gets exactly those bytes, at QoS 1 with its
    own packet id (the fixed header was checked to be in the fewest bytes, [MQTT-1.5.5-1])."""
    qos = (flags >> 1) & 3
    if qos == 3:
        raise malformed("PUBLISH with QoS 3")
    if start + 2 > end:
        raise malformed("PUBLISH without a topic")
    offset = start + 2 + (data[start] << 8 | data[start + 1])  # (indexing: half the cost of unpack_from here)
    if offset > end:
        raise malformed("truncated PUBLISH topic")
    try:
        topic = str(data[start + 2:offset], "utf-8")
    except UnicodeDecodeError:
        raise malformed("the PUBLISH topic is not valid UTF-8") from None
    if "\x00" in topic:
        raise malformed("the PUBLISH topic contains U+0000")
    packet_id = None
    if qos:
        if offset + 2 > end:
            raise malformed("PUBLISH without packet id")
        packet_id = data[offset] << 8 | data[offset + 1]
        if not packet_id:
            raise protocol_error("PUBLISH with packet id 0")  # [MQTT-2.2.1-3]
        offset += 2
    elif flags & 0x08:
        raise protocol_error("QoS 0 PUBLISH with the DUP flag")  # [MQTT-3.3.1-2]
    properties = EMPTY_PROPERTIES
    if version == wf.MQTT_5:
        if offset < end and data[offset] == 0:  # the usual case: no properties
            offset += 1
        else:
            properties, offset = decode_properties(data, offset, end, wf.PUBLISH)
            if properties.subscription_identifiers:
                raise protocol_error("a client PUBLISH carries a Subscription Identifier")  # [MQTT-3.3.4-6]
    if not topic and properties.topic_alias is None:
        raise protocol_error("PUBLISH with an empty topic and no topic alias")  # [MQTT-4.7.3-1], [MQTT-3.3.2-8]
    if "+" in topic or "#" in topic:
        check_topic_name(topic)
    payload = data[offset:end]
    if type(payload) is not bytes:  # (a slice of bytes is bytes already: no second copy)
        payload = bytes(payload)
    if packet_start is not None and (not flags or flags == 0x02 and end - packet_start <= QOS1_WIRE_MAX) \
            and properties.topic_alias is None:
        wire = data[packet_start:end]
        return new_publish(topic, payload, qos, False, False, packet_id, properties,
                           wire if type(wire) is bytes else bytes(wire), version)
    return new_publish(topic, payload, qos, bool(flags & 1), bool(flags & 8), packet_id, properties, None, 0)


def _packet_id(data: bytes | bytearray, start: int, end: int, what: str) -> int:
    if start + 2 > end:
        raise malformed(f"{what} without packet id")
    packet_id: int = _u16_from(data, start)[0]
    if not packet_id:
        raise protocol_error(f"{what} with packet id 0")  # [MQTT-2.2.1-3]
    return packet_id


def decode_ack(packet_type: int, data: bytes | bytearray, start: int, end: int, version: int) -> AckPacket:
    """PUBACK, PUBREC, PUBREL or PUBCOMP; an MQTT 5 one may omit the reason code (0) and properties [MQTT-3.4.2-1]."""
    name = wf.PACKET_NAMES[packet_type]
    packet_id = _packet_id(data, start, end, name)
    cls = _ACK_CLASSES[packet_type]
    length = end - start
    if version != wf.MQTT_5 or length == 2:
        if length != 2:
            raise malformed(f"{name} must carry exactly a packet id")
        return cls(packet_id)
    code, properties = _reason_and_properties(data, start + 2, end, packet_type, _ACK_CODES[packet_type])
    return cls(packet_id, code, properties)


def _reason_and_properties(data: bytes | bytearray, start: int, end: int, packet_type: int,
                           allowed: frozenset[int]) -> tuple[int, Properties]:
    """An MQTT 5 reason code from `allowed` at `start`, then properties (optional) that must end the packet."""
    name = wf.PACKET_NAMES[packet_type]
    code = data[start]
    if code not in allowed:
        raise protocol_error(f"{name} with reason code {code:#04x}")
    if end - start == 1:
        return code, EMPTY_PROPERTIES
    properties, offset = decode_properties(data, start + 1, end, packet_type)
    if offset != end:
        raise malformed(f"{name} with bytes after its properties")
    return code, properties


def decode_subscribe(data: bytes | bytearray, start: int, end: int, version: int) -> Subscribe:
    packet_id = _packet_id(data, start, end, "SUBSCRIBE")
    offset = start + 2
    properties = EMPTY_PROPERTIES
    if version == wf.MQTT_5:
        properties, offset = decode_properties(data, offset, end, wf.SUBSCRIBE)
    subscriptions: list[tuple[str, SubscriptionOptions]] = []
    while offset < end:
        topic_filter, offset = wf.read_string(data, offset, end)
        if offset >= end:
            raise malformed(f"SUBSCRIBE filter {topic_filter!r} without options")
        options = data[offset]
        offset += 1
        subscriptions.append((topic_filter, _options(topic_filter, options, version)))
    if not subscriptions:
        raise protocol_error("SUBSCRIBE without topic filters")  # [MQTT-3.8.3-2]
    return Subscribe(packet_id, tuple(subscriptions), properties)


def _options(topic_filter: str, options: int, version: int) -> SubscriptionOptions:
    if options & 0x03 == 0x03:
        raise malformed(f"SUBSCRIBE with QoS 3 for {topic_filter!r}")  # [MQTT-3.8.3-4] (3.1.1), [MQTT-3-8.3-4]
    if version != wf.MQTT_5:
        if options & 0xFC:
            raise malformed(f"SUBSCRIBE with reserved option bits {options:#04x}")  # [MQTT-3-8.3-4]
        _check_shared(topic_filter)
        return _QOS_ONLY[options]
    if options & 0xC0:
        raise malformed(f"SUBSCRIBE with reserved option bits {options:#04x}")  # [MQTT-3.8.3-5]
    retain_handling = (options >> 4) & 0x03
    if retain_handling == 3:
        raise protocol_error(f"SUBSCRIBE with retain handling 3 for {topic_filter!r}")
    _check_shared(topic_filter)
    no_local = bool(options & 0x04)
    if no_local and is_shared(topic_filter):
        raise protocol_error(f"No Local on the shared subscription {topic_filter!r}")  # [MQTT-3.8.3-4]
    if options < 3:
        return _QOS_ONLY[options]
    return SubscriptionOptions(options & 0x03, no_local, bool(options & 0x08), retain_handling)


_QOS_ONLY = (SubscriptionOptions(0), SubscriptionOptions(1), SubscriptionOptions(2))


def _check_shared(topic_filter: str) -> None:
    """A SUBSCRIBE filter that is not valid is refused by the broker filter by filter (SUBACK 0x80 / 0x8F, with the
    reason in the Auth log), as MQTT allows; only a malformed shared-subscription name is a protocol error."""
    if is_shared(topic_filter):
        check_topic_filter(topic_filter)


def decode_unsubscribe(data: bytes | bytearray, start: int, end: int, version: int) -> Unsubscribe:
    packet_id = _packet_id(data, start, end, "UNSUBSCRIBE")
    offset = start + 2
    properties = EMPTY_PROPERTIES
    if version == wf.MQTT_5:
        properties, offset = decode_properties(data, offset, end, wf.UNSUBSCRIBE)
    filters: list[str] = []
    while offset < end:
        topic_filter, offset = wf.read_string(data, offset, end)
        try:
            check_topic_filter(topic_filter)
        except ProtocolError as error:
            raise ProtocolError(error.reason_code, f"UNSUBSCRIBE with an invalid topic filter: {error.text}") from None
        filters.append(topic_filter)
    if not filters:
        raise protocol_error("UNSUBSCRIBE without topic filters")  # [MQTT-3.10.3-2]
    return Unsubscribe(packet_id, tuple(filters), properties)


def decode_disconnect(data: bytes | bytearray, start: int, end: int, version: int) -> Disconnect:
    """3.1.1: no body. 5: reason code and properties, both optional (remaining length 0 means 0x00)."""
    if start == end:
        return _NORMAL_DISCONNECT
    if version != wf.MQTT_5:
        raise malformed("DISCONNECT with a body")
    code, properties = _reason_and_properties(data, start, end, wf.DISCONNECT, _DISCONNECT_CODES)
    if properties.server_reference is not None:
        raise protocol_error("a client DISCONNECT carries a Server Reference")
    return Disconnect(code, properties)


_NORMAL_DISCONNECT = Disconnect()


def decode_auth(data: bytes | bytearray, start: int, end: int, version: int) -> Auth:
    if version != wf.MQTT_5:
        raise malformed("AUTH is not an MQTT 3.1.1 packet")
    if start == end:
        return Auth()  # [MQTT-3.15.2-1]: 0x00 success, no properties
    code, properties = _reason_and_properties(data, start, end, wf.AUTH, _AUTH_CODES)
    if properties.authentication_method is None:
        raise protocol_error("AUTH without an Authentication Method")  # [MQTT-3.15.2-2] (via 4.12)
    return Auth(code, properties)


# -- CONNECT -------------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class ConnectProgress:
    """What a CONNECT decoder had read when it failed: for the log line, and for choosing the CONNACK form."""

    protocol_name: str | None = None
    protocol_version: int | None = None
    client_id: str | None = None
    username: str | None = None


class UnsupportedProtocol(ProtocolError):
    """A CONNECT for a protocol we do not speak: answered with CONNACK 1 (3.1.1 form) or 0x84 (MQTT 5 form)."""


def decode_connect(body: bytes | bytearray, progress: ConnectProgress | None = None) -> Connect:
    """A CONNECT body, either version (section 3.1 of both specs); fills `progress` as fields are read."""
    seen = progress if progress is not None else ConnectProgress()
    end = len(body)
    name, offset = wf.read_string(body, 0, end)
    if name == "MQTT":
        name = "MQTT"  # the constant, not the decoded copy: every connection would keep one (its progress)
    seen.protocol_name = name
    if name not in ("MQTT", "MQIsdp"):
        raise protocol_error(f"unknown protocol name {name!r}")  # [MQTT-3.1.2-1]: may close without CONNACK
    level, offset = wf.read_byte(body, offset, end)
    seen.protocol_version = level
    if name != "MQTT" or level not in (wf.MQTT_3_1_1, wf.MQTT_5):
        raise UnsupportedProtocol(Mqtt5Reason.UNSUPPORTED_PROTOCOL_VERSION,
                                  f"protocol {name} level {level} is not supported (MQTT 3.1.1 and 5 are)")
    flags, offset = wf.read_byte(body, offset, end)
    keep_alive, offset = wf.read_u16(body, offset, end)
    if flags & 0x01:
        raise malformed("the reserved CONNECT flag is set")  # [MQTT-3.1.2-3]
    will_flag, will_qos, will_retain = bool(flags & 0x04), (flags >> 3) & 3, bool(flags & 0x20)
    has_username, has_password = bool(flags & 0x80), bool(flags & 0x40)
    if will_flag and will_qos == 3:
        raise malformed("the will QoS is 3")  # [MQTT-3.1.2-14], [MQTT-3.1.2-12]
    if not will_flag and (will_qos or will_retain):
        raise malformed("will QoS or retain set without a will")  # [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    if level == wf.MQTT_3_1_1 and has_password and not has_username:
        raise protocol_error("a password without a username")  # [MQTT-3.1.2-22]
    properties = EMPTY_PROPERTIES
    if level == wf.MQTT_5:
        properties, offset = decode_properties(body, offset, end, wf.CONNECT)
        if properties.authentication_data is not None and properties.authentication_method is None:
            raise protocol_error("Authentication Data without an Authentication Method")
    client_id, offset = wf.read_string(body, offset, end)
    seen.client_id = client_id
    will = None
    if will_flag:
        will_properties = EMPTY_PROPERTIES
        if level == wf.MQTT_5:
            will_properties, offset = decode_properties(body, offset, end, WILL_PROPERTIES)
        will_topic, offset = wf.read_string(body, offset, end)
        if not will_topic:
            raise protocol_error("an empty will topic")  # [MQTT-4.7.3-1]
        check_topic_name(will_topic)
        will_payload, offset = wf.read_binary(body, offset, end)
        will = Will(will_topic, will_payload, will_qos, will_retain, will_properties)
    username = None
    if has_username:
        username, offset = wf.read_string(body, offset, end)
        seen.username = username
    password = None
    if has_password:
        password, offset = wf.read_binary(body, offset, end)
    if offset != end:
        raise malformed("CONNECT with bytes after its payload")
    return Connect(name, level, client_id, bool(flags & 0x02), keep_alive, username, password, will, properties)
