"""ServerProtocol: the connection state machine, fed byte strings, checked on its events and the bytes it sends."""

from __future__ import annotations

from dataclasses import replace

import pytest
from client_bytes import connect_v4, connect_v5, frame, publish_v4, publish_v5, string, u16

from mqttdesk.broker.protocol import (
    EMPTY_PROPERTIES,
    Auth,
    Connect,
    ConnectionClosed,
    Disconnect,
    InvalidState,
    KeepAliveTimedOut,
    OutgoingPublish,
    PingReq,
    Properties,
    ProtocolErrorOccurred,
    PubAck,
    Publish,
    ServerProtocol,
    State,
    Subscribe,
)
from mqttdesk.broker.protocol import wire_format as wf
from mqttdesk.broker.protocol.decoder import QOS1_WIRE_MAX, decode_properties
from mqttdesk.broker.protocol.properties import encode_properties
from mqttdesk.broker.protocol.topic_aliases import OutboundTopicAliases

CONNACK_V5_OK_PLAIN = b"\x20\x08\x00\x00\x05\x27\x01\x00\x00\x00"  # maximum packet size 16 MiB announced


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened(version: int = 5, *, connect_properties: Properties = EMPTY_PROPERTIES, keep_alive: int = 60,
           **options: object) -> ServerProtocol:
    protocol = ServerProtocol(**options)  # type: ignore[arg-type]
    protocol.receive_data(connect_v5(keep_alive=keep_alive, properties=connect_properties) if version == 5
                          else connect_v4(keep_alive=keep_alive))
    [event] = protocol.events_received()
    assert isinstance(event, Connect)
    protocol.send_connack(0)
    protocol.data_to_send()
    return protocol


def _error(protocol: ServerProtocol) -> ProtocolErrorOccurred:
    """The one protocol error reported, answered as the broker answers it when it comes to the event."""
    errors = [event for event in protocol.events_received() if isinstance(event, ProtocolErrorOccurred)]
    assert len(errors) == 1
    assert protocol.close_expected()
    protocol.send_error_disconnect()
    return errors[0]


def _disconnect_code(protocol: ServerProtocol) -> int:
    [data] = protocol.data_to_send()
    assert data[0] == 0xE0
    return data[2]


# -- CONNECT and version detection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
def test_connect_is_reported_with_the_version(version: int) -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect_v5("dev") if version == 5 else connect_v4("dev"))
    [connect] = protocol.events_received()
    assert isinstance(connect, Connect)
    assert (connect.client_id, protocol.version, protocol.keep_alive) == ("dev", version, 60)
    assert protocol.data_to_send() == []
    assert not protocol.close_expected()


def test_the_client_limits_come_from_connect() -> None:
    protocol = opened(connect_properties=Properties(receive_maximum=5, maximum_packet_size=300,
                                                    topic_alias_maximum=4, request_problem_information=0))
    assert (protocol.client_receive_maximum, protocol.client_maximum_packet_size,
            protocol.client_topic_alias_maximum, protocol.request_problem_information) == (5, 300, 4, False)
    defaults = opened(4)
    assert (defaults.client_receive_maximum, defaults.client_maximum_packet_size,
            defaults.client_topic_alias_maximum, defaults.request_problem_information) == (65535, None, 0, True)


@pytest.mark.parametrize(("connect", "connack"), [
    (frame(0x10, string("MQIsdp") + b"\x03\x02\x00\x3c" + string("old")), b"\x20\x02\x00\x01"),
    (frame(0x10, string("MQTT") + b"\x03\x02\x00\x3c" + string("old")), b"\x20\x02\x00\x01"),
    (frame(0x10, string("MQTT") + b"\x06\x02\x00\x3c" + string("new")), b"\x20"),  # then length, 0, 0x84
])
def test_unsupported_protocol_levels_get_the_connack_of_their_form(connect: bytes, connack: bytes) -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect)
    error = _error(protocol)
    assert error.reason_code == 0x84
    [sent] = protocol.data_to_send()
    assert sent[:len(connack)] == connack
    if len(connack) == 1:  # the MQTT 5 form, with a reason string
        assert sent[2:4] == b"\x00\x84"


def test_unknown_protocol_name_closes_without_connack() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(frame(0x10, string("HTTP") + b"\x04\x02\x00\x3c" + string("x")))
    assert "unknown protocol name" in _error(protocol).text
    assert protocol.data_to_send() == []


def test_the_first_packet_must_be_connect() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(publish_v4("a", b"x"))
    error = _error(protocol)
    assert (error.reason_code, error.protocol_version) == (0x82, None)
    assert "first packet must be CONNECT" in error.text
    assert protocol.data_to_send() == []


