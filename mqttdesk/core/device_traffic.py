"""Recognising devices by what they publish: Tasmota, ESPHome and Home Assistant discovery.

The broker hands over only messages whose topic passes `may_concern_devices` (one string test: every other
message costs nothing more), and `DeviceBook.observe` keeps what they say about each device:

- Tasmota: `tele/<topic>/LWT` `Online`/`Offline` (its retained will: online state as the device itself says it),
  `tele/<topic>/INFO1` (module, firmware version), `INFO2` (hostname, IP address), `INFO3` (restart reason),
  `tele/<topic>/STATE` (power, uptime, Wi-Fi signal), `stat/<topic>/RESULT` (the answer to the last command), and
  native discovery `tasmota/discovery/<MAC>/config`;
- ESPHome: `<name>/status` `online`/`offline` (its birth and will);
- Home Assistant discovery: `homeassistant/<component>/[<node>/]<object>/config` (the device's name, model,
  firmware).

A device is keyed by its kind and topic; the clientId that published (or whose will it was) links it to the
Clients and Devices views. The book is bounded (`MAX_DEVICES`); payloads over `MAX_PAYLOAD` are not parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

MAX_DEVICES = 10_000
MAX_PAYLOAD = 16 * 1024
DEVICE_PREFIXES = ("tele/", "stat/", "homeassistant/", "tasmota/discovery/")
STATUS_SUFFIX = "/status"
HOME_ASSISTANT_STATUS = "homeassistant/status"  # Home Assistant's own birth message, not a device


def may_concern_devices(topic: str) -> bool:
    """The broker's cheap first test, on every routed message: could this topic say something about a device?"""
    return topic.startswith(DEVICE_PREFIXES) or topic.endswith(STATUS_SUFFIX)


class DeviceKind(StrEnum):
    TASMOTA = "tasmota"
    ESPHOME = "esphome"
    HOME_ASSISTANT = "home-assistant"  # known from a discovery config only


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    kind: DeviceKind
    topic: str  # Tasmota's %topic%, ESPHome's topic prefix, the discovery config's node
    client_id: str | None = None
    online: bool | None = None  # as the device's LWT / status topic says; None: not said yet
    firmware: str | None = None
    module: str | None = None
    ip: str | None = None
    hostname: str | None = None
    name: str | None = None
    power: str | None = None  # "ON" / "OFF" from STATE or a RESULT
    uptime: str | None = None
    restart_reason: str | None = None
    last_answer: str | None = None  # the payload of the last stat/<topic>/RESULT
    answered_at: float | None = None
    last_seen: float = 0.0

    def summary(self) -> str:
        """ "Tasmota 14.2.0 (Sonoff Basic), online" — one line for a table cell."""
        kind = {DeviceKind.TASMOTA: "Tasmota", DeviceKind.ESPHOME: "ESPHome",
                DeviceKind.HOME_ASSISTANT: "Home Assistant device"}[self.kind]
        text = f"{kind} {self.firmware}" if self.firmware else kind
        if self.module:
            text += f" ({self.module})"
        state = {True: "online", False: "offline", None: None}[self.online]
        return f"{text}, {state}" if state else text


@dataclass(frozen=True, slots=True)
class Observation:
    """What one message says: the device it is about and the facts it changes."""

    kind: DeviceKind
    topic: str
    changes: dict[str, Any]


def _text(payload: bytes) -> str | None:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def _json_object(payload: bytes) -> dict[str, Any] | None:
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_info(number: int, payload: bytes) -> dict[str, Any]:
    """Facts from `tele/<topic>/INFO1|2|3`; Tasmota 12+ wraps them in {"Info1": {...}}, older versions do not."""
    data = _json_object(payload)
    if data is None:
        return {}
    inner = data.get(f"Info{number}")
    if isinstance(inner, dict):
        data = inner
    if number == 1:
        return _present(firmware=_string(data.get("Version")), module=_string(data.get("Module")))
    if number == 2:
        return _present(ip=_string(data.get("IPAddress")), hostname=_string(data.get("Hostname")))
    return _present(restart_reason=_string(data.get("RestartReason")))


def parse_state(payload: bytes) -> dict[str, Any]:
    """Facts from `tele/<topic>/STATE` (POWER or POWER1, Uptime)."""
    data = _json_object(payload)
    if data is None:
        return {}
    return _present(power=_string(data.get("POWER", data.get("POWER1"))), uptime=_string(data.get("Uptime")))


def parse_result(payload: bytes, now: float) -> dict[str, Any]:
    """`stat/<topic>/RESULT`: the answer as sent, and the power state when it says one."""
    text = _text(payload[:MAX_PAYLOAD])
    if text is None:
        return {}
    changes: dict[str, Any] = {"last_answer": text, "answered_at": now}
    data = _json_object(payload)
    if data is not None:
        changes.update(_present(power=_string(data.get("POWER", data.get("POWER1")))))
    return changes


