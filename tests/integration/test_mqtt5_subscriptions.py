"""MQTT 5 subscription options and shared subscriptions with paho: No Local, Retain As Published, Retain Handling,
subscription identifiers, `$share/group/filter`.

"Nothing more arrived" is proven without waiting: `round_trip()` gets a SUBACK from the broker, which answers a
connection's packets in order and writes what it routes in order, so anything that was to come is in by then.
"""

from __future__ import annotations

from collections.abc import Callable

from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.integration.mqtt5_client import V5Client


def _connected(client5: Callable[..., V5Client], client_id: str, **kwargs: object) -> V5Client:
    made = client5(client_id, **kwargs)
    assert made.connect() == 0
    return made


# -- No Local ------------------------------------------------------------------------------------


def test_no_local_keeps_a_clients_own_messages_from_it(instance, client5):
    chat = _connected(client5, "chat")
    assert chat.subscribe("room/#", 1, no_local=True).codes == [1]
    chat.publish("room/1", b"mine", qos=1)
    other = _connected(client5, "other")
    other.publish("room/1", b"theirs", qos=1)
    assert chat.expect_message().payload == b"theirs"
    chat.round_trip()
    assert chat.received() == []


def test_without_no_local_a_client_gets_its_own_messages(instance, client5):
    echo = _connected(client5, "echo")
    assert echo.subscribe("room/#", 1).codes == [1]
    echo.publish("room/1", b"mine", qos=1)
    assert echo.expect_message().payload == b"mine"


# -- Retain As Published and Retain Handling -------------------------------------------------------


def test_retain_as_published_keeps_the_retain_flag_of_live_messages(instance, client5):
    keeps = _connected(client5, "keeps")
    assert keeps.subscribe("status/#", 1, retain_as_published=True).codes == [1]
    clears = _connected(client5, "clears")
    assert clears.subscribe("status/#", 1).codes == [1]
    sender = _connected(client5, "sender")
    sender.publish("status/door", b"open", qos=1, retain=True)
    sender.publish("status/door", b"event", qos=1, retain=False)
    assert [(m.payload, m.retain) for m in (keeps.expect_message(), keeps.expect_message())] == \
        [(b"open", True), (b"event", False)]
    assert [(m.payload, m.retain) for m in (clears.expect_message(), clears.expect_message())] == \
        [(b"open", False), (b"event", False)]


def _retained(client5: Callable[..., V5Client]) -> None:
    sender = _connected(client5, "sender")
    sender.publish("status/door", b"open", qos=1, retain=True)


def test_retain_handling_0_sends_retained_messages_at_every_subscribe(instance, client5):
    _retained(client5)
    reader = _connected(client5, "reader")
    for _ in range(2):
        assert reader.subscribe("status/#", 1, retain_handling=0).codes == [1]
        message = reader.expect_message()
        assert (message.payload, message.retain) == (b"open", True)


def test_retain_handling_1_sends_retained_messages_only_for_a_new_subscription(instance, client5):
    _retained(client5)
    reader = _connected(client5, "reader")
    assert reader.subscribe("status/#", 1, retain_handling=1).codes == [1]
    assert reader.expect_message().payload == b"open"
    assert reader.subscribe("status/#", 1, retain_handling=1).codes == [1]  # it exists already
    reader.round_trip()
    assert reader.received() == []


def test_retain_handling_2_never_sends_retained_messages(instance, client5):
    _retained(client5)
    reader = _connected(client5, "reader")
    assert reader.subscribe("status/#", 1, retain_handling=2).codes == [1]
    reader.round_trip()
    assert reader.received() == []
    sender = _connected(client5, "sender2")
    sender.publish("status/door", b"closed", qos=1)
    assert reader.expect_message().payload == b"closed"  # live messages come as ever


# -- subscription identifiers ----------------------------------------------------------------------


def test_subscription_identifiers_come_with_each_message(instance, client5):
    reader = _connected(client5, "reader")
    assert reader.subscribe("home/#", 1, identifier=7).codes == [1]
    assert reader.subscribe("home/kitchen/+", 1, identifier=300).codes == [1]
    assert reader.subscribe("garden/#", 1).codes == [1]  # none
    sender = _connected(client5, "sender")
    sender.publish("home/hall/light", b"one", qos=1)
    sender.publish("home/kitchen/light", b"both", qos=1)
    sender.publish("garden/tap", b"neither", qos=1)
    hall, kitchen, garden = (reader.expect_message() for _ in range(3))
    assert hall.prop("SubscriptionIdentifier") == [7]
    assert kitchen.payload == b"both"  # overlapping subscriptions: one delivery [MQTT-3.3.4-2] with both ids
    assert sorted(kitchen.prop("SubscriptionIdentifier")) == [7, 300]
    assert garden.prop("SubscriptionIdentifier") is None
    reader.round_trip()
    assert reader.received() == []


