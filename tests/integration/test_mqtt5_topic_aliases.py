"""Topic aliases from the broker to an MQTT 5 client that allows them (Topic Alias Maximum in its CONNECT).

Raw sockets, because paho's MQTT 5 client does not resolve incoming topic aliases (its client.py never reads the
Topic Alias property): these clients resolve them as the spec says, so the tests see exactly what went on the wire.
"""

from __future__ import annotations

import struct

from tests.integration.harness import Instance
from tests.integration.raw_mqtt import RawClient
from tests.integration.raw_mqtt5 import (
    PUBLISH,
    Raw5,
    ReceivedPublish,
    connect_packet,
    read_publish,
    subscribe_packet,
)

SUBACK = 9
LONG = "home/livingroom/temperature"
OTHER = "home/livingroom/humidity"


def _alias_maximum(maximum: int) -> bytes:
    return b"\x22" + struct.pack("!H", maximum)


def _subscribed(raw: Raw5, client_id: str, topic_filter: str, qos: int, properties: bytes) -> None:
    raw.send(connect_packet(client_id, properties=properties))
    raw.expect(2)  # CONNACK
    raw.send(subscribe_packet(1, topic_filter, qos))
    raw.expect(SUBACK)


class Resolver:
    """What a client does with the aliases it receives [MQTT-3.3.2-12]: remember topic + alias, resolve alias alone."""

    def __init__(self) -> None:
        self.topics: dict[int, str] = {}

    def topic(self, publish: ReceivedPublish) -> str:
        if publish.alias is None:
            return publish.topic
        if publish.topic:
            self.topics[publish.alias] = publish.topic
            return publish.topic
        return self.topics[publish.alias]


def _receive(raw: Raw5, count: int) -> list[ReceivedPublish]:
    return [read_publish(raw.expect(PUBLISH)) for _ in range(count)]


def test_a_long_topic_goes_as_its_alias_after_the_first_message(instance: Instance) -> None:
    with Raw5(instance.port) as raw, RawClient(instance.port, name="publisher") as publisher:
        _subscribed(raw, "aliased", "home/#", 1, _alias_maximum(10))
        assert publisher.connect("publisher").return_code == 0
        sent = [(LONG, b"21.0", 0), (LONG, b"21.5", 0), (OTHER, b"40", 1), (LONG, b"22.0", 1), ("home/x", b"s", 0),
                (OTHER, b"41", 0), ("home/x", b"t", 0)]
        for topic, payload, qos in sent:
            publisher.publish(topic, payload, qos=qos)
        received = _receive(raw, len(sent))
        assert [(p.topic, p.alias) for p in received] == [
            (LONG, 1), ("", 1), (OTHER, 2), ("", 1), ("home/x", None), ("", 2), ("home/x", None)]
        resolver = Resolver()
        assert [(resolver.topic(p), p.payload) for p in received] == [(topic, payload) for topic, payload, _ in sent]


def test_a_client_with_topic_alias_maximum_0_never_gets_an_alias(instance: Instance) -> None:
    with Raw5(instance.port) as raw, RawClient(instance.port, name="publisher") as publisher:
        _subscribed(raw, "plain", "home/#", 1, _alias_maximum(0))
        assert publisher.connect("publisher").return_code == 0
        for qos in (0, 0, 1, 1):
            publisher.publish(LONG, b"v", qos=qos)
        assert [(p.topic, p.alias) for p in _receive(raw, 4)] == [(LONG, None)] * 4


def test_aliases_start_afresh_on_a_new_connection_and_resent_messages_have_their_topic(instance: Instance) -> None:
    away = _alias_maximum(10) + b"\x11" + struct.pack("!I", 60)  # and a session expiry of 60 s
    with RawClient(instance.port, name="publisher") as publisher:
        assert publisher.connect("publisher").return_code == 0
        with Raw5(instance.port) as raw:
            _subscribed(raw, "returns", "home/#", 1, away)
            publisher.publish(LONG, b"1", qos=1)
            publisher.publish(LONG, b"2", qos=1)
            assert [(p.topic, p.alias) for p in _receive(raw, 2)] == [(LONG, 1), ("", 1)]  # never acknowledged
        with Raw5(instance.port) as again:
            again.send(connect_packet("returns", properties=away, clean_start=False))
            assert again.expect(2).body[0] & 1  # session present
            resent = _receive(again, 2)
            assert [(p.topic, p.alias, p.dup, p.payload) for p in resent] == [(LONG, None, True, b"1"),
                                                                              (LONG, None, True, b"2")]
            publisher.publish(LONG, b"3", qos=0)
            assert [(p.topic, p.alias) for p in _receive(again, 1)] == [(LONG, 1)]  # set again on this connection
