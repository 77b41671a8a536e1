"""MQTT 5 limits and message properties: receive maximum both ways, maximum packet size both ways, inbound topic
aliases, and the properties of a request/response exchange passing through untouched."""

from __future__ import annotations

from collections.abc import Callable

from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash
from tests.integration.mqtt5_client import V5Client
from tests.integration.raw_mqtt5 import DISCONNECT, PUBREC, Raw5, connect_packet, publish_packet


def _connected(client5: Callable[..., V5Client], client_id: str, **kwargs: object) -> V5Client:
    made = client5(client_id, **kwargs)
    assert made.connect() == 0
    return made


def test_connack_announces_the_brokers_limits(instance, client5):
    probe = _connected(client5, "probe")
    props = probe.connack_properties
    assert props.ReceiveMaximum == 1000  # unreleased QoS 2 messages we hold for a client
    assert props.MaximumPacketSize == 16 * 1024 * 1024
    assert props.TopicAliasMaximum == 32


# -- receive maximum --------------------------------------------------------------------------------


def test_the_broker_sends_no_more_unacknowledged_messages_than_the_client_receive_maximum(instance, client5):
    slow = _connected(client5, "slow", connect_properties={"ReceiveMaximum": 2}, manual_ack=True)
    assert slow.subscribe("work/#", 1).codes == [1]
    sender = _connected(client5, "sender")
    for n in range(5):
        sender.publish(f"work/{n}", f"job {n}", qos=1)  # PUBACKed: routed, queued behind the window
    slow.round_trip()
    first = slow.received()
    assert [m.payload for m in first] == [b"job 0", b"job 1"]
    slow.ack(first[0])
    assert slow.expect_message().payload == b"job 2"  # one acknowledged, one more may come
    slow.round_trip()
    assert slow.received() == []
    slow.ack(first[1])
    last = [slow.expect_message()]
    slow.ack(last[0])
    last.append(slow.expect_message())
    assert [m.payload for m in last] == [b"job 3", b"job 4"]


def test_qos0_messages_are_not_held_back_by_the_receive_maximum(instance, client5):
    slow = _connected(client5, "slow", connect_properties={"ReceiveMaximum": 1}, manual_ack=True)
    assert slow.subscribe("work/#", 1).codes == [1]
    sender = _connected(client5, "sender")
    sender.publish("work/a", b"qos1", qos=1)
    sender.publish("work/b", b"qos1 waits", qos=1)
    sender.publish("work/c", b"qos0", qos=0)
    sender.publish("work/d", b"marker", qos=1)  # our QoS 0 message was routed before this PUBACK
    slow.round_trip()
    assert [m.payload for m in slow.received()] == [b"qos1", b"qos0"]


def test_a_client_over_the_brokers_receive_maximum_is_disconnected_with_0x93(instance):
    """1,000 QoS 2 messages may await PUBREL; the 1,001st is one too many (raw: a client that never sends PUBREL)."""
    with Raw5(instance.port) as raw:
        raw.connect("greedy")
        raw.send(b"".join(publish_packet("q/x", b"x", qos=2, packet_id=n) for n in range(1, 1002)))
        packet = raw.read_packet()
        while packet is not None and packet.type == PUBREC:  # those the broker answered before it read the 1,001st
            packet = raw.read_packet()
        assert packet is not None
        assert packet.type == DISCONNECT
        disconnect = packet
        assert disconnect.reason_code_after(0) == 0x93  # receive maximum exceeded
        assert raw.read_packet() is None


# -- maximum packet size ----------------------------------------------------------------------------


def test_a_message_over_the_clients_maximum_packet_size_is_not_sent_to_it(instance, client5):
    small = _connected(client5, "small", connect_properties={"MaximumPacketSize": 128})
    assert small.subscribe("data/#", 1).codes == [1]
    roomy = _connected(client5, "roomy")
    assert roomy.subscribe("data/#", 1).codes == [1]
    sender = _connected(client5, "sender")
    sender.publish("data/big", b"x" * 200, qos=1)
    sender.publish("data/big0", b"y" * 200, qos=0)
    sender.publish("data/small", b"fits", qos=1)
    assert small.expect_message().payload == b"fits"  # the large ones are skipped [MQTT-3.1.2-25]
    small.round_trip()
    assert small.received() == []
    assert small.is_connected
    assert [roomy.expect_message().topic for _ in range(3)] == ["data/big", "data/big0", "data/small"]
    state = instance.call(instance.service._broker.session_state, "small")
    assert state.too_large == 2