def parse_tasmota_discovery(payload: bytes) -> tuple[str, dict[str, Any]] | None:
    """`tasmota/discovery/<MAC>/config`: the device's topic and its facts."""
    data = _json_object(payload)
    if data is None or not _string(data.get("t")):
        return None
    return str(data["t"]), _present(firmware=_string(data.get("sw")), module=_string(data.get("md")),
                                    ip=_string(data.get("ip")), hostname=_string(data.get("hn")),
                                    name=_string(data.get("dn")))


def parse_home_assistant_config(topic: str, payload: bytes) -> tuple[str, dict[str, Any]] | None:
    """`homeassistant/<component>/[<node>/]<object>/config`: the node (or object) and the device's facts."""
    levels = topic.split("/")
    if len(levels) not in (4, 5) or levels[-1] != "config":
        return None
    data = _json_object(payload)
    if data is None:
        return None
    device = data.get("device", data.get("dev"))
    device = device if isinstance(device, dict) else {}
    node = levels[2]
    return node, _present(name=_string(device.get("name")),
                          firmware=_string(device.get("sw_version", device.get("sw"))),
                          module=_string(device.get("model", device.get("mdl"))))


def _present(**values: str | None) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def recognise(topic: str, payload: bytes, now: float) -> Observation | None:
    """What a message on a device topic says, or None when it says nothing we know."""
    levels = topic.split("/")
    if levels[0] == "tele" and len(levels) == 3:
        device, what = levels[1], levels[2]
        if what == "LWT":
            text = (_text(payload) or "").lower()
            if text in ("online", "offline"):
                return Observation(DeviceKind.TASMOTA, device, {"online": text == "online"})
            return None
        if what in ("INFO1", "INFO2", "INFO3"):
            return Observation(DeviceKind.TASMOTA, device, parse_info(int(what[-1]), payload))
        if what == "STATE":
            return Observation(DeviceKind.TASMOTA, device, parse_state(payload))
        return None
    if levels[0] == "stat" and len(levels) == 3 and levels[2] == "RESULT":
        return Observation(DeviceKind.TASMOTA, levels[1], parse_result(payload, now))
    if topic.startswith("tasmota/discovery/") and len(levels) == 4 and levels[3] == "config":
        found = parse_tasmota_discovery(payload)
        return None if found is None else Observation(DeviceKind.TASMOTA, found[0], found[1])
    if levels[0] == "homeassistant":
        found = parse_home_assistant_config(topic, payload)
        return None if found is None else Observation(DeviceKind.HOME_ASSISTANT, found[0], found[1])
    if len(levels) == 2 and levels[1] == "status" and topic != HOME_ASSISTANT_STATUS:
        text = (_text(payload) or "").lower()
        if text in ("online", "offline"):
            return Observation(DeviceKind.ESPHOME, levels[0], {"online": text == "online"})
    return None


class DeviceBook:
    """The devices recognised so far, by (kind, topic), and which clientId speaks for each."""

    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self._devices: dict[tuple[DeviceKind, str], DeviceFacts] = {}
        self._by_client: dict[str, tuple[DeviceKind, str]] = {}
        self._max = max_devices

    def __len__(self) -> int:
        return len(self._devices)

    def observe(self, topic: str, payload: bytes, client_id: str | None, now: float) -> DeviceFacts | None:
        """Take in one message; the device's facts when it changed anything, else None."""
        seen = recognise(topic, payload, now)
        if seen is None:
            return None
        key = (seen.kind, seen.topic)
        before = self._devices.get(key)
        if before is None:
            if len(self._devices) >= self._max:
                return None
            before = DeviceFacts(seen.kind, seen.topic)
        changes = {name: value for name, value in seen.changes.items() if getattr(before, name) != value}
        if client_id is not None and client_id != before.client_id:
            changes["client_id"] = client_id
            self._by_client[client_id] = key
        if not changes and key in self._devices:
            return None
        facts = replace(before, last_seen=now, **changes)
        self._devices[key] = facts
        return facts

    def get(self, kind: DeviceKind, topic: str) -> DeviceFacts | None:
        return self._devices.get((kind, topic))

    def for_client(self, client_id: str) -> DeviceFacts | None:
        """The device this clientId published for (its own topic, or its will's)."""
        key = self._by_client.get(client_id)
        return None if key is None else self._devices.get(key)

    def all(self) -> list[DeviceFacts]:
        return sorted(self._devices.values(), key=lambda facts: (facts.kind.value, facts.topic))