def test_a_malformed_v5_connect_gets_a_connack_with_the_code_and_the_log_gets_what_was_read() -> None:
    protocol = ServerProtocol()
    body = string("MQTT") + b"\x05\xc2\x00\x3c" + b"\x00" + string("dev-7") + string("carol") + b"\x00\x09pw"
    protocol.receive_data(frame(0x10, body))
    error = _error(protocol)
    assert (error.reason_code, error.protocol_version, error.client_id, error.username) == (0x81, 5, "dev-7", "carol")
    [connack] = protocol.data_to_send()
    assert connack[:4] == bytes((0x20, connack[1], 0, 0x81))
    properties, _ = decode_properties(connack, 4, len(connack), 2)
    assert properties.reason_string == "truncated binary data"


def test_a_malformed_v4_connect_just_closes() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(frame(0x10, string("MQTT") + b"\x04\x03\x00\x3c" + string("c")))
    assert _error(protocol).reason_code == 0x81
    assert protocol.data_to_send() == []


def test_a_second_connect_is_a_protocol_error() -> None:
    protocol = opened(5)
    protocol.receive_data(connect_v5())
    assert "second CONNECT" in _error(protocol).text
    assert _disconnect_code(protocol) == 0x82
    protocol = opened(4)
    protocol.receive_data(connect_v4())
    assert "second CONNECT" in _error(protocol).text
    assert protocol.data_to_send() == []


# -- CONNACK -------------------------------------------------------------------------------------------------------

def test_packets_behind_connect_wait_for_the_connack() -> None:
    protocol = ServerProtocol()
    subscribe = frame(0x82, u16(1) + b"\x00" + string("a/#") + b"\x01")
    protocol.receive_data(connect_v5() + subscribe + publish_v5("a/b", b"1"))
    assert [type(event) for event in protocol.events_received()] == [Connect]
    with pytest.raises(InvalidState):
        protocol.send_suback(1, [1])
    protocol.send_connack(0)
    assert [type(event) for event in protocol.events_received()] == [Subscribe, Publish]


def test_a_refusing_connack_ends_the_connection_and_discards_what_followed() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect_v4() + publish_v4("a", b"1"))
    protocol.events_received()
    protocol.send_connack(0x86)
    assert protocol.data_to_send() == [b"\x20\x02\x00\x04"]  # bad username or password in 3.1.1
    assert protocol.close_expected()
    assert protocol.events_received() == []
    protocol.receive_data(publish_v4("a", b"2"))
    assert protocol.events_received() == []
    with pytest.raises(InvalidState):
        protocol.send_connack(0)


def test_v5_connack_announces_our_limits() -> None:
    protocol = ServerProtocol(receive_maximum=20, topic_alias_maximum=8, maximum_packet_size=4096)
    protocol.receive_data(connect_v5())
    protocol.send_connack(0, session_present=True, properties=Properties(assigned_client_identifier="auto-1"))
    [connack] = protocol.data_to_send()
    assert connack[2:4] == b"\x01\x00"
    properties, _ = decode_properties(connack, 4, len(connack), 2)
    assert properties == Properties(assigned_client_identifier="auto-1", receive_maximum=20, topic_alias_maximum=8,
                                    maximum_packet_size=4096)


def test_the_default_v5_connack_only_announces_the_maximum_packet_size() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect_v5())
    protocol.send_connack(0)
    assert protocol.data_to_send() == [CONNACK_V5_OK_PLAIN]



def test_plain_v5_connacks_are_those_of_each_protocols_own_limits() -> None:
    def plain(present: bool, **limits: int) -> bytes:
        protocol = ServerProtocol(**limits)
        protocol.receive_data(connect_v5())
        protocol.send_connack(0, session_present=present)  # no properties of the connection's own
        [connack] = protocol.data_to_send()
        return connack

    def announced(connack: bytes) -> tuple[bytes, Properties]:
        return connack[2:4], decode_properties(connack, 4, len(connack), 2)[0]

    first = plain(False, receive_maximum=20, topic_alias_maximum=8, maximum_packet_size=4096)
    assert announced(first) == (b"\x00\x00", Properties(receive_maximum=20, topic_alias_maximum=8,
                                                          maximum_packet_size=4096))
    assert plain(False, receive_maximum=20, topic_alias_maximum=8, maximum_packet_size=4096) == first
    assert announced(plain(True, receive_maximum=20, topic_alias_maximum=8, maximum_packet_size=4096)) == (
        b"\x01\x00", Properties(receive_maximum=20, topic_alias_maximum=8, maximum_packet_size=4096))
    assert announced(plain(False, receive_maximum=7, maximum_packet_size=4096)) == (
        b"\x00\x00", Properties(receive_maximum=7, maximum_packet_size=4096))
    assert plain(False) == CONNACK_V5_OK_PLAIN

# -- PINGREQ, DISCONNECT, EOF --------------------------------------------------------------------------------------

