"""MQTT 5 time: session expiry, message expiry (queued and retained), will delay.

No test sleeps. Where time itself is under test, the test waits for the broker's own timer: a *witness* session
with a session expiry interval of N s is left behind, and its expiry (an event of the session registry) proves that
the broker's clock has moved on N s since. Intervals are 1-4 s; every wait is bounded by N + 10 s, so a loaded
machine makes the tests slower, never wrong.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from mqttdesk.broker.registry import SessionEventKind
from tests.integration.mqtt5_client import SessionEvents, V5Client

_witnesses = itertools.count()


def _persistent(client5: Callable[..., V5Client], client_id: str, expiry: int, **kwargs: object) -> V5Client:
    return client5(client_id, clean_start=False, connect_properties={"SessionExpiryInterval": expiry}, **kwargs)


def _subscribed_phone(client5: Callable[..., V5Client], expiry: int) -> V5Client:
    """Client 'phone', connected with this session expiry and subscribed to news/# at QoS 1."""
    phone = _persistent(client5, "phone", expiry)
    assert phone.connect() == 0
    assert phone.subscribe("news/#", 1).codes == [1]
    return phone


def _expired(events: SessionEvents, client_id: str, seconds: float) -> None:
    events.wait(SessionEventKind.DISCARDED, client_id, timeout=seconds + 10,
                where=lambda event: "expired" in (event.reason or ""))


def _broker_waited(client5: Callable[..., V5Client], events: SessionEvents, seconds: int) -> None:
    """Return once the broker's clock has advanced `seconds` from now (see the module docstring)."""
    witness = _persistent(client5, f"witness-{next(_witnesses)}", seconds)
    assert witness.connect() == 0
    witness.disconnect()
    _expired(events, witness.client_id, seconds)


def _away(client: V5Client, events: SessionEvents) -> None:
    """Disconnect and wait until the broker keeps the session for the client's return."""
    client.disconnect()
    events.wait(SessionEventKind.OFFLINE, client.client_id)


# -- session expiry -------------------------------------------------------------------------------


def test_session_expiry_zero_ends_the_session_with_the_connection(instance, client5, session_events):
    first = client5("phone", clean_start=False)  # no Session Expiry Interval: 0 [MQTT-3.1.2-11.2]
    assert first.connect() == 0
    assert first.subscribe("news/#", 1).codes == [1]
    first.disconnect()
    session_events.wait(SessionEventKind.DISCONNECTED, "phone")
    assert instance.call(instance.service.registry.get_offline, "phone") is None
    again = client5("phone", clean_start=False)
    assert again.connect() == 0
    assert again.session_present is False


def test_a_session_resumed_within_its_expiry_keeps_subscriptions_and_queued_messages(instance, client5,
                                                                                     session_events):
    phone = _subscribed_phone(client5, 60)
    _away(phone, session_events)
    sender = client5("sender")
    assert sender.connect() == 0
    sender.publish("news/a", b"while away", qos=1)
    back = _persistent(client5, "phone", 60)
    assert back.connect() == 0
    assert back.session_present is True
    assert back.expect_message().payload == b"while away"


def test_a_session_not_resumed_within_its_expiry_is_gone(instance, client5, session_events):
    phone = _subscribed_phone(client5, 1)
    _away(phone, session_events)
    away_since = time.monotonic()
    _expired(session_events, "phone", 1)
    assert time.monotonic() - away_since >= 0.9  # not before its time (monotonic granularity aside)
    assert instance.call(instance.service.registry.get_offline, "phone") is None
    sender = client5("sender")
    assert sender.connect() == 0
    sender.publish("news/a", b"too late", qos=1)
    back = _persistent(client5, "phone", 1)
    assert back.connect() == 0
    assert back.session_present is False
    back.round_trip()
    assert back.received() == []  # no subscription survived to queue it


