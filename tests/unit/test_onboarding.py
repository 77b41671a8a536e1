"""Snippets parsed back, the Tasmota role, device recognition and the Tasmota console codes (core, no broker)."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from mqttdesk.broker.devices import command_topic
from mqttdesk.core.acl import Permission
from mqttdesk.core.device_traffic import DeviceBook, DeviceKind, may_concern_devices, recognise
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.snippets import Credential, Endpoint, SnippetFormat, render, render_all
from mqttdesk.core.tasmota import console_line_for, explain_console_line, tasmota_role_rules

FINGERPRINT = " ".join(["AB"] * 20)
TLS = Endpoint("192.168.1.10", 8883, tls=True, tasmota_fingerprint=FINGERPRINT, ws_port=9001)
PLAIN = Endpoint("192.168.1.10", 1883)
FLEET = Credential("bootstrap", "plugs", "plugs", "DVES_%06X")
DEVICE = Credential("device", "DVES_1A2B3C", "plugs", "kitchen", "DVES_1A2B3C", password="Shown-once-9")


def backlog(text: str) -> dict[str, str]:
    assert text.startswith("Backlog ")
    commands = [part.strip().split(" ", 1) for part in text.removeprefix("Backlog ").split(";")]
    return {name: value for name, value in commands}


class SecretLoader(yaml.SafeLoader):
    """ESPHome's loader knows `!secret NAME`; so does this one."""


SecretLoader.add_constructor("!secret", lambda loader, node: f"<secret {loader.construct_scalar(node)}>")


def test_tasmota_backlog_for_a_fleet_over_tls_parses_back() -> None:
    parsed = backlog(render(SnippetFormat.TASMOTA, TLS, FLEET).text)
    assert parsed["MqttHost"] == "192.168.1.10"
    assert parsed["MqttPort"] == "8883"
    assert parsed["MqttUser"] == "plugs"
    assert parsed["MqttClient"] == "DVES_%06X"  # each device keeps a clientId of its own
    assert parsed["Topic"] == "DVES_%06X"
    assert parsed["FullTopic"] == "%prefix%/%topic%/"
    assert parsed["SetOption103"] == "1"
    assert parsed["SetOption132"] == "1"
    assert parsed["MqttFingerprint1"] == FINGERPRINT
    assert "MqttPassword" not in parsed  # not known in clear: never stored


def test_a_password_given_now_is_in_every_snippet_and_none_is_without_one() -> None:
    with_password = render_all(PLAIN, DEVICE)
    assert all("Shown-once-9" in s.text for s in with_password)
    without = render_all(PLAIN, Credential("device", "DVES_1A2B3C", "plugs", "kitchen", "DVES_1A2B3C"))
    assert all("Shown-once-9" not in s.text for s in without)
    for snippet in without:
        noted = any("no password included" in note for note in snippet.notes)
        assert noted or "(the one shown when it was created)" in snippet.text, snippet.format


def test_esphome_yaml_parses_back() -> None:
    config = yaml.load(render(SnippetFormat.ESPHOME, PLAIN, DEVICE).text, Loader=SecretLoader)["mqtt"]
    assert config == {"broker": "192.168.1.10", "port": 1883, "username": "plugs", "password": "Shown-once-9",
                      "client_id": "DVES_1A2B3C", "topic_prefix": "kitchen", "discovery": True}
    fleet = yaml.load(render(SnippetFormat.ESPHOME, PLAIN, FLEET).text, Loader=SecretLoader)["mqtt"]
    assert fleet["password"] == "<secret mqtt_password>"
    assert "client_id" not in fleet
    assert "topic_prefix" not in fleet