def test_pingreq_is_an_event_answered_in_order_by_the_broker() -> None:
    protocol = opened(4)
    protocol.receive_data(b"\xc0\x00")
    assert [type(event) for event in protocol.events_received()] == [PingReq]
    assert protocol.data_to_send() == []  # nothing jumps ahead of answers to packets before it
    protocol.send_pingresp()
    assert protocol.data_to_send() == [b"\xd0\x00"]


def test_disconnect_then_eof() -> None:
    protocol = opened(5)
    protocol.receive_data(b"\xe0\x01\x04" + publish_v5("late", b""))  # nothing after DISCONNECT counts
    [disconnect] = protocol.events_received()
    assert disconnect == Disconnect(0x04)
    assert protocol.close_expected()
    protocol.receive_eof()
    assert protocol.events_received() == [ConnectionClosed(Disconnect(0x04))]


def test_eof_without_disconnect() -> None:
    protocol = opened(4)
    protocol.receive_data(publish_v4("a", b"x")[:3])
    protocol.receive_eof()
    assert protocol.events_received() == [ConnectionClosed(None)]


def test_disconnect_may_not_set_a_session_expiry_when_connect_had_none() -> None:
    protocol = opened(5)
    protocol.receive_data(b"\xe0\x07\x00\x05\x11\x00\x00\x00\x0a")
    assert _error(protocol).reason_code == 0x82
    assert _disconnect_code(protocol) == 0x82


def test_disconnect_may_change_a_non_zero_session_expiry() -> None:
    protocol = opened(5, connect_properties=Properties(session_expiry_interval=60))
    protocol.receive_data(b"\xe0\x07\x00\x05\x11\x00\x00\x00\x0a")
    [disconnect] = protocol.events_received()
    assert isinstance(disconnect, Disconnect)
    assert disconnect.session_expiry_interval == 10


# -- protocol errors after CONNECT ---------------------------------------------------------------------------------

def test_a_v5_protocol_error_sends_disconnect_with_code_and_reason_string() -> None:
    protocol = opened(5)
    protocol.receive_data(publish_v5("a/+", b""))
    error = _error(protocol)
    assert error.reason_code == 0x90
    [data] = protocol.data_to_send()
    assert data[2] == 0x90
    properties, _ = decode_properties(data, 3, len(data), 14)
    assert properties.reason_string == error.text
    protocol.receive_data(publish_v5("a", b""))  # ignored once closing
    assert protocol.events_received() == []


def test_packets_before_a_malformed_one_in_the_same_read_are_answered_before_the_disconnect() -> None:
    protocol = opened(5)
    protocol.receive_data(publish_v5("a", b"x", qos=1, packet_id=7) + b"\xc0\x00" + b"\x36\x00")  # QoS 3
    publish, ping, error = protocol.events_received()
    assert isinstance(publish, Publish)
    assert publish.packet_id == 7
    assert isinstance(ping, PingReq)
    assert isinstance(error, ProtocolErrorOccurred)
    assert error.reason_code == 0x81
    assert protocol.close_expected()  # nothing more is read ...
    assert protocol.data_to_send() == []  # ... and nothing jumps ahead of the answers
    protocol.send_puback(7)
    protocol.send_pingresp()
    protocol.send_error_disconnect()
    puback, pingresp, disconnect = protocol.data_to_send()
    assert (puback, pingresp) == (b"\x40\x02\x00\x07", b"\xd0\x00")
    assert disconnect[0] == 0xE0
    assert disconnect[2] == 0x81
    protocol.send_pingresp()  # after the DISCONNECT nothing more goes out [MQTT-3.14.4-1]
    protocol.send_error_disconnect()  # and it goes out once
    assert protocol.data_to_send() == []
    assert protocol.state is State.CLOSING


def test_a_v4_protocol_error_after_good_packets_answers_them_then_just_closes() -> None:
    protocol = opened(4)
    protocol.receive_data(b"\xc0\x00" + b"\x62\x02\x00\x00")
    ping, error = protocol.events_received()
    assert isinstance(ping, PingReq)
    assert isinstance(error, ProtocolErrorOccurred)
    protocol.send_pingresp()
    protocol.send_error_disconnect()
    assert protocol.data_to_send() == [b"\xd0\x00"]
    assert protocol.state is State.CLOSING
    protocol.receive_data(b"\xc0\x00")  # ignored
    assert protocol.events_received() == []


def test_a_v4_protocol_error_just_closes() -> None:
    protocol = opened(4)
    protocol.receive_data(b"\x62\x02\x00\x00")
    assert _error(protocol).reason_code == 0x82
    assert protocol.data_to_send() == []


# -- maximum packet size -------------------------------------------------------------------------------------------

def test_a_too_large_packet_is_refused_from_its_header_alone() -> None:
    protocol = opened(5, maximum_packet_size=1000)
    protocol.receive_data(b"\x30\xe8\x07")  # remaining length 1000: 1003 bytes in all, none of the body yet
    assert _error(protocol).reason_code == 0x95
    assert _disconnect_code(protocol) == 0x95


