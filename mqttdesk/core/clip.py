"""Client-supplied strings cut to a size a person can read and a log can afford, saying what was cut.

MQTT lets a client send a 65,535-character username, clientId or topic. Kept whole in the Auth log, one refused
CONNECT cost ~460 KB (the reason and the steps repeat the values). `clip` keeps the first `CLIP_LENGTH` characters
and appends a marker with the full length, `… (65,535 characters)`, so the value stays recognisable and nobody
mistakes it for the real one. The Auth log applies `clip` and `clip_sentences` once, where an entry is
built from a decision, so no reason or step carries the full string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CLIP_LENGTH = 200  # characters kept of a username, clientId, topic or address
SENTENCE_LENGTH = 1000  # characters kept of a reason or a step, once the values in it are clipped
_MARKER = re.compile(r"… \((\d{1,3}(?:,\d{3})*) characters\)$")


def clip(value: str, limit: int = CLIP_LENGTH) -> str:
    """`value` itself when it has at most `limit` characters, else its start and "… (N characters)"."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


def clip_optional(value: str | None, limit: int = CLIP_LENGTH) -> str | None:
    return None if value is None else clip(value, limit)


def clipped_length(value: str | None) -> int | None:
    """The original length of a value `clip` shortened, or None when it carries no marker."""
    if not value:
        return None
    match = _MARKER.search(value)
    return int(match.group(1).replace(",", "")) if match else None


def clip_sentence(text: str, long_values: Iterable[str]) -> str:
    """A reason or step with each long client value in it replaced by its clipped form, then capped as a whole
    (a will topic or a protocol name can sit in a step without being one of the entry's own fields)."""
    for value in long_values:
        if value in text:
            text = text.replace(value, clip(value))
    return clip(text, SENTENCE_LENGTH)


def clip_sentences(reason: str, steps: tuple[str, ...], values: Iterable[str | None]
                   ) -> tuple[str, tuple[str, ...]]:
    """`clip_sentence` for a reason and its steps; returns them unchanged (no copy) when nothing is long."""
    values = tuple(values)
    if len(reason) <= SENTENCE_LENGTH and _all_short(values, CLIP_LENGTH) and _all_short(steps, SENTENCE_LENGTH):
        return reason, steps  # (every Auth log entry comes this way: no set, no sort, no generator for it)
    long_values = sorted({value for value in values if value and len(value) > CLIP_LENGTH}, key=len, reverse=True)
    return clip_sentence(reason, long_values), tuple(clip_sentence(step, long_values) for step in steps)


def _all_short(texts: Iterable[str | None], limit: int) -> bool:
    for text in texts:  # noqa: SIM110 (a loop, not all() over a generator: twice an entry, on every CONNECT)
        if text is not None and len(text) > limit:
            return False
    return True
