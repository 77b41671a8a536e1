"""`user ...`: password users."""

from __future__ import annotations

import argparse

from mqttdesk.cli_output import print_json, print_table, short_time, user_json
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
from mqttdesk.core.errors import AlreadyExistsError
from mqttdesk.core.model import AuthMode
from mqttdesk.core.passwords import generate_password, hash_password


def register(sub: Subparsers) -> None:
    user = sub.add_parser("user", help="manage users").add_subparsers(dest="verb", required=True)
    user.add_parser("list", help="list users").add_argument("--json", action="store_true")
    show = user.add_parser("show", help="one user with its history")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    add = user.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", action="append")
    add_secret_option(add)
    auth = user.add_parser("auth", help="how a user logs in: password, certificate (a client certificate whose CN "
                           "is its name) or both; its live sessions are re-checked")
    auth.add_argument("name")
    for parser in (add, auth):
        _add_auth_options(parser, required=parser is auth)
    add_passwd_parser(user, "name", "set a user's password (its live sessions are disconnected)")
    add_roles_parser(user, "name", "set a user's roles (none given: no roles)")
    add_lifecycle_parsers(user, "user", "name")
    reserve = user.add_parser("reserve", help="reserve clientIds matching a pattern (e.g. 'alice-*') for a user: "
                              "no other credential may connect with them")
    unreserve = user.add_parser("unreserve", help="remove a clientId reservation")
    for parser in (reserve, unreserve):
        parser.add_argument("name")
        parser.add_argument("pattern", help="shell-style pattern: * any characters, ? one character")
    for parser in user.choices.values():
        parser.set_defaults(handler=user_command)


def _add_auth_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    choices = [mode.value for mode in AuthMode]
    if required:
        parser.add_argument("mode", choices=choices)
    else:
        parser.add_argument("--auth", dest="mode", choices=choices, default=AuthMode.PASSWORD.value,
                            help="how it logs in (default: password)")
    parser.add_argument("--ca", dest="certificate_ca", metavar="TRUSTED_CA",
                        help="certificates of this trusted CA (mqttdesk trust list) log it in, instead of mqttdesk's "
                             "own CA's")


def user_command(args: argparse.Namespace, context: Context) -> int:
    users = context.store.users
    verb = args.verb
    if verb in LIFECYCLE_VERBS:
        return run_lifecycle(users, verb, args.name)
    if verb == "list":
        listed = users.list()
        if args.json:
            print_json([user_json(u) for u in listed])
        else:
            print_table(("name", "state", "login", "roles", "last used"),
                        [(u.name, u.state.value, u.auth.value, ",".join(u.roles), short_time(u.last_used))
                         for u in listed])
    elif verb == "show":
        user = users.get(args.name)
        history = users.history(args.name)
        if args.json:
            print_json({**user_json(user), "history": history_json(history)})
        else:
            print(f"user      {user.name}\nstate     {user.state.value} since {short_time(user.state_since)}")
            print(f"roles     {', '.join(user.roles) or '(none)'}\ncreated   {short_time(user.created)}")
            print(f"last used {short_time(user.last_used)}")
            print(f"login     {_how(user.auth)}" + (f" (trusted CA '{user.certificate_ca}')" if user.certificate_ca
                                                    else ""))
            if user.reserved_client_ids:
                print(f"clientIds {', '.join(user.reserved_client_ids)} (reserved)")
            print_history(history)
    elif verb == "add":
        mode = AuthMode(args.mode)
        if users.find(args.name) is not None:
            raise AlreadyExistsError(f"a user named '{args.name}' already exists")
        if mode.needs_password:
            password, generated = read_secret(args)
        else:  # certificate only: a hash of a secret nobody is shown, so no password can log it in
            password, generated = generate_password(), False
        users.add(args.name, hash_password(password), tuple(args.role or ()), actor=CLI_ACTOR, auth=mode,
                  certificate_ca=args.certificate_ca)
        print(f"added user '{args.name}'" + ("" if mode is AuthMode.PASSWORD else f" (logs in by {_how(mode)})"))
        if generated:
            print_generated(args.name, password)
        if mode.takes_certificate:
            print(f"issue its certificate: mqttdesk cert issue {args.name} --out DIR")
    elif verb == "auth":
        mode = AuthMode(args.mode)
        users.set_auth(args.name, mode, args.certificate_ca, actor=CLI_ACTOR)
        print(f"user '{args.name}' logs in by {_how(mode)}"
              + (f" issued by trusted CA '{args.certificate_ca}'" if args.certificate_ca and mode.takes_certificate
                 else ""))
    elif verb == "passwd":
        return run_passwd(users, args.name, args, "its live sessions are disconnected")
    elif verb == "roles":
        return run_set_roles(users, args.name, args.role)
    elif verb == "reserve":
        users.reserve(args.name, args.pattern, actor=CLI_ACTOR)
        print(f"clientIds matching '{args.pattern}' are reserved for user '{args.name}'")
    elif verb == "unreserve":
        users.unreserve(args.name, args.pattern, actor=CLI_ACTOR)
        print(f"clientIds matching '{args.pattern}' are no longer reserved for user '{args.name}'")
    return 0


def _how(mode: AuthMode) -> str:
    return {AuthMode.PASSWORD: "password", AuthMode.CERTIFICATE: "client certificate",
            AuthMode.BOTH: "client certificate and password"}[mode]