def test_a_packet_of_exactly_the_maximum_size_is_accepted() -> None:
    protocol = opened(4, maximum_packet_size=100)
    packet = publish_v4("t", b"x" * 95)
    assert len(packet) == 100
    protocol.receive_data(packet)
    assert [type(event) for event in protocol.events_received()] == [Publish]


def test_a_too_large_v5_connect_gets_connack_0x95() -> None:
    protocol = ServerProtocol(maximum_packet_size=64)
    protocol.receive_data(connect_v5("x" * 100)[:12])
    assert _error(protocol).reason_code == 0x95
    [connack] = protocol.data_to_send()
    assert connack[:4] == bytes((0x20, connack[1], 0, 0x95))


def test_outgoing_publish_honours_the_client_maximum_packet_size() -> None:
    protocol = opened(5, connect_properties=Properties(maximum_packet_size=50))
    assert protocol.send_publish(Publish("t", b"x" * 40))
    assert protocol.send_publish(Publish("t", b"x" * 60)) is False
    [sent] = protocol.data_to_send()
    assert len(sent) <= 50


def test_reason_strings_are_dropped_before_exceeding_the_client_maximum_packet_size() -> None:
    protocol = opened(5, connect_properties=Properties(maximum_packet_size=20))
    protocol.receive_data(publish_v5("t", b"", qos=1, packet_id=1))
    protocol.send_puback(1, 0x10, "a reason string much longer than twenty bytes")
    assert protocol.data_to_send() == [b"\x40\x03\x00\x01\x10"]
    protocol.send_puback(2, 0x10, "short")
    assert protocol.data_to_send() == [b"\x40\x0c\x00\x02\x10\x08\x1f\x00\x05short"]


# -- topic aliases -------------------------------------------------------------------------------------------------

def test_inbound_topic_alias_is_set_then_resolved() -> None:
    protocol = opened(5, topic_alias_maximum=2)
    protocol.receive_data(publish_v5("long/topic", b"1", properties=Properties(topic_alias=2))
                          + publish_v5("", b"2", properties=Properties(topic_alias=2)))
    first, second = protocol.events_received()
    assert isinstance(first, Publish)
    assert isinstance(second, Publish)
    assert (first.topic, second.topic, second.payload) == ("long/topic", "long/topic", b"2")


@pytest.mark.parametrize(("alias", "topic", "code"), [(0, "t", 0x94), (3, "t", 0x94), (1, "", 0x82)])
def test_inbound_topic_alias_errors(alias: int, topic: str, code: int) -> None:
    protocol = opened(5, topic_alias_maximum=2)
    protocol.receive_data(publish_v5(topic, b"", properties=Properties(topic_alias=alias)))
    assert _error(protocol).reason_code == code
    assert _disconnect_code(protocol) == code


def test_without_a_topic_alias_maximum_any_alias_is_invalid() -> None:
    protocol = opened(5)
    protocol.receive_data(publish_v5("t", b"", properties=Properties(topic_alias=1)))
    assert _error(protocol).reason_code == 0x94


LONG_A, LONG_B, LONG_C = "sensors/kitchen/a", "sensors/kitchen/b", "sensors/kitchen/c"


def _sent_topic_and_alias(data: bytes) -> tuple[str, int | None]:
    """The topic and topic alias of a QoS 0 MQTT 5 PUBLISH as a client decodes it (before resolving the alias)."""
    length = int.from_bytes(data[2:4], "big")
    topic = data[4:4 + length].decode()
    properties, _ = decode_properties(data, 4 + length, len(data), wf.PUBLISH)
    return topic, properties.topic_alias


def test_outbound_topic_aliases_are_assigned_until_the_client_maximum_then_topics_go_in_full() -> None:
    protocol = opened(5, connect_properties=Properties(topic_alias_maximum=2), outbound_topic_aliases=True)
    for topic in (LONG_A, LONG_B, LONG_A, LONG_C, LONG_B, LONG_C, "short/1", "short/1"):
        assert protocol.send_publish(Publish(topic, b""))
    sent = [_sent_topic_and_alias(data) for data in protocol.data_to_send()]
    # a: alias 1 set; b: alias 2 set; a: alias alone; c: the maximum is used up, in full (nothing is reassigned);
    # b: alias alone; a topic under 8 bytes saves nothing by an alias: always in full
    assert sent == [(LONG_A, 1), (LONG_B, 2), ("", 1), (LONG_C, None), ("", 2), (LONG_C, None),
                    ("short/1", None), ("short/1", None)]


def test_outbound_topic_aliases_need_the_flag_and_the_client_maximum() -> None:
    for protocol in (opened(5, connect_properties=Properties(topic_alias_maximum=2)),
                     opened(5, outbound_topic_aliases=True)):
        protocol.send_publish(Publish(LONG_A, b""))
        protocol.send_publish(Publish(LONG_A, b""))
        assert [_sent_topic_and_alias(data) for data in protocol.data_to_send()] == [(LONG_A, None)] * 2


