"""Connection snippets: what to paste into a device or a tool so it connects to this broker with one credential.

Formats: a Tasmota `Backlog` line, ESPHome's `mqtt:` YAML, `mosquitto_sub`/`mosquitto_pub` lines, a paho-mqtt
Python script, the Home Assistant MQTT integration's fields and an MQTTX connection (with the `ws://.../mqtt` URL
for MQTTX Web and other browser tools when the WebSocket listener is on).

A snippet carries a password only when the caller has it in clear: typed in now, or shown once when the credential
was created. mqttdesk stores password hashes only, so otherwise the password is left out (Tasmota), read from a
secret (ESPHome `!secret mqtt_password`) or from the environment (`$MQTT_PASSWORD`), and a note says so.

The host and port are what a *device* uses: the caller picks a LAN address (a broker listening on 127.0.0.1 cannot
be reached from another machine at all). A bootstrap fleet keeps Tasmota's `MqttClient DVES_%06X` and gets
`Topic DVES_%06X`, so every device has a clientId of its own and a topic equal to it (the `%c` rules of the
Tasmota role). The lines meant for a computer (mosquitto, paho) need one concrete clientId: `SAMPLE_CLIENT_ID`.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from enum import StrEnum

from mqttdesk.core.tasmota import FLEET_CLIENT_ID, FULL_TOPIC

SAMPLE_CLIENT_ID = "DVES_TEST01"  # what `DVES_%06X` becomes in the lines run from a computer
PASSWORD_ENV = "MQTT_PASSWORD"
CA_FILE = "ca.crt"  # what `mqttdesk ca export ca.crt` writes


class SnippetFormat(StrEnum):
    TASMOTA = "tasmota"
    ESPHOME = "esphome"
    MOSQUITTO = "mosquitto"
    PAHO = "paho"
    HOME_ASSISTANT = "homeassistant"
    MQTTX = "mqttx"


FORMAT_TITLES = {SnippetFormat.TASMOTA: "Tasmota (console)", SnippetFormat.ESPHOME: "ESPHome (YAML)",
                 SnippetFormat.MOSQUITTO: "mosquitto_sub / mosquitto_pub", SnippetFormat.PAHO: "paho-mqtt (Python)",
                 SnippetFormat.HOME_ASSISTANT: "Home Assistant (MQTT integration)", SnippetFormat.MQTTX: "MQTTX"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a device reaches the broker."""

    host: str
    port: int  # the MQTT port the snippet uses: the TLS listener's when `tls`
    tls: bool = False
    tasmota_fingerprint: str | None = None  # of the server's RSA key (20 hex bytes with spaces), for TLS
    ws_port: int | None = None  # the WebSocket listener, when it is on
    wss_port: int | None = None

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def ws_urls(self) -> list[str]:
        urls = []
        if self.ws_port is not None:
            urls.append(f"ws://{self.url_host}:{self.ws_port}/mqtt")
        if self.wss_port is not None:
            urls.append(f"wss://{self.url_host}:{self.wss_port}/mqtt")
        return urls


@dataclass(frozen=True, slots=True)
class Credential:
    """Who connects: `kind` is user, bootstrap, device or token; `client_id` None means Tasmota's `DVES_%06X`."""

    kind: str
    name: str
    username: str | None
    topic: str
    client_id: str | None = None
    password: str | None = field(default=None, repr=False)  # in clear only when typed now or shown once

    @property
    def fleet(self) -> bool:
        return self.client_id is None

    @property
    def concrete_client_id(self) -> str:
        return self.client_id or SAMPLE_CLIENT_ID

    @property
    def concrete_topic(self) -> str:
        return self.topic.replace("%06X", SAMPLE_CLIENT_ID.removeprefix("DVES_")) if "%" in self.topic else self.topic


@dataclass(frozen=True, slots=True)
class Snippet:
    format: SnippetFormat
    title: str
    text: str  # what the copy button copies
    notes: tuple[str, ...] = ()  # said next to it, never copied


def _password_note(credential: Credential) -> str:
    if credential.kind == "token":
        return (f"no token included: mint one with `mqttdesk token mint {credential.name} --sub SUBJECT` (or the "
                "Tokens tab) and use it as the password")
    return ("no password included: mqttdesk keeps only its hash. Use the one shown when the credential was created, "
            "or give it now (the password field, or --password-stdin)")


