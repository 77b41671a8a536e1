"""How the CLI prints: aligned text tables for people, JSON arrays with stable keys for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from mqttdesk.core.model import Bootstrap, Device, Role, User
from mqttdesk.store.auth_log_repo import AuthLogEntry


def iso(timestamp: float | None) -> str | None:
    """Local time, ISO 8601 with offset, to the second (what JSON consumers get for every time field)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def short_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def print_json(data: Any, out: TextIO | None = None) -> None:
    # sys.stdout looked up now, not when the module was imported: it may have been replaced since (redirected)
    out = out or sys.stdout
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    out.write("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "state": user.state.value,
        "roles": list(user.roles),
        "created": iso(user.created),
        "state_since": iso(user.state_since),
        "last_used": iso(user.last_used),
        "reserved_client_ids": list(user.reserved_client_ids),
        "auth": user.auth.value,
        "certificate_ca": user.certificate_ca,
    }


def role_json(role: Role, members: list[str]) -> dict[str, Any]:
    return {
        "name": role.name,
        "rules": [
            {"topic_filter": r.topic_filter, "permission": r.permission.value, "effect": r.effect.value}
            for r in role.rules
        ],
        "users": members,
    }


def client_json(session: dict[str, Any]) -> dict[str, Any]:
    return {**session, "connected_since": iso(session.get("connected_since")),
            "offline_since": iso(session.get("offline_since")), "expires_at": iso(session.get("expires_at"))}


def log_json(entry: AuthLogEntry) -> dict[str, Any]:
    return {**entry.to_json(), "time": iso(entry.time), "first_time": iso(entry.started)}


def bootstrap_json(bootstrap: Bootstrap, devices: int) -> dict[str, Any]:
    return {
        "name": bootstrap.name,
        "state": bootstrap.state.value,
        "register_devices": bootstrap.register_devices,
        "roles": list(bootstrap.roles),
        "devices": devices,
        "created": iso(bootstrap.created),
        "state_since": iso(bootstrap.state_since),
        "last_used": iso(bootstrap.last_used),
    }


def device_json(device: Device, connected: bool) -> dict[str, Any]:
    return {
        "client_id": device.client_id,
        "label": device.label,
        "bootstrap": device.bootstrap,
        "username": device.username,
        "state": device.state.value,
        "roles": list(device.roles),
        "registered": iso(device.created),
        "state_since": iso(device.state_since),
        "last_seen": iso(device.last_used),
        "last_address": device.last_address,
        "connected": connected,
    }
