"""Bad input on the command line changes nothing: one table of cases, each refused with one clear line on stderr,
exit status 1 (2 for a usage error, after argparse's usage line), no traceback, and the store and the files around
it exactly as they were (a dump of every table, and every file with its bytes, before and after).

The CLI runs in this process (tests/cli_in_process.py); the cases a subprocess sees differently — a port another
program holds, the locale's stdin — run as real subprocesses at the end.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mqttdesk.pki.ca import create_ca
from mqttdesk.store.db import DB_FILENAME, Store
from tests.cli_in_process import CliResult, run_cli_in_process
from tests.support import fast_hash

LONG = "n" * 10_000


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int = 1
    says: str = ""  # part of the one error line
    stdin: bytes = b""
    ca: bool = False  # the store has mqttdesk's CA
    files: dict[str, bytes] = field(default_factory=dict)  # written next to the data dir first ({dir} in args)
    data_dir: str | None = "data"  # relative to the case's directory; None: no --data-dir


def _csr(key_size: int = 1024, cn: str = "lamp") -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def _ec_public_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


GARBAGE_PEM = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
TRUNCATED_PEM = GARBAGE_PEM[:40]
JWK_JSON = json.dumps({"kty": "EC", "crv": "P-256", "x": "abc", "y": "def"}).encode()
BROKEN_JSON = b'{"kty": "RSA", "n": '
NOT_UTF8 = b"\xff\xfe\xfa not text \x80\n"
SMALL_CSR = _csr(1024)  # RSA under 2048 bits: refused
STRANGER_CSR = _csr(2048, cn="nobody")  # a CN that is no user
LAMP_CSR = _csr(2048)
CA_PEM = create_ca("other CA").certificate.public_bytes(serialization.Encoding.PEM)

CASES = [
    # names: empty, blank, padded, too long, control characters, duplicates
    Case("user-empty-name", ("user", "add", "", "--password-stdin"), says="must not be empty", stdin=b"pw\n"),
    Case("user-blank-name", ("user", "add", "   "), says="must not be empty"),
    Case("user-padded-name", ("user", "add", " lamp2"), says="must not start or end with spaces"),
    Case("user-10000-chars", ("user", "add", LONG), says="at most 256 characters"),
    Case("user-newline", ("user", "add", "a\nb"), says="control characters"),
    Case("user-tab", ("user", "add", "a\tb"), says="control characters"),
    Case("user-duplicate", ("user", "add", "lamp", "--password-stdin"), says="already exists", stdin=b"pw\n"),
    Case("user-unknown-role", ("user", "add", "newbie", "--role", "nosuch", "--password-stdin"),
         says="no role named 'nosuch'", stdin=b"pw\n"),
    Case("user-roles-unknown", ("user", "roles", "lamp", "--role", "nosuch"), says="nosuch"),
    Case("user-unknown", ("user", "suspend", "ghost"), says="ghost"),
    Case("user-bad-auth-word", ("user", "auth", "lamp", "telepathy"), code=2, says="invalid choice"),
    Case("user-reserve-empty", ("user", "reserve", "lamp", ""), says="must not be empty"),
    Case("role-empty-name", ("role", "add", ""), says="must not be empty"),
    Case("role-10000-chars", ("role", "add", LONG), says="at most 256 characters"),
    Case("role-newline", ("role", "add", "ops\nadmin"), says="control characters"),
    Case("role-duplicate", ("role", "add", "lamps"), says="already exists"),
    Case("bootstrap-empty-name", ("bootstrap", "add", ""), says="must not be empty"),
    Case("bootstrap-duplicate", ("bootstrap", "add", "plugs", "--password-stdin"), says="already exists",
         stdin=b"pw\n"),
    Case("bootstrap-newline", ("bootstrap", "add", "plu\r\ngs"), says="control characters"),
    Case("bootstrap-trailing-newline", ("bootstrap", "add", "plugs\n"), says="must not start or end with spaces"),
    Case("user-not-utf8-argument", ("user", "add", "a\udcffb"), says="not valid UTF-8"),
    Case("device-unknown", ("device", "label", "DVES_0000", "kitchen"), says="DVES_0000"),
    # topic filters and permissions
    Case("filter-hash-in-middle", ("role", "allow", "lamps", "a/#/b", "read"), says="'#'"),
    Case("filter-plus-in-level", ("role", "allow", "lamps", "+x", "read"), says="'+'"),
    Case("filter-hash-in-level", ("role", "deny", "lamps", "a/b#", "write"), says="'#'"),
    Case("filter-empty", ("role", "allow", "lamps", "", "read"), says="empty"),
    Case("filter-pattern-in-level", ("role", "allow", "lamps", "dev-%c/#", "read"), says="whole level"),
    Case("filter-unknown-pattern", ("role", "allow", "lamps", "a/%x", "read"), says="whole level"),
    Case("filter-over-65535-bytes", ("role", "allow", "lamps", "a/" + "é" * 40_000, "read"),
         says="longer than 65535 bytes"),
    Case("filter-10000-chars-hash-inside", ("role", "allow", "lamps", LONG + "#/x", "read"), says="'#' must be"),
    Case("filter-10000-chars-pattern", ("role", "allow", "lamps", LONG + "/%cx", "read"), says="whole level"),
    Case("permission-invalid", ("role", "allow", "lamps", "a/#", "rwx"), code=2, says="invalid choice"),
    Case("permission-empty", ("role", "deny", "lamps", "a/#", ""), code=2, says="invalid choice"),
    Case("role-rule-unknown-role", ("role", "allow", "ghosts", "a/#", "read"), says="ghosts"),
    # ports and addresses
    Case("port-negative", ("config", "set", "listen.port", "-1"), says="between 0 and 65535"),
    Case("port-huge", ("config", "set", "listen.port", "9" * 30), says="between 0 and 65535"),
    Case("port-70000", ("config", "set", "listen.tls_port", "70000"), says="between 0 and 65535"),
    Case("port-word", ("config", "set", "listen.ws_port", "abc"), says="whole number"),
    Case("serve-port-70000", ("serve", "--port", "70000"), says="between 0 and 65535"),
    Case("serve-port-negative", ("serve", "--port", "-1"), says="between 0 and 65535"),
    Case("serve-port-word", ("serve", "--port", "abc"), code=2, says="invalid int value"),
    Case("host-not-an-address", ("config", "set", "listen.host", "my laptop"), says="not an IP address"),
    Case("limit-word", ("config", "set", "max_connections", "lots"), says="whole number"),
    Case("limit-negative", ("config", "set", "max_retained_bytes", "-1"), says="between 0 (no limit)"),
    Case("switch-word", ("config", "set", "listen.tls", "maybe"), says="on or off"),
    # the data directory
    Case("data-dir-is-a-file", ("user", "list"), says="not a directory", data_dir="afile",
         files={"afile": b"I am a file"}),
    Case("data-dir-unwritable", ("user", "list"), says="/sys/", data_dir="/sys/mqttdesk-test-data"),
    Case("data-dir-empty", ("--data-dir", "", "user", "list"), code=2, says="must not be empty", data_dir=None),
    # secrets on stdin
    Case("password-not-utf8", ("user", "add", "newbie", "--password-stdin"), says="not valid UTF-8",
         stdin=NOT_UTF8),
    Case("password-empty", ("user", "add", "newbie", "--password-stdin"), says="empty", stdin=b"\n"),
    Case("password-nothing", ("user", "passwd", "lamp", "--password-stdin"), says="empty"),
    Case("passwd-not-utf8", ("user", "passwd", "lamp", "--password-stdin"), says="not valid UTF-8", stdin=NOT_UTF8),
    Case("secret-not-utf8", ("token", "issuer", "add", "iot", "--secret-stdin"), says="not valid UTF-8",
         stdin=NOT_UTF8),
    Case("secret-too-short", ("token", "issuer", "add", "iot", "--secret-stdin"), says="32 bytes", stdin=b"short\n"),
    Case("passphrase-not-utf8", ("ca", "init", "--passphrase-stdin"), says="not valid UTF-8", stdin=NOT_UTF8),
    Case("passphrase-empty", ("ca", "init", "--passphrase-stdin"), says="empty", stdin=b"\n"),
    # files for the import and certificate commands
    Case("trust-garbage-pem", ("trust", "add", "{dir}/bad.pem", "--name", "other"),
         says="bad.pem: the CA certificate cannot be read: its contents are damaged",
         files={"bad.pem": GARBAGE_PEM}),
    Case("trust-truncated-pem", ("trust", "add", "{dir}/cut.pem", "--name", "other"),
         says="cut.pem must hold exactly one CA certificate (0 found)",
         files={"cut.pem": TRUNCATED_PEM}),
    Case("trust-not-utf8", ("trust", "add", "{dir}/bin.pem", "--name", "other"), says="bin.pem",
         files={"bin.pem": NOT_UTF8}),
    Case("trust-missing-file", ("trust", "add", "{dir}/none.pem", "--name", "other"), says="does not exist"),
    Case("trust-a-directory", ("trust", "add", "{dir}", "--name", "other"), says="is a directory"),
    Case("trust-name-newline", ("trust", "add", "{dir}/ca.pem", "--name", "a\nb"), says="control characters",
         files={"ca.pem": CA_PEM}),
    Case("ca-import-garbage", ("ca", "import", "--cert", "{dir}/bad.pem", "--key", "{dir}/bad.key"),
         says="bad.pem cannot be read: its contents are damaged",
         files={"bad.pem": GARBAGE_PEM, "bad.key": b"-----BEGIN PRIVATE KEY-----\nAAAA\n"}),
    Case("ca-import-json-key", ("ca", "import", "--cert", "{dir}/ca.pem", "--key", "{dir}/key.json"),
         says="key", files={"ca.pem": CA_PEM, "key.json": JWK_JSON}),
    Case("ca-import-wrong-key", ("ca", "import", "--cert", "{dir}/ca.pem", "--key", "{dir}/other.pem"),
         says="key", files={"ca.pem": CA_PEM, "other.pem": _ec_public_pem()}),
    Case("ca-init-twice", ("ca", "init"), says="has a CA already", ca=True),
    Case("ca-init-bad-days", ("ca", "init", "--days", "0"), says="days"),
    Case("cert-sign-garbage-csr", ("cert", "sign", "{dir}/bad.csr", "--out", "{dir}/out.crt"),
         says="bad.csr: this is not a certificate signing request (CSR): it holds no PEM block",
         ca=True, files={"bad.csr": GARBAGE_PEM}),
    Case("cert-sign-json", ("cert", "sign", "{dir}/req.json", "--out", "{dir}/out.crt"), says="req.json",
         ca=True, files={"req.json": BROKEN_JSON}),
    Case("cert-sign-small-rsa", ("cert", "sign", "{dir}/small.csr", "--out", "{dir}/out.crt"), says="2048",
         ca=True, files={"small.csr": SMALL_CSR}),
    Case("cert-sign-unknown-cn", ("cert", "sign", "{dir}/nobody.csr", "--out", "{dir}/out.crt"), says="nobody",
         ca=True, files={"nobody.csr": STRANGER_CSR}),
    Case("cert-sign-without-ca", ("cert", "sign", "{dir}/lamp.csr", "--out", "{dir}/out.crt"), says="CA",
         files={"lamp.csr": LAMP_CSR}),
    Case("cert-sign-der-garbage", ("cert", "sign", "{dir}/bin.csr", "--out", "{dir}/out.crt"),
         says="its contents are damaged", ca=True, files={"bin.csr": NOT_UTF8}),
    Case("cert-issue-unknown-user", ("cert", "issue", "ghost", "--out", "{dir}/certs"), says="ghost", ca=True),
    Case("cert-issue-bad-days", ("cert", "issue", "lamp", "--out", "{dir}/certs", "--days", "-3"), says="days",
         ca=True),
    Case("cert-revoke-not-hex", ("cert", "revoke", "xyz"), says="xyz", ca=True),
    Case("token-key-json", ("token", "issuer", "add", "iot", "--public-key", "{dir}/key.json"), says="key",
         files={"key.json": JWK_JSON}),
    Case("token-key-not-utf8", ("token", "issuer", "add", "iot", "--public-key", "{dir}/key.bin"),
         says="key.bin", files={"key.bin": NOT_UTF8}),
    Case("token-key-broken-json", ("token", "issuer", "add", "iot", "--public-key", "{dir}/key.json"), says="key",
         files={"key.json": BROKEN_JSON}),
    Case("token-name-newline", ("token", "issuer", "add", "a\nb", "--secret-stdin"), says="control characters",
         stdin=b"x" * 40 + b"\n"),
    Case("external-bad-url", ("external", "set", "--url", "ftp://auth.example"), says="http"),
    Case("external-bad-header", ("external", "set", "--url", "http://auth.example", "--header", "no colon"),
         says="header"),
    Case("log-limit-word", ("log", "--limit", "many"), code=2, says="invalid int value"),
    Case("unknown-command", ("frobnicate",), code=2, says="invalid choice"),
]


def _prepare(case: Case, root: Path) -> Path | None:
    for name, data in case.files.items():
        (root / name).write_bytes(data)
    if case.data_dir is None:
        return None
    data_dir = Path(case.data_dir) if case.data_dir.startswith("/") else root / case.data_dir
    if case.data_dir != "data":
        return data_dir
    store = Store.open(data_dir)
    try:
        store.roles.add("lamps")
        store.users.add("lamp", fast_hash("pw"), ("lamps",))
        store.bootstraps.add("plugs", fast_hash("pw"))
        if case.ca:
            store.pki.install(create_ca())
    finally:
        store.close()
    return data_dir


def _snapshot(root: Path) -> tuple[list[str], dict[str, str]]:
    """Every row of every table of the store, and every other file with a digest of its bytes."""
    rows: list[str] = []
    database = root / "data" / DB_FILENAME
    if database.exists():
        connection = sqlite3.connect(database)
        try:
            rows = list(connection.iterdump())
        finally:
            connection.close()
    files = {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
             for path in sorted(root.rglob("*")) if path.is_file() and not path.name.startswith(DB_FILENAME)}
    return rows, files


def _assert_refused(result: CliResult, case: Case) -> None:
    assert result.returncode == case.code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    if case.code == 2:  # argparse: its usage line, then the error
        assert lines[-1].startswith("mqttdesk"), result.stderr
        assert ": error: " in lines[-1], result.stderr
        assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), result.stderr
    else:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("mqttdesk: error: "), result.stderr
    assert case.says in lines[-1], lines[-1]
    assert len(lines[-1]) < 600, "one clear line, not a dump of the input"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_with_one_line_and_changes_nothing(case: Case, tmp_path: Path) -> None:
    data_dir = _prepare(case, tmp_path)
    before = _snapshot(tmp_path)
    args = tuple(arg.replace("{dir}", str(tmp_path)) for arg in case.args)
    result = run_cli_in_process(data_dir, *args, stdin=case.stdin)
    _assert_refused(result, case)
    assert _snapshot(tmp_path) == before


def test_the_table_is_as_large_as_promised() -> None:
    """At least 40 cases of CLI input (and the GUI's in tests/gui/test_bad_input_gui.py), each id once."""
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


# -- as real subprocesses: what only a separate process shows --------------------------------------------------


def _subprocess(data_dir: Path, *args: str, stdin: bytes = b"") -> CliResult:
    done = subprocess.run([sys.executable, "-m", "mqttdesk", "--data-dir", str(data_dir), *args], input=stdin,
                          capture_output=True, timeout=60, check=False)
    return CliResult(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def test_serve_on_a_port_in_use_says_so_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _subprocess(tmp_path / "data", "serve", "--port", str(port))
    _assert_refused(result, Case("port-in-use", (), says=f"port {port} on 127.0.0.1 is already in use"))


@pytest.mark.parametrize(("args", "stdin", "says"), [
    (("user", "add", "newbie", "--password-stdin"), NOT_UTF8, "not valid UTF-8"),
    (("role", "allow", "lamps", "a/#/b", "read"), b"", "'#'"),
])
def test_a_real_process_refuses_the_same_way(args: tuple[str, ...], stdin: bytes, says: str,
                                             tmp_path: Path) -> None:
    case = Case("subprocess", args, says=says, stdin=stdin)
    data_dir = _prepare(case, tmp_path)
    assert data_dir is not None
    before = _snapshot(tmp_path)
    _assert_refused(_subprocess(data_dir, *args, stdin=stdin), case)
    assert _snapshot(tmp_path) == before
