"""MQTT 3.1.1 conformance scenarios (issue 4), each a function of a running broker, shared by tests and the bench.

A scenario takes a `Target` (a broker listening on 127.0.0.1:`port`), drives real clients against it and raises
AssertionError with a short observation ("will never published within 10 s") when the broker gets it wrong. The
integration tests (`test_conformance_*.py`) run every scenario against mqttdesk; `python -m bench.compare_amqtt`
runs the same functions against plain amqtt 0.12.1 and mqttdesk and prints the comparison.

Waiting: every wait is bounded and event-driven (a packet, a closed socket). Where a scenario must show that
something did *not* happen (no will, no duplicate), it publishes a marker afterwards on a path the broker keeps in
order and checks that the marker comes first; `flush()` makes sure the broker has routed everything a client
published before the test goes on. The only timed waits are the keep-alive ones, where time is what is tested.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mqttdesk.broker.service import BrokerService
from tests.integration.harness import Instance
from tests.integration.mqtt_client import TestClient
from tests.integration.raw_mqtt import (
    SUBACK_FAILURE,
    MalformedPacket,
    PacketType,
    Publish,
    RawClient,
    Will,
    describe,
    encode_packet_id_only,
)

T = TypeVar("T")

WAIT = 5.0  # for anything that should take milliseconds on loopback
KEEP_ALIVE = 2  # seconds: short, so the keep-alive scenario stays fast
KEEP_ALIVE_BOUND = 10.0  # generous bound on "the server noticed the silence"
AWAY = 2.0  # seconds a device stays disconnected before it resumes its session
QUEUE_BOUND = 3  # offline-queue bound configured for the bounded-queue scenario
USER, PASSWORD = "lamp", "s3cret"


# -- targets ----------------------------------------------------------------------------------------------------


class Target(Protocol):
    """A running broker the scenarios can talk to."""

    port: int
    queue_bound: int | None  # the offline-queue bound it was started with, if it has one

    def inject(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish from inside the broker (clients may not publish to `$` topics)."""

    def credentials(self) -> tuple[str, str]:
        """A username and password that may connect, read and write everything."""


class Unsupported(Exception):
    """The target cannot set up what the scenario needs (reported as such, not as a broker failure)."""


