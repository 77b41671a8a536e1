"""MQTT 5 topic aliases (section 3.3.2.3.4): the client's, resolved on the way in, and ours, assigned on the way out.

Each direction has its own alias space and maximum, announced by the receiving side (ours in CONNACK, the client's
in CONNECT); an alias lives as long as the network connection.
"""

from __future__ import annotations

from mqttdesk.broker.protocol.encoder import OutgoingPublish
from mqttdesk.broker.protocol.packets import Publish, new_publish
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason, ProtocolError, protocol_error
from mqttdesk.broker.protocol.wire_format import MQTT_5


class InboundTopicAliases:
    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._topics: dict[int, str] = {}

    def resolve(self, publish: Publish, alias: int) -> Publish:
        """A PUBLISH with topic and alias sets the alias; with the alias alone it gets the topic set before."""
        if alias == 0 or alias > self.maximum:
            raise ProtocolError(Mqtt5Reason.TOPIC_ALIAS_INVALID,
                                f"topic alias {alias} is outside 1..{self.maximum}")  # [MQTT-3.3.2-9], -10
        if publish.topic:
            self._topics[alias] = publish.topic
            return publish
        topic = self._topics.get(alias)
        if topic is None:
            raise protocol_error(f"topic alias {alias} was never set")
        return new_publish(topic, publish.payload, publish.qos, publish.retain, publish.dup, publish.packet_id,
                           publish.properties, None, 0)  # (no wire: it carried the alias, not the topic)


MIN_ALIASED_TOPIC_BYTES = 8  # shorter topics go in full: the alias (3 bytes) saves too little, if anything


class OutboundTopicAliases:
    """Topic -> alias for the PUBLISHes we send, up to the client's maximum.

    Policy, as simple as helps: a topic of at least `MIN_ALIASED_TOPIC_BYTES` bytes gets the next free alias the
    first time it goes out (topic and alias), and from then on the alias alone (an empty topic). Once the client's
    maximum is used up, new topics go in full without an alias; nothing is reassigned, because moving an alias to
    another topic costs a full topic each time and the busy topics of a connection are usually its first ones.

    `choose` proposes without changing anything, `commit` records it once the packet is really sent (a packet that
    exceeds the client's maximum packet size is not, and must not have taken an alias). `forget` takes back a topic
    whose packet was dropped after all (a QoS 0 message to a client that does not keep up): the client may never have
    learnt the alias, so the next message on that topic sets it again.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._by_topic: dict[str, int] = {}
        self._free: list[int] = []  # aliases taken back by `forget`, used before new ones
        self._next = 1

    def choose(self, topic: str) -> tuple[int | None, bool]:
        """(alias or None, whether the topic must be sent): no topic when the client already knows the alias."""
        alias = self._by_topic.get(topic)
        if alias is not None:
            return alias, False
        if len(topic) < MIN_ALIASED_TOPIC_BYTES and len(topic.encode("utf-8")) < MIN_ALIASED_TOPIC_BYTES:
            return None, True
        if self._free:
            return self._free[-1], True
        return (self._next, True) if self._next <= self.maximum else (None, True)  # [MQTT-3.3.2-13]

    def commit(self, topic: str, alias: int | None, send_topic: bool) -> None:
        if alias is None or not send_topic:
            return
        if self._free and self._free[-1] == alias:
            self._free.pop()
        else:
            self._next = alias + 1
        self._by_topic[topic] = alias

    def encode(self, message: OutgoingPublish, *, qos: int, retain: bool | None, packet_id: int | None,
               limit: int | None) -> bytes | None:
        """The MQTT 5 PUBLISH of `message` with the alias this policy picks; None, and no alias taken, when it would
        exceed the client's maximum packet size `limit`."""
        topic = message.publish.topic
        alias, send_topic = self.choose(topic)
        if limit is not None and message.size(MQTT_5, qos, alias, send_topic) > limit:
            return None
        self.commit(topic, alias, send_topic)
        return message.encode(MQTT_5, qos=qos, retain=retain, packet_id=packet_id, topic_alias=alias,
                              send_topic=send_topic)

    def forget(self, topic: str) -> None:
        alias = self._by_topic.pop(topic, None)
        if alias is not None:
            self._free.append(alias)
