"""Cross-check against paho-mqtt's MQTT 5 client over a loopback socket: what paho writes, the protocol decodes;
what the protocol writes (CONNACK, SUBACK, PUBLISH with properties), paho understands."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties as PahoProperties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqttdesk.broker.protocol import (
    Connect,
    Disconnect,
    Event,
    Properties,
    Publish,
    ServerProtocol,
    Subscribe,
    SubscriptionOptions,
)

TIMEOUT = 5.0


class Link:
    """A paho client connected to a loopback listener whose accepted socket feeds a ServerProtocol."""

    def __init__(self, listener: socket.socket, client: mqtt.Client) -> None:
        self.client = client
        self.protocol = ServerProtocol(topic_alias_maximum=4)
        self.received: list[Event] = []
        self.conn: socket.socket | None = None
        self._listener = listener

    def pump(self, done: Callable[[], bool]) -> None:
        """Run paho's loop and the protocol until `done()`, at most TIMEOUT seconds."""
        deadline = time.monotonic() + TIMEOUT
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            self.client.loop(timeout=0.02)
            if self.conn is None:
                try:
                    self.conn, _ = self._listener.accept()
                except BlockingIOError:
                    continue
                self.conn.setblocking(False)
            try:
                data = self.conn.recv(65536)
            except BlockingIOError:
                data = None
            if data:
                self.protocol.receive_data(data)
                self.received.extend(self.protocol.events_received())
            self.flush()

    def flush(self) -> None:
        assert self.conn is not None
        for chunk in self.protocol.data_to_send():
            self.conn.setblocking(True)
            self.conn.sendall(chunk)
            self.conn.setblocking(False)

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.received if isinstance(event, kind)]


@pytest.fixture
def link() -> Iterator[Link]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-5", protocol=mqtt.MQTTv5,
                         reconnect_on_failure=False)
    pair = Link(listener, client)
    yield pair
    client.disconnect()
    if pair.conn is not None:
        pair.conn.close()
    listener.close()


def test_paho_v5_session_both_ways(link: Link) -> None:
    client = link.client
    client.username_pw_set("alice", "secret")
    will_properties = PahoProperties(PacketTypes.WILLMESSAGE)
    will_properties.WillDelayInterval = 30
    will_properties.ContentType = "text/plain"
    client.will_set("will/t", b"gone", qos=1, retain=True, properties=will_properties)
    connect_properties = PahoProperties(PacketTypes.CONNECT)
    connect_properties.SessionExpiryInterval = 120
    connect_properties.ReceiveMaximum = 7
    connect_properties.TopicAliasMaximum = 3
    connect_properties.UserProperty = ("k", "v")
    connack: dict[str, Any] = {}
    client.on_connect = lambda _c, _u, flags, code, props: connack.update(code=code, props=props, flags=flags)
    client.connect(*link._listener.getsockname(), keepalive=30, properties=connect_properties)

    link.pump(lambda: bool(link.of(Connect)))
    [connect] = link.of(Connect)
    assert (connect.protocol_version, connect.client_id, connect.username, connect.password, connect.keep_alive) == \
        (5, "paho-5", "alice", b"secret", 30)
    assert connect.properties == Properties(session_expiry_interval=120, receive_maximum=7, topic_alias_maximum=3,
                                            user_properties=(("k", "v"),))
    assert connect.will is not None
    assert (connect.will.topic, connect.will.payload, connect.will.qos, connect.will.retain) == ("will/t", b"gone", 1,
                                                                                                 True)
    assert connect.will.properties == Properties(will_delay_interval=30, content_type="text/plain")
    assert link.protocol.client_receive_maximum == 7

    link.protocol.send_connack(0, session_present=False, properties=Properties(
        assigned_client_identifier="x-1", server_keep_alive=20, reason_string="welcome"))
    link.flush()
    link.pump(lambda: "code" in connack)
    assert connack["code"] == 0
    assert connack["props"].ServerKeepAlive == 20
    assert connack["props"].TopicAliasMaximum == 4
    assert connack["props"].AssignedClientIdentifier == "x-1"

    sub_properties = PahoProperties(PacketTypes.SUBSCRIBE)
    sub_properties.SubscriptionIdentifier = 42
    granted: list[Any] = []
    client.on_subscribe = lambda _c, _u, mid, codes, props: granted.extend(codes)
    client.subscribe([("a/+", SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True, retainHandling=2)),
                      ("b/#", SubscribeOptions(qos=2))], properties=sub_properties)
    pub_properties = PahoProperties(PacketTypes.PUBLISH)
    pub_properties.ResponseTopic = "reply/1"
    pub_properties.CorrelationData = b"\x01\x02"
    pub_properties.MessageExpiryInterval = 60
    client.publish("a/b", b"hello", qos=1, properties=pub_properties)
    link.pump(lambda: bool(link.of(Subscribe)) and bool(link.of(Publish)))
    [subscribe] = link.of(Subscribe)
    assert subscribe.subscriptions == (("a/+", SubscriptionOptions(1, True, True, 2)),
                                       ("b/#", SubscriptionOptions(2)))
    assert subscribe.subscription_identifier == 42
    [publish] = link.of(Publish)
    assert (publish.topic, publish.payload, publish.qos) == ("a/b", b"hello", 1)
    assert publish.properties == Properties(message_expiry_interval=60, response_topic="reply/1",
                                            correlation_data=b"\x01\x02")

    messages: list[mqtt.MQTTMessage] = []
    client.on_message = lambda _c, _u, message: messages.append(message)
    link.protocol.send_suback(subscribe.packet_id, [1, 0x87])
    link.protocol.send_puback(publish.packet_id)
    link.protocol.send_publish(Publish("a/c", b"\xffdata", 0, properties=Properties(
        content_type="bin", user_properties=(("x", "y"),), subscription_identifiers=(42,))))
    link.flush()
    link.pump(lambda: bool(granted) and bool(messages))
    assert [code.value for code in granted] == [1, 0x87]
    [message] = messages
    assert (message.topic, message.payload) == ("a/c", b"\xffdata")
    assert message.properties.ContentType == "bin"
    assert message.properties.UserProperty == [("x", "y")]
    assert message.properties.SubscriptionIdentifier == [42]

    client.disconnect()
    link.pump(lambda: bool(link.of(Disconnect)))
    assert link.protocol.close_expected()


def test_paho_v311_connect_publish(link: Link) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-4", protocol=mqtt.MQTTv311,
                         reconnect_on_failure=False)
    link.client = client
    connected: list[Any] = []
    client.on_connect = lambda _c, _u, flags, code, props: connected.append(code)
    client.connect(*link._listener.getsockname(), keepalive=15)
    link.pump(lambda: bool(link.of(Connect)))
    assert link.protocol.version == 4
    link.protocol.send_connack(0)
    link.flush()
    link.pump(lambda: bool(connected))
    client.publish("t/1", b"v", qos=2, retain=True)
    link.pump(lambda: bool(link.of(Publish)))
    [publish] = link.of(Publish)
    assert (publish.topic, publish.payload, publish.qos, publish.retain) == ("t/1", b"v", 2, True)
    client.disconnect()
