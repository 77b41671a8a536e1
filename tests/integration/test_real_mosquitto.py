"""Export to the real Mosquitto and back: the same users connect and the same topics are allowed and denied.

mqttdesk is provisioned once per module (roles with `%u` patterns and a deny rule, a suspended user, anonymous
access off) and probed (broker_probe.py); Debian's Mosquitto 2.0 is then started on a free loopback port with the
exported files, and with the exported dynamic-security JSON loaded by its plugin, and probed the same way.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import argon2
import pytest

from mqttdesk.cli import main
from mqttdesk.store.db import Store
from tests.integration.broker_probe import outcomes_of, provision
from tests.integration.harness import running_instance
from tests.integration.mqtt_client import TestClient
from tests.integration.real_mosquitto import RealMosquitto, dynsec_plugin, mosquitto_binary, mosquitto_tool

pytestmark = pytest.mark.slow

Outcomes = dict[str, bool | None]


def cli(data_dir: Path, *args: str) -> int:
    return main(["--data-dir", str(data_dir), *args])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mosquitto_binary()  # skips the module, saying why, where Mosquitto is missing
    data_dir = tmp_path_factory.mktemp("source") / "data"
    store = Store.open(data_dir)
    provision(store)
    store.bootstraps.add("plugs", store.users.get("lamp").password_hash, ("lamps",))
    store.close()
    return data_dir


@pytest.fixture(scope="module")
def expected(source: Path) -> Outcomes:
    """What mqttdesk itself decides."""
    with running_instance(source) as instance:
        found = outcomes_of(instance.port)
    # the probe asks questions with both answers (so a broker that allows or refuses everything differs)
    assert found["connect lamp lamp-pw"]
    assert not found["connect old old-pw"]
    assert not found["connect lamp wrong"]
    assert found["publish lamp home/lamp/x"]
    assert not found["publish lamp home/lamp/secret/x"]
    assert not found["receive lamp home/lamp/secret/x"]
    assert found["receive lamp home/lamp/news"]
    return found


@pytest.fixture(scope="module")
def exported(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mosquitto")
    assert cli(source, "export", "mosquitto", str(out)) == 0
    return out


def test_exported_files_make_mosquitto_decide_as_mqttdesk(exported: Path, expected: Outcomes) -> None:
    with RealMosquitto(exported, (exported / "mosquitto.conf").read_text()) as mosquitto:
        found = outcomes_of(mosquitto.port)
    assert _deliveries(found) == _deliveries(expected)
    # Mosquitto's acl_file grants every subscription and filters each delivery instead (the report says so)
    assert all(value for key, value in found.items() if key.startswith("subscribe "))


def _deliveries(outcomes: Outcomes) -> Outcomes:
    return {key: value for key, value in outcomes.items() if not key.startswith("subscribe ")}


def test_the_export_reports_what_mosquitto_cannot_express(source: Path, tmp_path: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    assert cli(source, "export", "mosquitto", str(tmp_path / "out"), "--json") == 0
    report = json.loads(capfd.readouterr().out)
    subjects = {gap["subject"]: gap["text"] for gap in report["not_expressible"]}
    assert "suspended" in subjects["user 'old'"]
    assert "fleet credential" in subjects["bootstrap credential 'plugs'"]
    assert "checks read access on each delivery" in subjects["subscriptions"]
    assert (tmp_path / "out" / "password_file").stat().st_mode & 0o777 == 0o600
    lines = (tmp_path / "out" / "password_file").read_text().splitlines()
    with contextlib.closing(Store.open(source)) as store:  # the hashes exactly as stored
        assert f"lamp:{store.users.get('lamp').password_hash}" in lines


def test_exported_dynsec_json_makes_the_plugin_decide_as_mqttdesk(source: Path, tmp_path: Path,
                                                                   expected: Outcomes) -> None:
    plugin = dynsec_plugin()
    target = tmp_path / "dynsec.json"
    assert cli(source, "export", "dynsec", str(target)) == 0
    data = json.loads(target.read_text())
    assert next(c for c in data["clients"] if c["username"] == "old")["disabled"] is True
    conf = (f"per_listener_settings false\nallow_anonymous false\nplugin {plugin}\n"
            f"plugin_opt_config_file {target}\nlistener 1883\n")
    with RealMosquitto(tmp_path, conf) as mosquitto:
        assert outcomes_of(mosquitto.port) == expected


@pytest.mark.parametrize("export", ["mosquitto", "dynsec"])
def test_round_trip_export_import_gives_the_same_decisions(source: Path, tmp_path: Path, expected: Outcomes,
                                                           export: str) -> None:
    target = tmp_path / ("out" if export == "mosquitto" else "dynsec.json")
    assert cli(source, "export", export, str(target)) == 0
    empty = tmp_path / "empty"
    if export == "mosquitto":
        assert cli(empty, "import", "mosquitto", "--passwd", str(target / "password_file"),
                   "--acl", str(target / "acl_file")) == 0
    else:
        assert cli(empty, "import", "dynsec", str(target)) == 0
    with contextlib.closing(Store.open(empty)) as store:
        store.settings.set_anonymous(False)  # anonymous access is a setting, not part of the files
        # the probe's wrong passwords, all from loopback, are about the decisions, not the login guard
        store.settings.set_guard(replace(store.settings.guard(), exempt_loopback=True))
    with running_instance(empty) as instance:
        assert outcomes_of(instance.port) == expected


def test_users_made_by_mosquitto_passwd_connect_to_mqttdesk(tmp_path: Path, data_dir: Path) -> None:
    tool = mosquitto_tool("mosquitto_passwd")
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "pbkdf2", "first secret"], check=True, capture_output=True)
    subprocess.run([tool, "-H", "sha512", "-b", str(passwd), "sha512", "sëcond"], check=True, capture_output=True)
    # Mosquitto 2.1 writes argon2id; 2.0 cannot, so this line is made the way 2.1 makes it (a PHC string)
    with passwd.open("a") as lines:
        lines.write(f"argon:{argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash('third')}\n")
    acl = tmp_path / "acl"
    acl.write_text("user pbkdf2\ntopic readwrite plugs/#\n")
    assert cli(data_dir, "import", "mosquitto", "--passwd", str(passwd), "--acl", str(acl), "--dry-run") == 0
    with contextlib.closing(Store.open(data_dir)) as store:
        assert store.users.list() == []  # a dry run writes nothing
    assert cli(data_dir, "import", "mosquitto", "--passwd", str(passwd), "--acl", str(acl)) == 0
    # the same again clashes: the dry run says so (exit 1), the import refuses, nothing changes
    assert cli(data_dir, "import", "mosquitto", "--passwd", str(passwd), "--dry-run") == 1
    assert cli(data_dir, "import", "mosquitto", "--passwd", str(passwd)) == 1
    with contextlib.closing(Store.open(data_dir)) as store:
        assert sorted(u.name for u in store.users.list()) == ["argon", "pbkdf2", "sha512"]
        assert store.users.get("pbkdf2").roles == ("pbkdf2",)
    with running_instance(data_dir) as instance:
        for username, password, connack in (("pbkdf2", "first secret", 0), ("sha512", "sëcond", 0),
                                            ("argon", "third", 0), ("sha512", "wrong", 4)):
            client = TestClient(f"{username}-1", instance.port, username=username, password=password)
            assert client.connect() == connack, (username, password)
            client.close()
        assert instance.last_entry("sha512-1").reason_code == "bad-password"
