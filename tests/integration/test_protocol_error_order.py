"""A read that holds good packets and then a malformed one: the good ones are handled and answered, in order,
before the connection ends (MQTT 5: with the DISCONNECT the error asks for, after those answers).

Raw sockets, because what matters is the order of the bytes on the wire, which paho does not show.
"""

from __future__ import annotations

from tests.integration.harness import Instance
from tests.integration.raw_mqtt import (
    PacketType,
    RawClient,
    encode_empty,
    encode_publish,
    encode_subscribe,
)
from tests.integration.raw_mqtt5 import DISCONNECT, Raw5, publish_packet, subscribe_packet

PUBACK, SUBACK, PINGRESP = 4, 9, 13
MALFORMED = b"\x36\x00"  # a PUBLISH with QoS 3 [MQTT-3.3.1-4]


def _packets_until_closed(raw: Raw5) -> list[int]:
    types = []
    while (packet := raw.read_packet()) is not None:
        types.append(packet.type)
        if packet.type == DISCONNECT:
            assert packet.reason_code_after(0) == 0x81  # malformed packet
    return types


def test_mqtt5_answers_come_before_the_disconnect_and_the_good_packets_count(instance: Instance) -> None:
    with RawClient(instance.port, name="listener") as listener, Raw5(instance.port) as raw:
        assert listener.connect("order-listener").return_code == 0
        assert listener.subscribe("order/#", 0) == 0
        raw.connect("order-5")
        raw.send(publish_packet("order/five", b"routed", qos=1, packet_id=7) + encode_empty(PacketType.PINGREQ)
                 + subscribe_packet(8, "order/back") + MALFORMED)
        assert _packets_until_closed(raw) == [PUBACK, PINGRESP, SUBACK, DISCONNECT]
        message = listener.next_message()
        assert (message.topic, message.payload) == ("order/five", b"routed")


def test_mqtt311_answers_come_before_the_close(instance: Instance) -> None:
    with RawClient(instance.port, name="listener") as listener, RawClient(instance.port, name="bad") as raw:
        assert listener.connect("order-listener").return_code == 0
        assert listener.subscribe("order/#", 0) == 0
        assert raw.connect("order-311").return_code == 0
        raw.send(encode_publish("order/three", b"routed", qos=1, packet_id=3) + encode_empty(PacketType.PINGREQ)
                 + encode_subscribe(4, [("order/back", 0)]) + MALFORMED)
        answers = [raw.read_packet().type for _ in range(3)]
        assert answers == [PacketType.PUBACK, PacketType.PINGRESP, PacketType.SUBACK]
        assert raw.wait_closed()
        message = listener.next_message()
        assert (message.topic, message.payload) == ("order/three", b"routed")