def test_a_resent_publish_goes_with_its_whole_topic() -> None:
    protocol = opened(5, connect_properties=Properties(topic_alias_maximum=2), outbound_topic_aliases=True)
    protocol.send_publish(Publish(LONG_A, b"", qos=1), packet_id=1)
    protocol.send_publish(Publish(LONG_A, b"", qos=1), packet_id=1, dup=True)
    first, resent = protocol.data_to_send()
    assert resent[0] & 0x08  # DUP
    assert resent[2:4 + len(LONG_A)] == string(LONG_A)
    assert b"\x23" not in resent[4 + len(LONG_A):]  # no topic alias property


def test_a_forgotten_topic_gives_its_alias_back_for_the_next_new_topic() -> None:
    aliases = OutboundTopicAliases(2)
    for topic in (LONG_A, LONG_B):
        alias, send_topic = aliases.choose(topic)
        aliases.commit(topic, alias, send_topic)
    aliases.forget(LONG_A)  # its packet was dropped: the client may not know alias 1
    assert aliases.choose(LONG_B) == (2, False)
    assert aliases.choose(LONG_C) == (1, True)
    aliases.commit(LONG_C, 1, True)
    assert aliases.choose(LONG_A) == (None, True)  # the maximum is used up again


# -- receive maximum (flow control) --------------------------------------------------------------------------------

def test_receive_maximum_exceeded() -> None:
    protocol = opened(5, receive_maximum=2)
    protocol.receive_data(publish_v5("t", b"", qos=1, packet_id=1) + publish_v5("t", b"", qos=2, packet_id=2))
    assert len(protocol.events_received()) == 2
    protocol.send_puback(1)
    protocol.receive_data(publish_v5("t", b"", qos=1, packet_id=3))
    protocol.receive_data(publish_v5("t", b"", qos=2, packet_id=2))  # the same QoS 2 message again: no new slot
    assert len(protocol.events_received()) == 2
    protocol.send_pubrec(2)  # QoS 2 holds its slot until PUBCOMP
    protocol.data_to_send()
    protocol.receive_data(publish_v5("t", b"", qos=1, packet_id=4))
    error = _error(protocol)
    assert error.reason_code == 0x93
    assert _disconnect_code(protocol) == 0x93


def test_receive_maximum_slot_is_freed_by_pubcomp_or_a_refusing_pubrec() -> None:
    protocol = opened(5, receive_maximum=1)
    protocol.receive_data(publish_v5("t", b"", qos=2, packet_id=1))
    protocol.send_pubrec(1)
    protocol.send_pubcomp(1)
    protocol.receive_data(publish_v5("t", b"", qos=2, packet_id=2))
    protocol.send_pubrec(2, 0x97)  # quota exceeded: the exchange ends here
    protocol.receive_data(publish_v5("t", b"", qos=1, packet_id=3))
    assert [type(event) for event in protocol.events_received()] == [Publish] * 3
    assert not protocol.close_expected()


def test_qos0_does_not_count_against_receive_maximum() -> None:
    protocol = opened(4, receive_maximum=1)
    protocol.receive_data(publish_v4("t", b"") * 10)
    assert len(protocol.events_received()) == 10


# -- keep-alive ----------------------------------------------------------------------------------------------------

def test_keep_alive_deadline_is_one_and_a_half_times_keep_alive() -> None:
    clock = FakeClock()
    protocol = opened(5, keep_alive=10, clock=clock)
    assert protocol.next_deadline() == 1015.0
    clock.now = 1010.0
    protocol.receive_data(b"\xc0\x00")
    assert protocol.next_deadline() == 1025.0
    protocol.handle_deadline(1024.9)
    assert not protocol.close_expected()
    protocol.events_received()
    protocol.data_to_send()
    protocol.handle_deadline(1025.0)
    assert protocol.events_received() == [KeepAliveTimedOut(15.0, 15.0)]
    assert _disconnect_code(protocol) == 0x8D
    assert protocol.close_expected()
    assert protocol.next_deadline() is None


def test_server_keep_alive_overrides_the_clients() -> None:
    clock = FakeClock()
    protocol = ServerProtocol(clock=clock)
    protocol.receive_data(connect_v5(keep_alive=600))
    protocol.send_connack(0, properties=Properties(server_keep_alive=20))
    assert protocol.keep_alive == 20
    assert protocol.next_deadline() == 1030.0


def test_keep_alive_zero_has_no_deadline_and_v4_timeout_just_closes() -> None:
    assert opened(4, keep_alive=0).next_deadline() is None
    clock = FakeClock()
    protocol = opened(4, keep_alive=2, clock=clock)
    protocol.handle_deadline(1003.0)
    assert protocol.close_expected()
    assert protocol.data_to_send() == []


