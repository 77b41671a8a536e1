"""The `mqttdesk` command: the GUI by default, a headless broker with `serve`, and admin commands.

Everything the GUI can change, these commands can change too, against the same store; a running instance picks
the change up within a second. Errors are one line on stderr with exit status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mqttdesk.cli_output import (
    client_json,
    iso,
    log_json,
    print_json,
    print_table,
    role_json,
    short_time,
    user_json,
)
from mqttdesk.control import client as control
from mqttdesk.core.errors import MqttdeskError, ValidationError
from mqttdesk.core.passwords import generate_password, hash_password
from mqttdesk.core.states import StateAction
from mqttdesk.store.db import Store
from mqttdesk.store.roles_repo import parse_permission

DATA_DIR_ENV = "MQTTDESK_DATA_DIR"


def default_data_dir() -> Path:
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env)
    import platformdirs

    return Path(platformdirs.user_data_dir("mqttdesk", appauthor=False))


def read_secret(args: argparse.Namespace, what: str) -> tuple[str, bool]:
    """The password from stdin with --password-stdin, else a generated one. Returns (password, generated)."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise ValidationError(f"no {what} on standard input (an empty password is not allowed)")
        return password, False
    return generate_password(), True


def print_generated(name: str, password: str) -> None:
    print(f"generated password for '{name}' (shown once, store it now): {password}")


# -- command implementations -------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, data_dir: Path) -> int:
    from mqttdesk.app import run_headless

    return run_headless(data_dir, host=args.host, port=args.port)


def cmd_anonymous(args: argparse.Namespace, store: Store) -> int:
    if args.mode == "status":
        print("anonymous access: " + store.settings.anonymous().describe())
        return 0
    store.settings.set_anonymous(args.mode == "on", tuple(args.role or ()))
    print("anonymous access: " + store.settings.anonymous().describe())
    return 0


def cmd_user(args: argparse.Namespace, store: Store) -> int:
    users = store.users
    action = args.user_command
    if action == "list":
        listed = users.list()
        if args.json:
            print_json([user_json(u) for u in listed])
        else:
            print_table(("name", "state", "roles", "last used"),
                        [(u.name, u.state.value, ",".join(u.roles), short_time(u.last_used)) for u in listed])
        return 0
    if action == "show":
        user = users.get(args.name)
        history = users.history(args.name)
        if args.json:
            print_json({**user_json(user), "history": [
                {"action": h.action, "from": h.from_state, "to": h.to_state, "actor": h.actor, "time": iso(h.time)}
                for h in history]})
        else:
            print(f"user      {user.name}\nstate     {user.state.value} since {short_time(user.state_since)}")
            print(f"roles     {', '.join(user.roles) or '(none)'}\ncreated   {short_time(user.created)}")
            print(f"last used {short_time(user.last_used)}\nhistory:")
            for h in history:
                change = f" → {h.to_state}" if h.to_state and h.from_state != h.to_state else ""
                print(f"  {short_time(h.time)}  {h.action}{change} by {h.actor}")
        return 0
    if action == "add":
        password, generated = read_secret(args, "password")
        if users.find(args.name) is not None:
            raise MqttdeskError(f"a user named '{args.name}' already exists")
        users.add(args.name, hash_password(password), tuple(args.role or ()), actor="cli")
        print(f"added user '{args.name}'")
        if generated:
            print_generated(args.name, password)
        return 0
    if action == "passwd":
        users.get(args.name)
        password, generated = read_secret(args, "password")
        users.set_password(args.name, hash_password(password), actor="cli")
        print(f"password of '{args.name}' changed; its live sessions are disconnected")
        if generated:
            print_generated(args.name, password)
        return 0
    if action == "roles":
        user = users.set_roles(args.name, tuple(args.role or ()), actor="cli")
        print(f"roles of '{user.name}': {', '.join(user.roles) or '(none)'}")
        return 0
    if action == "delete":
        users.delete(args.name, actor="cli")
        print(f"deleted user '{args.name}'")
        return 0
    user = users.apply(args.name, StateAction(action), actor="cli")
    print(f"user '{user.name}' is now {user.state.value}")
    return 0


def cmd_role(args: argparse.Namespace, store: Store) -> int:
    roles = store.roles
    action = args.role_command
    if action == "list":
        listed = roles.list()
        if args.json:
            print_json([role_json(r, roles.members(r.name)) for r in listed])
        else:
            rows = []
            for role in listed:
                rules = "; ".join(f"{r.effect.value} {r.permission.value} {r.topic_filter}" for r in role.rules)
                rows.append((role.name, rules or "(no rules: denies everything)", ",".join(roles.members(role.name))))
            print_table(("role", "rules", "users"), rows)
        return 0
    if action == "add":
        roles.add(args.name)
        print(f"added role '{args.name}'")
    elif action == "delete":
        roles.delete(args.name)
        print(f"deleted role '{args.name}'")
    elif action in ("allow", "deny"):
        permission = parse_permission(args.permission)
        role = roles.allow(args.name, args.topic_filter, permission) if action == "allow" else \
            roles.deny(args.name, args.topic_filter, permission)
        rule = next(r for r in role.rules if r.topic_filter == args.topic_filter and r.effect.value == action)
        print(f"role '{role.name}' {action}s {rule.permission.value} on '{rule.topic_filter}'")
    elif action == "remove":
        roles.remove_rule(args.name, args.topic_filter)
        print(f"removed the rules of role '{args.name}' on '{args.topic_filter}'")
    return 0


