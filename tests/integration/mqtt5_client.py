"""paho-mqtt's MQTT 5 client, wrapped for tests: reason codes and properties of every answer, waits with timeouts.

`V5Client` keeps what the broker said (CONNACK code and properties, SUBACK codes and Reason String, PUBACK codes,
the server's DISCONNECT) so a test can assert on it. `SessionEvents` hears the broker's session registry, so a test
waits for "the session is kept" or "the session expired" as an event instead of guessing how long it takes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqttdesk.broker.registry import SessionEvent, SessionEventKind
from tests.integration.harness import Instance

TIMEOUT = 10.0


def properties(packet: int, **values: Any) -> Properties:
    """paho Properties for a packet type (PacketTypes.CONNECT, PUBLISH, ...) from keyword values."""
    made = Properties(packet)
    for name, value in values.items():
        setattr(made, name, value)
    return made


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties
    mid: int

    def prop(self, name: str, default: Any = None) -> Any:
        return getattr(self.properties, name, default)


@dataclass
class Ack:
    """A PUBACK / PUBCOMP (paho reports no PUBREC): its reason code and properties."""

    code: int
    properties: Properties

    @property
    def reason_string(self) -> str | None:
        return getattr(self.properties, "ReasonString", None)


@dataclass
class Suback:
    codes: list[int]
    properties: Properties

    @property
    def reason_string(self) -> str | None:
        return getattr(self.properties, "ReasonString", None)


@dataclass
class V5Client:
    __test__ = False  # a helper, not a test class
    client_id: str
    port: int
    username: str | None = None
    password: str | None = None
    clean_start: bool = True
    keepalive: int = 60
    connect_properties: dict[str, Any] = field(default_factory=dict)  # e.g. {"SessionExpiryInterval": 60}
    will: tuple[str, bytes, int, bool] | None = None
    will_properties: dict[str, Any] = field(default_factory=dict)  # e.g. {"WillDelayInterval": 1}
    manual_ack: bool = False
    paho: mqtt.Client = field(init=False)
    connack: int | None = field(default=None, init=False)
    connack_properties: Properties | None = field(default=None, init=False)
    session_present: bool | None = field(default=None, init=False)
    disconnect_code: int | None = field(default=None, init=False)  # the server's DISCONNECT, if it sent one
    disconnect_properties: Properties | None = field(default=None, init=False)
    messages: queue.Queue[Message] = field(default_factory=queue.Queue, init=False)

    def __post_init__(self) -> None:
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._acks: dict[int, threading.Event] = {}
        self._ack_values: dict[int, Any] = {}
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                                reconnect_on_failure=False, manual_ack=self.manual_ack)
        if self.username is not None:
            self.paho.username_pw_set(self.username, self.password)
        if self.will is not None:
            topic, payload, qos, retain = self.will
            self.paho.will_set(topic, payload, qos, retain,
                               properties=properties(PacketTypes.WILLMESSAGE, **self.will_properties)
                               if self.will_properties else None)
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_unsubscribe = self._on_unsubscribe
        self.paho.on_publish = self._on_publish

    # -- callbacks (paho's network thread) ------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connack = reason.value
        self.connack_properties = props
        self.session_present = bool(getattr(flags, "session_present", False))
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if flags.is_disconnect_packet_from_server:
            self.disconnect_code = reason.value
            self.disconnect_properties = props
        self._disconnected.set()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put(Message(message.topic, bytes(message.payload), message.qos, bool(message.retain),
                                  message.properties, message.mid))

    def _acked(self, mid: int, value: Any) -> None:
        self._ack_values[mid] = value
        self._acks.setdefault(mid, threading.Event()).set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._acked(mid, Suback([r.value for r in reasons], props))

    def _on_unsubscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._acked(mid, [r.value for r in reasons])

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._acked(mid, Ack(reason.value, props))

    def _wait_ack(self, mid: int, what: str) -> Any:
        if not self._acks.setdefault(mid, threading.Event()).wait(TIMEOUT):
            raise AssertionError(f"{self.client_id}: no answer to {what} within {TIMEOUT} s")
        return self._ack_values.pop(mid)

    # -- actions -----------------------------------------------------------------------------------

    def connect(self) -> int:
        """Connect and wait for CONNACK; returns its reason code (0 = success)."""
        self._connected.clear()
        self._disconnected.clear()
        self.disconnect_code = None
        props = properties(PacketTypes.CONNECT, **self.connect_properties) if self.connect_properties else None
        self.paho.connect("127.0.0.1", self.port, keepalive=self.keepalive, clean_start=self.clean_start,
                          properties=props)
        self.paho.loop_start()
        if not self._connected.wait(TIMEOUT):
            raise AssertionError(f"{self.client_id}: no CONNACK within {TIMEOUT} s")
        assert self.connack is not None
        if self.connack >= 0x80:
            self.wait_disconnected()
        return self.connack

    @property
    def connack_reason_string(self) -> str | None:
        return getattr(self.connack_properties, "ReasonString", None)

    @property
    def disconnect_reason_string(self) -> str | None:
        return getattr(self.disconnect_properties, "ReasonString", None)

    def subscribe(self, topic_filter: str, qos: int = 0, *, no_local: bool = False,
                  retain_as_published: bool = False, retain_handling: int = 0,
                  identifier: int | None = None) -> Suback:
        """Subscribe with MQTT 5 options and wait for the SUBACK."""
        options = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                   retainHandling=retain_handling)
        props = properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=identifier) if identifier else None
        result, mid = self.paho.subscribe(topic_filter, options=options, properties=props)
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        suback: Suback = self._wait_ack(mid, f"SUBSCRIBE {topic_filter}")
        return suback

    def unsubscribe(self, topic_filter: str) -> list[int]:
        result, mid = self.paho.unsubscribe(topic_filter)
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        codes: list[int] = self._wait_ack(mid, f"UNSUBSCRIBE {topic_filter}")
        return codes

    def round_trip(self) -> None:
        """An UNSUBSCRIBE answered by the broker: everything it sent us before its UNSUBACK has been received.

        The broker answers a connection's packets in order and writes what it routes to us in order, so after this
        returns, a message that was going to reach us for anything done before it is in `messages`. (A filter we
        never subscribed: no permission is decided, nothing is logged, the answer is 0x11.)
        """
        assert self.unsubscribe("mqttdesk-test/round-trip") == [0x11]

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
                **props: Any) -> Ack | None:
        """Publish; for QoS 1 and 2 waits for the PUBACK / PUBCOMP and returns it."""
        info = self.paho.publish(topic, payload, qos, retain,
                                 properties=properties(PacketTypes.PUBLISH, **props) if props else None)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        if not qos:
            return None
        ack: Ack = self._wait_ack(info.mid, f"PUBLISH {topic}")
        return ack

    def ack(self, message: Message) -> None:
        """With `manual_ack`: acknowledge a QoS 1/2 message now."""
        assert self.paho.ack(message.mid, message.qos) == mqtt.MQTT_ERR_SUCCESS

    def expect_message(self, timeout: float = TIMEOUT) -> Message:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout} s") from None

    def received(self) -> list[Message]:
        """Every message received so far and not taken yet (call `round_trip` first to be sure of them)."""
        taken = []
        while True:
            try:
                taken.append(self.messages.get_nowait())
            except queue.Empty:
                return taken

    def wait_disconnected(self, timeout: float = TIMEOUT) -> bool:
        return self._disconnected.wait(timeout)

    @property
    def is_connected(self) -> bool:
        return self.paho.is_connected()

    def disconnect(self, reason_code: int = 0, **props: Any) -> None:
        """A DISCONNECT of ours (0: normal, 4: with will message), e.g. SessionExpiryInterval=0."""
        if self.paho.is_connected():
            self.paho.disconnect(ReasonCode(PacketTypes.DISCONNECT, identifier=reason_code),
                                 properties(PacketTypes.DISCONNECT, **props) if props else None)
            assert self.wait_disconnected()
        self.close()

    def drop(self) -> None:
        """Lose the connection without a DISCONNECT (as a device losing power would)."""
        sock = self.paho.socket()
        assert sock is not None
        sock.shutdown(2)  # SHUT_RDWR: the broker reads end of file, paho's loop notices and stops
        assert self.wait_disconnected()
        self.close()

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


class SessionEvents:
    """The broker's session events (connected, kept, discarded ...) as a queue a test waits on."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._events: queue.Queue[SessionEvent] = queue.Queue()
        instance.call(instance.service.registry.subscribe, self._events.put)

    def close(self) -> None:
        self._instance.call(self._instance.service.registry.unsubscribe, self._events.put)

    def wait(self, kind: SessionEventKind, client_id: str, timeout: float = TIMEOUT,
             where: Callable[[SessionEvent], bool] | None = None) -> SessionEvent:
        """The next event of `kind` for `client_id` (others are passed over)."""
        for event in self._until(timeout):
            if event.kind is kind and event.client_id == client_id and (where is None or where(event)):
                return event
        raise AssertionError(f"no {kind.value} event for {client_id} within {timeout} s")

    def _until(self, timeout: float) -> Iterator[SessionEvent]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                yield self._events.get(timeout=left)
            except queue.Empty:
                return
