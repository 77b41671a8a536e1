"""Debian's mosquitto as the reference: found (or installed, as root only), configured in a temporary directory.

The configuration matches the mqttdesk set-up: no anonymous access, the bench user in a `password_file` made with
`mosquitto_passwd`, an `acl_file` giving it readwrite on the bench topics, and the delivery limits raised so QoS 1
is not throttled by mosquitto's defaults (20 in flight, 1000 queued).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.settings import HOST, MAX_INFLIGHT, MAX_QUEUED, PASSWORD, TOPIC_FILTER, USER


@dataclass(frozen=True)
class Mosquitto:
    binary: str
    passwd: str
    version: str


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        if Path(folder, name).exists():
            return str(Path(folder, name))
    return None


def _version(binary: str) -> str:
    try:
        result = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (result.stdout + result.stderr).splitlines():
        if "version" in line:
            return line.strip()
    return "unknown"


def find(say: object = print) -> Mosquitto | None:
    """The installed mosquitto; as root, try `apt-get install -y mosquitto` first when it is absent."""
    binary, passwd = _which("mosquitto"), _which("mosquitto_passwd")
    if (binary is None or passwd is None) and os.geteuid() == 0 and shutil.which("apt-get"):
        say("mosquitto is not installed; running as root, so trying: apt-get install -y mosquitto")  # type: ignore[operator]
        try:
            subprocess.run(["apt-get", "install", "-y", "mosquitto"], capture_output=True, timeout=300, check=False,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (OSError, subprocess.TimeoutExpired) as exc:
            say(f"apt-get failed: {exc}")  # type: ignore[operator]
        binary, passwd = _which("mosquitto"), _which("mosquitto_passwd")
    if binary is None or passwd is None:
        return None
    return Mosquitto(binary, passwd, _version(binary))


def write_config(mosquitto: Mosquitto, folder: Path, port: int) -> Path:
    """mosquitto.conf (+ passwd, acl) in `folder`; returns the path of the configuration file."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # started as root, mosquitto drops to its own user, which must read the files
    passwd = folder / "passwd"
    subprocess.run([mosquitto.passwd, "-b", "-c", str(passwd), USER, PASSWORD], check=True, capture_output=True,
                   timeout=30)
    passwd.chmod(0o644)
    acl = folder / "acl"
    acl.write_text(f"user {USER}\ntopic readwrite {TOPIC_FILTER}\n")
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join([
        f"listener {port} {HOST}",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "persistence false",
        "log_dest stderr",  # into the broker's log file; errors and warnings only, never a line per client
        "log_type error",
        "log_type warning",
        f"max_inflight_messages {MAX_INFLIGHT}",
        f"max_queued_messages {MAX_QUEUED}",
        "",
    ]))
    return conf
