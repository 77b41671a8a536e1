"""Session state across connections: in-flight window, queueing, redelivery with DUP, bounds."""

from __future__ import annotations

import pytest

from mqttdesk.broker.protocol import OutgoingPublish, Publish
from mqttdesk.broker.protocol.decoder import decode_packet
from mqttdesk.broker.registry import LiveSession
from mqttdesk.broker.session_state import MAX_INCOMING_QOS2, SessionLimits, SessionState
from mqttdesk.broker.subscription import Subscription
from mqttdesk.core.decision import Grant
from mqttdesk.core.model import ANONYMOUS_REF, Method

GRANT = Grant(Method.ANONYMOUS, ANONYMOUS_REF, None, "c")


def _state(clean: bool = False, **limits: int) -> SessionState:
    live = LiveSession("c", None, "anonymous", None, 0.0, clean, GRANT)
    return SessionState("c", clean, GRANT, live, SessionLimits(**limits))


def _m(topic: str, payload: bytes) -> OutgoingPublish:
    return OutgoingPublish(Publish(topic, payload))


def _decode(packet: bytes) -> Publish:
    """A PUBLISH the session sent (3.1.1 form, remaining length under 128), decoded as a client would."""
    decoded = decode_packet(packet[0], packet[2:], 4)
    assert isinstance(decoded, Publish)
    return decoded


def _pubrel(packet_id: int) -> bytes:
    return b"\x62\x02" + packet_id.to_bytes(2, "big")


def test_window_then_queue_then_refill_in_order() -> None:
    state, other = _state(max_inflight=2), _state()
    state.resume()
    sent = [state.offer(_m("t", str(n).encode()), 1, False) for n in range(4)]
    assert [p is not None for p in sent] == [True, True, False, False]
    assert len(state.inflight) == 2
    assert not other.inflight  # each session has its own table of messages in flight
    first = _decode(sent[0])  # type: ignore[arg-type]
    refill = state.puback(first.packet_id)  # type: ignore[arg-type]
    assert [_decode(p).payload for p in refill] == [b"2"]


def test_offline_persistent_session_queues_and_resumes_with_dup_for_inflight() -> None:
    state = _state()
    state.resume()
    in_flight = _decode(state.offer(_m("t", b"a"), 1, False))  # type: ignore[arg-type]
    state.disconnected()
    assert state.offer(_m("t", b"b"), 2, False) is None
    assert state.offer(_m("t", b"zero"), 0, False) is None  # QoS 0 is not kept for absent clients
    resent = [_decode(p) for p in state.resume()]
    assert [(p.payload, p.dup, p.qos) for p in resent] == [(b"a", True, 1), (b"b", False, 2)]
    assert resent[0].packet_id == in_flight.packet_id


def test_qos2_released_message_resumes_as_pubrel() -> None:
    state = _state()
    state.resume()
    publish = _decode(state.offer(_m("t", b"x"), 2, False))  # type: ignore[arg-type]
    assert state.pubrec(publish.packet_id) == [_pubrel(publish.packet_id)]  # type: ignore[arg-type]
    state.disconnected()
    assert state.resume() == [_pubrel(publish.packet_id)]  # type: ignore[arg-type]
    state.pubcomp(publish.packet_id)  # type: ignore[arg-type]
    assert not state.inflight


def test_queue_is_bounded_and_counts_drops() -> None:
    state = _state(max_inflight=1, max_queued=2)
    state.resume()
    for n in range(5):
        state.offer(_m("t", str(n).encode()), 1, False)
    assert len(state.inflight) == 1
    assert len(state.queue) == 2
    assert state.dropped == 2


def test_clean_session_keeps_nothing_while_away() -> None:
    state = _state(clean=True)
    assert state.offer(_m("t", b"x"), 1, False) is None
    assert not state.queue