def test_connect_timeout_before_connect() -> None:
    clock = FakeClock()
    protocol = ServerProtocol(connect_timeout=5.0, clock=clock)
    assert protocol.next_deadline() == 1005.0
    protocol.handle_deadline(1005.0)
    assert protocol.events_received() == [KeepAliveTimedOut(5.0, 5.0)]
    assert protocol.close_expected()
    assert protocol.data_to_send() == []


# -- request problem information, send_* in each state -------------------------------------------------------------

def test_request_problem_information_0_drops_reason_strings_except_on_disconnect() -> None:
    protocol = opened(5, connect_properties=Properties(request_problem_information=0))
    protocol.receive_data(frame(0x82, u16(1) + b"\x00" + string("a") + b"\x00"))
    protocol.send_suback(1, [0x87], "not allowed", [("k", "v")])
    protocol.send_puback(2, 0x87, "not allowed")
    protocol.send_disconnect(0x98, "kicked")
    suback, puback, disconnect = protocol.data_to_send()
    assert suback == b"\x90\x04\x00\x01\x00\x87"
    assert puback == b"\x40\x03\x00\x02\x87"
    assert disconnect == b"\xe0\x0b\x98\x09\x1f\x00\x06kicked"


def test_reason_strings_are_sent_when_problem_information_is_wanted() -> None:
    protocol = opened(5)
    protocol.send_unsuback(4, [0x11], "none", [("k", "v")])
    [unsuback] = protocol.data_to_send()
    properties, offset = decode_properties(unsuback, 4, len(unsuback), 11)
    assert properties == Properties(reason_string="none", user_properties=(("k", "v"),))
    assert unsuback[offset:] == b"\x11"


def test_v4_send_methods_use_the_3_1_1_forms() -> None:
    protocol = opened(4)
    protocol.send_puback(1, 0x10, "ignored")
    protocol.send_pubrec(2)
    protocol.send_pubrel(3)
    protocol.send_pubcomp(4)
    protocol.send_suback(5, [0, 1, 2, 0x87])
    protocol.send_unsuback(6, [0x00])
    protocol.send_pingresp()
    assert protocol.data_to_send() == [b"\x40\x02\x00\x01", b"\x50\x02\x00\x02", b"\x62\x02\x00\x03",
                                       b"\x70\x02\x00\x04", b"\x90\x06\x00\x05\x00\x01\x02\x80",
                                       b"\xb0\x02\x00\x06", b"\xd0\x00"]
    protocol.send_disconnect(0x8E)
    assert protocol.data_to_send() == []
    assert protocol.close_expected()
    assert protocol.send_publish(Publish("a", b"")) is False


def test_send_publish_with_per_subscriber_qos_and_packet_id() -> None:
    protocol = opened(5)
    outgoing = OutgoingPublish(Publish("s", b"v", qos=2, retain=True))
    assert protocol.send_publish(outgoing, qos=1, packet_id=9, retain=False)
    assert protocol.data_to_send() == [b"\x32\x07" + string("s") + u16(9) + b"\x00v"]


def test_send_before_connack_is_a_caller_bug() -> None:
    protocol = ServerProtocol()
    with pytest.raises(InvalidState):
        protocol.send_publish(Publish("a", b""))
    with pytest.raises(InvalidState):
        protocol.send_connack(0)


# -- buffering -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [4, 5])
def test_packets_split_anywhere_decode_the_same(version: int) -> None:
    publishes = b"".join((publish_v5 if version == 5 else publish_v4)(f"t/{index}", b"x" * index * 30, qos=1,
                                                                       packet_id=index + 1) for index in range(8))
    whole = opened(version)
    whole.receive_data(publishes)
    expected = whole.events_received()
    assert len(expected) == 8
    split = opened(version)
    for index in range(len(publishes)):
        split.receive_data(publishes[index:index + 1])
    assert split.events_received() == expected


@pytest.mark.parametrize("piece", [7, 1000, 70_000])
def test_a_stream_read_in_pieces_decodes_as_a_whole_with_packets_kept_as_bytes(piece: int) -> None:
    """A partial packet is joined with the next read (as bytes while small, in a bytearray once large): the same
    messages, each with its payload (and, below QOS1_WIRE_MAX, its packet) as bytes, also a 300 KB one that takes
    many reads."""
    stream = b"".join([publish_v4(f"t/{index}", bytes([index]) * 100, qos=index % 2, packet_id=index % 2 or None)
                       for index in range(40)] + [publish_v4("big", b"B" * 300_000, qos=1, packet_id=9),
                                                  publish_v4("after", b"a")])
    whole = opened(4)
    whole.receive_data(stream)
    expected = whole.events_received()
    split = opened(4)
    got: list[object] = []
    for start in range(0, len(stream), piece):
        split.receive_data(stream[start:start + piece])
        got.extend(split.events_received())
    assert got == expected
    assert len(got) == 42
    assert {type(p.payload) for p in got} == {bytes}  # type: ignore[attr-defined]
    assert {type(p.wire) for p in got if p.topic != "big"} == {bytes}  # type: ignore[attr-defined]
    assert [p.wire for p in got] == [p.wire for p in expected]  # type: ignore[attr-defined]