def test_disconnect_can_shorten_the_session_expiry_to_zero(instance, client5, session_events):
    phone = _subscribed_phone(client5, 3600)
    phone.disconnect(SessionExpiryInterval=0)  # [MQTT-3.14.2.2.2]
    session_events.wait(SessionEventKind.DISCONNECTED, "phone")
    assert instance.call(instance.service.registry.get_offline, "phone") is None
    back = _persistent(client5, "phone", 3600)
    assert back.connect() == 0
    assert back.session_present is False


# -- message expiry -------------------------------------------------------------------------------


def test_a_queued_message_that_expired_is_not_delivered_and_the_rest_carry_what_is_left(instance, client5,
                                                                                       session_events):
    phone = _subscribed_phone(client5, 60)
    _away(phone, session_events)
    sender = client5("sender")
    assert sender.connect() == 0
    sender.publish("news/a", b"short-lived", qos=1, MessageExpiryInterval=1)
    sender.publish("news/b", b"long-lived", qos=1, MessageExpiryInterval=60)
    sender.publish("news/c", b"forever", qos=1)
    _broker_waited(client5, session_events, 1)
    back = _persistent(client5, "phone", 60)
    assert back.connect() == 0
    first, second = back.expect_message(), back.expect_message()
    assert (first.payload, second.payload) == (b"long-lived", b"forever")
    assert 1 <= first.prop("MessageExpiryInterval") <= 59  # [MQTT-3.3.2-6]: what is left, not the 60 sent
    assert second.prop("MessageExpiryInterval") is None
    back.round_trip()
    assert back.received() == []
    state = instance.call(instance.service._broker.session_state, "phone")
    assert state.expired == 1


def test_a_live_subscriber_gets_the_message_expiry_interval(instance, client5):
    reader = client5("reader")
    assert reader.connect() == 0
    assert reader.subscribe("news/#", 1).codes == [1]
    sender = client5("sender")
    assert sender.connect() == 0
    sender.publish("news/a", b"x", qos=1, MessageExpiryInterval=120)
    assert reader.expect_message().prop("MessageExpiryInterval") in (119, 120)


def test_an_expired_retained_message_is_not_sent_to_new_subscribers(instance, client5, session_events):
    sender = client5("sender")
    assert sender.connect() == 0
    sender.publish("status/short", b"soon stale", qos=1, retain=True, MessageExpiryInterval=1)
    sender.publish("status/long", b"still true", qos=1, retain=True, MessageExpiryInterval=600)
    early = client5("early")
    assert early.connect() == 0
    assert early.subscribe("status/#", 1).codes == [1]
    assert {early.expect_message().payload, early.expect_message().payload} == {b"soon stale", b"still true"}
    _broker_waited(client5, session_events, 1)
    late = client5("late")
    assert late.connect() == 0
    assert late.subscribe("status/#", 1).codes == [1]
    retained = late.expect_message()
    assert (retained.topic, retained.retain) == ("status/long", True)
    assert retained.prop("MessageExpiryInterval") <= 599
    late.round_trip()
    assert late.received() == []


# -- will delay ----------------------------------------------------------------------------------


def _watcher(client5: Callable[..., V5Client]) -> V5Client:
    watcher = client5("watcher")
    assert watcher.connect() == 0
    assert watcher.subscribe("lwt/#", 1).codes == [1]
    return watcher


def test_the_will_is_published_after_its_delay(instance, client5, session_events):
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 60, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 1, "ContentType": "text/plain"})
    assert plug.connect() == 0
    dropped = time.monotonic()  # before the drop: the broker's delay cannot start earlier than this
    plug.drop()
    will = watcher.expect_message(timeout=11)
    assert time.monotonic() - dropped >= 0.99  # (asyncio may run a timer a clock tick early)
    assert (will.topic, will.payload) == ("lwt/plug", b"offline")
    assert will.prop("ContentType") == "text/plain"  # will properties travel with it
    assert will.prop("WillDelayInterval") is None  # a property of the will, not of the message it becomes


