"""Secrets never leak: a whole run with distinctive passwords, a token issuer's secret, a token, a CA passphrase and
a PKCS#12 password, then every byte the run wrote is searched for each of them.

The run: the CLI sets everything up (secrets on stdin), a real instance serves clients that log in with the right
passwords, a wrong guess and the token, the Auth log is read back and exported, and the broker's log is written at
DEBUG to a file. Searched: every file of the data directory while the instance runs (the store, its WAL and shared
memory, the PKI files, instance.json) and after it stopped, the log file, the exports (CA certificate, CRL,
`log --json`, `clients --json`) and the stdout and stderr of every command. Not searched, because handing the
secret over is their job: `token mint`'s stdout (the token), the key and the PKCS#12 file `cert issue` writes
(encrypted with the password, which must not be in them in clear either, and is checked).

One secret has to be kept: an HMAC issuer's secret is what verifies its tokens, so the store holds it (in the 0600
data file, table token_issuers, and nowhere else: not in the Auth log, the log, an export or any output). The run
checks exactly that place and no other holds it.

The files that hold anything private have modes 0600 in a 0700 data directory.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttdesk.store.db import DB_FILENAME
from tests.cli_in_process import CliResult, run_cli_in_process
from tests.integration.harness import Instance
from tests.integration.mqtt_client import TestClient

LAMP_PASSWORD = "Lamp-Pw-7f3a9c-DISTINCT"
LAMP_NEW_PASSWORD = "Lamp-NewPw-11b2e8-DISTINCT"
PLUGS_PASSWORD = "Plugs-Pw-c04d17-DISTINCT"
WRONG_GUESS = "Guess-Pw-5e6f70-DISTINCT"
HMAC_SECRET = "Hmac-Secret-0123456789abcdef-DISTINCT-XYZ"
CA_PASSPHRASE = "Ca-Passphrase-9a8b7c-DISTINCT"
P12_PASSWORD = "P12-Pw-d3e4f5-DISTINCT"
SECRETS = (LAMP_PASSWORD, LAMP_NEW_PASSWORD, PLUGS_PASSWORD, WRONG_GUESS, HMAC_SECRET, CA_PASSPHRASE, P12_PASSWORD)


def _forms(secret: str) -> list[bytes]:
    """How a secret could sit in a file: as text (UTF-8 and UTF-16) or base64 (as a header or a JSON blob would)."""
    raw = secret.encode()
    return [raw, secret.encode("utf-16-le"), base64.b64encode(raw), base64.b64encode(raw)[:-2]]


class Run:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.outputs: dict[str, str] = {}  # what each command printed, by a label

    def cli(self, label: str, *args: str, stdin: str = "", keep_stdout: bool = True) -> CliResult:
        result = run_cli_in_process(self.data_dir, *args, stdin=stdin)
        assert result.returncode == 0, (label, result.stderr)
        self.outputs[f"{label} (stderr)"] = result.stderr
        if keep_stdout:
            self.outputs[f"{label} (stdout)"] = result.stdout
        return result


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "broker.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("mqttdesk")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leaks(files: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(name, secret) for name, data in files.items() for secret in SECRETS
            if any(form in data for form in _forms(secret))
            and not (secret == HMAC_SECRET and name.startswith(DB_FILENAME))]  # its one place: see the docstring


def _rows_holding(database: Path, secret: str) -> list[str]:
    connection = sqlite3.connect(database)
    try:
        return [row for row in connection.iterdump() if secret in row]
    finally:
        connection.close()


def _data_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}


def test_no_secret_of_a_whole_run_is_in_anything_it_wrote(tmp_path: Path, debug_log: Path) -> None:
    run = Run(tmp_path)
    run.cli("role add", "role", "add", "lamps")
    run.cli("role allow", "role", "allow", "lamps", "home/#", "readwrite")
    run.cli("user add", "user", "add", "lamp", "--role", "lamps", "--password-stdin", stdin=LAMP_PASSWORD + "\n")
    run.cli("bootstrap add", "bootstrap", "add", "plugs", "--role", "lamps", "--password-stdin",
            stdin=PLUGS_PASSWORD + "\n")
    run.cli("issuer add", "token", "issuer", "add", "iot", "--secret-stdin", "--role", "lamps",
            stdin=HMAC_SECRET + "\n")
    token = run.cli("token mint", "token", "mint", "iot", "--sub", "sensor-9", "--ttl", "1h",
                    keep_stdout=False).stdout.strip()
    assert token.count(".") == 2
    run.cli("ca init", "ca", "init", "--passphrase-stdin", stdin=CA_PASSPHRASE + "\n")
    run.cli("cert issue", "cert", "issue", "lamp", "--out", str(tmp_path / "certs"), "--p12", "--password-stdin",
            "--passphrase-stdin", stdin=f"{CA_PASSPHRASE}\n{P12_PASSWORD}\n")
    run.cli("ca export", "ca", "export", str(tmp_path / "ca.crt"))

    instance = Instance(run.data_dir)
    instance.start()
    clients: list[TestClient] = []
    try:
        for client_id, username, password, expected in (
                ("lamp-1", "lamp", LAMP_PASSWORD, 0), ("guess-1", "lamp", WRONG_GUESS, 4),
                ("plug-1", "plugs", PLUGS_PASSWORD, 0), ("tok-1", "tok", token, 0), ("tok-2", token, "x", 4)):
            made = TestClient(client_id, instance.port, username=username, password=password)
            clients.append(made)
            assert made.connect() == expected, client_id
        clients[0].publish("home/lamp/state", "on", qos=1)
        run.cli("user passwd", "user", "passwd", "lamp", "--password-stdin", stdin=LAMP_NEW_PASSWORD + "\n")
        assert clients[0].wait_disconnected()  # its password changed: the session ended
        again = TestClient("lamp-2", instance.port, username="lamp", password=LAMP_NEW_PASSWORD)
        clients.append(again)
        assert again.connect() == 0
        refused = run_cli_in_process(run.data_dir, "explain", "--client-id", "x", "--username", "lamp",
                                     "--password-stdin", stdin=WRONG_GUESS + "\n")
        assert refused.returncode == 1  # the dry run refuses the guess (exit 1): what it printed is searched too
        run.outputs["explain (stdout)"], run.outputs["explain (stderr)"] = refused.stdout, refused.stderr
        run.cli("clients", "clients", "--json")
        instance.flush_log()
        run.cli("log", "log", "--json", "--limit", "1000")
        run.cli("export crl", "cert", "export-crl", str(tmp_path / "ca.crl"))
        while_running = _data_files(run.data_dir)
        assert f"{DB_FILENAME}-wal" in while_running  # the WAL is searched too
        assert _mode(run.data_dir) == 0o700
        for name in (DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm", "instance.json", "pki/ca.key",
                     "pki/server.key"):
            assert _mode(run.data_dir / name) == 0o600, name
        assert _mode(tmp_path / "certs" / "lamp.key") == 0o600
    finally:
        for made in clients:
            made.close()
        instance.stop()

    assert '"reason_code": "bad-password"' in run.outputs["log (stdout)"]  # the log was read: guesses are in it
    assert _leaks(while_running) == []
    [row] = _rows_holding(run.data_dir / DB_FILENAME, HMAC_SECRET)
    assert row.startswith('INSERT INTO "token_issuers"')
    assert _leaks(_data_files(run.data_dir)) == []
    assert _leaks({"broker.log": debug_log.read_bytes()}) == []
    assert "lamp-1" in debug_log.read_text()  # the DEBUG log was written, and about these clients
    assert _leaks({name: (tmp_path / name).read_bytes() for name in ("ca.crt", "ca.crl")}) == []
    assert _leaks({label: text.encode() for label, text in run.outputs.items()}) == []
    assert _leaks({"certs/lamp.key": (tmp_path / "certs" / "lamp.key").read_bytes(),
                   "certs/lamp.p12": (tmp_path / "certs" / "lamp.p12").read_bytes(),
                   "certs/lamp.crt": (tmp_path / "certs" / "lamp.crt").read_bytes()}) == []
    token_forms = (token.encode(), token.split(".")[2].encode())  # the whole token, and its signature alone
    everything = {**_data_files(run.data_dir), "broker.log": debug_log.read_bytes(),
                  **{label: text.encode() for label, text in run.outputs.items()}}
    holding = [name for name, data in everything.items() if any(form in data for form in token_forms)]
    assert holding == [], _rows_holding(run.data_dir / DB_FILENAME, token)
