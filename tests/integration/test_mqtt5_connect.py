"""MQTT 5 CONNECT and the end of a session, with paho's MQTT 5 client: reason codes and Reason Strings that are the
Auth log's sentences (CONNACK 0x86, 0x8C; server DISCONNECT 0x98, 0x8E, 0x8D), the Assigned Client Identifier."""

from __future__ import annotations

from dataclasses import replace

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttdesk.core.acl import Permission
from mqttdesk.core.states import StateAction
from mqttdesk.store.auth_log_repo import AuthLogEntry
from mqttdesk.store.db import Store
from tests.integration.conftest import fast_hash
from tests.integration.harness import Instance
from tests.integration.raw_mqtt import RawClient
from tests.integration.raw_mqtt5 import CONNACK, DISCONNECT, Raw5, connect_packet

PASSWORD = "Tr0ub4dor&3-correct-horse"


def _user(admin: Store, instance: Instance, name: str = "lamp", password: str = PASSWORD) -> None:
    admin.roles.add("lamps")
    admin.roles.allow("lamps", "home/%u/#", Permission.READWRITE)
    admin.users.add(name, fast_hash(password), ("lamps",))
    instance.sync()


def _log(instance: Instance, client_id: str, kind: str = "CONNECT"):  # type: ignore[no-untyped-def]
    """The latest `kind` entry of `client_id`, waited for: a session's end is logged when the broker closes its books,
    which may be a loop turn after the client read its DISCONNECT."""
    entries: list[AuthLogEntry] = []

    def logged() -> bool:
        instance.service.recorder.flush()
        entries[:] = [e for e in instance.store.auth_log.recent(200) if e.kind == kind and e.client_id == client_id]
        return bool(entries)

    assert instance.until(logged, timeout=5), f"no {kind} entry for {client_id}"
    return entries[-1]


def test_wrong_password_gets_0x86_with_the_auth_log_sentence_as_reason_string(admin, instance, client5):
    _user(admin, instance)
    lamp = client5("lamp-1", username="lamp", password="not-the-password")
    assert lamp.connect() == 0x86  # bad user name or password
    entry = _log(instance, "lamp-1")
    assert entry.reason_code == "bad-password"
    assert lamp.connack_reason_string == entry.reason
    assert "lamp" in entry.reason


def test_unknown_user_gets_0x86_naming_the_username(admin, instance, client5):
    _user(admin, instance)
    ghost = client5("ghost-1", username="ghost", password="x")
    assert ghost.connect() == 0x86
    assert ghost.connack_reason_string == _log(instance, "ghost-1").reason
    assert "ghost" in (ghost.connack_reason_string or "")


def test_the_reason_string_never_contains_the_password(admin, instance):
    """On the wire, not as paho decodes it: the whole CONNACK of a refused CONNECT, for a wrong and a right password
    of a suspended user (whose refusal names the user and the date)."""
    _user(admin, instance)
    tried = "guess-" + PASSWORD
    with Raw5(instance.port) as raw:
        connack = raw.connect("lamp-raw", username="lamp", password=tried)
    assert connack.reason_code_after(1) == 0x86
    assert connack.reason_string_after(2) == _log(instance, "lamp-raw").reason
    assert tried.encode() not in connack.raw
    assert PASSWORD.encode() not in connack.raw

    admin.users.apply("lamp", StateAction.SUSPEND)
    instance.sync()
    with Raw5(instance.port) as raw:
        connack = raw.connect("lamp-raw2", username="lamp", password=PASSWORD)
    assert connack.reason_code_after(1) == 0x87  # not authorized
    text = connack.reason_string_after(2)
    assert text == _log(instance, "lamp-raw2").reason
    assert "suspended" in text
    assert PASSWORD.encode() not in connack.raw


def test_an_authentication_method_gets_0x8c_with_a_reason_string(instance, client5):
    sasl = client5("sasl-1", connect_properties={"AuthenticationMethod": "SCRAM-SHA-256",
                                                 "AuthenticationData": b"n,,n=user,r=nonce"})
    assert sasl.connect() == 0x8C  # bad authentication method
    text = sasl.connack_reason_string
    assert text is not None
    assert "SCRAM-SHA-256" in text
    assert "username and password" in text
    entry = _log(instance, "sasl-1")
    assert not entry.allowed
    assert entry.reason == text


