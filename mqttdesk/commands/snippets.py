"""`snippet NAME --format ...`: what to paste into a device or a tool to connect with a credential; `role tasmota`
(in `roles.py`) makes the role such a device needs."""

from __future__ import annotations

import argparse
import sys

from mqttdesk.cli_output import print_json
from mqttdesk.commands.common import Context, Subparsers, read_stdin_secret
from mqttdesk.core.snippets import SnippetFormat, render, render_all
from mqttdesk.store.onboarding import KINDS, credential_for, endpoint_for, reachability

FORMATS = tuple(f.value for f in SnippetFormat)


def register(sub: Subparsers) -> None:
    snippet = sub.add_parser("snippet", help="connection settings to paste into a device or a tool")
    snippet.add_argument("name", help="a user, bootstrap credential, device (clientId) or token issuer")
    snippet.add_argument("--format", choices=(*FORMATS, "all"), default="all",
                         help="tasmota, esphome, mosquitto, paho, homeassistant, mqttx, or all (default)")
    snippet.add_argument("--kind", choices=KINDS, help="which kind NAME is, when several have it")
    snippet.add_argument("--host", help="the address devices reach this machine at (default: the listen address)")
    snippet.add_argument("--tls", action="store_true", help="connect over the TLS listener (with Tasmota's "
                         "fingerprint)")
    snippet.add_argument("--topic", help="the device's Tasmota topic / ESPHome topic prefix")
    snippet.add_argument("--password-stdin", action="store_true",
                         help="include this password (read from standard input); stored ones are hashes only")
    snippet.add_argument("--json", action="store_true")
    snippet.set_defaults(handler=snippet_command)


def snippet_command(args: argparse.Namespace, context: Context) -> int:
    store = context.store
    password = read_stdin_secret("password") if args.password_stdin else None
    credential = credential_for(store, args.name, kind=args.kind, password=password, topic=args.topic)
    endpoint = endpoint_for(store, args.host, tls=True if args.tls else None)
    snippets = render_all(endpoint, credential) if args.format == "all" else [
        render(SnippetFormat(args.format), endpoint, credential)]
    warning = None if args.host else reachability(store).warning
    if args.json:
        print_json([{"format": s.format.value, "title": s.title, "text": s.text, "notes": list(s.notes)}
                    for s in snippets])
    elif len(snippets) == 1:
        print(snippets[0].text)
        for note in snippets[0].notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        for each in snippets:
            print(f"# {each.title}\n{each.text}")
            for note in each.notes:
                print(f"#   note: {note}")
            print()
    if warning:
        print(f"mqttdesk: warning: {warning}", file=sys.stderr)
    return 0
