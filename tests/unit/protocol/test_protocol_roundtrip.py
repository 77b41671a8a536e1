"""Property-based round trips of the codec (hypothesis), and the protocol fed arbitrary bytes and arbitrary splits."""

from __future__ import annotations

from typing import Any

from client_bytes import connect_packet, subscribe_packet, unsubscribe_packet
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttdesk.broker.protocol import ProtocolErrorOccurred, ServerProtocol
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.decoder import decode_connect, decode_packet
from mqttdesk.broker.protocol.encoder import encode_ack, encode_auth, encode_disconnect, encode_publish
from mqttdesk.broker.protocol.packets import (
    Auth,
    Connect,
    Disconnect,
    PubAck,
    Publish,
    Subscribe,
    SubscriptionOptions,
    Unsubscribe,
    Will,
)
from mqttdesk.broker.protocol.properties import (
    SPECS,
    WILL_PROPERTIES,
    Properties,
    PropertySpec,
    decode_properties,
    encode_properties,
)

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
TOPIC_LEVEL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/+#"), max_size=6)
TOPIC = st.lists(TOPIC_LEVEL, min_size=1, max_size=4).map("/".join).filter(bool)
FILTER = st.lists(st.one_of(TOPIC_LEVEL, st.just("+")), min_size=1, max_size=4).flatmap(
    lambda levels: st.sampled_from(["/".join(levels), "/".join([*levels, "#"])])).filter(bool)


def _value(spec: PropertySpec) -> st.SearchStrategy[Any]:
    read = spec.read
    if read is wf.read_byte:
        return st.integers(0, 1 if spec.boolean else 255)
    if read is wf.read_u16:
        return st.integers(1 if spec.nonzero else 0, 0xFFFF)
    if read is wf.read_u32:
        return st.integers(1 if spec.nonzero else 0, 0xFFFFFFFF)
    if read is wf.read_varint:
        return st.integers(1, wf.MAX_VARINT)
    if read is wf.read_string:
        return TEXT
    if read is wf.read_binary:
        return st.binary(max_size=12)
    return st.tuples(TEXT, TEXT)


def properties_for(packet_type: int, exclude: tuple[str, ...] = ()) -> st.SearchStrategy[Properties]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for spec in SPECS:
        if packet_type not in spec.allowed or spec.name in exclude:
            continue
        if spec.repeatable:
            most = 1 if packet_type == wf.SUBSCRIBE and spec.identifier == 0x0B else 3
            fields[spec.name] = st.lists(_value(spec), max_size=most).map(tuple)
        else:
            fields[spec.name] = st.none() | _value(spec)
    return st.fixed_dictionaries(fields).map(lambda values: Properties(**values))


@given(st.sampled_from([*range(wf.CONNECT, wf.AUTH + 1), WILL_PROPERTIES]).flatmap(
    lambda packet_type: st.tuples(st.just(packet_type), properties_for(packet_type))))
def test_properties_round_trip(case: tuple[int, Properties]) -> None:
    packet_type, properties = case
    block = encode_properties(properties)
    assert decode_properties(block, 0, len(block), packet_type) == (properties, len(block))


@st.composite
def publishes(draw: st.DrawFn, version: int) -> Publish:
    qos = draw(st.integers(0, 2))
    properties = draw(properties_for(wf.PUBLISH, ("subscription_identifiers", "topic_alias"))) if version == 5 \
        else Properties()
    return Publish(draw(TOPIC), draw(st.binary(max_size=300)), qos, draw(st.booleans()),
                   draw(st.booleans()) if qos else False, draw(st.integers(1, 0xFFFF)) if qos else None,
                   properties)


@given(st.sampled_from([4, 5]).flatmap(lambda version: st.tuples(st.just(version), publishes(version))))
def test_publish_round_trip(case: tuple[int, Publish]) -> None:
    version, publish = case
    data = encode_publish(publish, version)
    length, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert index + length == len(data)
    assert decode_packet(data[0], data[index:], version) == publish


@st.composite
def connects(draw: st.DrawFn) -> Connect:
    version = draw(st.sampled_from([4, 5]))
    will = None
    if draw(st.booleans()):
        will = Will(draw(TOPIC), draw(st.binary(max_size=20)), draw(st.integers(0, 2)), draw(st.booleans()),
                    draw(properties_for(WILL_PROPERTIES)) if version == 5 else Properties())
    username = draw(st.none() | TEXT)
    password = draw(st.none() | st.binary(max_size=20)) if version == 5 or username is not None else None
    properties = Properties()
    if version == 5:
        properties = draw(properties_for(wf.CONNECT, ("authentication_data",)))
    return Connect("MQTT", version, draw(TEXT), draw(st.booleans()), draw(st.integers(0, 0xFFFF)), username,
                   password, will, properties)


