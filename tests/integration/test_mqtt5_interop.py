"""An MQTT 3.1.1 client and an MQTT 5 client on one broker exchange messages both ways: QoS 0, 1 and 2, retained
messages, wills; each gets its own protocol's packets (a 3.1.1 client never sees MQTT 5 properties)."""

from __future__ import annotations

import pytest

from mqttdesk.broker.registry import SessionEventKind
from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash


@pytest.fixture
def pair(admin, instance, client, client5):  # type: ignore[no-untyped-def]
    """old: paho speaking 3.1.1, new: paho speaking 5, both as user 'home' (reads and writes home/#)."""
    admin.roles.add("home")
    admin.roles.allow("home", "home/#", Permission.READWRITE)
    admin.users.add("home", fast_hash("pw"), ("home",))
    instance.sync()
    old = client("old-1", username="home", password="pw")
    assert old.connect() == 0
    new = client5("new-1", username="home", password="pw")
    assert new.connect() == 0
    return old, new


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_from_3_1_1_to_5(pair, qos):
    old, new = pair
    assert new.subscribe("home/to-new/#", 2).codes == [2]
    old.publish("home/to-new/x", f"from 3.1.1 at QoS {qos}", qos=qos)
    message = new.expect_message()
    assert (message.topic, message.payload, message.qos, message.retain) == \
        ("home/to-new/x", f"from 3.1.1 at QoS {qos}".encode(), qos, False)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_from_5_to_3_1_1(pair, qos):
    old, new = pair
    assert old.subscribe("home/to-old/#", 2) == 2
    ack = new.publish("home/to-old/x", f"from 5 at QoS {qos}", qos=qos, ContentType="text/plain",
                      UserProperty=[("k", "v")], MessageExpiryInterval=60)
    assert ack is None or ack.code == 0
    message = old.expect_message()  # properties are not part of a 3.1.1 PUBLISH: topic and payload intact
    assert (message.topic, message.payload, message.qos, message.retain) == \
        ("home/to-old/x", f"from 5 at QoS {qos}".encode(), qos, False)


def test_the_lower_qos_of_publish_and_subscription_applies_across_versions(pair):
    old, new = pair
    assert old.subscribe("home/down/#", 1) == 1
    assert new.subscribe("home/down/#", 0).codes == [0]
    new.publish("home/down/a", b"two", qos=2)
    assert old.expect_message().qos == 1
    old.publish("home/down/b", b"two", qos=2)
    assert new.expect_message().qos == 0


def test_retained_messages_across_versions(pair, client, client5):
    old, new = pair
    new.publish("home/retained/by-new", b"set by 5", qos=1, retain=True, ContentType="text/plain")
    old.publish("home/retained/by-old", b"set by 3.1.1", qos=1, retain=True)
    late_old = client("old-2", username="home", password="pw")
    assert late_old.connect() == 0
    assert late_old.subscribe("home/retained/#", 1) == 1
    got_old = {late_old.expect_message().payload: True for _ in range(2)}
    assert set(got_old) == {b"set by 5", b"set by 3.1.1"}
    late_new = client5("new-2", username="home", password="pw")
    assert late_new.connect() == 0
    assert late_new.subscribe("home/retained/#", 1).codes == [1]
    got_new = {m.topic: m for m in (late_new.expect_message(), late_new.expect_message())}
    assert got_new["home/retained/by-old"].payload == b"set by 3.1.1"
    assert got_new["home/retained/by-new"].prop("ContentType") == "text/plain"
    assert all(m.retain for m in got_new.values())
    # a 3.1.1 client clears what a 5 client retained
    old.publish("home/retained/by-new", b"", qos=1, retain=True)
    later = client5("new-3", username="home", password="pw")
    assert later.connect() == 0
    assert later.subscribe("home/retained/#", 1).codes == [1]
    assert later.expect_message().topic == "home/retained/by-old"
    later.round_trip()
    assert later.received() == []


def test_the_will_of_a_3_1_1_client_reaches_a_5_client(pair, client):
    _, new = pair
    assert new.subscribe("home/lwt/#", 1).codes == [1]
    plug = client("old-plug", username="home", password="pw", will=("home/lwt/old-plug", b"gone", 1, False))
    assert plug.connect() == 0
    plug.paho.socket().shutdown(2)  # the connection is lost without DISCONNECT
    message = new.expect_message()
    assert (message.topic, message.payload, message.qos) == ("home/lwt/old-plug", b"gone", 1)


def test_the_will_of_a_5_client_reaches_a_3_1_1_client(pair, client5):
    old, _ = pair
    assert old.subscribe("home/lwt/#", 1) == 1
    plug = client5("new-plug", username="home", password="pw", will=("home/lwt/new-plug", b"gone", 1, False),
                   will_properties={"ContentType": "text/plain"})
    assert plug.connect() == 0
    plug.drop()
    message = old.expect_message()
    assert (message.topic, message.payload, message.qos) == ("home/lwt/new-plug", b"gone", 1)


def test_a_persistent_3_1_1_session_queues_for_a_5_publisher_and_vice_versa(admin, pair, client, client5,
                                                                              session_events):
    old, new = pair
    away_old = client("old-away", username="home", password="pw", clean_session=False)
    assert away_old.connect() == 0
    assert away_old.subscribe("home/queue/#", 1) == 1
    away_old.disconnect()
    session_events.wait(SessionEventKind.OFFLINE, "old-away")
    away_new = client5("new-away", username="home", password="pw", clean_start=False,
                       connect_properties={"SessionExpiryInterval": 300})
    assert away_new.connect() == 0
    assert away_new.subscribe("home/queue/#", 1).codes == [1]
    away_new.disconnect()
    session_events.wait(SessionEventKind.OFFLINE, "new-away")
    new.publish("home/queue/a", b"from 5", qos=1)
    old.publish("home/queue/b", b"from 3.1.1", qos=1)
    back_old = client("old-away", username="home", password="pw", clean_session=False)
    assert back_old.connect() == 0
    assert back_old.session_present
    assert [back_old.expect_message().payload for _ in range(2)] == [b"from 5", b"from 3.1.1"]
    back_new = client5("new-away", username="home", password="pw", clean_start=False,
                       connect_properties={"SessionExpiryInterval": 300})
    assert back_new.connect() == 0
    assert back_new.session_present
    assert [back_new.expect_message().payload for _ in range(2)] == [b"from 5", b"from 3.1.1"]