def test_many_packets_in_one_chunk_and_the_rest_kept() -> None:
    protocol = opened(4)
    chunk = publish_v4("a", b"1") * 500 + b"\x40\x02\x00"
    protocol.receive_data(chunk)
    assert len(protocol.events_received()) == 500
    protocol.receive_data(b"\x07")
    assert protocol.events_received() == [PubAck(7)]


# -- enhanced authentication (MQTT 5) ---------------------------------------------------------------------------

def _auth(reason_code: int, method: str, data: bytes) -> bytes:
    return frame(0xF0, bytes((reason_code,)) + encode_properties(Properties(authentication_method=method,
                                                                            authentication_data=data)))


def test_enhanced_authentication_exchanges_auth_before_connack() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect_v5(properties=Properties(authentication_method="SCRAM-SHA-1",
                                                           authentication_data=b"client-first")))
    [connect] = protocol.events_received()
    assert isinstance(connect, Connect)
    protocol.send_auth(0x18, Properties(authentication_method="SCRAM-SHA-1", authentication_data=b"server-first"))
    assert protocol.data_to_send() == [_auth(0x18, "SCRAM-SHA-1", b"server-first")]
    protocol.receive_data(_auth(0x18, "SCRAM-SHA-1", b"client-final"))
    [auth] = protocol.events_received()
    assert auth == Auth(0x18, Properties(authentication_method="SCRAM-SHA-1", authentication_data=b"client-final"))
    protocol.send_connack(0, properties=Properties(authentication_method="SCRAM-SHA-1"))
    assert protocol.state is State.OPEN


def test_anything_but_auth_during_authentication_is_refused_with_a_connack() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(connect_v5(properties=Properties(authentication_method="M")))
    protocol.events_received()
    protocol.receive_data(publish_v5("t", b""))
    assert _error(protocol).reason_code == 0x82
    [connack] = protocol.data_to_send()
    assert connack[0] == 0x20
    assert connack[2:4] == b"\x00\x82"


def test_auth_on_a_v4_connection_is_a_caller_bug() -> None:
    protocol = opened(4)
    with pytest.raises(InvalidState):
        protocol.send_auth(0x19)


@pytest.mark.parametrize("header", [b"\x30\x80\x00", b"\x30\xff\xff\xff\xff\x01"])
def test_a_remaining_length_not_minimal_or_of_five_bytes_is_malformed(header: bytes) -> None:
    protocol = opened(5)
    protocol.receive_data(header)
    assert _error(protocol).reason_code == 0x81


def test_a_publish_too_large_to_send_does_not_take_a_topic_alias() -> None:
    protocol = opened(5, connect_properties=Properties(topic_alias_maximum=1, maximum_packet_size=40),
                      outbound_topic_aliases=True)
    assert protocol.send_publish(Publish("big/topic", b"x" * 40)) is False
    assert protocol.send_publish(Publish("small/topic", b""))
    assert protocol.send_publish(Publish("small/topic", b""))
    assert protocol.data_to_send() == [b"\x30\x11" + string("small/topic") + b"\x03\x23\x00\x01",
                                       b"\x30\x06" + string("") + b"\x03\x23\x00\x01"]


def test_a_plain_qos0_publish_keeps_its_packet_for_receivers_of_its_version() -> None:
    v4, v5 = opened(4), opened(5, topic_alias_maximum=4)
    plain_v4 = publish_v4("lab/t", b"21.5")
    user = Properties(user_properties=(("unit", "C"), ("a", "b")), content_type="text/plain")
    plain_v5 = publish_v5("lab/t", b"21.5", properties=user)
    v4.receive_data(plain_v4 + publish_v4("lab/t", b"r", retain=True)
                    + publish_v4("lab/t", b"q", qos=1, packet_id=7, dup=True))
    v5.receive_data(plain_v5 + publish_v5("lab/t", b"a", properties=Properties(topic_alias=1))
                    + publish_v5("", b"b", properties=Properties(topic_alias=1)))
    got_v4, got_v5 = v4.events_received(), v5.events_received()
    assert [(p.wire, p.wire_version) for p in got_v4] == [(plain_v4, 4), (None, 0), (None, 0)]  # type: ignore[union-attr]
    assert [(p.wire, p.wire_version) for p in got_v5] == [(plain_v5, 5), (None, 0), (None, 0)]  # type: ignore[union-attr]
    message = OutgoingPublish(got_v5[0])  # type: ignore[arg-type]
    assert message.qos0(5, False) == plain_v5  # as it came, its user properties in their order
    assert message.qos0(4, False) == plain_v4  # the other version: encoded (here the same bytes as 3.1.1's)
    resolved = got_v5[2]
    assert isinstance(resolved, Publish)
    assert resolved.topic == "lab/t"
    assert OutgoingPublish(resolved).qos0(5, False) == publish_v5("lab/t", b"b")  # no alias of theirs