def test_an_empty_client_id_gets_an_assigned_client_identifier(instance, client5):
    nameless = client5("")
    assert nameless.connect() == 0
    assigned = nameless.connack_properties.AssignedClientIdentifier
    assert assigned.startswith("mqttdesk-")
    assert instance.call(instance.service.registry.get, assigned) is not None
    assert _log(instance, assigned).allowed
    # it is a working clientId: messages reach it
    assert nameless.subscribe("t/x", 1).codes == [1]
    other = client5("other")
    assert other.connect() == 0
    other.publish("t/x", b"to the nameless", qos=1)
    assert nameless.expect_message().payload == b"to the nameless"


def test_a_client_id_that_is_sent_gets_no_assigned_identifier(instance, client5):
    named = client5("named-1")
    assert named.connect() == 0
    assert not hasattr(named.connack_properties, "AssignedClientIdentifier")


def test_kick_sends_disconnect_0x98_with_its_reason(admin, instance, client5):
    _user(admin, instance)
    lamp = client5("lamp-1", username="lamp", password=PASSWORD)
    assert lamp.connect() == 0
    assert instance.run(instance.service.kick("lamp-1", by="test"))
    assert lamp.wait_disconnected()
    assert lamp.disconnect_code == 0x98  # administrative action
    entry = _log(instance, "lamp-1", "KICK")
    assert lamp.disconnect_reason_string == entry.reason == "kicked by test"


def test_suspending_the_user_sends_disconnect_0x98_with_the_sentence(admin, instance, client5):
    _user(admin, instance)
    lamp = client5("lamp-1", username="lamp", password=PASSWORD)
    assert lamp.connect() == 0
    admin.users.apply("lamp", StateAction.SUSPEND)
    instance.sync()
    assert lamp.wait_disconnected()
    assert lamp.disconnect_code == 0x98
    text = lamp.disconnect_reason_string
    assert text is not None
    assert text.startswith("disconnected: user 'lamp' was suspended")
    assert text == _log(instance, "lamp-1", "DISCONNECT").reason


def test_a_new_password_sends_disconnect_0x98(admin, instance, client5):
    _user(admin, instance)
    lamp = client5("lamp-1", username="lamp", password=PASSWORD)
    assert lamp.connect() == 0
    admin.users.set_password("lamp", fast_hash("another one"))
    instance.sync()
    assert lamp.wait_disconnected()
    assert lamp.disconnect_code == 0x98
    assert "password" in (lamp.disconnect_reason_string or "")


def test_takeover_sends_disconnect_0x8e_to_the_old_connection(admin, instance, client5):
    _user(admin, instance)
    first = client5("lamp-1", username="lamp", password=PASSWORD)
    assert first.connect() == 0
    second = client5("lamp-1", username="lamp", password=PASSWORD)
    assert second.connect() == 0
    assert first.wait_disconnected()
    assert first.disconnect_code == 0x8E  # session taken over
    assert first.disconnect_reason_string == "a new connection from 127.0.0.1 took over clientId 'lamp-1'"
    assert second.is_connected


def test_a_silent_client_gets_disconnect_0x8d_keep_alive_timeout(instance):
    with Raw5(instance.port) as raw:
        raw.send(connect_packet("silent-1", keep_alive=1))
        assert raw.expect(CONNACK).reason_code_after(1) == 0
        # send nothing more: after 1.5 × 1 s the broker gives up on us
        disconnect = raw.expect(DISCONNECT, timeout=10)
        assert disconnect.reason_code_after(0) == 0x8D
        said = disconnect.reason_string_after(1)
        assert raw.read_packet() is None  # and closes the connection
    entry = _log(instance, "silent-1", "DISCONNECT")
    assert entry.reason_code == "keepalive-timeout"
    assert said == entry.reason  # the client reads the Auth log's words
    assert said.startswith("nothing received for ")



def test_anonymous_off_sends_disconnect_0x98_to_anonymous_sessions(admin, instance, client5):
    anon = client5("anon-1")
    assert anon.connect() == 0
    admin.settings.set_anonymous(False)
    instance.sync()
    assert anon.wait_disconnected()
    assert anon.disconnect_code == 0x98
    assert anon.disconnect_reason_string == _log(instance, "anon-1", "DISCONNECT").reason