def test_a_reason_string_that_would_not_fit_the_clients_maximum_packet_size_is_left_out(admin, instance, client5):
    admin.roles.add("none")
    admin.users.add("lamp", fast_hash("pw"), ("none",))
    instance.sync()
    tight = _connected(client5, "tight", username="lamp", password="pw",
                       connect_properties={"MaximumPacketSize": 16})
    suback = tight.subscribe("home/#", 1)
    assert suback.codes == [0x87]
    assert suback.reason_string is None
    roomy = _connected(client5, "roomy", username="lamp", password="pw")
    assert roomy.subscribe("home/#", 1).reason_string


def test_a_packet_over_the_brokers_maximum_packet_size_gets_disconnect_0x95(instance):
    with Raw5(instance.port) as raw:
        raw.connect("huge")
        # the header of a PUBLISH of 16 MiB + 1 byte: refused from its length, before the body arrives
        raw.send(b"\x30" + bytes([0x81, 0x80, 0x80, 0x08]) + b"\x00\x03a/b\x00" + b"z" * 1000)
        assert raw.expect(DISCONNECT).reason_code_after(0) == 0x95  # packet too large
        assert raw.read_packet() is None


def test_a_connect_over_the_maximum_packet_size_gets_connack_0x95(instance):
    with Raw5(instance.port) as raw:
        packet = connect_packet("c" * 100)
        raw.send(packet[:1] + bytes([0x81, 0x80, 0x80, 0x08]) + packet[2:])  # claims 16 MiB + 1
        connack = raw.expect(2)
        assert connack.reason_code_after(1) == 0x95


# -- topic aliases -----------------------------------------------------------------------------------


def test_inbound_topic_aliases_are_resolved_and_never_forwarded(instance, client5):
    # paho's MQTT 5 client does not resolve topic aliases it receives, so the reader allows none (it would get
    # ours: test_mqtt5_topic_aliases.py)
    reader = _connected(client5, "reader")
    assert reader.subscribe("sensors/#", 1).codes == [1]
    sensor = _connected(client5, "sensor")
    sensor.publish("sensors/kitchen/temperature", b"21.5", qos=1, TopicAlias=1)
    sensor.publish("", b"21.7", qos=1, TopicAlias=1)
    sensor.publish("sensors/hall/temperature", b"19.0", qos=1, TopicAlias=1)  # an alias can be set again
    sensor.publish("", b"19.2", qos=0, TopicAlias=1)
    sensor.round_trip()
    got = [reader.expect_message() for _ in range(4)]
    assert [(m.topic, m.payload) for m in got] == [
        ("sensors/kitchen/temperature", b"21.5"), ("sensors/kitchen/temperature", b"21.7"),
        ("sensors/hall/temperature", b"19.0"), ("sensors/hall/temperature", b"19.2")]
    # the sensor's aliases are its own connection's: none reaches the reader
    assert all(m.prop("TopicAlias") is None for m in got)


def test_a_topic_alias_over_the_maximum_gets_disconnect_0x94(instance, client5):
    sensor = _connected(client5, "sensor")
    sensor.paho.publish("sensors/x", b"x", 0, properties=_alias(33))
    assert sensor.wait_disconnected()
    assert sensor.disconnect_code == 0x94  # topic alias invalid
    assert "33" in (sensor.disconnect_reason_string or "")


def test_an_alias_that_was_never_set_is_a_protocol_error(instance, client5):
    sensor = _connected(client5, "sensor")
    sensor.paho.publish("", b"x", 0, properties=_alias(5))
    assert sensor.wait_disconnected()
    assert sensor.disconnect_code == 0x82


def _alias(alias: int):  # type: ignore[no-untyped-def]
    from paho.mqtt.packettypes import PacketTypes

    from tests.integration.mqtt5_client import properties

    return properties(PacketTypes.PUBLISH, TopicAlias=alias)


