"""`role tasmota` and `snippet` on the real command line, and the broker advertised by mDNS (zeroconf)."""

from __future__ import annotations

import asyncio
import json
import shlex
import threading
from pathlib import Path

import pytest
import yaml
from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

from mqttdesk.broker.network import SERVICE_TYPES, Advertiser, should_advertise
from mqttdesk.broker.service import BrokerService
from mqttdesk.broker.transport import ListenerInfo
from mqttdesk.store.db import Store
from tests.integration.harness import run_cli
from tests.support import fast_hash
from tests.tasmota_sim import parse_backlog

PASSWORD = "flash-me-once"
LAN_HOST = "192.168.1.10"  # only written into snippets: nothing binds or connects to it


class SecretLoader(yaml.SafeLoader):
    """ESPHome's `!secret NAME`."""


SecretLoader.add_constructor("!secret", lambda loader, node: f"<secret {loader.construct_scalar(node)}>")


def ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    done = run_cli(data_dir, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tasmota_role_then_snippets_for_its_bootstrap_credential(data_dir: Path, admin: Store) -> None:
    dry = ok(data_dir, "role", "tasmota", "tasmota", "--dry-run")
    assert "would add role 'tasmota'" in dry
    assert "cmnd/%c/#" in dry
    assert "tele/%c/#" in dry
    assert admin.roles.list() == []  # nothing created
    ok(data_dir, "role", "tasmota", "tasmota", "--discovery")
    rules = {(r.topic_filter, r.permission.value) for r in admin.roles.get("tasmota").rules}
    assert {("cmnd/%c/#", "read"), ("stat/%c/#", "write"), ("tele/%c/#", "write"),
            ("tasmota/discovery/#", "write"), ("homeassistant/#", "write")} <= rules
    admin.bootstraps.add("plugs", fast_hash(PASSWORD), ("tasmota",), register_devices=True)

    every = {s["format"]: s for s in json.loads(ok(data_dir, "snippet", "plugs", "--host", LAN_HOST, "--json"))}
    assert list(every) == ["tasmota", "esphome", "mosquitto", "paho", "homeassistant", "mqttx"]
    assert all(PASSWORD not in s["text"] for s in every.values())  # stored as a hash: never in a snippet

    typed = run_cli(data_dir, "snippet", "plugs", "--host", LAN_HOST, "--format", "tasmota", "--password-stdin",
                    stdin=PASSWORD + "\n")
    backlog = parse_backlog(typed.stdout.strip())
    assert (backlog["MqttHost"], backlog["MqttPort"], backlog["MqttUser"]) == (LAN_HOST, "1883", "plugs")
    assert backlog["MqttPassword"] == PASSWORD
    assert backlog["MqttClient"] == "DVES_%06X"
    assert backlog["Topic"] == "DVES_%06X"
    assert "each one's own clientId" in typed.stderr  # the notes go to stderr: stdout is the line to paste

    esphome = yaml.load(every["esphome"]["text"], Loader=SecretLoader)["mqtt"]
    assert (esphome["broker"], esphome["port"], esphome["username"]) == (LAN_HOST, 1883, "plugs")
    assert esphome["password"] == "<secret mqtt_password>"
    sub, pub = every["mosquitto"]["text"].splitlines()
    topics = []
    for line, program in ((sub, "mosquitto_sub"), (pub, "mosquitto_pub")):
        args = shlex.split(line)
        assert args[0] == program
        options = dict(zip(args[1::2], args[2::2], strict=False))
        assert (options["-h"], options["-p"], options["-u"]) == (LAN_HOST, "1883", "plugs")
        topics.append(options["-t"])
    assert topics == ["cmnd/DVES_TEST01/#", "tele/DVES_TEST01/STATE"]


def test_the_loopback_warning_and_unknown_names(data_dir: Path, admin: Store) -> None:
    admin.users.add("lamp", fast_hash("pw-lamp-1"))
    done = run_cli(data_dir, "snippet", "lamp", "--format", "mqttx")
    assert done.returncode == 0
    assert "Host:         mqtt://127.0.0.1" in done.stdout
    assert "listens on 127.0.0.1 only: a device on the network cannot reach it" in done.stderr
    missing = run_cli(data_dir, "snippet", "nobody")
    assert missing.returncode == 1
    assert missing.stderr.strip() == ("mqttdesk: error: no user, bootstrap credential, device or token issuer named "
                                      "'nobody'")
    admin.settings.set_listener("0.0.0.0", 1883)
    wildcard = run_cli(data_dir, "snippet", "lamp")
    assert wildcard.returncode == 1
    assert "name the address devices use" in wildcard.stderr
    admin.settings.set_listener_enabled("ws", True)
    mqttx = run_cli(data_dir, "snippet", "lamp", "--host", LAN_HOST, "--format", "mqttx")
    assert f"ws://{LAN_HOST}:9001/mqtt" in mqttx.stdout
    assert "warning" not in mqttx.stderr


@pytest.mark.slow
def test_a_tls_snippet_pins_the_server_certificate(data_dir: Path) -> None:
    ok(data_dir, "ca", "init")
    ok(data_dir, "config", "set", "listen.tls", "on")
    ok(data_dir, "bootstrap", "add", "plugs", "--register-devices", "--password-stdin", stdin=PASSWORD + "\n")
    expected = json.loads(ok(data_dir, "server-cert", "show", "--json"))["tasmota_fingerprint"]
    backlog = parse_backlog(ok(data_dir, "snippet", "plugs", "--host", LAN_HOST, "--tls", "--format",
                               "tasmota").strip())
    assert backlog["MqttPort"] == "8883"
    assert backlog["SetOption103"] == "1"
    assert backlog["SetOption132"] == "1"
    assert backlog["MqttFingerprint1"] == expected


def test_mdns_is_never_advertised_on_loopback(data_dir: Path) -> None:
    assert not should_advertise("127.0.0.1", True)
    assert not should_advertise("::1", True)
    assert not should_advertise("0.0.0.0", False)
    assert should_advertise("0.0.0.0", True)
    ok(data_dir, "config", "set", "listen.mdns", "off")  # the setting exists, and shows
    assert json.loads(ok(data_dir, "config", "show", "--json"))["listen.mdns"] is False

    async def start_on_loopback() -> bool:
        store = Store.open(data_dir)
        service = BrokerService(store)
        store.settings.set_mdns(True)
        try:
            await service.start("127.0.0.1", 0)
            return service.advertising.advertiser is None
        finally:
            await service.close()
            store.close()

    assert asyncio.run(start_on_loopback())


def test_the_advertisement_is_found_by_a_zeroconf_browser_on_loopback() -> None:
    """zeroconf's own ServiceBrowser and resolver, both bound to 127.0.0.1 (multicast works on loopback here), see
    the broker's `_mqtt._tcp` and `_secure-mqtt._tcp` services with their ports. Names are matched exactly: another
    test run on the machine may advertise at the same time (zeroconf then renames one of them)."""
    added: set[str] = set()
    condition = threading.Condition()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added:
            with condition:
                added.add(name)
                condition.notify_all()

    def wait_for(names: set[str]) -> bool:
        with condition:
            return condition.wait_for(lambda: names <= added, timeout=10.0)

    async def advertise_and_browse() -> dict[str, tuple[int, list[str]]]:
        advertiser = Advertiser("mqttdesk test", interfaces=["127.0.0.1"])
        listeners = [ListenerInfo("tcp", "tcp", "127.0.0.1", 18831), ListenerInfo("tls", "tls", "127.0.0.1", 18832),
                     ListenerInfo("ws", "ws", "127.0.0.1", 18833)]
        browser_zeroconf = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        loop = asyncio.get_running_loop()
        try:
            done = await advertiser.start(listeners, ["127.0.0.1"])
            assert {item.service_type for item in done} == set(SERVICE_TYPES.values())  # no service for ws
            browsers = [ServiceBrowser(browser_zeroconf, kind, handlers=[on_change]) for kind in SERVICE_TYPES.values()]
            assert await loop.run_in_executor(None, wait_for, {item.name for item in done}), added
            resolved = {}
            for item in done:
                info = await loop.run_in_executor(None, browser_zeroconf.get_service_info, item.service_type,
                                                  item.name, 3000)
                assert info is not None
                resolved[item.service_type] = (info.port, info.parsed_addresses())
                assert item.name.startswith("mqttdesk test")
            for browser in browsers:
                browser.cancel()
            return resolved
        finally:
            await loop.run_in_executor(None, browser_zeroconf.close)
            await advertiser.stop()

    resolved = asyncio.run(advertise_and_browse())
    assert resolved == {"_mqtt._tcp.local.": (18831, ["127.0.0.1"]), "_secure-mqtt._tcp.local.": (18832, ["127.0.0.1"])}
