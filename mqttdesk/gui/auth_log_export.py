"""Export of the Auth log view: JSON with exactly the keys of `mqttdesk log --json`, and CSV for spreadsheets.

What is exported is what the view holds (the filtered rows, in the order shown), so a person can hand over
"these refusals" without a script. Passwords are never in an entry, so none can leak here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from mqttdesk.cli_output import iso, log_json
from mqttdesk.store.auth_log_repo import AuthLogEntry

CSV_COLUMNS = ("id", "time", "kind", "allowed", "client_id", "username", "method", "address", "topic",
               "reason_code", "reason", "steps", "count", "first_time", "protocol")
STEP_SEPARATOR = " | "


def write_json(entries: Sequence[AuthLogEntry], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        json.dump([log_json(entry) for entry in entries], out, indent=2, ensure_ascii=False)
        out.write("\n")


def write_csv(entries: Sequence[AuthLogEntry], path: Path) -> None:
    """One row per entry; the decision path in one cell, steps separated by " | "."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            writer.writerow([entry.id, iso(entry.time), entry.kind, "true" if entry.allowed else "false",
                             entry.client_id or "", entry.username or "", entry.method or "", entry.address or "",
                             entry.topic or "", entry.reason_code, entry.reason, STEP_SEPARATOR.join(entry.steps),
                             entry.count, iso(entry.started), entry.protocol or ""])


def write_export(entries: Sequence[AuthLogEntry], path: Path) -> str:
    """Write JSON for a `.json` path, CSV otherwise; returns the format written."""
    if path.suffix.lower() == ".json":
        write_json(entries, path)
        return "JSON"
    write_csv(entries, path)
    return "CSV"
