"""`external set|show|flush`: the external HTTP auth/ACL service (see core/external.py)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from mqttdesk.cli_output import print_json
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.core.external import parse_header


def register(sub: Subparsers) -> None:
    external = sub.add_parser("external", help="the external HTTP auth/ACL service").add_subparsers(
        dest="verb", required=True)
    change = external.add_parser("set", help="change its settings (only those given)")
    change.add_argument("--url", help="base URL, http:// or https:// (certificates are verified); empty clears")
    change.add_argument("--user-route", help="path of the user check (default /mqttAuthentication/userGet)")
    change.add_argument("--acl-route", help="path of the ACL check (default /mqttAuthentication/aclCheck)")
    change.add_argument("--timeout", type=float, help="seconds to wait for an answer (default 5)")
    change.add_argument("--cache-seconds", type=int, help="how long answers are kept, allow and deny (default 30)")
    change.add_argument("--header", action="append", metavar="'Name: value'",
                        help="an extra request header, e.g. an API key (repeatable; replaces those set before)")
    switch = change.add_mutually_exclusive_group()
    switch.add_argument("--on", dest="enabled", action="store_const", const=True, help="ask the service")
    switch.add_argument("--off", dest="enabled", action="store_const", const=False, help="stop asking it")
    external.add_parser("show", help="its settings (headers masked)").add_argument("--json", action="store_true")
    external.add_parser("flush", help="forget every cached answer now (the running instance's too)")
    for parser in external.choices.values():
        parser.set_defaults(handler=external_command)


def external_command(args: argparse.Namespace, context: Context) -> int:
    settings_repo = context.store.settings
    current = settings_repo.external()
    if args.verb == "flush":
        settings_repo.flush_external()
        print("external HTTP service: cached answers forgotten")
        return 0
    if args.verb == "set":
        changed = replace(
            current,
            url=current.url if args.url is None else args.url.strip(),
            user_route=current.user_route if args.user_route is None else args.user_route,
            acl_route=current.acl_route if args.acl_route is None else args.acl_route,
            timeout=current.timeout if args.timeout is None else args.timeout,
            cache_seconds=current.cache_seconds if args.cache_seconds is None else args.cache_seconds,
            headers=current.headers if args.header is None else tuple(parse_header(h) for h in args.header),
            enabled=current.enabled if args.enabled is None else args.enabled)
        settings_repo.set_external(changed)
        current = changed
    if getattr(args, "json", False):
        print_json(current.to_json())
        return 0
    print(f"external HTTP service: {'on' if current.enabled else 'off'}\n"
          f"url            {current.url or '(not set)'}\n"
          f"user route     {current.user_route}\nacl route      {current.acl_route}\n"
          f"timeout        {current.timeout:g} s\ncache          {current.cache_seconds} s\n"
          f"headers        {', '.join(current.masked_headers()) or '(none)'}")
    return 0