def test_a_retained_message_carries_the_identifier_of_the_subscription_it_is_sent_for(instance, client5):
    _retained(client5)
    reader = _connected(client5, "reader")
    assert reader.subscribe("status/+", 1, identifier=42).codes == [1]
    message = reader.expect_message()
    assert (message.retain, message.prop("SubscriptionIdentifier")) == (True, [42])


def test_a_subscribe_without_identifier_replaces_one_with(instance, client5):
    reader = _connected(client5, "reader")
    assert reader.subscribe("home/#", 1, identifier=7).codes == [1]
    assert reader.subscribe("home/#", 1).codes == [1]  # [MQTT-3.8.4-3]: replaces it, options and all
    sender = _connected(client5, "sender")
    sender.publish("home/x", b"x", qos=1)
    assert reader.expect_message().prop("SubscriptionIdentifier") is None


# -- shared subscriptions ----------------------------------------------------------------------------


def test_a_shared_subscription_gives_each_message_to_one_member_in_turn(instance, client5):
    members = [_connected(client5, f"worker-{n}") for n in range(2)]
    for member in members:
        assert member.subscribe("$share/workers/jobs/#", 1).codes == [1]
    everyone = _connected(client5, "auditor")
    assert everyone.subscribe("jobs/#", 1).codes == [1]
    sender = _connected(client5, "sender")
    for n in range(6):
        sender.publish(f"jobs/{n}", f"job {n}", qos=1)
    for member in members:
        member.round_trip()
    shares = [[m.payload for m in member.received()] for member in members]
    assert sorted(shares[0] + shares[1]) == sorted(f"job {n}".encode() for n in range(6))  # each exactly once
    assert [len(share) for share in shares] == [3, 3]  # round robin
    assert all(message.topic == f"jobs/{n}" for n, message in enumerate(everyone.expect_message() for _ in range(6)))


def test_two_groups_on_one_filter_each_get_every_message(instance, client5):
    alpha = _connected(client5, "alpha")
    assert alpha.subscribe("$share/a/jobs/#", 1).codes == [1]
    beta = _connected(client5, "beta")
    assert beta.subscribe("$share/b/jobs/#", 1).codes == [1]
    sender = _connected(client5, "sender")
    sender.publish("jobs/1", b"one", qos=1)
    assert alpha.expect_message().payload == b"one"
    assert beta.expect_message().payload == b"one"


def test_a_shared_subscription_gets_no_retained_messages_at_subscribe(instance, client5):
    _retained(client5)
    member = _connected(client5, "member")
    assert member.subscribe("$share/g/status/#", 1).codes == [1]
    member.round_trip()
    assert member.received() == []


def test_a_member_that_leaves_the_group_gets_nothing_more(instance, client5):
    stays = _connected(client5, "stays")
    leaves = _connected(client5, "leaves")
    for member in (stays, leaves):
        assert member.subscribe("$share/g/jobs/#", 1).codes == [1]
    assert leaves.unsubscribe("$share/g/jobs/#") == [0]
    sender = _connected(client5, "sender")
    for n in range(3):
        sender.publish(f"jobs/{n}", b"x", qos=1)
    stays.round_trip()
    leaves.round_trip()
    assert len(stays.received()) == 3
    assert leaves.received() == []


def test_a_shared_subscription_is_checked_against_the_filter_it_names(admin, instance, client5):
    from mqttdesk.core.acl import Permission
    from tests.integration.conftest import fast_hash

    admin.roles.add("jobs")
    admin.roles.allow("jobs", "jobs/#", Permission.READWRITE)
    admin.users.add("worker", fast_hash("pw"), ("jobs",))
    instance.sync()
    worker = _connected(client5, "worker-1", username="worker", password="pw")
    assert worker.subscribe("$share/g/jobs/#", 1).codes == [1]
    refused = worker.subscribe("$share/g/secrets/#", 1)
    assert refused.codes == [0x87]
    assert "secrets/#" in (refused.reason_string or "")


def test_no_local_on_a_shared_subscription_is_a_protocol_error(instance, client5):
    member = _connected(client5, "member")
    member.paho.subscribe("$share/g/jobs/#", options=SubscribeOptions(qos=1, noLocal=True))
    assert member.wait_disconnected()
    assert member.disconnect_code == 0x82  # [MQTT-3.8.3-4]
