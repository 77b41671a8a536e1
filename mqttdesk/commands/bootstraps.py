"""`bootstrap ...`: shared credentials for fleets of devices."""

from __future__ import annotations

import argparse

from mqttdesk.cli_output import bootstrap_json, print_json, print_table, short_time
from mqttdesk.commands.common import (
    CLI_ACTOR,
    LIFECYCLE_VERBS,
    Context,
    Subparsers,
    add_lifecycle_parsers,
    add_passwd_parser,
    add_roles_parser,
    add_secret_option,
    history_json,
    print_generated,
    print_history,
    read_secret,
    run_lifecycle,
    run_passwd,
    run_set_roles,
)
from mqttdesk.core.passwords import hash_password
from mqttdesk.core.states import StateAction


def register(sub: Subparsers) -> None:
    bootstrap = sub.add_parser("bootstrap", help="shared credentials that admit a fleet of devices").add_subparsers(
        dest="verb", required=True)
    add = bootstrap.add_parser("add", help="add a bootstrap credential (the name is the MQTT username)")
    add.add_argument("name")
    add.add_argument("--register-devices", action="store_true",
                     help="register each device on its first connect, so it can be managed on its own")
    add.add_argument("--role", action="append", help="role(s) the devices get")
    add_secret_option(add)
    bootstrap.add_parser("list", help="list bootstrap credentials").add_argument("--json", action="store_true")
    show = bootstrap.add_parser("show", help="one bootstrap credential with its history")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    add_passwd_parser(bootstrap, "name", "new password for new devices (registered ones keep theirs)")
    add_roles_parser(bootstrap, "name", "set the roles its devices get (none given: no roles)")
    registering = bootstrap.add_parser("register", help="turn device registration on or off")
    registering.add_argument("name")
    registering.add_argument("mode", choices=("on", "off"))
    add_lifecycle_parsers(bootstrap, "bootstrap credential", "name")
    for verb in ("suspend", "revoke"):
        bootstrap.choices[verb].add_argument(
            "--with-devices", action="store_true", help=f"also {verb} every device it registered")
    for parser in bootstrap.choices.values():
        parser.set_defaults(handler=bootstrap_command)


def bootstrap_command(args: argparse.Namespace, context: Context) -> int:
    bootstraps = context.store.bootstraps
    verb = args.verb
    if verb in ("suspend", "revoke") and args.with_devices:
        record, changed = bootstraps.apply_with_devices(args.name, StateAction(verb), actor=CLI_ACTOR)
        print(f"bootstrap credential '{record.name}' is now {record.state.value}; {changed} of its devices too")
        return 0
    if verb in LIFECYCLE_VERBS:
        return run_lifecycle(bootstraps, verb, args.name)
    if verb == "list":
        counts = bootstraps.device_counts()
        listed = bootstraps.list()
        if args.json:
            print_json([bootstrap_json(b, counts.get(b.name, 0)) for b in listed])
        else:
            print_table(("name", "state", "registers", "roles", "devices", "last used"), [
                (b.name, b.state.value, "yes" if b.register_devices else "no (virtual)", ",".join(b.roles),
                 counts.get(b.name, 0), short_time(b.last_used)) for b in listed])
    elif verb == "show":
        record = bootstraps.get(args.name)
        history = bootstraps.history(args.name)
        if args.json:
            print_json({**bootstrap_json(record, bootstraps.device_count(record.name)),
                        "history": history_json(history)})
        else:
            print(f"bootstrap credential {record.name}\nstate      {record.state.value} since "
                  f"{short_time(record.state_since)}")
            print(f"registers  {'yes: devices are registered on first connect' if record.register_devices else 'no'}")
            print(f"roles      {', '.join(record.roles) or '(none)'}")
            print(f"devices    {bootstraps.device_count(record.name)}")
            print_history(history)
    elif verb == "add":
        password, generated = read_secret(args)
        bootstraps.add(args.name, hash_password(password), tuple(args.role or ()),
                       register_devices=args.register_devices, actor=CLI_ACTOR)
        kind = "registers devices" if args.register_devices else "virtual devices"
        print(f"added bootstrap credential '{args.name}' ({kind})")
        if generated:
            print_generated(args.name, password)
    elif verb == "passwd":
        return run_passwd(bootstraps, args.name, args,
                          "its virtual devices are disconnected; registered devices keep the password they "
                          "registered with")
    elif verb == "roles":
        return run_set_roles(bootstraps, args.name, args.role)
    elif verb == "register":
        record = bootstraps.set_register_devices(args.name, args.mode == "on", actor=CLI_ACTOR)
        doing = "registers" if record.register_devices else "no longer registers"
        print(f"bootstrap credential '{record.name}' {doing} devices")
    return 0
