"""Markdown tables for the terminal (and for pasting into a README): figures with ratios, targets, hot spots."""

from __future__ import annotations

from typing import Any

from bench.report.figures import RATIOS, SYSTEMS, Row

LABELS = {"bare_amqtt": "bare amqtt", "mosquitto": "mosquitto", "mqttdesk": "mqttdesk",
          "mqttdesk_gui": "mqttdesk GUI process"}
PROFILE_ROWS = 12


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _cell(row: Row, system: str) -> str:
    note = (row.notes or {}).get(system)
    if row.note_only:
        return note or "–"
    value = _number(row.values.get(system), row.digits)
    if value == "–":
        return note if note == "n/a" else value
    return f"{value} ({note})" if note else value


def figures(rows: list[Row]) -> str:
    header = ["measure", *[LABELS[s] for s in SYSTEMS], *[f"{LABELS[a]}/{LABELS[b]}" for a, b in RATIOS]]
    body = []
    for row in rows:
        ratios = row.ratios()
        body.append([row.label, *[_cell(row, s) for s in SYSTEMS],
                     *[("–" if (r := ratios[f"{a}/{b}"]) is None or row.note_only else f"{r:.2f}×")
                       for a, b in RATIOS]])
    return _markdown(header, body)


def _measured(verdict: dict[str, Any]) -> str:
    value, unit = verdict["value"], verdict["unit"]
    if value is None:
        return "not measured"
    if unit == "yes":
        return "yes" if value >= 1 else "no"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:.3g} {unit}"


def targets(verdicts: list[dict[str, Any]]) -> str:
    body = []
    for v in verdicts:
        unit = v["unit"] if v["unit"] == "×" else " " + v["unit"]
        threshold = f"{v['threshold']:,.0f}" if v["unit"] == "B" else f"{v['threshold']:g}"
        bar = "yes" if v["unit"] == "yes" else f"{v['op']} {threshold}{unit}"
        measured = _measured(v) + (f" ({v['note']})" if v.get("note") else "")
        body.append([v["target"], measured, bar, v["verdict"]])
    return _markdown(["target", "measured", "bar", "verdict"], body)


def _shares(shares: dict[str, float], limit: int = 6) -> str:
    return ", ".join(f"{name} {pct:.0f}%" for name, pct in list(shares.items())[:limit])


def _profile_load(system: str, name: str, load: dict[str, Any]) -> list[str]:
    rate = (load.get("load") or {}).get("rate")
    under = f"; {rate:,.0f}/s under the profiler" if rate else ""
    parts = [f"\n#### {LABELS.get(system, system)} during {name} ({load['samples']} samples of the loop thread, "
             f"{load.get('other_thread_samples', 0)} of others{under})",
             f"CPU burned in (innermost frame): {_shares(load['self_by_layer'])}",
             f"caused by (innermost amqtt/mqttdesk/Qt frame): {_shares(load['owner_by_layer'])}"]
    body = [[f"{r['cumulative_pct']:.1f}", f"{r['self_pct']:.1f}", r["function"], r["where"]]
            for r in load["top"][:PROFILE_ROWS]]
    parts.append(_markdown(["cum %", "self %", "function", "file:line"], body))
    body = [[f"{r['self_pct']:.1f}", r["function"], r["where"]] for r in load["top_self"][:8]]
    parts.append("top self time:\n" + _markdown(["self %", "function", "file:line"], body))
    return parts


def profile(summary: dict[str, Any]) -> str:
    if "skipped" in summary:
        return f"profile skipped: {summary['skipped']}"
    parts = [f"profiler: {summary.get('profiler', '?')}"]
    for system, loads in summary.items():
        if not isinstance(loads, dict):
            continue
        if "error" in loads:
            parts.append(f"{system}: {loads['error']}")
            continue
        for name, load in loads.items():
            if isinstance(load, dict) and "top" in load:
                parts += _profile_load(system, name, load)
    return "\n".join(parts)
