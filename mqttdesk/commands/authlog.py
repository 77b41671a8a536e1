"""`log`: the Auth log, newest last."""

from __future__ import annotations

import argparse

from mqttdesk.cli_output import log_json, print_json, print_table, short_time
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.core.errors import ValidationError
from mqttdesk.store.auth_log_repo import SESSION_END_KINDS, AuthLogEntry


def register(sub: Subparsers) -> None:
    log = sub.add_parser("log", help="the Auth log, newest last")
    log.add_argument("--json", action="store_true")
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(handler=log_command)


def log_command(args: argparse.Namespace, context: Context) -> int:
    if args.limit < 1:
        raise ValidationError("--limit must be at least 1")
    entries = context.store.auth_log.recent(args.limit)
    if args.json:
        print_json([log_json(e) for e in entries])
    elif not entries:
        print("the Auth log is empty: no client has connected yet")
    else:
        print_table(("time", "kind", "result", "client id", "username", "method", "topic", "reason"), [
            (short_time(e.time), e.kind, _result(e), e.client_id, e.username or "-",
             e.method or "-", e.topic or "", e.reason) for e in entries])
    return 0


def _result(entry: AuthLogEntry) -> str:
    """As the window says it: a session end is "ended" or "forced", not "allowed", or "REFUSED" when the client broke
    the protocol; a folded refusal with how often it happened ("REFUSED ×37")."""
    if entry.kind in SESSION_END_KINDS and (entry.allowed or entry.forced_end):
        return "forced" if entry.forced_end else "ended"
    if entry.allowed:
        return "allowed"
    return f"REFUSED ×{entry.count:,}" if entry.count > 1 else "REFUSED"