def test_what_the_grant_may_no_longer_read_is_withheld_on_resume_and_refill() -> None:
    state = _state(max_inflight=1)
    readable = {"a/ok": True, "a/secret": False}

    class Permission:
        def may_receive(self, session: SessionState, topic: str) -> bool:
            return readable[topic]

    state.permission = Permission()
    state.resume()
    assert _decode(state.offer(_m("a/secret", b"1"), 1, False) or b"").topic == "a/secret"  # allowed when sent
    state.disconnected()
    state.offer(_m("a/secret", b"2"), 1, False)
    state.offer(_m("a/ok", b"3"), 1, False)
    assert state.live.queued == 2
    packets = state.resume()  # the in-flight secret is dropped, the queued one skipped, 'a/ok' sent
    assert [_decode(p).payload for p in packets] == [b"3"]
    assert state.withheld == 2
    assert state.live.queued == 0


def test_the_registry_lists_kept_sessions_as_holders_and_announces_them() -> None:
    from mqttdesk.broker.registry import SessionEventKind, SessionRegistry

    registry = SessionRegistry()
    events: list[SessionEventKind] = []
    registry.subscribe(lambda event: events.append(event.kind))
    live = _state().live
    registry.add(live)
    registry.remove(live.client_id, live, "gone")
    registry.park(live)
    assert len(registry) == 0
    assert registry.offline() == [live]
    holder = registry.holders()[live.client_id]
    assert not holder.online
    assert holder.offline_since == live.offline_since
    assert registry.discard(live.client_id, "discarded by admin") is live
    assert live.client_id not in registry.holders()
    assert events == [SessionEventKind.CONNECTED, SessionEventKind.DISCONNECTED, SessionEventKind.OFFLINE,
                      SessionEventKind.DISCARDED]


def _qos2(topic: str, size: int, packet_id: int) -> Publish:
    return Publish(topic, b"x" * size, 2, False, False, packet_id)


def test_unreleased_qos2_is_counted_in_bytes_and_freed_by_pubrel() -> None:
    state, other = _state(max_incoming_qos2_bytes=1024 * 1024), _state()
    assert state.release_incoming(7) is None  # a PUBREL for nothing held
    assert state.hold_incoming(1, _qos2("t", 600_000, 1)) is None
    assert state.hold_incoming(2, None) is None  # refused at PUBLISH: only its id is kept
    assert not other.incoming_qos2  # each session holds its own
    assert state.incoming_qos2_bytes == 600_001
    exceeded = state.hold_incoming(3, _qos2("t", 600_000, 3))
    assert exceeded is not None
    assert "max_incoming_qos2_bytes" in exceeded
    assert set(state.incoming_qos2) == {1, 2}  # the refused one was not kept
    assert state.release_incoming(1) == _qos2("t", 600_000, 1)
    assert state.release_incoming(2) is None
    assert state.incoming_qos2_bytes == 0
    assert state.hold_incoming(3, _qos2("t", 600_000, 3)) is None


def test_a_replaced_qos2_copy_is_counted_once() -> None:
    state = _state()
    state.hold_incoming(1, _qos2("t", 100, 1))
    state.hold_incoming(1, _qos2("t", 50, 1))
    assert state.incoming_qos2_bytes == 51


def test_unreleased_qos2_is_also_bounded_in_count() -> None:
    state = _state()
    for packet_id in range(1, MAX_INCOMING_QOS2 + 1):
        assert state.hold_incoming(packet_id, None) is None
    assert state.hold_incoming(MAX_INCOMING_QOS2 + 1, None) == f"more than {MAX_INCOMING_QOS2} QoS 2 messages " \
        "awaiting PUBREL"


def _topic_and_alias(packet: bytes) -> tuple[str, int | None]:
    """An MQTT 5 PUBLISH as a client reads it, before it resolves a topic alias."""
    decoded = decode_packet(packet[0], packet[2:], 5)
    assert isinstance(decoded, Publish)
    return decoded.topic, decoded.properties.topic_alias