def test_mosquitto_lines_parse_back() -> None:
    sub, pub = render(SnippetFormat.MOSQUITTO, TLS, DEVICE).text.splitlines()
    for line, topic in ((sub, "cmnd/kitchen/#"), (pub, "tele/kitchen/STATE")):
        args = shlex.split(line)
        options = dict(zip(args[1::2], args[2::2], strict=False))
        assert options["-h"] == "192.168.1.10"
        assert options["-p"] == "8883"
        assert options["-u"] == "plugs"
        assert options["-P"] == "Shown-once-9"
        assert options["-i"] == "DVES_1A2B3C"
        assert options["-t"] == topic
        assert options["--cafile"] == "ca.crt"
    unknown = shlex.split(render(SnippetFormat.MOSQUITTO, PLAIN, FLEET).text.splitlines()[0], posix=True)
    assert "$MQTT_PASSWORD" in unknown  # quoted: the shell expands it


def test_paho_script_compiles_and_mqttx_has_the_websocket_url() -> None:
    compile(render(SnippetFormat.PAHO, TLS, DEVICE).text, "snippet.py", "exec")
    compile(render(SnippetFormat.PAHO, PLAIN, FLEET).text, "snippet.py", "exec")
    mqttx = render(SnippetFormat.MQTTX, TLS, DEVICE).text
    assert "ws://192.168.1.10:9001/mqtt" in mqttx
    assert "mqtts://192.168.1.10" in mqttx
    assert any("listen.ws on" in note for note in render(SnippetFormat.MQTTX, PLAIN, DEVICE).notes)
    assert "[fd00::2]" in render(SnippetFormat.MQTTX, Endpoint("fd00::2", 1883), DEVICE).text
    fields = dict(line.split(":", 1) for line in render(SnippetFormat.HOME_ASSISTANT, PLAIN, DEVICE).text.splitlines())
    assert fields["Broker"].strip() == "192.168.1.10"
    assert fields["Port"].strip() == "1883"


def test_tasmota_role_rules() -> None:
    rules = {(r.topic_filter, r.permission) for r in tasmota_role_rules()}
    assert rules == {("cmnd/%c/#", Permission.READ), ("cmnd/tasmotas/#", Permission.READ),
                     ("stat/%c/#", Permission.WRITE), ("tele/%c/#", Permission.WRITE)}
    named = {r.topic_filter for r in tasmota_role_rules("kitchen", discovery=True)}
    assert {"cmnd/kitchen/#", "tele/kitchen/#", "tasmota/discovery/#", "homeassistant/#"} <= named
    with pytest.raises(ValueError, match="wildcards"):
        tasmota_role_rules("a/b")


INFO1 = json.dumps({"Info1": {"Module": "Sonoff Basic", "Version": "14.2.0(tasmota)"}}).encode()
INFO2 = json.dumps({"Info2": {"Hostname": "tasmota-1A2B3C", "IPAddress": "192.168.1.50"}}).encode()


def test_device_book_follows_a_tasmota_device() -> None:
    book = DeviceBook()
    book.observe("tele/kitchen/LWT", b"Online", "DVES_1A2B3C", 1.0)
    book.observe("tele/kitchen/INFO1", INFO1, "DVES_1A2B3C", 2.0)
    book.observe("tele/kitchen/INFO2", INFO2, "DVES_1A2B3C", 3.0)
    book.observe("tele/kitchen/STATE", b'{"POWER":"OFF","Uptime":"0T00:01:00"}', "DVES_1A2B3C", 4.0)
    book.observe("stat/kitchen/RESULT", b'{"POWER":"ON"}', "DVES_1A2B3C", 5.0)
    facts = book.for_client("DVES_1A2B3C")
    assert facts is not None
    assert facts.online is True
    assert (facts.firmware, facts.module, facts.ip, facts.power) == ("14.2.0(tasmota)", "Sonoff Basic",
                                                                     "192.168.1.50", "ON")
    assert facts.last_answer == '{"POWER":"ON"}'
    assert facts.answered_at == 5.0
    assert facts.summary() == "Tasmota 14.2.0(tasmota) (Sonoff Basic), online"
    assert book.observe("tele/kitchen/LWT", b"Offline", "DVES_1A2B3C", 6.0).online is False  # type: ignore[union-attr]
    assert book.observe("tele/kitchen/LWT", b"Offline", "DVES_1A2B3C", 7.0) is None  # nothing new


