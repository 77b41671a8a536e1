"""`session ...`: the sessions of the running instance, including persistent ones kept for clients that are away."""

from __future__ import annotations

import argparse

from mqttdesk.cli_output import client_json, print_json, print_table, short_time
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.control import client as control
from mqttdesk.core.client_ids import describe_owner
from mqttdesk.core.errors import MqttdeskError


def register(sub: Subparsers) -> None:
    session = sub.add_parser("session", help="sessions, connected and kept for clients that are away")
    verbs = session.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="every session of the running instance").add_argument("--json", action="store_true")
    discard = verbs.add_parser("discard", help="drop the session kept for a clientId (and what it queued) and "
                               "release the clientId, so another credential may use it")
    discard.add_argument("client_id")
    for parser in verbs.choices.values():
        parser.set_defaults(handler=session_command)


def session_command(args: argparse.Namespace, context: Context) -> int:
    if args.verb == "list":
        sessions = control.request(context.data_dir, "sessions")
        if args.json:
            print_json([client_json(s) for s in sessions])
        elif not sessions:
            print("no sessions")
        else:
            print_table(("client id", "username", "method", "state", "since", "subs", "queued"), [
                (s["client_id"], s["username"] or "-", s["method"],
                 "connected" if s["connected"] else "offline",
                 short_time(s["connected_since"] if s["connected"] else s["offline_since"]),
                 len(s["subscriptions"]), s["queued"])
                for s in sessions])
        return 0
    return _discard(args.client_id, context)


def _discard(client_id: str, context: Context) -> int:
    """Both halves of a clientId's claim: the kept session (in the running instance) and the last-use record."""
    try:
        done: list[str] = control.request(context.data_dir, "release_client_id", client_id=client_id)
    except control.NoInstanceError:
        # kept sessions live in the running instance only: with none running, only the record is left
        owner = context.store.client_ids.release(client_id)
        done = [] if owner is None else [f"released clientId '{client_id}' (last used by {describe_owner(owner)})"]
    if not done:
        raise MqttdeskError(f"no session is kept for '{client_id}' and no credential has claimed it")
    print("\n".join(done))
    return 0
