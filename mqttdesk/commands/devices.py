"""`device ...`: devices registered through bootstrap credentials."""

from __future__ import annotations

import argparse

from mqttdesk.cli_output import device_json, print_json, print_table, short_time
from mqttdesk.commands.common import (
    CLI_ACTOR,
    LIFECYCLE_VERBS,
    Context,
    Subparsers,
    add_lifecycle_parsers,
    add_roles_parser,
    history_json,
    print_history,
    run_lifecycle,
    run_set_roles,
)
from mqttdesk.commands.instance import connected_client_ids


def register(sub: Subparsers) -> None:
    device = sub.add_parser("device", help="registered devices").add_subparsers(dest="verb", required=True)
    device.add_parser("list", help="list registered devices").add_argument("--json", action="store_true")
    show = device.add_parser("show", help="one device with its history")
    show.add_argument("client_id")
    show.add_argument("--json", action="store_true")
    label = device.add_parser("label", help="give a device a name people recognise")
    label.add_argument("client_id")
    label.add_argument("label")
    add_roles_parser(device, "client_id", "set the device's own roles (on top of its bootstrap credential's)")
    add_lifecycle_parsers(device, "device", "client_id")
    for parser in device.choices.values():
        parser.set_defaults(handler=device_command)


def device_command(args: argparse.Namespace, context: Context) -> int:
    devices = context.store.devices
    verb = args.verb
    if verb in LIFECYCLE_VERBS:
        return run_lifecycle(devices, verb, args.client_id)
    if verb == "list":
        online = connected_client_ids(context) or set()
        listed = devices.list()
        if args.json:
            print_json([device_json(d, d.client_id in online) for d in listed])
        else:
            print_table(("client id", "label", "bootstrap", "state", "online", "last seen", "last address"), [
                (d.client_id, d.label, d.bootstrap or "-", d.state.value, "yes" if d.client_id in online else "no",
                 short_time(d.last_used), d.last_address or "-") for d in listed])
    elif verb == "show":
        device = devices.get(args.client_id)
        history = devices.history(args.client_id)
        connected = args.client_id in (connected_client_ids(context) or set())
        if args.json:
            print_json({**device_json(device, connected), "history": history_json(history)})
        else:
            print(f"device     {device.client_id}{f' ({device.label})' if device.label else ''}")
            print(f"state      {device.state.value} since {short_time(device.state_since)}; "
                  f"{'online' if connected else 'offline'}")
            print(f"bootstrap  {device.bootstrap or '(deleted)'}  (username '{device.username}')")
            print(f"roles      {', '.join(device.roles) or '(only its bootstrap credential’s)'}")
            print(f"registered {short_time(device.created)}\nlast seen  {short_time(device.last_used)} from "
                  f"{device.last_address or '-'}")
            print_history(history)
    elif verb == "label":
        device = devices.set_label(args.client_id, args.label, actor=CLI_ACTOR)
        print(f"device '{device.client_id}' is labelled '{device.label}'")
    elif verb == "roles":
        return run_set_roles(devices, args.client_id, args.role, "(none of its own)")
    return 0
