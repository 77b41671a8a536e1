"""`anonymous on|off|status`: clients without credentials."""

from __future__ import annotations

import argparse

from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.control import client as control
from mqttdesk.core.errors import ValidationError


def register(sub: Subparsers) -> None:
    anonymous = sub.add_parser("anonymous", help="allow or refuse clients without credentials")
    anonymous.add_argument("mode", choices=("on", "off", "status"))
    anonymous.add_argument("--role", action="append",
                           help="role(s) anonymous clients get (default: the roles given before; none: all topics)")
    anonymous.set_defaults(handler=anonymous_command)


def anonymous_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.store.settings
    if args.role and args.mode != "on":
        raise ValidationError("--role goes with 'anonymous on' (the roles anonymous clients get)")
    if args.mode == "off":
        # through the running instance when there is one, so it can say how many sessions it terminated
        try:
            terminated = int(control.request(context.data_dir, "require_authentication"))
        except control.NoInstanceError:
            settings.set_anonymous(False)
            terminated = 0
        print("anonymous access: off (authentication required); "
              f"{terminated} anonymous session{'s' if terminated != 1 else ''} terminated")
        return 0
    if args.mode == "on":
        settings.set_anonymous(True, tuple(args.role) if args.role else None)
    print("anonymous access: " + settings.anonymous().describe())
    return 0
