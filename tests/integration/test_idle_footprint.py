"""What an idle connected client costs the broker: no buffer or packet list of its own between reads and writes, and
the callables every connection needs are the broker's, shared, not made per connection (bench: memory per idle
client). Real broker, raw clients on loopback."""

from __future__ import annotations

from mqttdesk.broker.connection import Connection
from mqttdesk.broker.desk_broker import DeskBroker
from mqttdesk.broker.session_state import UNDECIDED
from mqttdesk.broker.transport import SocketStream
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import PacketType, RawClient


def _connections(instance: Instance) -> list[Connection]:
    broker = instance.service._broker
    assert isinstance(broker, DeskBroker)
    return list(broker._connections.values())


def test_idle_clients_hold_no_lists_and_share_the_brokers_callables(dev_user: Instance) -> None:
    with RawClient(dev_user.port) as first, RawClient(dev_user.port) as second:
        for client, name in ((first, "idle-1"), (second, "idle-2")):
            assert client.connect(name, username="dev", password="pw", keep_alive=60).return_code == 0
        first.send(b"\xc0\x00")  # PINGREQ: a read and a write, after which the connection is idle again
        assert first.expect(PacketType.PINGRESP).type is PacketType.PINGRESP
        assert dev_user.until(lambda: len(_connections(dev_user)) == 2, timeout=5)

        def footprint() -> list[tuple[object, ...]]:
            facts = []
            for connection in _connections(dev_user):
                stream = connection.stream
                assert isinstance(stream, SocketStream)
                protocol = connection.protocol
                facts.append((connection._out, stream._chunks, protocol._events, protocol._out, protocol._buffer,
                              stream._receiver is connection, protocol._clock, connection._clock_jumped,
                              protocol._progress.protocol_name, stream.peer[0], connection.state.decisions))
            return facts

        facts = dev_user.call(footprint)
    # nothing buffered or waiting (neither in the connection nor in its protocol), delivered to the connection
    assert [fact[:6] for fact in facts] == [((), (), (), (), b"", True)] * 2
    # one bound method each, for every connection
    assert len({id(fact[6]) for fact in facts}) == 1
    assert len({id(fact[7]) for fact in facts}) == 1
    # one string each, not a decoded copy per connection: the protocol name, and the address both came from
    assert [fact[8] for fact in facts] == ["MQTT", "MQTT"]
    assert len({id(fact[8]) for fact in facts}) == 1
    assert [fact[9] for fact in facts] == ["127.0.0.1", "127.0.0.1"]
    assert len({id(fact[9]) for fact in facts}) == 1
    # no topic decided yet: the shared memo, unwritten
    assert [fact[10] for fact in facts] == [UNDECIDED, UNDECIDED]


def test_a_session_gets_a_memo_of_its_own_at_its_first_decision(dev_user: Instance) -> None:
    with RawClient(dev_user.port) as publisher, RawClient(dev_user.port) as idle:
        assert publisher.connect("talker", username="dev", password="pw").return_code == 0
        assert idle.connect("quiet", username="dev", password="pw").return_code == 0
        publisher.publish("lab/t", b"1", qos=1)  # answered by its PUBACK: decided by then

        def memos() -> dict[str, object]:
            return {c.state.client_id: c.state.decisions for c in _connections(dev_user)}

        decided = dev_user.call(memos)
    assert decided["quiet"] is UNDECIDED
    assert decided["talker"] is not UNDECIDED
    assert list(decided["talker"].publish) == ["lab/t"]  # type: ignore[attr-defined]
    assert (UNDECIDED.publish, UNDECIDED.receive, UNDECIDED.epoch) == ({}, {}, -1)