def test_older_info_esphome_and_discovery_are_recognised() -> None:
    old = recognise("tele/x/INFO1", b'{"Module":"Generic","Version":"9.1.0"}', 0.0)
    assert old is not None
    assert old.changes == {"firmware": "9.1.0", "module": "Generic"}
    esphome = recognise("garden/status", b"online", 0.0)
    assert esphome is not None
    assert esphome.kind is DeviceKind.ESPHOME
    assert esphome.changes == {"online": True}
    assert recognise("homeassistant/status", b"online", 0.0) is None  # Home Assistant itself
    config = json.dumps({"name": "Lamp", "device": {"name": "Porch", "sw_version": "2025.1", "model": "X"}})
    found = recognise("homeassistant/light/porch/lamp/config", config.encode(), 0.0)
    assert found is not None
    assert found.kind is DeviceKind.HOME_ASSISTANT
    assert found.changes["firmware"] == "2025.1"
    native = recognise("tasmota/discovery/AABBCC1A2B3C/config", b'{"t":"kitchen","sw":"14.2.0","ip":"10.0.0.9"}', 0.0)
    assert native is not None
    assert native.topic == "kitchen"
    assert native.changes["ip"] == "10.0.0.9"
    assert recognise("tele/kitchen/LWT", b"\xff", 0.0) is None
    assert recognise("tele/k/INFO1", b"[", 0.0) is not None


def test_only_device_topics_pass_the_brokers_first_test() -> None:
    for topic in ("tele/a/LWT", "stat/a/RESULT", "homeassistant/x/y/config", "tasmota/discovery/M/config",
                  "node/status"):
        assert may_concern_devices(topic)
    for topic in ("bench/0/1", "home/kitchen/temp", "telemetry/x"):
        assert not may_concern_devices(topic)


def test_console_codes_name_the_cause() -> None:
    unreachable = explain_console_line("MQT: Connect failed to 192.168.1.10:1883, rc -2. Retry in 10 sec")
    assert unreachable is not None
    assert any("loopback" in cause for cause in unreachable.causes)
    assert any("tls-handshake-failed" in cause for cause in unreachable.causes)
    wrong = explain_console_line("rc 4")
    refused = explain_console_line("rc 5")
    assert wrong is not None
    assert "password" in wrong.meaning
    assert refused is not None
    assert "authorised" in refused.meaning
    fingerprint = explain_console_line("TLS connection error: 1")
    assert fingerprint is not None
    assert "fingerprint" in fingerprint.meaning
    assert explain_console_line("TLS connection error: 296") is not None
    assert explain_console_line("TLS connection error: 304") is not None
    assert explain_console_line("all fine") is None
    assert console_line_for("bad-password", False) == "rc 4 (bad username or password)"
    assert console_line_for("suspended", False) == "rc 5 (not authorised)"
    assert console_line_for("tls-handshake-failed", False).startswith("rc -2")  # type: ignore[union-attr]
    assert console_line_for("bad-password", True) is None


def test_the_book_is_bounded_and_commands_name_one_topic_level() -> None:
    book = DeviceBook(max_devices=2)
    for n in range(3):
        book.observe(f"tele/plug{n}/LWT", b"Online", f"DVES_{n:06X}", 0.0)
    assert len(book) == 2
    assert book.get(DeviceKind.TASMOTA, "plug2") is None
    assert command_topic("kitchen", "Power") == "cmnd/kitchen/Power"
    for topic, command in (("a/b", "Power"), ("+", "Power"), ("kitchen", "#"), ("", "Power")):
        with pytest.raises(ValidationError):
            command_topic(topic, command)