# -- message properties ---------------------------------------------------------------------------------


def test_request_response_properties_pass_through_to_the_subscriber(admin, instance, client5):
    admin.roles.add("rpc")
    admin.roles.allow("rpc", "rpc/#", Permission.READWRITE)
    admin.users.add("caller", fast_hash("pw"), ("rpc",))
    admin.users.add("server", fast_hash("pw"), ("rpc",))
    instance.sync()
    server = _connected(client5, "server-1", username="server", password="pw")
    assert server.subscribe("rpc/requests/#", 1).codes == [1]
    caller = _connected(client5, "caller-1", username="caller", password="pw")
    assert caller.subscribe("rpc/replies/caller-1", 1).codes == [1]
    user_properties = [("trace", "a1"), ("trace", "b2"), ("lang", "de")]  # order and repeats kept
    caller.publish("rpc/requests/time", b'{"tz": "UTC"}', qos=1, ResponseTopic="rpc/replies/caller-1",
                   CorrelationData=b"\x00\x01req-17", ContentType="application/json", PayloadFormatIndicator=1,
                   UserProperty=user_properties)
    request = server.expect_message()
    assert request.payload == b'{"tz": "UTC"}'
    assert request.prop("ResponseTopic") == "rpc/replies/caller-1"
    assert request.prop("CorrelationData") == b"\x00\x01req-17"
    assert request.prop("ContentType") == "application/json"
    assert request.prop("PayloadFormatIndicator") == 1
    assert request.prop("UserProperty") == user_properties
    server.publish(request.prop("ResponseTopic"), b'{"time": "12:00"}', qos=1,
                   CorrelationData=request.prop("CorrelationData"), UserProperty=[("status", "ok")])
    reply = caller.expect_message()
    assert (reply.topic, reply.payload) == ("rpc/replies/caller-1", b'{"time": "12:00"}')
    assert reply.prop("CorrelationData") == b"\x00\x01req-17"
    assert reply.prop("UserProperty") == [("status", "ok")]
    assert reply.prop("ResponseTopic") is None


def test_a_qos0_message_reaches_receivers_of_both_versions_as_it_was_sent(instance, client5, client):
    # the MQTT 5 receiver gets the very packet (see protocol/decoder.py, `wire`), the 3.1.1 one an encoded copy,
    # the one subscribed with an identifier a packet of its own
    v5 = _connected(client5, "sub-5")
    assert v5.subscribe("lab/#", 0).codes == [0]
    tagged = _connected(client5, "sub-5-id")
    assert tagged.subscribe("lab/#", 0, identifier=7).codes == [0]
    v4 = client("sub-4")
    assert v4.connect() == 0
    assert v4.subscribe("lab/#", 0) == 0
    publisher = _connected(client5, "pub-5")
    user_properties = [("unit", "C"), ("unit", "F")]
    publisher.publish("lab/t", b"21.5", qos=0, ContentType="text/plain", UserProperty=user_properties)
    got = v5.expect_message()
    assert (got.topic, got.payload, got.prop("ContentType"), got.prop("UserProperty")) == (
        "lab/t", b"21.5", "text/plain", user_properties)
    assert got.prop("SubscriptionIdentifier") is None
    with_id = tagged.expect_message()
    assert (with_id.payload, with_id.prop("SubscriptionIdentifier"), with_id.prop("UserProperty")) == (
        b"21.5", [7], user_properties)
    plain = v4.expect_message()
    assert (plain.topic, plain.payload, plain.qos, plain.retain) == ("lab/t", b"21.5", 0, False)


def test_a_retained_message_keeps_its_properties(instance, client5):
    sender = _connected(client5, "sender")
    sender.publish("status/door", b"open", qos=1, retain=True, ContentType="text/plain",
                   UserProperty=[("since", "noon")])
    late = _connected(client5, "late")
    assert late.subscribe("status/#", 1).codes == [1]
    message = late.expect_message()
    assert (message.retain, message.prop("ContentType"), message.prop("UserProperty")) == \
        (True, "text/plain", [("since", "noon")])
