"""What to say when a PEM or DER file cannot be parsed: the cryptography library's messages come from its Rust
parser ("error parsing asn1 value: ParseError { kind: ShortData { needed: 96 } }") and mean nothing to a person."""

from __future__ import annotations

from mqttdesk.core.clip import clip

DAMAGED = "its contents are damaged or of another kind (not valid DER inside the PEM block)"


def parse_problem(exc: Exception) -> str:
    """A sentence for a parse failure: the library's own words when they are words, else `DAMAGED`."""
    text = str(exc)
    if not text or "asn1" in text.lower() or "ParseError" in text or "{" in text:
        return DAMAGED
    return clip(text.splitlines()[0], 160)