def test_a_client_allowing_topic_aliases_gets_them_for_long_topics_on_this_connection() -> None:
    state = _state()
    state.attach(5, 65535, None, topic_alias_maximum=10)
    state.resume()
    sent = [state.offer(_m(topic, b"v"), qos, False) for topic, qos in
            (("sensors/kitchen", 0), ("sensors/kitchen", 0), ("sensors/kitchen", 1), ("a/b", 0))]
    assert [_topic_and_alias(p) for p in sent] == [  # type: ignore[arg-type]
        ("sensors/kitchen", 1), ("", 1), ("", 1), ("a/b", None)]


def test_without_topic_aliases_qos0_is_the_message_s_one_cached_packet() -> None:
    message = _m("sensors/kitchen", b"v")
    for maximum, version in ((0, 5), (10, 4)):  # the client allows none; 3.1.1 has none
        state = _state()
        state.attach(version, 65535, None, topic_alias_maximum=maximum)
        state.resume()
        assert state.aliases is None
        assert state.offer(message, 0, False) is message.encode(version, qos=0, retain=False)


def test_topic_aliases_end_with_the_connection_and_a_resent_message_has_its_whole_topic() -> None:
    state = _state()
    state.attach(5, 65535, None, topic_alias_maximum=10)
    state.resume()
    state.offer(_m("sensors/kitchen", b"1"), 0, False)
    in_flight = state.offer(_m("sensors/kitchen", b"2"), 1, False)
    assert _topic_and_alias(in_flight) == ("", 1)  # type: ignore[arg-type]
    state.disconnected()
    assert state.aliases is None
    state.attach(5, 65535, None, topic_alias_maximum=10)
    resent, = state.resume()
    assert resent[0] & 0x08  # DUP
    assert _topic_and_alias(resent) == ("sensors/kitchen", None)
    assert _topic_and_alias(state.offer(_m("sensors/kitchen", b"3"), 0, False)) == ("sensors/kitchen", 1)  # type: ignore[arg-type]


def test_a_dropped_qos0_packet_takes_its_alias_back() -> None:
    state = _state()
    state.attach(5, 65535, None, topic_alias_maximum=10)
    state.resume()
    state.offer(_m("sensors/kitchen", b"1"), 0, False)
    state.not_sent("sensors/kitchen")  # the client was too far behind: it never learnt alias 1
    assert _topic_and_alias(state.offer(_m("sensors/kitchen", b"2"), 0, False)) == ("sensors/kitchen", 1)  # type: ignore[arg-type]


def test_sessions_share_one_read_only_empty_subscription_table_until_they_subscribe() -> None:
    first, second = _state(), _state()
    assert first.subscriptions is second.subscriptions  # nothing of their own yet
    first.subscriptions_changed = False
    first.add_subscription("a/#", Subscription(1))
    assert first.subscriptions == {"a/#": Subscription(1)}
    assert first.subscriptions_changed
    assert dict(second.subscriptions) == {}  # the shared one was not written to
    with pytest.raises(TypeError):
        second.subscriptions["b"] = Subscription(0)  # type: ignore[index]  # it cannot be, by mistake either
    assert not second.remove_subscription("a/#")
    assert first.remove_subscription("a/#")
    assert dict(first.subscriptions) == {}


def test_packet_ids_wrap_after_65535_and_skip_one_still_in_flight() -> None:
    state = _state(max_inflight=10)
    state.resume()
    first = _decode(state.offer(_m("t", b"held"), 1, False))  # type: ignore[arg-type]
    assert first.packet_id == 1
    state._last_packet_id = 65534  # (as after 65,534 messages)
    ids = [_decode(state.offer(_m("t", str(n).encode()), 1, False)).packet_id  # type: ignore[arg-type]
           for n in range(3)]
    assert ids == [65535, 2, 3]  # 1 is still unacknowledged: never two messages in flight under one id
    assert sorted(state.inflight) == [1, 2, 3, 65535]
