"""`ban list|add|remove`: addresses, usernames and clientIds refused before any credential is looked at.

The login guard bans an address that keeps guessing passwords and a clientId that keeps reconnecting (flapping);
an administrator bans and unbans by hand. With an instance running, the commands go through it (a new ban
disconnects the sessions it names at once; a lifted one also forgets the failed logins that led to it); without
one, they change the store, which the next instance reads.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from mqttdesk.cli_output import iso, print_json, print_table, short_time
from mqttdesk.commands.common import CLI_ACTOR, Context, Subparsers
from mqttdesk.commands.tokens import parse_duration
from mqttdesk.control import client as control
from mqttdesk.core.bans import Ban, BanKind, ban_value


def register(sub: Subparsers) -> None:
    ban = sub.add_parser("ban", help="bans: addresses, usernames and clientIds refused at CONNECT").add_subparsers(
        dest="verb", required=True)
    ban.add_parser("list", help="the bans in force, newest first").add_argument("--json", action="store_true")
    add = ban.add_parser("add", help="ban an address (or IPv6 /64), a username or a clientId; its sessions are "
                         "disconnected")
    remove = ban.add_parser("remove", help="lift a ban")
    for parser in (add, remove):
        parser.add_argument("value", metavar="WHO", help="an IP address (default), or a username / clientId")
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--username", dest="kind", action="store_const", const=BanKind.USERNAME,
                          help="WHO is a username")
        kind.add_argument("--client-id", dest="kind", action="store_const", const=BanKind.CLIENT_ID,
                          help="WHO is a clientId")
        parser.set_defaults(kind=BanKind.ADDRESS)
    add.add_argument("--for", dest="duration", metavar="DURATION",
                     help="how long (e.g. 90s, 15m, 1h, 7d; default: until removed)")
    add.add_argument("--reason", default="", help="why, in words (shown to the client and in the Auth log)")
    for parser in ban.choices.values():
        parser.set_defaults(handler=ban_command)


def ban_json(ban: Ban) -> dict[str, Any]:
    return {"kind": ban.kind.value, "value": ban.value, "reason": ban.reason, "since": iso(ban.since),
            "until": iso(ban.until), "by": ban.actor, "sentence": ban.sentence(time.time())}


def ban_command(args: argparse.Namespace, context: Context) -> int:
    if args.verb == "list":
        return _list(args, context)
    kind: BanKind = args.kind
    value = ban_value(kind, args.value)
    if args.verb == "remove":
        try:
            ban = Ban.from_wire(control.request(context.data_dir, "ban_remove", kind=kind.value, value=value))
        except control.NoInstanceError:
            ban = context.store.bans.remove(kind, value)
        print(f"lifted the ban of {ban.who()} ({ban.reason})")
        return 0
    seconds = None if args.duration is None else parse_duration(args.duration)
    try:
        answer = control.request(context.data_dir, "ban_add", kind=kind.value, value=value, seconds=seconds,
                                 reason=args.reason)
        ban, ending = Ban.from_wire(answer["ban"]), list(answer["disconnected"])
    except control.NoInstanceError:
        now = time.time()
        ban = context.store.bans.add(Ban(kind, value, args.reason.strip() or "by an administrator", now,
                                         None if seconds is None else now + seconds, actor=CLI_ACTOR))
        ending = []
    print(f"banned {ban.who()} {ban.until_words(time.time())}" +
          (f"; disconnected {', '.join(ending)}" if ending else ""))
    return 0


def _list(args: argparse.Namespace, context: Context) -> int:
    try:
        bans = [Ban.from_wire(data) for data in control.request(context.data_dir, "bans")]
    except control.NoInstanceError:
        bans = context.store.bans.list()
    if args.json:
        print_json([ban_json(ban) for ban in bans])
    elif not bans:
        print("no bans")
    else:
        print_table(("kind", "who", "until", "by", "why"), [
            (ban.kind.value, ban.value, "until removed" if ban.until is None else short_time(ban.until), ban.actor,
             ban.reason) for ban in bans])
    return 0
