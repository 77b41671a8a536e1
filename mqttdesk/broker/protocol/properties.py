"""MQTT 5 properties (section 2.2.2 of the MQTT 5.0 spec): one immutable `Properties` value, decoding with the
spec's checks, and encoding.

Every property of every packet type is a field of `Properties` (None or empty when absent), so one type serves
CONNECT, the will, PUBLISH, the acknowledgements, SUBSCRIBE, DISCONNECT and AUTH. Packets without properties share
the single `EMPTY_PROPERTIES` instance: an MQTT 3.1.1 or property-less MQTT 5 PUBLISH allocates nothing for them.

Decoding refuses, as the spec says: an unknown identifier or one not allowed in the packet type (malformed, 0x81),
a non-repeatable property given twice (protocol error, 0x82), a value outside its range (0x82), truncated data or
a bad string (0x81).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.reason_codes import malformed, protocol_error

WILL_PROPERTIES: Final = 16  # not a packet type: the will's properties inside CONNECT have their own allowed set


@dataclass(frozen=True, slots=True)
class Properties:
    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None

    def without_problem_information(self) -> Properties:
        """These properties without a reason string and user properties (request problem information 0)."""
        if self.reason_string is None and not self.user_properties:
            return self
        stripped = replace(self, reason_string=None, user_properties=())
        return EMPTY_PROPERTIES if stripped == EMPTY_PROPERTIES else stripped


EMPTY_PROPERTIES: Final = Properties()


# -- the table of section 2.2.2.2 ----------------------------------------------------------------------------------

def _read_pair(data: bytes | bytearray, offset: int, end: int) -> tuple[tuple[str, str], int]:
    key, offset = wf.read_string(data, offset, end)
    value, offset = wf.read_string(data, offset, end)
    return (key, value), offset


def _write_byte(value: Any) -> bytes:
    return bytes((value,))


def _write_pair(value: Any) -> bytes:
    return wf.encode_string(value[0]) + wf.encode_string(value[1])


_Reader = Callable[[bytes | bytearray, int, int], tuple[Any, int]]
_Writer = Callable[[Any], bytes]

_BYTE: tuple[_Reader, _Writer] = (wf.read_byte, _write_byte)
_U16: tuple[_Reader, _Writer] = (wf.read_u16, wf.U16.pack)
_U32: tuple[_Reader, _Writer] = (wf.read_u32, wf.U32.pack)
_VARINT: tuple[_Reader, _Writer] = (wf.read_varint, wf.encode_varint)
_STRING: tuple[_Reader, _Writer] = (wf.read_string, wf.encode_string)
_BINARY: tuple[_Reader, _Writer] = (wf.read_binary, wf.encode_binary)
_PAIR: tuple[_Reader, _Writer] = (_read_pair, _write_pair)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    identifier: int
    name: str  # the `Properties` field
    title: str  # as the spec names it, for error messages
    read: _Reader
    write: _Writer
    allowed: frozenset[int]  # packet types (and WILL_PROPERTIES) that may carry it
    repeatable: bool = False
    boolean: bool = False  # the value must be 0 or 1 [MQTT-3.1.2-x], a protocol error otherwise
    nonzero: bool = False  # 0 is a protocol error


_ACKS = frozenset({wf.PUBACK, wf.PUBREC, wf.PUBREL, wf.PUBCOMP})
_MESSAGE = frozenset({wf.PUBLISH, WILL_PROPERTIES})


def _spec(identifier: int, name: str, title: str, kind: tuple[_Reader, _Writer], *allowed: int,
          repeatable: bool = False, boolean: bool = False, nonzero: bool = False) -> PropertySpec:
    return PropertySpec(identifier, name, title, kind[0], kind[1], frozenset(allowed), repeatable, boolean, nonzero)


SPECS: Final[tuple[PropertySpec, ...]] = (
    _spec(0x01, "payload_format_indicator", "Payload Format Indicator", _BYTE, *_MESSAGE, boolean=True),
    _spec(0x02, "message_expiry_interval", "Message Expiry Interval", _U32, *_MESSAGE),
    _spec(0x03, "content_type", "Content Type", _STRING, *_MESSAGE),
    _spec(0x08, "response_topic", "Response Topic", _STRING, *_MESSAGE),
    _spec(0x09, "correlation_data", "Correlation Data", _BINARY, *_MESSAGE),
    # repeatable in a PUBLISH (one per matching subscription), at most once in a SUBSCRIBE [MQTT-3.8.2.1.2]
    _spec(0x0B, "subscription_identifiers", "Subscription Identifier", _VARINT, wf.PUBLISH, wf.SUBSCRIBE,
          repeatable=True, nonzero=True),
    _spec(0x11, "session_expiry_interval", "Session Expiry Interval", _U32, wf.CONNECT, wf.CONNACK, wf.DISCONNECT),
    _spec(0x12, "assigned_client_identifier", "Assigned Client Identifier", _STRING, wf.CONNACK),
    _spec(0x13, "server_keep_alive", "Server Keep Alive", _U16, wf.CONNACK),
    _spec(0x15, "authentication_method", "Authentication Method", _STRING, wf.CONNECT, wf.CONNACK, wf.AUTH),
    _spec(0x16, "authentication_data", "Authentication Data", _BINARY, wf.CONNECT, wf.CONNACK, wf.AUTH),
    _spec(0x17, "request_problem_information", "Request Problem Information", _BYTE, wf.CONNECT, boolean=True),
    _spec(0x18, "will_delay_interval", "Will Delay Interval", _U32, WILL_PROPERTIES),
    _spec(0x19, "request_response_information", "Request Response Information", _BYTE, wf.CONNECT, boolean=True),
    _spec(0x1A, "response_information", "Response Information", _STRING, wf.CONNACK),
    _spec(0x1C, "server_reference", "Server Reference", _STRING, wf.CONNACK, wf.DISCONNECT),
    _spec(0x1F, "reason_string", "Reason String", _STRING, wf.CONNACK, *_ACKS, wf.SUBACK, wf.UNSUBACK,
          wf.DISCONNECT, wf.AUTH),
    _spec(0x21, "receive_maximum", "Receive Maximum", _U16, wf.CONNECT, wf.CONNACK, nonzero=True),
    _spec(0x22, "topic_alias_maximum", "Topic Alias Maximum", _U16, wf.CONNECT, wf.CONNACK),
    _spec(0x23, "topic_alias", "Topic Alias", _U16, wf.PUBLISH),  # 0 is checked by the connection: 0x94
    _spec(0x24, "maximum_qos", "Maximum QoS", _BYTE, wf.CONNACK, boolean=True),
    _spec(0x25, "retain_available", "Retain Available", _BYTE, wf.CONNACK, boolean=True),
    _spec(0x26, "user_properties", "User Property", _PAIR, *range(wf.CONNECT, wf.AUTH + 1), WILL_PROPERTIES,
          repeatable=True),
    _spec(0x27, "maximum_packet_size", "Maximum Packet Size", _U32, wf.CONNECT, wf.CONNACK, nonzero=True),
    _spec(0x28, "wildcard_subscription_available", "Wildcard Subscription Available", _BYTE, wf.CONNACK,
          boolean=True),
    _spec(0x29, "subscription_identifier_available", "Subscription Identifier Available", _BYTE, wf.CONNACK,
          boolean=True),
    _spec(0x2A, "shared_subscription_available", "Shared Subscription Available", _BYTE, wf.CONNACK, boolean=True),
)
SPEC_BY_ID: Final = {spec.identifier: spec for spec in SPECS}
SPEC_BY_NAME: Final = {spec.name: spec for spec in SPECS}


def _where(packet_type: int) -> str:
    return "the will" if packet_type == WILL_PROPERTIES else wf.PACKET_NAMES.get(packet_type, str(packet_type))


def decode_properties(data: bytes | bytearray, offset: int, end: int, packet_type: int) -> tuple[Properties, int]:
    """The property block at `offset` (its length first) of a `packet_type` packet; returns it and the offset after."""
    length, offset = wf.read_varint(data, offset, end)
    if not length:
        return EMPTY_PROPERTIES, offset
    stop = offset + length
    if stop > end:
        raise malformed(f"the properties of {_where(packet_type)} are longer than the packet")
    values: dict[str, Any] = {}
    repeated: dict[str, list[Any]] = {}
    while offset < stop:
        identifier, offset = wf.read_varint(data, offset, stop)
        spec = SPEC_BY_ID.get(identifier)
        if spec is None:
            raise malformed(f"unknown property identifier {identifier:#04x} in {_where(packet_type)}")
        if packet_type not in spec.allowed:
            raise malformed(f"{_where(packet_type)} may not carry the {spec.title} property")
        value, offset = spec.read(data, offset, stop)
        if spec.boolean and value > 1:
            raise protocol_error(f"{spec.title} must be 0 or 1, not {value}")
        if spec.nonzero and value == 0:
            raise protocol_error(f"{spec.title} must not be 0")
        if spec.repeatable and not (identifier == 0x0B and packet_type == wf.SUBSCRIBE):
            repeated.setdefault(spec.name, []).append(value)
        elif spec.name in values or spec.name in repeated:
            raise protocol_error(f"{spec.title} appears more than once in {_where(packet_type)}")
        elif identifier == 0x0B:
            repeated[spec.name] = [value]
        else:
            values[spec.name] = value
    for name, items in repeated.items():
        values[name] = tuple(items)
    return Properties(**values), stop


def encode_properties_body(properties: Properties) -> bytes:
    """The properties without their length prefix, in identifier order."""
    if properties is EMPTY_PROPERTIES:
        return b""
    parts: list[bytes] = []
    for spec in SPECS:
        value = getattr(properties, spec.name)
        if value is None or value == ():
            continue
        prefix = bytes((spec.identifier,))
        if spec.repeatable:
            parts.extend(prefix + spec.write(item) for item in value)
        else:
            parts.append(prefix + spec.write(value))
    return b"".join(parts)


def encode_properties(properties: Properties) -> bytes:
    """The property block as it goes on the wire: length (variable byte integer), then the properties."""
    body = encode_properties_body(properties)
    return wf.encode_varint(len(body)) + body
