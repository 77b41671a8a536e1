"""A small blocking wrapper around paho-mqtt for tests: every wait is an event with a timeout, never a sleep."""

from __future__ import annotations

import queue
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TIMEOUT = 10.0
# paho 2 reports MQTT 3.1.1 CONNACK codes as MQTT 5 reason codes; tests speak 3.1.1
_V311_CONNACK = {0: 0, 132: 1, 133: 2, 136: 3, 134: 4, 135: 5}


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class TestClient:
    __test__ = False  # a helper, not a test class
    client_id: str
    port: int
    username: str | None = None
    password: str | None = None
    clean_session: bool = True
    keepalive: int = 60
    will: tuple[str, bytes, int, bool] | None = None
    transport: str = "tcp"  # or "websockets" (path /mqtt)
    tls: ssl.SSLContext | None = None
    ws_path: str = "/mqtt"
    source: str | None = None  # another loopback address (127.x.y.z) to connect from, to play a different peer
    reconnect_on_failure: bool | None = None  # None: paho's own reconnects for plain TCP (delayed 60 s), as before
    paho: mqtt.Client = field(init=False)
    connack: int | None = field(default=None, init=False)
    session_present: bool | None = field(default=None, init=False)
    messages: queue.Queue[Received] = field(default_factory=queue.Queue, init=False)

    def __post_init__(self) -> None:
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._acks: dict[int, threading.Event] = {}
        self._suback: dict[int, list[int]] = {}
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311,
                                clean_session=self.clean_session, transport=self.transport,
                                reconnect_on_failure=self.transport == "tcp" and self.tls is None
                                if self.reconnect_on_failure is None else self.reconnect_on_failure)
        if self.tls is not None:
            self.paho.tls_set_context(self.tls)
        if self.transport == "websockets":
            self.paho.ws_set_options(path=self.ws_path)
        self.paho.reconnect_delay_set(60, 120)  # tests decide when to reconnect
        if self.username is not None:
            self.paho.username_pw_set(self.username, self.password)
        if self.will is not None:
            topic, payload, qos, retain = self.will
            self.paho.will_set(topic, payload, qos, retain)
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_publish = self._on_publish

    # -- callbacks (paho's network thread) ------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        code = reason.value if hasattr(reason, "value") else int(reason)
        self.connack = _V311_CONNACK.get(code, code)
        if self.connack != 0:
            client.disconnect()  # no automatic reconnect attempts after a refusal: the test decides
        self.session_present = bool(getattr(flags, "session_present", False))
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.disconnect()  # stay down: paho would otherwise retry, polling once a second
        self._disconnected.set()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(message.topic, bytes(message.payload), message.qos, bool(message.retain)))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        self._suback[mid] = [r.value for r in reasons]
        self._acks.setdefault(mid, threading.Event()).set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self._acks.setdefault(mid, threading.Event()).set()

    # -- actions -----------------------------------------------------------------------------------

    def connect(self) -> int:
        """Connect and wait for CONNACK; returns its return code (0 = accepted)."""
        self._connected.clear()
        self._disconnected.clear()
        self.paho.connect("127.0.0.1", self.port, keepalive=self.keepalive, bind_address=self.source or "")
        self.paho.loop_start()
        if not self._connected.wait(TIMEOUT):
            raise AssertionError(f"{self.client_id}: no CONNACK within {TIMEOUT} s")
        assert self.connack is not None
        if self.connack != 0:
            self.wait_disconnected()
        return self.connack

    def subscribe(self, topic_filter: str, qos: int = 0) -> int:
        """Subscribe and wait for SUBACK; returns the granted QoS or 0x80 (refused)."""
        result, mid = self.paho.subscribe(topic_filter, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        event = self._acks.setdefault(mid, threading.Event())
        if not event.wait(TIMEOUT):
            raise AssertionError(f"{self.client_id}: no SUBACK for {topic_filter}")
        return self._suback[mid][0]

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False) -> None:
        info = self.paho.publish(topic, payload, qos, retain)
        if qos:
            info.wait_for_publish(TIMEOUT)
            assert info.is_published()

    def expect_message(self, timeout: float = TIMEOUT) -> Received:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout} s") from None

    def wait_disconnected(self, timeout: float = TIMEOUT) -> bool:
        return self._disconnected.wait(timeout)

    @property
    def is_connected(self) -> bool:
        return self.paho.is_connected()

    def disconnect(self) -> None:
        if self.paho.is_connected():
            self.paho.disconnect()
            self.wait_disconnected()
        self.close()

    def close(self) -> None:
        # disconnecting first wakes paho's network thread; a bare loop_stop() waits out its 1 s select()
        self.paho.disconnect()
        self.paho.loop_stop()
