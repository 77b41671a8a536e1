"""The MQTT packets a server receives and sends, as immutable values that do not depend on the protocol version.

MQTT 3.1.1 packets decode to the same values as MQTT 5 ones, with the MQTT 5 defaults: reason code 0 and
`EMPTY_PROPERTIES`. MQTT 5 properties stay in a `Properties` value (see properties.py); the accessors below name the
ones a broker reads most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from mqttdesk.broker.protocol.properties import EMPTY_PROPERTIES, Properties


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties = EMPTY_PROPERTIES  # will delay interval, payload format, message expiry, content type,
    # response topic, correlation data, user properties

    @property
    def delay_interval(self) -> int:
        return self.properties.will_delay_interval or 0


@dataclass(slots=True, unsafe_hash=True)  # (not frozen: one a CONNECT, see Publish)
class Connect:
    protocol_name: str  # "MQTT" (or "MQIsdp" for 3.1, which is refused)
    protocol_version: int  # 4: MQTT 3.1.1, 5: MQTT 5
    client_id: str  # may be empty: the broker assigns one
    clean_start: bool  # "clean session" in 3.1.1
    keep_alive: int
    username: str | None = None
    password: bytes | None = None  # binary in both versions: a 3.1.1 password need not be text
    will: Will | None = None
    properties: Properties = EMPTY_PROPERTIES  # session expiry, receive maximum, maximum packet size, topic alias
    # maximum, request response / problem information, user properties, authentication method / data

    def __repr__(self) -> str:  # never show the password, not even in a debug log
        return (f"Connect(v{self.protocol_version}, client_id={self.client_id!r}, username={self.username!r}, "
                f"clean_start={self.clean_start}, keep_alive={self.keep_alive})")


# Publish and PubAck are values like every packet here, but not `frozen`: the decoder makes one per message, and a
# frozen class can only be filled through its slot descriptors' `__set__` (472 ns a Publish against 132 ns for
# plain attribute stores, timeit; 0.3 µs of a QoS 0 message's 3 µs). Nothing assigns to one once it is made
# (`dataclasses.replace` makes a copy); `unsafe_hash` keeps them hashable as the frozen ones are.
@dataclass(slots=True, unsafe_hash=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None  # set for QoS 1 and 2 as received; outgoing ids are given to send_publish
    properties: Properties = EMPTY_PROPERTIES  # payload format, message expiry, topic alias, response topic,
    # correlation data, user properties, subscription identifiers, content type
    # The whole packet as it arrived, when a receiver speaking its protocol version gets it byte for byte (QoS 1:
    # but for the packet id): QoS 0 or 1, not retained, no DUP, no topic alias (see decoder.decode_publish and
    # encoder.OutgoingPublish). Only the decoder sets it: it is no __init__
    # argument, so a copy made with `dataclasses.replace` (another topic, other properties) has none.
    wire: bytes | None = field(default=None, init=False, compare=False, repr=False)
    wire_version: int = field(default=0, init=False, compare=False, repr=False)


@dataclass(slots=True, unsafe_hash=True)  # (not frozen: see Publish)
class PubAck:
    packet_id: int
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES  # reason string, user properties


@dataclass(frozen=True, slots=True)
class PubRec:
    packet_id: int
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubRel:
    packet_id: int
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class PubComp:
    packet_id: int
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES


AckPacket = PubAck | PubRec | PubRel | PubComp

RETAIN_SEND, RETAIN_SEND_IF_NEW, RETAIN_DONT_SEND = 0, 1, 2  # retain handling of a subscription


@dataclass(frozen=True, slots=True)
class SubscriptionOptions:
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = RETAIN_SEND


@dataclass(frozen=True, slots=True)
class Subscribe:
    packet_id: int
    subscriptions: tuple[tuple[str, SubscriptionOptions], ...]
    properties: Properties = EMPTY_PROPERTIES  # subscription identifier (at most one), user properties

    @property
    def subscription_identifier(self) -> int | None:
        ids = self.properties.subscription_identifiers
        return ids[0] if ids else None


@dataclass(frozen=True, slots=True)
class Suback:
    packet_id: int
    reason_codes: tuple[int, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class Unsuback:
    packet_id: int
    reason_codes: tuple[int, ...] = ()  # MQTT 5 only; 3.1.1 UNSUBACK has none
    properties: Properties = EMPTY_PROPERTIES


@dataclass(frozen=True, slots=True)
class PingReq:
    pass


@dataclass(frozen=True, slots=True)
class PingResp:
    pass


PINGREQ_PACKET: Final = PingReq()


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES  # session expiry, reason string, server reference, user properties

    @property
    def session_expiry_interval(self) -> int | None:
        return self.properties.session_expiry_interval


@dataclass(frozen=True, slots=True)
class Auth:
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES  # authentication method / data, reason string, user properties


@dataclass(frozen=True, slots=True)
class Connack:
    session_present: bool = False
    reason_code: int = 0
    properties: Properties = EMPTY_PROPERTIES  # session expiry, receive maximum, maximum QoS, retain available,
    # maximum packet size, assigned client identifier, topic alias maximum, reason string, user properties,
    # wildcard / subscription identifier / shared subscription available, server keep alive, response information,
    # server reference, authentication method / data


ClientPacket = Connect | Publish | PubAck | PubRec | PubRel | PubComp | Subscribe | Unsubscribe | PingReq | Disconnect \
    | Auth
ServerPacket = Connack | Publish | PubAck | PubRec | PubRel | PubComp | Suback | Unsuback | PingResp | Disconnect | Auth


def new_publish(topic: str, payload: bytes, qos: int, retain: bool, dup: bool, packet_id: int | None,
                properties: Properties, wire: bytes | None, wire_version: int) -> Publish:
    """`Publish(...)` for the decoder's hot path, without `__init__`'s defaults and call: `wire` is the packet as
    it arrived when it may be sent on unchanged (else None), `wire_version` its protocol version."""
    publish: Publish = _new(Publish)
    publish.topic = topic
    publish.payload = payload
    publish.qos = qos
    publish.retain = retain
    publish.dup = dup
    publish.packet_id = packet_id
    publish.properties = properties
    publish.wire = wire
    publish.wire_version = wire_version
    return publish


def new_puback(packet_id: int) -> PubAck:
    """`PubAck(packet_id)` the same way: the acknowledgement of every QoS 1 message a subscriber receives."""
    puback: PubAck = _new(PubAck)
    puback.packet_id = packet_id
    puback.reason_code = 0
    puback.properties = EMPTY_PROPERTIES
    return puback


_new: Final = object.__new__