def cmd_clients(args: argparse.Namespace, data_dir: Path) -> int:
    sessions = [client_json(s) for s in control.request(data_dir, "clients")]
    if args.json:
        print_json(sessions)
    else:
        print_table(("client id", "username", "method", "address", "since", "subs", "in", "out"), [
            (s["client_id"], s["username"] or "-", s["method"], s["address"], s["connected_since"],
             len(s["subscriptions"]), s["messages_in"], s["messages_out"]) for s in sessions])
    return 0


def cmd_kick(args: argparse.Namespace, data_dir: Path) -> int:
    if not control.request(data_dir, "kick", client_id=args.client_id):
        raise MqttdeskError(f"no client '{args.client_id}' is connected")
    print(f"kicked '{args.client_id}'")
    return 0


def cmd_log(args: argparse.Namespace, store: Store) -> int:
    if args.limit < 1:
        raise ValidationError("--limit must be at least 1")
    entries = store.auth_log.recent(args.limit)
    if args.json:
        print_json([log_json(e) for e in entries])
    elif not entries:
        print("the Auth log is empty: no client has connected yet")
    else:
        print_table(("time", "kind", "result", "client id", "username", "method", "topic", "reason"), [
            (short_time(e.time), e.kind, "allowed" if e.allowed else "REFUSED", e.client_id, e.username or "-",
             e.method or "-", e.topic or "", e.reason) for e in entries])
    return 0


# -- the parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mqttdesk", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help=f"where the store lives (default: ${DATA_DIR_ENV} or the "
                        "platform's user data directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the broker without a window")
    serve.add_argument("--host", help="listen address (default: the stored setting, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: the stored setting, 1883; 0 = any free)")

    anonymous = sub.add_parser("anonymous", help="allow or refuse clients without credentials")
    anonymous.add_argument("mode", choices=("on", "off", "status"))
    anonymous.add_argument("--role", action="append", help="role(s) anonymous clients get (default: all topics)")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    listing = user.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true")
    show = user.add_parser("show", help="one user with its history")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    for name, text in (("add", "add a user"), ("passwd", "set a user's password")):
        command = user.add_parser(name, help=text + " (a strong password is generated without --password-stdin)")
        command.add_argument("name")
        command.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        if name == "add":
            command.add_argument("--role", action="append")
    roles_cmd = user.add_parser("roles", help="set a user's roles (none given: no roles)")
    roles_cmd.add_argument("name")
    roles_cmd.add_argument("--role", action="append")
    for name in ("suspend", "activate", "revoke", "delete"):
        user.add_parser(name, help=f"{name} a user").add_argument("name")

    role = sub.add_parser("role", help="manage roles and topic permissions").add_subparsers(
        dest="role_command", required=True)
    role.add_parser("add", help="add a role").add_argument("name")
    role.add_parser("delete", help="delete a role").add_argument("name")
    for name, text in (("allow", "allow a permission"), ("deny", "deny a permission (deny wins over allow)")):
        rule = role.add_parser(name, help=text)
        rule.add_argument("name")
        rule.add_argument("topic_filter", help="MQTT filter; + and # wildcards, %%u %%c %%t patterns")
        rule.add_argument("permission", help="read, write or readwrite")
    remove = role.add_parser("remove", help="remove the rules on a filter")
    remove.add_argument("name")
    remove.add_argument("topic_filter")
    role.add_parser("list", help="list roles").add_argument("--json", action="store_true")

    clients = sub.add_parser("clients", help="live sessions of the running instance")
    clients.add_argument("--json", action="store_true")
    sub.add_parser("kick", help="disconnect a client of the running instance").add_argument("client_id")
    log = sub.add_parser("log", help="the Auth log, newest last")
    log.add_argument("--json", action="store_true")
    log.add_argument("--limit", type=int, default=50)
    return parser


_STORE_COMMANDS = {"anonymous": cmd_anonymous, "user": cmd_user, "role": cmd_role, "log": cmd_log}
_INSTANCE_COMMANDS = {"serve": cmd_serve, "clients": cmd_clients, "kick": cmd_kick}


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or default_data_dir()
    if args.command is None:
        from mqttdesk.app import run_gui

        return run_gui(data_dir)
    if args.command in _INSTANCE_COMMANDS:
        return _INSTANCE_COMMANDS[args.command](args, data_dir)
    store = Store.open(data_dir)
    try:
        return _STORE_COMMANDS[args.command](args, store)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except MqttdeskError as exc:
        print(f"mqttdesk: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
