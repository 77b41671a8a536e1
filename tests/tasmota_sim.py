"""A simulated Tasmota plug written with paho: configured from a Tasmota `Backlog` line, as a real one would be.

It connects as `MqttClient` with `MqttUser`/`MqttPassword`, its will `tele/<topic>/LWT` `Offline` (retained, QoS 1);
once connected it publishes `tele/<topic>/LWT` `Online` (retained), `INFO1` (module and firmware version), `INFO2`
(hostname and IP address) and `STATE`, and subscribes to `cmnd/<topic>/#`. `cmnd/<topic>/Power` (any case, as
Tasmota reads commands) with `ON`, `OFF`, `TOGGLE` or nothing is answered on `stat/<topic>/RESULT` with
`{"POWER":"ON"}`, and on `stat/<topic>/POWER`. `kill()` drops the TCP connection without a DISCONNECT, as a plug
pulled from the socket does, so the broker publishes its will.

`%06X` in the client id and topic becomes the last three bytes of the (made-up) MAC, as Tasmota expands it.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

FIRMWARE = "14.2.0(tasmota)"
MODULE = "Sonoff Basic"
DEVICE_IP = "192.168.1.50"
TIMEOUT = 10.0


def parse_backlog(line: str) -> dict[str, str]:
    """`Backlog A 1; B two words` -> {"A": "1", "B": "two words"} (commands keep their case)."""
    assert line.startswith("Backlog "), line
    commands = [part.strip().split(" ", 1) for part in line.removeprefix("Backlog ").split(";")]
    return {command[0]: command[1] if len(command) > 1 else "" for command in commands}


def compact(value: object) -> str:
    """JSON as Tasmota writes it: no spaces."""
    return json.dumps(value, separators=(",", ":"))


@dataclass
class SimulatedTasmota:
    backlog: dict[str, str]
    mac_suffix: str = "1A2B3C"
    power: bool = False
    commands: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client_id = self.backlog["MqttClient"].replace("%06X", self.mac_suffix)
        self.topic = self.backlog["Topic"].replace("%06X", self.mac_suffix)
        self.connected = threading.Event()
        self.got_command = threading.Event()
        self.connack: int | None = None
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311,
                                reconnect_on_failure=False)
        self.paho.username_pw_set(self.backlog["MqttUser"], self.backlog.get("MqttPassword"))
        self.paho.will_set(f"tele/{self.topic}/LWT", "Offline", qos=1, retain=True)
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message

    def start(self, *, wait: bool = True) -> SimulatedTasmota:
        """Connect; with `wait`, until CONNACK 0 (a broker on the test's own Qt loop needs `wait=False` and the
        test waiting on `connected` while the loop runs)."""
        self.paho.connect(self.backlog["MqttHost"], int(self.backlog["MqttPort"]), keepalive=30)
        self.paho.loop_start()
        if wait:
            assert self.connected.wait(TIMEOUT), f"the simulated Tasmota got no CONNACK 0 (got {self.connack})"
        return self

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason: object,
                    _properties: object = None) -> None:
        self.connack = int(getattr(reason, "value", reason))  # type: ignore[call-overload]
        if self.connack != 0:
            return
        tele = f"tele/{self.topic}"
        client.publish(f"{tele}/LWT", "Online", qos=1, retain=True)
        client.publish(f"{tele}/INFO1", compact({"Info1": {"Module": MODULE, "Version": FIRMWARE,
                                                              "FallbackTopic": f"cmnd/{self.client_id}_fb/",
                                                              "GroupTopic": "cmnd/tasmotas/"}}))
        client.publish(f"{tele}/INFO2", compact({"Info2": {"WebServerMode": "Admin",
                                                              "Hostname": f"tasmota-{self.mac_suffix}",
                                                              "IPAddress": DEVICE_IP}}))
        client.publish(f"{tele}/STATE", compact({"Uptime": "0T00:00:05", "POWER": self._power_word()}))
        client.subscribe(f"cmnd/{self.topic}/#", qos=0)
        self.connected.set()

    def _power_word(self) -> str:
        return "ON" if self.power else "OFF"

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        command = message.topic.rsplit("/", 1)[-1]
        payload = message.payload.decode().strip().upper()
        self.commands.append((command, payload))
        if command.lower() == "power":
            if payload in ("TOGGLE", "2"):
                self.power = not self.power
            elif payload in ("ON", "1"):
                self.power = True
            elif payload in ("OFF", "0"):
                self.power = False
            client.publish(f"stat/{self.topic}/RESULT", compact({"POWER": self._power_word()}))
            client.publish(f"stat/{self.topic}/POWER", self._power_word())
        self.got_command.set()

    def kill(self) -> None:
        """The plug loses power: the connection drops with no DISCONNECT (the broker sends its will)."""
        self.paho.loop_stop()
        sock = self.paho.socket()
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stop(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
