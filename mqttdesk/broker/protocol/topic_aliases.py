"""MQTT 5 topic aliases (section 3.3.2.3.4): the client's, resolved on the way in, and ours, assigned on the way out.

Each direction has its own alias space and maximum, announced by the receiving side (ours in CONNACK, the client's
in CONNECT); an alias lives as long as the network connection.
"""

from __future__ import annotations

from collections import OrderedDict

from mqttdesk.broker.protocol.packets import Publish, new_publish
from mqttdesk.broker.protocol.reason_codes import Mqtt5Reason, ProtocolError, protocol_error


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
                           publish.properties)


class OutboundTopicAliases:
    """Topic -> alias for the PUBLISHes we send, up to the client's maximum; the least recently used is reassigned.

    `choose` proposes without changing anything, `commit` records it once the packet is really sent (a packet that
    exceeds the client's maximum packet size is not, and must not have consumed an alias).
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._by_topic: OrderedDict[str, int] = OrderedDict()

    def choose(self, topic: str) -> tuple[int, bool]:
        """(alias, whether the topic must be sent with it): False when the client already knows the alias."""
        alias = self._by_topic.get(topic)
        if alias is not None:
            return alias, False
        if len(self._by_topic) < self.maximum:
            return len(self._by_topic) + 1, True
        return next(iter(self._by_topic.values())), True

    def commit(self, topic: str, alias: int, send_topic: bool) -> None:
        if not send_topic:
            self._by_topic.move_to_end(topic)
            return
        if len(self._by_topic) >= self.maximum:
            self._by_topic.popitem(last=False)
        self._by_topic[topic] = alias