def test_stopping_the_broker_sends_disconnect_0x8b(instance, client5):
    lamp = client5("lamp-1")
    assert lamp.connect() == 0
    instance.run(instance.service.stop())
    assert lamp.wait_disconnected()
    assert lamp.disconnect_code == 0x8B  # server shutting down
    assert lamp.disconnect_reason_string == "the broker stopped"


def test_a_client_id_held_by_another_credential_gets_0x85(admin, instance, client5):
    _user(admin, instance)
    admin.users.add("other", fast_hash("otherpw"), ("lamps",))
    instance.sync()
    lamp = client5("lamp-1", username="lamp", password=PASSWORD)
    assert lamp.connect() == 0
    intruder = client5("lamp-1", username="other", password="otherpw")
    assert intruder.connect() == 0x85  # client identifier not valid
    entry = _log(instance, "lamp-1")
    assert entry.reason_code == "client-id-in-use"
    assert intruder.connack_reason_string == entry.reason
    assert lamp.is_connected


def test_connack_has_no_server_keep_alive_when_the_clients_stands(instance, client5):
    plain = client5("plain", keepalive=30)
    assert plain.connect() == 0
    assert not hasattr(plain.connack_properties, "ServerKeepAlive")


def _responder_role(admin: Store, instance: Instance) -> None:
    """User 'lamp' as in `_user`, whose role also gives each client its own response topics."""
    _user(admin, instance)
    admin.roles.allow("lamps", "response/%c/#", Permission.READWRITE)
    instance.sync()


def test_requested_response_information_is_a_prefix_the_client_may_subscribe_to(admin, instance, client5):
    _responder_role(admin, instance)
    lamp = client5("lamp-1", username="lamp", password=PASSWORD, connect_properties={"RequestResponseInformation": 1})
    assert lamp.connect() == 0
    prefix = lamp.connack_properties.ResponseInformation
    assert prefix == "response/lamp-1/"
    assert lamp.subscribe(prefix + "#", 1).codes == [1]
    lamp.publish(prefix + "answer", b"42", qos=1)
    assert lamp.expect_message().topic == "response/lamp-1/answer"


def test_no_response_information_where_the_grant_may_not_subscribe_to_it(admin, instance, client5):
    _user(admin, instance)  # home/%u/# only
    lamp = client5("lamp-1", username="lamp", password=PASSWORD, connect_properties={"RequestResponseInformation": 1})
    assert lamp.connect() == 0
    assert not hasattr(lamp.connack_properties, "ResponseInformation")


def test_no_response_information_unless_requested(admin, instance, client5):
    _responder_role(admin, instance)
    for client_id, asked in (("lamp-1", None), ("lamp-2", 0)):
        lamp = client5(client_id, username="lamp", password=PASSWORD,
                       connect_properties={} if asked is None else {"RequestResponseInformation": asked})
        assert lamp.connect() == 0
        assert not hasattr(lamp.connack_properties, "ResponseInformation")


def test_max_keepalive_is_the_server_keep_alive_of_mqtt5_clients_and_refuses_longer_311_ones(admin, data_dir):
    """Mosquitto's max_keepalive: an MQTT 5 client asking for more, or for none, is told the maximum in CONNACK
    (Server Keep Alive); a 3.1.1 client cannot be told, so a longer keep-alive is refused (CONNACK 2), with why."""
    admin.settings.set_session_limits(replace(admin.settings.session_limits(), max_keepalive=30))
    running = Instance(data_dir)
    running.start()
    try:
        for asked, told in ((0, 30), (300, 30), (20, None)):
            with Raw5(running.port) as raw:
                raw.send(connect_packet(f"ka-{asked}", keep_alive=asked))
                connack = raw.expect(CONNACK)
                assert connack.reason_code_after(1) == 0
                properties, _ = Properties(PacketTypes.CONNACK).unpack(connack.body[2:])  # read by paho's codec
                assert getattr(properties, "ServerKeepAlive", None) == told
        with RawClient(running.port) as old:
            assert old.connect("ka-311", keep_alive=300).return_code == 2
        entry = _log(running, "ka-311", "CONNECT")
        assert entry.reason_code == "keepalive-too-long"
        assert entry.reason == ("the client asks for a keep-alive of 300 s, longer than the broker's maximum of 30 s "
                                "(max_keepalive)")
        with RawClient(running.port) as fine:
            assert fine.connect("ka-311-ok", keep_alive=30).return_code == 0
    finally:
        running.stop()
