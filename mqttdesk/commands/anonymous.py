"""`anonymous on|off|status`: clients without credentials."""

from __future__ import annotations

import argparse

from mqttdesk.commands.common import Context, Subparsers


def register(sub: Subparsers) -> None:
    anonymous = sub.add_parser("anonymous", help="allow or refuse clients without credentials")
    anonymous.add_argument("mode", choices=("on", "off", "status"))
    anonymous.add_argument("--role", action="append", help="role(s) anonymous clients get (default: all topics)")
    anonymous.set_defaults(handler=anonymous_command)


def anonymous_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.store.settings
    if args.mode != "status":
        settings.set_anonymous(args.mode == "on", tuple(args.role or ()))
    print("anonymous access: " + settings.anonymous().describe())
    return 0
