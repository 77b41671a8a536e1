"""The CLI side of the control channel (blocking: the CLI has no event loop)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from mqttdesk.control.protocol import MAX_LINE, decode, encode, instance_file
from mqttdesk.core.errors import MqttdeskError

TIMEOUT = 10.0


class NoInstanceError(MqttdeskError):
    pass


def request(data_dir: Path, command: str, **args: Any) -> Any:
    """Send one command to the running instance of `data_dir`; return its result or raise `MqttdeskError`."""
    path = instance_file(data_dir)
    try:
        info = json.loads(path.read_text())
        address = (str(info["host"]), int(info["port"]))
        token = str(info["token"])
    except (OSError, ValueError, KeyError):
        raise NoInstanceError(f"no running mqttdesk instance for {data_dir} (start one with: mqttdesk serve)") from None
    try:
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            sock.sendall(encode({"token": token, "command": command, "args": args}))
            buffer = b""
            while not buffer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > MAX_LINE * 64:
                    raise MqttdeskError("the running instance sent an oversized answer")
    except OSError:
        raise NoInstanceError(
            f"no running mqttdesk instance for {data_dir} (stale {path.name}; start one with: mqttdesk serve)"
        ) from None
    try:
        answer = decode(buffer)
    except ValueError:
        raise MqttdeskError("the running instance sent an unreadable answer") from None
    if not answer.get("ok"):
        raise MqttdeskError(f"the running instance refused: {answer.get('error', 'unknown error')}")
    return answer.get("result")
