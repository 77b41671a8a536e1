"""How a decision reads in the GUI: the numbered decision path, the outcome line, what the client was told.

The Auth log's details pane and the Test access dialog show the same things the same way, so a person who learned
to read one reads the other. Everything here returns HTML for a rich-text QLabel; every value that came from a
client (usernames, topics, reasons that quote them) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mqttdesk.core.decision import protocol_label
from mqttdesk.core.reasons import CONNACK_MEANING, ReasonCode, connack_code
from mqttdesk.gui.models.auth_log_model import OUTCOME_COLOR, OUTCOME_SYMBOL, Outcome

MUTED = "#5f6670"
_PREFIXES = {"refused: ": Outcome.REFUSED, "accepted: ": Outcome.ALLOWED, "allowed: ": Outcome.ALLOWED}


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def colored(text: str, outcome: Outcome, *, bold: bool = True) -> str:
    weight = "font-weight:600;" if bold else ""
    return f'<span style="color:{OUTCOME_COLOR[outcome]};{weight}">{escape(text)}</span>'


def _step_html(step: str) -> str:
    for prefix, outcome in _PREFIXES.items():
        if step.startswith(prefix):  # the last step says how it ended: the word in colour, the sentence plain
            word = colored(f"{OUTCOME_SYMBOL[outcome]} {prefix.strip(': ')}", outcome)
            return f"{word} — {escape(step[len(prefix):])}"
    text = escape(step)
    text = text.replace("✓", colored("✓", Outcome.ALLOWED)).replace("✗", colored("✗", Outcome.REFUSED))
    return text.replace("→", f'<span style="color:{MUTED};">→</span>')


def path_html(sections: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Numbered steps, one list per section ("CONNECT as 'lamp' ...", "PUBLISH 'x'"), numbering running on."""
    parts: list[str] = []
    number = 1
    for title, steps in sections:
        if title:
            parts.append(f"<p style='margin:6px 0 2px 0;'><b>{escape(title)}</b></p>")
        if steps:
            items = "".join(f"<li style='margin-bottom:3px;'>{_step_html(step)}</li>" for step in steps)
            parts.append(f"<ol start='{number}' style='margin-top:0; margin-bottom:0;'>{items}</ol>")
            number += len(steps)
    return "".join(parts) or f"<i style='color:{MUTED};'>no steps recorded</i>"


def client_answer(kind: str, reason_code: str, allowed: bool, *, dry_run: bool = False) -> str:
    """What the client itself hears, as a sentence: the CONNACK code, the SUBACK failure, or nothing at all."""
    was = "would be" if dry_run else "was"
    if kind == "CONNECT":
        if reason_code == ReasonCode.CLIENT_GONE:
            return "Nothing: the client had already closed the connection."
        if reason_code == ReasonCode.TLS_HANDSHAKE_FAILED:
            return "Nothing: the TLS handshake failed before any MQTT was spoken, so no CONNACK was sent."
        try:
            code = connack_code(ReasonCode(reason_code), allowed)
        except ValueError:
            return ""
        return f"The client {was} told: CONNACK {code} ({CONNACK_MEANING.get(code, '?')})."
    if kind == "SUBSCRIBE" and not allowed:
        return f"The client {was} told: SUBACK 0x80 (failure) for this filter."
    if kind == "PUBLISH" and not allowed:
        return (f"The message {was} dropped without telling the client: MQTT 3.1.1 has no way to refuse a "
                "PUBLISH, so a device only notices that nobody receives it.")
    return ""


def who_html(client_id: str | None, username: str | None, method: str | None, address: str | None,
             protocol: str | None = None) -> str:
    """`client 'x' · username 'lamp' · by password · from 10.0.0.4 · MQTT 5`, each part only when known."""
    parts = [f"client <b>{escape(repr_name(client_id))}</b>"]
    parts.append(f"username <b>{escape(repr_name(username))}</b>" if username else "no username (anonymous)")
    if method:
        parts.append(f"by {escape(method)}")
    if address:
        parts.append(f"from {escape(address)}")
    label = protocol_label(protocol)
    if label:
        parts.append(escape(label))
    return " · ".join(parts)


def repr_name(value: str | None) -> str:
    return f"'{value}'" if value else "—"