@dataclass
class DeskTarget:
    """mqttdesk through `harness.Instance`; `admin` (the store as the CLI sees it) is needed for credentials."""

    instance: Instance
    admin: Any = None  # mqttdesk.store.db.Store
    queue_bound: int | None = None
    note: str = ""  # how the target was set up, when that matters to a reader of the comparison
    _provisioned: bool = field(default=False, init=False)

    @property
    def port(self) -> int:
        return self.instance.port

    def _broker(self) -> Any:
        broker = getattr(self.instance.service, "_broker", None)
        if broker is None:
            raise Unsupported("BrokerService has no running broker to inject into")
        return broker

    def bound_queue(self, bound: int) -> None:
        """Bound the offline queue of sessions opened from now on, on the running DeskBroker (`SessionLimits`)."""
        broker = self._broker()
        broker.limits = dataclasses.replace(broker.limits, max_queued=bound)
        self.queue_bound = bound

    def inject(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        broker = self._broker()
        route = getattr(broker, "route", None)  # DeskBroker's own router; amqtt's retain_message is not used
        if route is not None:
            self.instance.call(route, topic, payload, 0, retain)
            return
        if retain:
            self.instance.run(broker.retain_message(None, topic, payload, 0))
        self.instance.run(broker.internal_message_broadcast(topic, payload, 0))

    def credentials(self) -> tuple[str, str]:
        if not self._provisioned:
            if self.admin is None:
                raise Unsupported("no admin store to create a user in")
            from mqttdesk.core.acl import Permission
            from mqttdesk.core.passwords import hash_password

            self.admin.roles.add("conformance")
            self.admin.roles.allow("conformance", "#", Permission.READWRITE)
            self.admin.users.add(USER, hash_password(PASSWORD, iterations=1000), ("conformance",))
            self.instance.sync()
            self._provisioned = True
        return USER, PASSWORD


class _ConfiguredInstance(Instance):
    """`Instance` whose BrokerService gets extra keyword arguments (e.g. `max_queued_messages`)."""

    def __init__(self, data_dir: Path, service_options: dict[str, Any]) -> None:
        super().__init__(data_dir)
        self.service_options = service_options

    def call(self, function: Callable[..., T], *args: Any) -> T:
        if function is BrokerService:
            function = functools.partial(BrokerService, **self.service_options)
        return super().call(function, *args)

    def abandon(self) -> None:
        """Tear down after a failed `start()`: close what was opened, stop the loop."""
        with contextlib.suppress(Exception):
            if hasattr(self, "control"):
                self.run(self.control.close())
            if hasattr(self, "service"):
                self.run(self.service.close())
            if hasattr(self, "store"):
                self.call(self.store.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def running_desk(data_dir: Path, **service_options: Any) -> Iterator[Instance]:
    """A started mqttdesk instance whose BrokerService is built with `service_options`; stopped on exit."""
    instance = _ConfiguredInstance(data_dir, service_options)
    try:
        instance.start()
    except BaseException:
        instance.abandon()
        raise
    try:
        yield instance
    finally:
        instance.stop()


@dataclass
class BareTarget:
    """Plain amqtt (`bare_amqtt.BareAmqtt`)."""

    bare: Any  # tests.integration.bare_amqtt.BareAmqtt
    queue_bound: int | None = None  # amqtt 0.12.1 has no option for it

    @property
    def port(self) -> int:
        return int(self.bare.port)

    def inject(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if retain:
            self.bare.run(self.bare.broker.retain_message(None, topic, payload, 0))
        self.bare.run(self.bare.broker.internal_message_broadcast(topic, payload, 0))

    def credentials(self) -> tuple[str, str]:
        if self.bare.users.get(USER) != PASSWORD:
            raise Unsupported("bare amqtt was started without the scenario user")
        return USER, PASSWORD


# -- the scenario registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    item: str  # one line for the comparison table
    run: Callable[[Target], None]  # a ScenarioFunction
    needs: frozenset[str]  # "credentials", "queue_bound": what the bench must set up on the broker


SCENARIOS: list[Scenario] = []


ScenarioFunction = Callable[[Target], None]


def scenario(item: str, *, needs: tuple[str, ...] = ()) -> Callable[[ScenarioFunction], ScenarioFunction]:
    def register(function: ScenarioFunction) -> ScenarioFunction:
        SCENARIOS.append(Scenario(function.__name__, item, function, frozenset(needs)))
        return function

    return register


# -- helpers ------------------------------------------------------------------------------------------------


class Clients(contextlib.ExitStack):
    """Makes clients for one scenario and closes them all at the end, whatever happened."""

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target

    def raw(self, name: str, *, auto_ack: bool = True) -> RawClient:
        """A TCP connection, nothing sent yet."""
        return self.enter_context(RawClient(self.target.port, name=name, auto_ack=auto_ack, timeout=WAIT))

    def connected(self, client_id: str, *, auto_ack: bool = True, **options: Any) -> RawClient:
        """A raw client whose CONNECT was accepted."""
        client = self.raw(client_id or "<empty id>", auto_ack=auto_ack)
        connack = client.connect(client_id, **options)
        assert connack.return_code == 0, f"{client_id}: CONNECT refused with {connack.return_code}"
        return client

    def paho(self, client_id: str, **options: Any) -> TestClient:
        """A connected paho client (the real-client side of the scenarios)."""
        client = TestClient(client_id, self.target.port, **options)
        self.callback(client.close)
        assert client.connect() == 0, f"paho {client_id}: CONNECT refused"
        return client


def flush(publisher: RawClient) -> None:
    """Return once the broker has routed every message `publisher` sent before (a QoS 1 round trip to itself).

    Brokers route one client's publications in order, so when its own message on a private topic comes back,
    everything it published earlier has reached the subscriptions and the offline queues.
    """
    topic = f"flush/{publisher.name}"
    assert publisher.subscribe(topic, 1) == 1, "flush subscription refused"  # subscribing again is harmless
    token = f"flush-{time.monotonic_ns()}".encode()
    publisher.publish(topic, token, qos=1)
    while True:
        message = publisher.next_message()
        if message.topic == topic and message.payload == token:
            return


def resume(clients: Clients, client_id: str, *, auto_ack: bool = True) -> tuple[RawClient, bool]:
    """Reconnect with clean session 0; asserts the CONNECT was accepted, returns the client and session present."""
    client = clients.raw(f"{client_id}-again", auto_ack=auto_ack)
    connack = client.connect(client_id, clean_session=False)
    assert connack.return_code == 0, f"reconnect refused: {describe(connack)}"
    return client, connack.session_present


def payloads(messages: list[Publish]) -> list[bytes]:
    return [m.payload for m in messages]


def first_after(receiver: RawClient, publisher: RawClient, topic: str, qos: int = 0) -> Publish:
    """Publish a marker on `topic` (which `receiver` is subscribed to) and return the first message received.

    It is the marker unless the broker sent something earlier that it should not have.
    """
    publisher.publish(topic, b"marker", qos=qos)
    return receiver.next_message()


def expect_only_marker(receiver: RawClient, publisher: RawClient, topic: str, what: str, qos: int = 0) -> None:
    got = first_after(receiver, publisher, topic, qos)
    assert got.payload == b"marker", f"{what}: got {describe(got)}"


# == CONNECT and the connection ==================================================================================


@scenario("keep-alive: silent client dropped after 1.5x, will published")
def keep_alive_timeout_publishes_will(target: Target) -> None:
    """[MQTT-3.1.2-24] A client silent for 1.5x its keep-alive is disconnected and its will is published."""
    with Clients(target) as clients:
        observer = clients.paho("ka-observer")
        assert observer.subscribe("dead/#", 1) == 1
        silent = clients.raw("ka-silent")
        silent.send_connect("ka-silent", keep_alive=KEEP_ALIVE, will=Will("dead/ka-silent", b"offline", qos=1))
        silent.expect(PacketType.CONNACK)
        last_packet = time.monotonic()  # the server read our CONNECT before it answered
        silent.go_silent()
        try:
            will = observer.expect_message(timeout=KEEP_ALIVE_BOUND)
        except AssertionError:
            raise AssertionError(f"will never published within {KEEP_ALIVE_BOUND:.0f} s of silence "
                                 f"(keep-alive {KEEP_ALIVE} s)") from None
        elapsed = time.monotonic() - last_packet
        assert (will.topic, will.payload) == ("dead/ka-silent", b"offline"), f"unexpected message {will}"
        assert elapsed >= 1.5 * KEEP_ALIVE - 0.2, f"will published after {elapsed:.2f} s, before 1.5x keep-alive"
        assert silent.wait_closed(WAIT), "will published but the silent connection was left open"


@scenario("keep-alive: a client that pings is kept beyond 1.5x")
def keep_alive_reset_by_traffic(target: Target) -> None:
    """Keep-alive counts from the last packet received: a client pinging every 0.4 s with keep-alive 1 stays."""
    with Clients(target) as clients:
        client = clients.connected("ka-busy", keep_alive=1)
        start = time.monotonic()
        while time.monotonic() - start < 3.5:  # more than twice the 1.5 s limit
            client.ping()
            assert not client.wait_closed(0.4), f"disconnected after {time.monotonic() - start:.1f} s despite pings"


@scenario("PINGREQ answered with PINGRESP")
def ping_gets_pingresp(target: Target) -> None:
    with Clients(target) as clients:
        client = clients.connected("pinger")
        for _ in range(3):
            client.ping()


@scenario("will published when the connection closes without DISCONNECT")
def will_on_abrupt_close(target: Target) -> None:
    """[MQTT-3.1.2-8] The will is published when the network connection is closed without DISCONNECT."""
    with Clients(target) as clients:
        observer = clients.paho("will-observer")
        assert observer.subscribe("dead/#", 1) == 1
        dying = clients.connected("dying", will=Will("dead/dying", b"gone", qos=1, retain=False))
        dying.close_abruptly()
        try:
            will = observer.expect_message(timeout=WAIT)
        except AssertionError:
            raise AssertionError(f"no will within {WAIT:.0f} s of the close") from None
        assert (will.topic, will.payload, will.qos) == ("dead/dying", b"gone", 1), f"unexpected will {will}"


@scenario("no will after a clean DISCONNECT")
def no_will_after_disconnect(target: Target) -> None:
    """[MQTT-3.1.2-10] DISCONNECT discards the will."""
    with Clients(target) as clients:
        observer = clients.connected("bye-observer")
        assert observer.subscribe("dead/#", 1) == 1
        polite = clients.connected("polite", will=Will("dead/polite", b"gone", qos=1))
        assert polite.disconnect(), "the server did not close the connection after DISCONNECT"
        publisher = clients.connected("bye-publisher")
        expect_only_marker(observer, publisher, "dead/polite", "will published despite DISCONNECT", qos=1)


@scenario("zero-length clientId with clean session accepted")
def empty_client_id_with_clean_session(target: Target) -> None:
    """[MQTT-3.1.3-6] The server assigns an id; the client can work normally."""
    with Clients(target) as clients:
        client = clients.connected("", clean_session=True)
        assert client.subscribe("anon/t", 1) == 1
        client.publish("anon/t", b"hello", qos=1)
        assert client.next_message().payload == b"hello"


@scenario("zero-length clientId without clean session: CONNACK 2")
def empty_client_id_without_clean_session(target: Target) -> None:
    """[MQTT-3.1.3-8] CONNACK 0x02 (identifier rejected), then close."""
    with Clients(target) as clients:
        client = clients.raw("empty-id-persistent")
        connack = client.connect("", clean_session=False)
        assert connack.return_code == 2, f"CONNACK {connack.return_code}, expected 2"
        assert not connack.session_present, "session present set on a refusal [MQTT-3.2.2-4]"
        assert client.wait_closed(WAIT), "connection left open after CONNACK 2"


@scenario("second CONNECT on a connection closes it")
def second_connect_closes(target: Target) -> None:
    """[MQTT-3.1.0-2] A second CONNECT is a protocol violation: the server disconnects the client."""
    with Clients(target) as clients:
        client = clients.connected("twice")
        client.send_connect("twice")
        assert client.wait_closed(WAIT), "connection still open after a second CONNECT"
        extra = [describe(p) for p in client.pending() if p.type is PacketType.CONNACK]
        assert not extra, f"second CONNECT answered: {extra}"


def _refused_with_1(target: Target, name: str, level: int) -> None:
    with Clients(target) as clients:
        client = clients.raw(f"{name}-{level}")
        client.send_connect(f"old-{level}", protocol_name=name, protocol_level=level)
        try:
            closed = client.wait_closed(WAIT)
        except MalformedPacket as exc:
            raise AssertionError(f"{name} level {level}: answered in another protocol ({exc})") from None
        if not closed:
            raise AssertionError(f"{name} level {level}: connection left open; got "
                                 f"{[describe(p) for p in client.pending()] or 'nothing'}")
        got = client.pending()
        codes = [p.return_code for p in got if p.type is PacketType.CONNACK]  # type: ignore[union-attr]
        assert codes == [1], f"{name} level {level}: expected CONNACK 1 then close, got " \
                             f"{[describe(p) for p in got] or 'close without CONNACK'}"


@scenario("protocol MQIsdp level 3 (MQTT 3.1): CONNACK 1, close")
def protocol_level_3_refused(target: Target) -> None:
    """[MQTT-3.1.2-2] An unsupported protocol level gets CONNACK 0x01 and the connection is closed."""
    _refused_with_1(target, "MQIsdp", 3)


@scenario("protocol MQTT level 3: CONNACK 1, close")
def protocol_level_3_mqtt_refused(target: Target) -> None:
    """[MQTT-3.1.2-2] A protocol level below 4 under the name "MQTT" gets CONNACK 0x01 and a close.

    (Level 5 was refused here too until mqttdesk spoke MQTT 5; it is now accepted, see test_mqtt5_*.)"""
    _refused_with_1(target, "MQTT", 3)


@scenario("unknown protocol name: closed without CONNACK")
def unknown_protocol_name(target: Target) -> None:
    """[MQTT-3.1.2-1] A wrong protocol name: the server may disconnect; it must not accept the connection."""
    with Clients(target) as clients:
        client = clients.raw("bogus-name")
        client.send_connect("bogus", protocol_name="MQXX")
        assert client.wait_closed(WAIT), "connection left open after CONNECT with protocol name MQXX"
        got = [describe(p) for p in client.pending()]
        assert not got, f"closed, but after answering {got}"


@scenario("reserved CONNECT flag set: closed")
def reserved_flag_closes(target: Target) -> None:
    """[MQTT-3.1.2-3] The server must disconnect a client whose CONNECT has the reserved flag set."""
    with Clients(target) as clients:
        client = clients.raw("reserved")
        client.send_connect("reserved", reserved_flag=True)
        if not client.wait_closed(WAIT):
            raise AssertionError(f"connection left open; got {[describe(p) for p in client.pending()] or 'nothing'}")
        got = [describe(p) for p in client.pending()]
        assert not got, f"closed, but after answering {got}"


@scenario("clientId takeover: the older connection is closed")
def client_id_takeover(target: Target) -> None:
    """[MQTT-3.1.4-2] A new accepted connection with a connected client's id disconnects the existing one."""
    with Clients(target) as clients:
        old = clients.connected("same-id")
        new = clients.connected("same-id")
        assert old.wait_closed(WAIT), "the older connection was not closed"
        new.ping()


@scenario("refused CONNECT reusing a live id leaves that client intact", needs=("credentials",))
def refused_connect_leaves_live_client_alone(target: Target) -> None:
    """Issue 4 item 4: a CONNECT refused for a wrong password must not touch the session holding that id."""
    user, password = target.credentials()
    with Clients(target) as clients:
        victim = clients.connected("kitchen", username=user, password=password, clean_session=True)
        assert victim.subscribe("home/kitchen/cmd", 1) == 1
        intruder = clients.raw("intruder")
        refused = intruder.connect("kitchen", username=user, password="wrong", clean_session=True)
        assert refused.return_code != 0, "a wrong password was accepted"
        assert intruder.wait_closed(WAIT), "refused connection left open"
        try:
            victim.ping()
        except AssertionError:
            raise AssertionError("the live client was disconnected by a refused CONNECT") from None
        publisher = clients.connected("kitchen-pub", username=user, password=password)
        publisher.publish("home/kitchen/cmd", b"on", qos=1)
        try:
            got = victim.next_message()
        except AssertionError:
            raise AssertionError("live client connected but no longer receives (subscriptions wiped)") from None
        assert got.payload == b"on", f"unexpected {describe(got)}"


# == persistent sessions ====================================================================================


@scenario(f"session present: 0 on first clean=0 connect, 1 on reconnect {AWAY:.0f} s later")
def session_present_flag(target: Target) -> None:
    """[MQTT-3.2.2-2] / [MQTT-3.2.2-3]; and [MQTT-3.2.2-1]: always 0 with clean session.

    The device stays away for `AWAY` seconds, as a real one would: a session must outlive its connection, not
    just the moment after it (amqtt drops anonymous sessions within a second of the disconnect).
    """
    with Clients(target) as clients:
        device = clients.raw("sp-1")
        first = device.connect("sp", clean_session=False)
        assert (first.return_code, first.session_present) == (0, False), f"first connect: {describe(first)}"
        assert device.subscribe("sp/cmd", 1) == 1  # a session with a subscription in it, as devices have
        assert device.disconnect(), "no close after DISCONNECT"
        # the time away is what is tested here (a session must outlive its connection), not a wait for an event
        threading.Event().wait(AWAY)
        device = clients.raw("sp-2")
        again = device.connect("sp", clean_session=False)
        assert again.return_code == 0, f"reconnect refused: {describe(again)}"
        assert again.session_present, f"reconnect {AWAY:.0f} s later with clean session 0: session present 0"
        assert device.disconnect(), "no close after DISCONNECT"
        clean = clients.raw("sp-3").connect("sp", clean_session=True)
        assert (clean.return_code, clean.session_present) == (0, False), f"clean session: {describe(clean)}"


@scenario("clean session discards the stored session")
def clean_session_discards_session(target: Target) -> None:
    """[MQTT-3.1.2-6]: connecting with clean session 1 discards the previous session and its subscriptions."""
    with Clients(target) as clients:
        device = clients.connected("fresh", clean_session=False)
        assert device.subscribe("fresh/cmd", 1) == 1
        assert device.disconnect()
        device = clients.connected("fresh", clean_session=True)
        assert device.subscribe("fresh/marker", 0) == 0
        publisher = clients.connected("fresh-pub")
        publisher.publish("fresh/cmd", b"stale subscription", qos=1)
        expect_only_marker(device, publisher, "fresh/marker", "old subscription still delivers after clean start")


@scenario("QoS 1/2 published while offline delivered on reconnect, in order")
def offline_messages_delivered_in_order(target: Target) -> None:
    """Issue 4 item 2, [MQTT-3.1.2-5]: QoS 1 and 2 messages for a disconnected persistent session are kept."""
    with Clients(target) as clients:
        device = clients.connected("sleeper", clean_session=False)
        assert device.subscribe("offline/#", 2) == 2
        assert device.disconnect(), "no close after DISCONNECT"
        publisher = clients.connected("offline-pub")
        sent = [(b"m1", 1), (b"m2", 2), (b"m3", 1), (b"m4", 2)]
        for payload, qos in sent:
            publisher.publish("offline/cmd", payload, qos=qos)
        flush(publisher)
        device, resumed = resume(clients, "sleeper")
        try:
            got = device.messages(len(sent), timeout=WAIT)
        except AssertionError as exc:
            raise AssertionError(f"offline messages not delivered on reconnect ({exc})") from None
        assert payloads(got) == [p for p, _ in sent], f"wrong order: {payloads(got)}"
        assert [m.qos for m in got] == [q for _, q in sent], f"wrong QoS: {[describe(m) for m in got]}"
        assert not any(m.retain for m in got), f"queued messages flagged retained: {[describe(m) for m in got]}"
        assert resumed, "messages delivered but CONNACK said session present 0"


@scenario("unacked QoS 1/2 redelivered on reconnect: DUP=1, same ids, in order")
def unacked_redelivered_with_dup(target: Target) -> None:
    """Issue 4 item 3, [MQTT-4.4.0-1]: unacknowledged PUBLISH packets are re-sent with their original ids."""
    with Clients(target) as clients:
        device = clients.connected("forgetful", clean_session=False, auto_ack=False)
        assert device.subscribe("redo/#", 2) == 2
        publisher = clients.connected("redo-pub")
        for payload, qos in [(b"r1", 1), (b"r2", 2), (b"r3", 1)]:
            publisher.publish("redo/cmd", payload, qos=qos)
        first = device.messages(3)
        assert not any(m.dup for m in first), f"first delivery with DUP: {[describe(m) for m in first]}"
        device.close_abruptly()
        device, resumed = resume(clients, "forgetful", auto_ack=False)
        try:
            again = device.messages(3, timeout=WAIT)
        except AssertionError as exc:
            raise AssertionError(f"unacknowledged messages not redelivered ({exc})") from None
        expected = [(m.payload, m.qos, m.packet_id, True) for m in first]
        assert [(m.payload, m.qos, m.packet_id, m.dup) for m in again] == expected, \
            f"redelivered {[describe(m) for m in again]}, expected {[describe(m) for m in first]} with DUP"
        assert resumed, "messages redelivered but CONNACK said session present 0"


@scenario("PUBREL re-sent on reconnect when PUBCOMP was missing")
def pubrel_resent_on_reconnect(target: Target) -> None:
    """[MQTT-4.4.0-1]: an unacknowledged PUBREL is re-sent, and the PUBLISH is not delivered again."""
    with Clients(target) as clients:
        device = clients.connected("half-done", clean_session=False, auto_ack=False)
        assert device.subscribe("half/#", 2) == 2
        publisher = clients.connected("half-pub")
        publisher.publish("half/cmd", b"once", qos=2)
        message = device.next_message()
        device.ack(message)  # PUBREC
        pubrel = device.expect(PacketType.PUBREL, packet_id=message.packet_id)
        device.close_abruptly()  # without PUBCOMP
        device, resumed = resume(clients, "half-done", auto_ack=False)
        try:
            packet = device.read_packet(timeout=WAIT)
        except TimeoutError:
            raise AssertionError("PUBREL not re-sent after reconnect") from None
        assert packet == pubrel, f"expected {describe(pubrel)} again, got {describe(packet)}"
        assert resumed, "PUBREL re-sent but CONNACK said session present 0"


@scenario(f"offline queue bounded ({QUEUE_BOUND} configured)", needs=("queue_bound",))
def offline_queue_bounded(target: Target) -> None:
    """Issue 4: the offline queue is bounded and configurable.

    With a bound of N and N+3 QoS 1 messages published while the client is away, the client gets exactly N of
    them on reconnect, in publish order, as one contiguous run: the oldest N (mosquitto's `max_queued_messages`
    drops what arrives once the queue is full) or the newest N (a ring buffer). Later live messages still flow.
    """
    bound = target.queue_bound
    if bound is None:
        raise AssertionError("the broker has no offline-queue bound to configure")
    with Clients(target) as clients:
        device = clients.connected("bounded", clean_session=False)
        assert device.subscribe("bounded/#", 1) == 1
        assert device.disconnect()
        publisher = clients.connected("bounded-pub")
        sent = [f"q{i}".encode() for i in range(bound + 3)]
        for payload in sent:
            publisher.publish("bounded/cmd", payload, qos=1)
        flush(publisher)
        device, resumed = resume(clients, "bounded")
        publisher.publish("bounded/cmd", b"marker", qos=1)
        got = payloads(device.messages_until(b"marker", timeout=WAIT))[:-1]
        assert got in (sent[:bound], sent[-bound:]), f"queued {len(sent)} with bound {bound}, got {got}"
        assert resumed, "session present 0 on reconnect"


# == delivery ===================================================================================================


@scenario("QoS 2 PUBLISH re-sent with DUP before PUBREL delivered once")
def qos2_exactly_once(target: Target) -> None:
    """[MQTT-4.3.3-2]: a re-sent QoS 2 PUBLISH (same id, DUP) must not be delivered twice."""
    with Clients(target) as clients:
        receiver = clients.connected("once-rx")
        assert receiver.subscribe("once/t", 2) == 2
        sender = clients.connected("once-tx")
        packet_id = sender.publish("once/t", b"x", qos=2, wait=False)
        assert packet_id is not None
        sender.expect(PacketType.PUBREC, packet_id=packet_id)
        sender.publish("once/t", b"x", qos=2, dup=True, packet_id=packet_id, wait=False)
        sender.expect(PacketType.PUBREC, packet_id=packet_id)
        sender.send(encode_packet_id_only(PacketType.PUBREL, packet_id))
        sender.expect(PacketType.PUBCOMP, packet_id=packet_id)
        sender.publish("once/t", b"marker", qos=2)
        got = payloads(receiver.messages_until(b"marker"))
        assert got == [b"x", b"marker"], f"receiver got {got}"


@scenario("retained: set, delivered on subscribe with retain=1")
def retained_delivered_on_subscribe(target: Target) -> None:
    """[MQTT-3.3.1-5], [MQTT-3.3.1-8]: a new subscription gets the retained message, RETAIN set."""
    with Clients(target) as clients:
        publisher = clients.connected("ret-pub")
        publisher.publish("ret/state", b"v1", qos=1, retain=True)
        flush(publisher)
        late = clients.connected("ret-late")
        assert late.subscribe("ret/#", 1) == 1
        got = late.next_message()
        assert (got.topic, got.payload, got.retain, got.qos) == ("ret/state", b"v1", True, 1), describe(got)


@scenario("retained: a new retained message replaces the old one")
def retained_replaced(target: Target) -> None:
    with Clients(target) as clients:
        publisher = clients.connected("rep-pub")
        publisher.publish("rep/state", b"v1", qos=1, retain=True)
        publisher.publish("rep/state", b"v2", qos=1, retain=True)
        flush(publisher)
        late = clients.connected("rep-late")
        assert late.subscribe("rep/#", 1) == 1
        publisher.publish("rep/marker", b"marker", qos=1)
        got = payloads(late.messages_until(b"marker"))
        assert got == [b"v2", b"marker"], f"subscriber got {got}"


@scenario("retained: empty retained payload clears it")
def retained_cleared(target: Target) -> None:
    """[MQTT-3.3.1-10], [MQTT-3.3.1-11]: a zero-byte retained PUBLISH removes the retained message."""
    with Clients(target) as clients:
        publisher = clients.connected("clr-pub")
        publisher.publish("clr/state", b"v1", qos=1, retain=True)
        publisher.publish("clr/state", b"", qos=1, retain=True)
        flush(publisher)
        late = clients.connected("clr-late")
        assert late.subscribe("clr/#", 1) == 1
        expect_only_marker(late, publisher, "clr/marker", "retained message still there after clearing", qos=1)


@scenario("live deliveries carry retain=0 (also of retained publishes)")
def live_delivery_retain_flag_clear(target: Target) -> None:
    """[MQTT-3.3.1-9]: RETAIN is 0 on messages sent because they match an established subscription."""
    with Clients(target) as clients:
        subscriber = clients.connected("live-sub")
        assert subscriber.subscribe("live/#", 1) == 1
        publisher = clients.connected("live-pub")
        publisher.publish("live/state", b"retained", qos=1, retain=True)
        publisher.publish("live/state", b"plain", qos=1)
        got = subscriber.messages(2)
        assert [(m.payload, m.retain) for m in got] == [(b"retained", False), (b"plain", False)], \
            f"got {[describe(m) for m in got]}"


@scenario("no unsolicited messages on connect (others' retained)")
def nothing_unsolicited_on_connect(target: Target) -> None:
    """A client receives only what matches its own subscriptions, never retained messages for others' filters."""
    with Clients(target) as clients:
        other = clients.connected("uns-other")
        assert other.subscribe("uns/#", 1) == 1
        publisher = clients.connected("uns-pub")
        publisher.publish("uns/state", b"for others", qos=1, retain=True)
        flush(publisher)
        newcomer = clients.connected("uns-new")
        assert newcomer.subscribe("own/marker", 1) == 1
        expect_only_marker(newcomer, publisher, "own/marker", "new client got a message it never subscribed to")


@scenario("overlapping subscriptions: delivered once at the highest QoS")
def overlapping_subscriptions_once(target: Target) -> None:
    """[MQTT-3.3.5-1], delivered the mosquitto way: one copy, at the maximum QoS of the matching subscriptions."""
    with Clients(target) as clients:
        client = clients.connected("overlap")
        assert client.subscribe("ovl/#", 1) == 1
        assert client.subscribe("ovl/+", 2) == 2
        publisher = clients.connected("overlap-pub")
        publisher.publish("ovl/t", b"q2", qos=2)
        publisher.publish("ovl/t", b"q1", qos=1)
        publisher.publish("ovl/t", b"marker", qos=2)
        got = client.messages_until(b"marker")
        assert [(m.payload, m.qos) for m in got] == [(b"q2", 2), (b"q1", 1), (b"marker", 2)], \
            f"got {[describe(m) for m in got]}"


@scenario("delivered QoS = min(publish QoS, subscription QoS)")
def delivered_qos_is_minimum(target: Target) -> None:
    """[MQTT-3.8.4-6]: never upgraded to the subscription's QoS, never above what was granted."""
    with Clients(target) as clients:
        client = clients.connected("minqos")
        assert client.subscribe_many([(f"min/s{s}/#", s) for s in range(3)]) == [0, 1, 2]
        publisher = clients.connected("minqos-pub")
        for sub_qos in range(3):
            for pub_qos in range(3):
                publisher.publish(f"min/s{sub_qos}/p{pub_qos}", b"m", qos=pub_qos)
        got = {m.topic: m.qos for m in client.messages(9)}
        wrong = {topic: qos for topic, qos in got.items()
                 if qos != min(int(topic.split("/")[1][1]), int(topic.split("/")[2][1]))}
        assert not wrong, "wrong QoS: " + ", ".join(f"{t} at {q}" for t, q in sorted(wrong.items()))


@scenario("$ topics not matched by # or +/... filters")
def dollar_topics_not_matched_by_wildcards(target: Target) -> None:
    """[MQTT-4.7.2-1]: `#` and `+/...` do not match topics starting with `$`; `$SYS/#` does (positive control).

    amqtt (and so mqttdesk) closes the connection of a client that publishes to a `$` topic, so the messages are
    injected from inside the broker: one live, one retained.
    """
    with Clients(target) as clients:
        wild = clients.connected("wild")
        assert wild.subscribe_many([("#", 0), ("+/conformance/live", 0), ("+/conformance/retained", 0)]) == [0, 0, 0]
        control = clients.connected("sys-watcher")
        assert control.subscribe("$SYS/conformance/#", 0) == 0
        target.inject("$SYS/conformance/retained", b"retained", retain=True)
        target.inject("$SYS/conformance/live", b"live")
        got = payloads(control.messages(2))
        assert sorted(got) == [b"live", b"retained"], f"$SYS/# subscriber got {got}"
        publisher = clients.connected("dollar-pub")
        expect_only_marker(wild, publisher, "plain/marker", "a `#` subscription received a `$` topic")
        late_control = clients.connected("sys-late")
        assert late_control.subscribe("$SYS/conformance/#", 0) == 0
        stored = late_control.next_message()
        assert (stored.payload, stored.retain) == (b"retained", True), f"$SYS/# subscribe got {describe(stored)}"
        late = clients.connected("wild-late")
        assert late.subscribe("+/conformance/retained", 0) == 0
        assert late.subscribe("#", 0) == 0
        publisher.publish("plain/marker", b"marker-2")
        late_got = late.messages_until(b"marker-2")
        assert [m.topic for m in late_got] == ["plain/marker"], \
            f"retained `$` message delivered to a wildcard subscription: {[describe(m) for m in late_got]}"


@scenario("SUBACK return codes: 0/1/2 granted, 0x80 for a/#/b and a+")
def suback_return_codes(target: Target) -> None:
    """[MQTT-3.9.3-1]: one return code per filter, in order; [MQTT-4.7.1-2/3] malformed wildcards fail."""
    with Clients(target) as clients:
        client = clients.connected("suback")
        codes = client.subscribe_many([("ok/0", 0), ("ok/1", 1), ("ok/2", 2), ("a/#/b", 0), ("a+", 0)])
        assert codes == [0, 1, 2, SUBACK_FAILURE, SUBACK_FAILURE], f"SUBACK {[hex(c) for c in codes]}"
        client.ping()  # still connected


@scenario("UNSUBSCRIBE stops delivery")
def unsubscribe_stops_delivery(target: Target) -> None:
    with Clients(target) as clients:
        client = clients.connected("unsub")
        assert client.subscribe_many([("unsub/t", 1), ("unsub/marker", 1)]) == [1, 1]
        publisher = clients.connected("unsub-pub")
        publisher.publish("unsub/t", b"before", qos=1)
        assert client.next_message().payload == b"before"
        client.unsubscribe("unsub/t")
        publisher.publish("unsub/t", b"after", qos=1)
        expect_only_marker(client, publisher, "unsub/marker", "delivered after UNSUBSCRIBE", qos=1)
