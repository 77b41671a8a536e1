"""MQTT 5 answers to refused topics: SUBACK 0x87, PUBACK 0x87 and PUBREC 0x87, each with the Auth log's sentence as
Reason String, and nothing of a refused publish reaches anyone."""

from __future__ import annotations

import pytest

from mqttdesk.core.acl import Permission
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance
from tests.integration.raw_mqtt5 import PUBREC, Raw5, publish_packet


@pytest.fixture
def people(admin, instance):  # type: ignore[no-untyped-def]
    """lamp reads and writes home/lamp/# only; root reads and writes everything."""
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    admin.roles.add("all")
    admin.roles.allow("all", "#", Permission.READWRITE)
    admin.users.add("lamp", fast_hash("lamppw"), ("lamps",))
    admin.users.add("root", fast_hash("rootpw"), ("all",))
    instance.sync()
    return instance


def _refusal(instance: Instance, kind: str, topic: str) -> str:
    instance.flush_log()
    entries = [e for e in instance.call(instance.store.auth_log.recent, 200)
               if e.kind == kind and e.topic == topic and not e.allowed]
    assert entries, f"no refused {kind} of {topic} in the Auth log"
    return str(entries[-1].reason)


def test_a_denied_subscribe_gets_0x87_with_a_reason_string(people, client5):
    lamp = client5("lamp-1", username="lamp", password="lamppw")
    assert lamp.connect() == 0
    suback = lamp.subscribe("home/fridge/#", 1)
    assert suback.codes == [0x87]  # not authorized
    assert suback.reason_string == _refusal(people, "SUBSCRIBE", "home/fridge/#")
    assert "home/fridge/#" in (suback.reason_string or "")
    assert lamp.subscribe("home/lamp/#", 1).codes == [1]  # the connection lives on


def test_one_subscribe_with_a_granted_and_a_denied_filter(people, client5):
    lamp = client5("lamp-1", username="lamp", password="lamppw")
    assert lamp.connect() == 0
    result, mid = lamp.paho.subscribe([("home/lamp/a", 1), ("secret/x", 1)])
    assert result == 0
    suback = lamp._wait_ack(mid, "SUBSCRIBE")
    assert suback.codes == [1, 0x87]
    assert suback.reason_string == _refusal(people, "SUBSCRIBE", "secret/x")


def test_a_denied_qos1_publish_gets_puback_0x87_and_nothing_is_delivered(people, client5):
    root = client5("root-1", username="root", password="rootpw")
    assert root.connect() == 0
    assert root.subscribe("#", 1).codes == [1]
    lamp = client5("lamp-1", username="lamp", password="lamppw")
    assert lamp.connect() == 0
    ack = lamp.publish("home/fridge/door", b"open", qos=1)
    assert ack is not None
    assert ack.code == 0x87
    assert ack.reason_string == _refusal(people, "PUBLISH", "home/fridge/door")
    allowed = lamp.publish("home/lamp/state", b"on", qos=1)  # routed after the refused one, if it had been
    assert allowed is not None
    assert allowed.code == 0
    assert root.expect_message().topic == "home/lamp/state"
    root.round_trip()
    assert root.received() == []


def test_a_denied_qos0_publish_is_dropped_and_the_connection_lives_on(people, client5):
    root = client5("root-1", username="root", password="rootpw")
    assert root.connect() == 0
    assert root.subscribe("home/#", 0).codes == [0]
    lamp = client5("lamp-1", username="lamp", password="lamppw")
    assert lamp.connect() == 0
    lamp.publish("home/fridge/door", b"open", qos=0)
    lamp.publish("home/lamp/state", b"on", qos=1)
    assert root.expect_message().payload == b"on"
    assert lamp.is_connected


def test_a_denied_qos2_publish_gets_pubrec_0x87_with_the_sentence(people, client5):
    """paho ignores a PUBREC's reason code, so a raw client reads it."""
    root = client5("root-1", username="root", password="rootpw")
    assert root.connect() == 0
    assert root.subscribe("#", 2).codes == [2]
    with Raw5(people.port) as raw:
        assert raw.connect("lamp-raw", username="lamp", password="lamppw").reason_code_after(1) == 0
        raw.send(publish_packet("home/fridge/door", b"open", qos=2, packet_id=7))
        pubrec = raw.expect(PUBREC)
        assert pubrec.body[:2] == b"\x00\x07"
        assert pubrec.reason_code_after(2) == 0x87
        assert pubrec.reason_string_after(3) == _refusal(people, "PUBLISH", "home/fridge/door")
        # the exchange ends with a refusing PUBREC [MQTT-4.3.3]: the id is free again for a new, allowed message
        raw.send(publish_packet("home/lamp/state", b"on", qos=2, packet_id=7))
        assert raw.expect(PUBREC).reason_code_after(2) == 0
        raw.send(b"\x62\x02\x00\x07")  # PUBREL 7
        assert raw.expect(7).body[:2] == b"\x00\x07"  # PUBCOMP
    message = root.expect_message()
    assert (message.topic, message.payload) == ("home/lamp/state", b"on")
    root.round_trip()
    assert root.received() == []


def test_a_will_the_client_may_not_publish_refuses_the_connect(people, client5):
    lamp = client5("lamp-1", username="lamp", password="lamppw", will=("home/fridge/lwt", b"gone", 0, False))
    assert lamp.connect() == 0x87
    instance = people
    instance.flush_log()
    entry = [e for e in instance.call(instance.store.auth_log.recent, 50) if e.client_id == "lamp-1"][-1]
    assert lamp.connack_reason_string == entry.reason


def test_request_problem_information_0_leaves_reason_strings_out_of_acknowledgements(people, client5):
    """[MQTT-3.1.2-29]: the codes still say what happened; the sentences stay in the Auth log."""
    lamp = client5("lamp-1", username="lamp", password="lamppw",
                   connect_properties={"RequestProblemInformation": 0})
    assert lamp.connect() == 0
    suback = lamp.subscribe("home/fridge/#", 1)
    assert suback.codes == [0x87]
    assert suback.reason_string is None
    ack = lamp.publish("home/fridge/door", b"open", qos=1)
    assert ack is not None
    assert ack.code == 0x87
    assert ack.reason_string is None
    assert _refusal(people, "PUBLISH", "home/fridge/door")



def test_pubrel_for_an_id_that_is_not_held_gets_pubcomp_0x92(people, client5):
    """paho sends PUBREL even after PUBREC 0x87; the PUBCOMP tells it that nothing was kept (its on_publish sees
    0x92, not success)."""
    lamp = client5("lamp-1", username="lamp", password="lamppw")
    assert lamp.connect() == 0
    ack = lamp.publish("home/fridge/door", b"open", qos=2)
    assert ack is not None
    assert ack.code == 0x92  # packet identifier not found
    allowed = lamp.publish("home/lamp/state", b"on", qos=2)
    assert allowed is not None
    assert allowed.code == 0
    with Raw5(people.port) as raw:
        raw.connect("lamp-raw", username="lamp", password="lamppw")
        raw.send(b"\x62\x02\x00\x09")  # PUBREL 9, never published
        pubcomp = raw.expect(7)
        assert pubcomp.body[:3] == b"\x00\x09\x92"