@pytest.mark.parametrize("payload", [b"21.5", "é".encode() * 200])  # a one- and a two-byte remaining length
def test_a_plain_qos1_publish_goes_out_as_it_came_but_for_the_receivers_packet_id(payload: bytes) -> None:
    user = Properties(user_properties=(("z", "1"), ("a", "2")), content_type="text/plain", correlation_data=b"c")
    arrived = {4: publish_v4("lab/é/t", payload, qos=1, packet_id=7),
               5: publish_v5("lab/é/t", payload, qos=1, packet_id=7, properties=user)}
    for version, packet in arrived.items():
        protocol = opened(version)
        protocol.receive_data(packet)
        [received] = protocol.events_received()
        assert isinstance(received, Publish)
        assert (received.wire, received.wire_version) == (packet, version)
        message = OutgoingPublish(received)
        assert message.qos0(version, False) != packet  # a QoS 1 packet is never anyone's QoS 0 one
        assert message.encode(version, qos=1, retain=False, packet_id=65535) == (
            publish_v4("lab/é/t", payload, qos=1, packet_id=65535) if version == 4 else
            publish_v5("lab/é/t", payload, qos=1, packet_id=65535, properties=user))
        # what the full encoder makes of the decoded message (a copy has no wire), for either version and flag
        encoded = OutgoingPublish(replace(received))
        for other in (4, 5):
            for retain, dup in ((False, False), (True, False), (False, True)):
                assert message.encode(other, qos=1, retain=retain, dup=dup, packet_id=300) == \
                    encoded.encode(other, qos=1, retain=retain, dup=dup, packet_id=300)
            for retain in (False, True):  # the delivery's shortcut, the same packets
                assert message.qos1(other, retain, 300) == encoded.encode(other, qos=1, retain=retain, packet_id=300)
            assert message.qos0(other, False) == encoded.qos0(other, False)
            assert message.size(other, 1) == len(encoded.encode(other, qos=1, retain=False, packet_id=1))


def test_a_retained_duplicate_or_aliased_qos1_publish_keeps_no_packet() -> None:
    v4, v5 = opened(4), opened(5, topic_alias_maximum=4)
    v4.receive_data(publish_v4("lab/t", b"r", qos=1, packet_id=1, retain=True)
                    + publish_v4("lab/t", b"d", qos=1, packet_id=2, dup=True)
                    + publish_v4("lab/t", b"2", qos=2, packet_id=3))
    v5.receive_data(publish_v5("lab/t", b"a", qos=1, packet_id=1, properties=Properties(topic_alias=1)))
    assert [p.wire for p in v4.events_received() + v5.events_received()] == [None] * 4  # type: ignore[union-attr]


def test_a_large_qos1_publish_keeps_no_packet_beside_its_payload_but_a_large_qos0_one_does() -> None:
    """A QoS 1 message may be held in count-bounded queues (an offline session's, in flight): past QOS1_WIRE_MAX it
    is not held twice; a QoS 0 one is delivered at once and keeps its packet at any size."""
    protocol = opened(4)
    header = len(publish_v4("t", b"", qos=1, packet_id=1)) + 1  # (and a second byte of remaining length)
    at_limit = publish_v4("t", b"x" * (QOS1_WIRE_MAX - header), qos=1, packet_id=1)
    over = publish_v4("t", b"x" * (QOS1_WIRE_MAX - header + 1), qos=1, packet_id=2)
    large_qos0 = publish_v4("t", b"x" * 100_000)
    assert len(at_limit) == QOS1_WIRE_MAX
    protocol.receive_data(at_limit + over + large_qos0)
    got = protocol.events_received()
    assert [p.wire for p in got] == [at_limit, None, large_qos0]  # type: ignore[union-attr]
    assert OutgoingPublish(got[1]).qos1(4, False, 9) == publish_v4("t", b"x" * (QOS1_WIRE_MAX - header + 1),  # type: ignore[arg-type]
                                                                   qos=1, packet_id=9)


def test_pubacks_of_either_version_read_on_the_fast_path_are_the_full_decoders() -> None:
    for version in (4, 5):
        protocol = opened(version)
        protocol.receive_data(frame(0x40, u16(7)) + frame(0x40, u16(65535)))
        assert protocol.events_received() == [PubAck(7), PubAck(65535)]
    protocol = opened(5)
    protocol.receive_data(frame(0x40, u16(0)))  # packet id 0: still refused, by the full decoder
    error = _error(protocol)
    assert "packet id 0" in error.text