def test_a_client_back_within_the_will_delay_cancels_its_will(instance, client5, session_events):
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 60, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 3})
    assert plug.connect() == 0
    plug.drop()
    session_events.wait(SessionEventKind.OFFLINE, "plug")
    back = _persistent(client5, "plug", 60)
    assert back.connect() == 0
    assert back.session_present is True
    _broker_waited(client5, session_events, 4)  # past the moment the will would have gone out
    watcher.round_trip()
    assert watcher.received() == []


def test_a_session_that_expires_before_the_will_delay_sends_the_will_then(instance, client5, session_events):
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 1, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 3600})
    assert plug.connect() == 0
    plug.drop()
    _expired(session_events, "plug", 1)  # [MQTT-3.1.3-9]: the will goes when the session ends, if not before
    assert watcher.expect_message().payload == b"offline"


def test_without_a_kept_session_the_will_is_not_delayed(instance, client5, session_events):
    watcher = _watcher(client5)
    plug = client5("plug", will=("lwt/plug", b"offline", 1, False), will_properties={"WillDelayInterval": 3600})
    assert plug.connect() == 0
    plug.drop()
    assert watcher.expect_message().payload == b"offline"


def test_disconnect_with_will_message_publishes_the_will_and_a_normal_one_does_not(instance, client5,
                                                                                   session_events):
    watcher = _watcher(client5)
    plug = client5("plug", will=("lwt/plug", b"with will", 1, False))
    assert plug.connect() == 0
    plug.disconnect(reason_code=0x04)  # Disconnect with Will Message
    assert watcher.expect_message().payload == b"with will"
    quiet = client5("quiet", will=("lwt/quiet", b"never", 1, False))
    assert quiet.connect() == 0
    quiet.disconnect()
    session_events.wait(SessionEventKind.DISCONNECTED, "quiet")  # the broker is done with it (a will goes before)
    watcher.round_trip()
    assert watcher.received() == []


def test_a_reconnect_with_clean_start_ends_the_session_and_sends_the_pending_will(instance, client5,
                                                                                  session_events):
    """The will waits for its delay *or the end of the session* [MQTT-3.1.3-9]; clean start ends the old session."""
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 60, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 3600})
    assert plug.connect() == 0
    plug.drop()
    session_events.wait(SessionEventKind.OFFLINE, "plug")
    fresh = client5("plug", clean_start=True)
    assert fresh.connect() == 0
    assert fresh.session_present is False
    assert watcher.expect_message().payload == b"offline"


def test_a_take_over_with_clean_start_sends_the_old_connections_delayed_will(instance, client5):
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 60, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 3600})
    assert plug.connect() == 0
    fresh = client5("plug", clean_start=True)
    assert fresh.connect() == 0
    assert plug.wait_disconnected()
    assert plug.disconnect_code == 0x8E
    assert watcher.expect_message().payload == b"offline"


def test_a_take_over_that_continues_the_session_holds_the_delayed_will_back(instance, client5, session_events):
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 60, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 2})
    assert plug.connect() == 0
    again = _persistent(client5, "plug", 60)
    assert again.connect() == 0
    assert again.session_present is True
    assert plug.wait_disconnected()
    _broker_waited(client5, session_events, 3)
    watcher.round_trip()
    assert watcher.received() == []


def test_discarding_a_kept_session_sends_the_will_it_was_delaying(instance, client5, session_events):
    watcher = _watcher(client5)
    plug = _persistent(client5, "plug", 60, will=("lwt/plug", b"offline", 1, False),
                       will_properties={"WillDelayInterval": 3600})
    assert plug.connect() == 0
    plug.drop()
    session_events.wait(SessionEventKind.OFFLINE, "plug")
    assert instance.call(instance.service.discard_session, "plug") == 0
    assert watcher.expect_message().payload == b"offline"