def tasmota(endpoint: Endpoint, credential: Credential) -> Snippet:
    commands = [f"MqttHost {endpoint.host}", f"MqttPort {endpoint.port}"]
    notes: list[str] = []
    if credential.username:
        commands.append(f"MqttUser {credential.username}")
    if credential.password is not None:
        commands.append(f"MqttPassword {credential.password}")
        if ";" in credential.password or credential.password != credential.password.strip():
            notes.append("the password holds ';' or surrounding spaces, which a Backlog line cannot carry: "
                         "send MqttPassword as a command of its own")
    else:
        notes.append(_password_note(credential) + " (add '; MqttPassword …')")
    commands += [f"MqttClient {credential.client_id or FLEET_CLIENT_ID}", f"Topic {credential.topic}",
                 f"FullTopic {FULL_TOPIC}"]
    if endpoint.tls:
        commands += ["SetOption103 1", "SetOption132 1"]
        if endpoint.tasmota_fingerprint:
            commands.append(f"MqttFingerprint1 {endpoint.tasmota_fingerprint}")
        else:
            notes.append("no fingerprint: the server certificate's key is not RSA (Tasmota pins RSA keys only)")
        notes.append("TLS needs a Tasmota build with TLS (tasmota-tls or a custom USE_MQTT_TLS build); the device "
                     "restarts once for SetOption103")
    if credential.fleet:
        notes.append("the same line for every device: DVES_%06X becomes each one's own clientId and topic")
    return Snippet(SnippetFormat.TASMOTA, FORMAT_TITLES[SnippetFormat.TASMOTA], "Backlog " + "; ".join(commands),
                   tuple(notes))


def _yaml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def esphome(endpoint: Endpoint, credential: Credential) -> Snippet:
    lines = ["mqtt:", f"  broker: {_yaml(endpoint.host)}", f"  port: {endpoint.port}"]
    notes: list[str] = []
    if credential.username:
        lines.append(f"  username: {_yaml(credential.username)}")
    if credential.password is not None:
        lines.append(f"  password: {_yaml(credential.password)}")
    else:
        lines.append("  password: !secret mqtt_password")
        notes.append(_password_note(credential) + " (put it in secrets.yaml as mqtt_password)")
    if credential.client_id:
        lines.append(f"  client_id: {_yaml(credential.client_id)}")
    if "%" not in credential.topic:
        lines.append(f"  topic_prefix: {_yaml(credential.topic)}")
    lines.append("  discovery: true")
    if endpoint.tls:
        notes.append(f"TLS: ESP32 only; add certificate_authority: with the CA certificate ({CA_FILE}, from "
                     "mqttdesk ca export)")
    notes.append("ESPHome publishes <topic_prefix>/status online/offline (its birth and will): the role must allow "
                 "writing <topic_prefix>/#")
    return Snippet(SnippetFormat.ESPHOME, FORMAT_TITLES[SnippetFormat.ESPHOME], "\n".join(lines), tuple(notes))


def _connection_args(endpoint: Endpoint, credential: Credential) -> list[str]:
    args = ["-h", endpoint.host, "-p", str(endpoint.port)]
    if endpoint.tls:
        args += ["--cafile", CA_FILE]
    if credential.username:
        args += ["-u", credential.username]
    args += ["-P", credential.password if credential.password is not None else f"${PASSWORD_ENV}"]
    return args + ["-i", credential.concrete_client_id]


def _shell(args: list[str]) -> str:
    return " ".join(f'"{arg}"' if arg == f"${PASSWORD_ENV}" else shlex.quote(arg) for arg in args)


def mosquitto(endpoint: Endpoint, credential: Credential) -> Snippet:
    """As the device would: read its commands, publish its state (one at a time: they share the clientId)."""
    common = _connection_args(endpoint, credential)
    topic = credential.concrete_topic
    sub = _shell(["mosquitto_sub", *common, "-t", f"cmnd/{topic}/#", "-v"])
    pub = _shell(["mosquitto_pub", *common, "-t", f"tele/{topic}/STATE", "-m", '{"POWER":"ON"}'])
    notes = ["both lines use the device's clientId: run one at a time (a second connection takes the first over)"]
    if credential.password is None:
        notes.append(_password_note(credential) + f" (export {PASSWORD_ENV}=…)")
    if credential.fleet:
        notes.append(f"{SAMPLE_CLIENT_ID} stands for one device of the fleet: through a registering bootstrap "
                     "credential it registers like any other (delete it afterwards)")
    return Snippet(SnippetFormat.MOSQUITTO, FORMAT_TITLES[SnippetFormat.MOSQUITTO], f"{sub}\n{pub}", tuple(notes))