@given(connects())
def test_connect_round_trip(connect: Connect) -> None:
    data = connect_packet(connect)
    _, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert decode_connect(data[index:]) == connect


OPTIONS_V4 = st.integers(0, 2).map(SubscriptionOptions)
OPTIONS_V5 = st.builds(SubscriptionOptions, st.integers(0, 2), st.booleans(), st.booleans(), st.integers(0, 2))


@given(st.sampled_from([4, 5]).flatmap(lambda version: st.tuples(
    st.just(version), st.integers(1, 0xFFFF),
    st.lists(st.tuples(FILTER, OPTIONS_V5 if version == 5 else OPTIONS_V4), min_size=1, max_size=5),
    properties_for(wf.SUBSCRIBE) if version == 5 else st.just(Properties()))))
def test_subscribe_and_unsubscribe_round_trip(case: tuple[int, int, list[tuple[str, SubscriptionOptions]],
                                                          Properties]) -> None:
    version, packet_id, subscriptions, properties = case
    subscribe = Subscribe(packet_id, tuple(subscriptions), properties)
    data = subscribe_packet(subscribe, version)
    _, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert decode_packet(data[0], data[index:], version) == subscribe
    unsubscribe = Unsubscribe(packet_id, tuple(topic_filter for topic_filter, _ in subscriptions),
                              Properties(user_properties=properties.user_properties))
    data = unsubscribe_packet(unsubscribe, version)
    _, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert decode_packet(data[0], data[index:], version) == unsubscribe


@given(st.integers(1, 0xFFFF), st.sampled_from([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
       properties_for(wf.PUBACK))
def test_ack_round_trip_v5(packet_id: int, code: int, properties: Properties) -> None:
    data = encode_ack(wf.PUBACK, 5, packet_id, code, properties)
    _, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert decode_packet(data[0], data[index:], 5) == PubAck(packet_id, code, properties)


@given(st.sampled_from([0x00, 0x04, 0x80, 0x8E]), properties_for(wf.DISCONNECT, ("server_reference",)),
       st.sampled_from([0x00, 0x18, 0x19]), properties_for(wf.AUTH, ("authentication_method",)), TEXT)
def test_disconnect_and_auth_round_trip(disconnect_code: int, disconnect_properties: Properties, auth_code: int,
                                        auth_properties: Properties, method: str) -> None:
    data = encode_disconnect(disconnect_code, disconnect_properties)
    _, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert decode_packet(data[0], data[index:], 5) == Disconnect(disconnect_code, disconnect_properties)
    auth = Auth(auth_code, Properties(**{**{name: getattr(auth_properties, name) for name in
                                            Properties.__dataclass_fields__}, "authentication_method": method}))
    data = encode_auth(auth.reason_code, auth.properties)
    _, index = wf.read_remaining_length(data, 1, len(data)) or (0, 0)
    assert decode_packet(data[0], data[index:], 5) == auth


@settings(max_examples=300)
@given(st.sampled_from([4, 5]), st.binary(max_size=200))
def test_arbitrary_bytes_after_connect_never_crash(version: int, junk: bytes) -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect_packet(Connect("MQTT", version, "c", True, 60)))
    protocol.send_connack(0)
    protocol.receive_data(junk)
    events = protocol.events_received()
    errors = [event for event in events if isinstance(event, ProtocolErrorOccurred)]
    assert len(errors) <= 1
    assert bool(errors) == protocol.close_expected() or any(isinstance(event, Disconnect) for event in events)


@settings(max_examples=300)
@given(st.binary(max_size=100))
def test_arbitrary_bytes_before_connect_never_crash(junk: bytes) -> None:
    protocol = ServerProtocol()
    protocol.receive_data(junk)
    for event in protocol.events_received():
        assert isinstance(event, Connect | ProtocolErrorOccurred)


@given(st.lists(publishes(5), min_size=1, max_size=6), st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_any_split_of_the_stream_gives_the_same_events(messages: list[Publish], cuts: list[int]) -> None:
    stream = b"".join(encode_publish(message, 5) for message in messages)
    protocol = ServerProtocol(receive_maximum=65535)
    protocol.receive_data(connect_packet(Connect("MQTT", 5, "c", True, 60)))
    protocol.send_connack(0)
    protocol.events_received()
    position = 0
    for cut in cuts * (len(stream) // max(sum(cuts), 1) + 1):
        protocol.receive_data(stream[position:position + cut])
        position += cut
        if position >= len(stream):
            break
    received = protocol.events_received()
    # a repeated packet id of an unacknowledged message is the same message again: compare ignoring that
    assert [(p.topic, p.payload, p.qos, p.properties) for p in received if isinstance(p, Publish)] == \
        [(p.topic, p.payload, p.qos, p.properties) for p in messages]
