"""The control protocol: one JSON object per line each way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INSTANCE_FILE = "instance.json"
MAX_LINE = 1 << 20


def instance_file(data_dir: Path) -> Path:
    return data_dir / INSTANCE_FILE


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a control message must be a JSON object")
    return message
