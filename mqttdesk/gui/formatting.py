"""How times, counts and states read in the GUI (local time, minute or second precision)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from mqttdesk.core.states import CredentialState
from mqttdesk.store.history import HistoryEntry


def format_time(timestamp: float | None, *, never: str = "never", seconds: bool = False) -> str:
    if timestamp is None:
        return never
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(timestamp))


def format_duration(seconds: float) -> str:
    """`3 d 4 h`, `2 h 5 min`, `4 min 10 s`, `12 s`: two units are plenty for "how long has this been"."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def state_tooltip(state: CredentialState, since: float, history: Sequence[HistoryEntry]) -> str:
    """"suspended since 2026-11-23 10:02", and who made the last transition: the pill's tooltip in every table."""
    text = f"{state.value} since {format_time(since)}"
    transitions = [entry for entry in history if entry.to_state is not None]
    if transitions:
        last = transitions[-1]
        was = f" (was {last.from_state})" if last.from_state and last.from_state != last.to_state else ""
        text += f"\nlast change: {last.action}{was} by {last.actor}"
    return text


# a reason code as a few words, for places too short for the reason's sentence (the status bar)
REASON_PHRASES: dict[str, str] = {
    "authenticated": "logged in",
    "anonymous-allowed": "anonymous, allowed",
    "unknown-user": "unknown user",
    "bad-password": "wrong password",
    "missing-password": "no password sent",
    "missing-username": "no username sent",
    "suspended": "credential suspended",
    "revoked": "credential revoked",
    "anonymous-refused": "anonymous access is off",
    "client-id-in-use": "clientId already in use",
    "client-id-registered": "clientId belongs to a device",
    "client-id-empty": "empty clientId",
    "bad-protocol": "unsupported protocol",
    "server-busy": "too many password checks waiting",
    "client-gone": "left before its password was checked",
    "too-many-pending": "too many connections waiting",
    "tls-handshake-failed": "TLS handshake failed",
    "bad-auth-method": "authentication method not supported",
    "keepalive-too-long": "keep-alive longer than allowed",
    "acl-allowed": "topic allowed",
    "acl-denied": "topic denied by a rule",
    "acl-no-rule": "no rule allows the topic",
    "bad-topic": "invalid topic",
    "subscription-limit": "too many subscriptions",
    "client-disconnect": "disconnected normally",
    "connection-lost": "connection lost",
    "keepalive-timeout": "keep-alive timeout",
    "kicked": "kicked",
    "credential-changed": "credential changed",
    "taken-over": "taken over by a new connection",
    "protocol-error": "protocol error",
    "reserved-topic": "reserved topic",
    "broker-stopped": "broker stopped",
}


def reason_phrase(code: str) -> str:
    """`acl-no-rule` → "no rule allows the topic"; an unknown (newer) code reads with spaces for hyphens."""
    return REASON_PHRASES.get(code, code.replace("-", " "))
