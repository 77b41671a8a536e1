"""How a message payload reads in the topic monitor: JSON pretty-printed, text as text, anything else as hex.

MQTT payloads are bytes with no declared type, so the monitor guesses the way a person would: valid UTF-8 without
control characters is text, text that parses as a JSON object or array is JSON, the rest is binary. The monitor
keeps at most `MAX_PAYLOAD` bytes of a payload; a cut-off multi-byte character at the end is not taken for binary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_PAYLOAD = 64 * 1024  # bytes kept per topic
PREVIEW_CHARS = 120
HEX_DUMP_BYTES = 4096  # a hex dump longer than this helps nobody on screen
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


@dataclass(frozen=True, slots=True)
class PayloadView:
    kind: str  # empty | JSON | text | binary
    text: str  # for the details pane (may be many lines)
    preview: str  # one line for the tree


def _as_text(payload: bytes, truncated: bool) -> str | None:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not truncated or exc.start < len(payload) - 3:
            return None
        text = payload[:exc.start].decode("utf-8")
    if any(ch < " " and ch not in _ALLOWED_CONTROLS for ch in text) or "\x7f" in text:
        return None
    return text


def _hex_dump(payload: bytes) -> str:
    lines = []
    for offset in range(0, min(len(payload), HEX_DUMP_BYTES), 16):
        chunk = payload[offset:offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        ascii_part = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  |{ascii_part}|")
    if len(payload) > HEX_DUMP_BYTES:
        lines.append(f"… {len(payload) - HEX_DUMP_BYTES} more bytes not shown")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[:PREVIEW_CHARS - 1] + "…"


def format_payload(payload: bytes, size: int | None = None) -> PayloadView:
    """`size` is the payload's real length when `payload` holds only its first bytes."""
    size = len(payload) if size is None else size
    truncated = size > len(payload)
    if not payload:
        return PayloadView("empty", "(empty payload)", "(empty)")
    text = _as_text(payload, truncated)
    if text is None:
        preview = "0x" + payload[:24].hex() + ("…" if len(payload) > 24 else "") + f" ({size} bytes)"
        return PayloadView("binary", _hex_dump(payload), preview)
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and not truncated:
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            compact = json.dumps(parsed, ensure_ascii=False, separators=(", ", ": "))
            return PayloadView("JSON", json.dumps(parsed, ensure_ascii=False, indent=2), _one_line(compact))
    return PayloadView("text", text, _one_line(text) or "(whitespace)")


def describe_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes" if size != 1 else "1 byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"