def paho(endpoint: Endpoint, credential: Credential) -> Snippet:
    topic = credential.concrete_topic
    password = repr(credential.password) if credential.password is not None else f'os.environ["{PASSWORD_ENV}"]'
    lines = ["import os" if credential.password is None else "", "import paho.mqtt.client as mqtt",
             "from paho.mqtt.enums import CallbackAPIVersion", "",
             f"client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id={credential.concrete_client_id!r})"]
    if credential.username:
        lines.append(f"client.username_pw_set({credential.username!r}, {password})")
    if endpoint.tls:
        lines.append(f"client.tls_set(ca_certs={CA_FILE!r})")
    lines += [f"client.will_set({f'tele/{topic}/LWT'!r}, 'Offline', qos=1, retain=True)",
              "client.on_message = lambda c, userdata, m: print(m.topic, m.payload.decode())",
              f"client.connect({endpoint.host!r}, {endpoint.port})",
              f"client.publish({f'tele/{topic}/LWT'!r}, 'Online', qos=1, retain=True)",
              f"client.subscribe({f'cmnd/{topic}/#'!r})", "client.loop_forever()"]
    notes = []
    if endpoint.ws_port is not None:
        notes.append(f"over WebSocket: mqtt.Client(..., transport='websockets'), client.ws_set_options(path='/mqtt'), "
                     f"port {endpoint.ws_port}")
    if credential.password is None:
        notes.append(_password_note(credential) + f" (export {PASSWORD_ENV}=…)")
    text = "\n".join(lines).lstrip("\n")
    return Snippet(SnippetFormat.PAHO, FORMAT_TITLES[SnippetFormat.PAHO], text, tuple(notes))


def _fields(pairs: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{(label + ':').ljust(width + 1)} {value}" for label, value in pairs)


def _shown_password(credential: Credential) -> str:
    if credential.password is not None:
        return credential.password
    return "(the token)" if credential.kind == "token" else "(the one shown when it was created)"


def home_assistant(endpoint: Endpoint, credential: Credential) -> Snippet:
    pairs = [("Broker", endpoint.host), ("Port", str(endpoint.port)), ("Username", credential.username or ""),
             ("Password", _shown_password(credential)), ("Client ID", "(leave empty)"),
             ("Discovery prefix", "homeassistant")]
    if endpoint.tls:
        pairs += [("Broker certificate validation", f"Custom: upload {CA_FILE}"), ("MQTT transport", "TCP")]
    notes = ["Settings > Devices & services > Add integration > MQTT; the TLS choices are under 'advanced options'",
             "Home Assistant reads homeassistant/# and writes homeassistant/status: give its user a role for that"]
    return Snippet(SnippetFormat.HOME_ASSISTANT, FORMAT_TITLES[SnippetFormat.HOME_ASSISTANT], _fields(pairs),
                   tuple(notes))


def mqttx(endpoint: Endpoint, credential: Credential) -> Snippet:
    scheme = "mqtts" if endpoint.tls else "mqtt"
    pairs = [("Host", f"{scheme}://{endpoint.url_host}"), ("Port", str(endpoint.port)),
             ("Client ID", credential.concrete_client_id), ("Username", credential.username or ""),
             ("Password", _shown_password(credential)), ("MQTT version", "5.0 (3.1.1 works too)")]
    if endpoint.tls:
        pairs.append(("SSL/TLS", f"on, CA signed server certificate, CA file {CA_FILE}"))
    for url in endpoint.ws_urls():
        pairs.append(("WebSocket (MQTTX Web)", url))
    notes = [] if endpoint.ws_urls() else [
        "for MQTTX Web and other browser tools switch on the WebSocket listener (Listeners…, or mqttdesk config "
        "set listen.ws on): they connect to ws://HOST:9001/mqtt"]
    return Snippet(SnippetFormat.MQTTX, FORMAT_TITLES[SnippetFormat.MQTTX], _fields(pairs), tuple(notes))


_RENDERERS = {SnippetFormat.TASMOTA: tasmota, SnippetFormat.ESPHOME: esphome, SnippetFormat.MOSQUITTO: mosquitto,
              SnippetFormat.PAHO: paho, SnippetFormat.HOME_ASSISTANT: home_assistant, SnippetFormat.MQTTX: mqttx}


def render(snippet_format: SnippetFormat, endpoint: Endpoint, credential: Credential) -> Snippet:
    return _RENDERERS[snippet_format](endpoint, credential)


def render_all(endpoint: Endpoint, credential: Credential) -> list[Snippet]:
    return [render(snippet_format, endpoint, credential) for snippet_format in SnippetFormat]
