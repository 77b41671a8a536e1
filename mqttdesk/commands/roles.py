"""`role ...`: roles and their topic rules."""

from __future__ import annotations

import argparse

from mqttdesk.cli_output import print_json, print_table, role_json
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.core.acl import Permission
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.tasmota import CLIENT_ID_TOPIC, tasmota_role_rules
from mqttdesk.store.onboarding import create_tasmota_role
from mqttdesk.store.roles_repo import parse_permission

PERMISSION_WORDS = tuple(permission.value for permission in Permission)


def register(sub: Subparsers) -> None:
    role = sub.add_parser("role", help="manage roles and topic permissions").add_subparsers(dest="verb", required=True)
    role.add_parser("add", help="add a role").add_argument("name")
    role.add_parser("delete", help="delete a role").add_argument("name")
    for verb, text in (("allow", "allow a permission"), ("deny", "deny a permission (deny wins over allow)")):
        rule = role.add_parser(verb, help=text)
        rule.add_argument("name")
        rule.add_argument("topic_filter", help="MQTT filter; + and # wildcards, %%u %%c %%t patterns")
        rule.add_argument("permission", choices=PERMISSION_WORDS, help="read, write or readwrite")
    remove = role.add_parser("remove", help="remove the rules on a filter")
    remove.add_argument("name")
    remove.add_argument("topic_filter")
    role.add_parser("list", help="list roles").add_argument("--json", action="store_true")
    tasmota = role.add_parser("tasmota", help="add a role with the permissions a Tasmota device needs")
    tasmota.add_argument("name")
    tasmota.add_argument("--topic", default=CLIENT_ID_TOPIC,
                         help="the devices' Tasmota topic (default %%c: each device's clientId, Topic DVES_%%06X)")
    tasmota.add_argument("--discovery", action="store_true",
                         help="also write tasmota/discovery/# and homeassistant/# (Home Assistant discovery)")
    tasmota.add_argument("--dry-run", action="store_true", help="show the rules, create nothing")
    for parser in role.choices.values():
        parser.set_defaults(handler=role_command)


def role_command(args: argparse.Namespace, context: Context) -> int:
    roles = context.store.roles
    verb = args.verb
    if verb == "list":
        listed = roles.list()
        if args.json:
            print_json([role_json(r, roles.members(r.name)) for r in listed])
        else:
            rows = []
            for role in listed:
                rules = "; ".join(f"{r.effect.value} {r.permission.value} {r.topic_filter}" for r in role.rules)
                rows.append((role.name, rules or "(no rules: denies everything)", ",".join(roles.members(role.name))))
            print_table(("role", "rules", "users"), rows)
    elif verb == "add":
        roles.add(args.name)
        print(f"added role '{args.name}'")
    elif verb == "delete":
        roles.delete(args.name)
        print(f"deleted role '{args.name}'")
    elif verb in ("allow", "deny"):
        permission = parse_permission(args.permission)
        role = (roles.allow if verb == "allow" else roles.deny)(args.name, args.topic_filter, permission)
        rule = next(r for r in role.rules if r.topic_filter == args.topic_filter and r.effect.value == verb)
        print(f"role '{role.name}' {'allows' if verb == 'allow' else 'denies'} {rule.permission.value} on "
              f"'{rule.topic_filter}'")
    elif verb == "tasmota":
        try:
            needed = tasmota_role_rules(args.topic, discovery=args.discovery)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if not args.dry_run:
            create_tasmota_role(context.store, args.name, args.topic, discovery=args.discovery)
        print(f"{'would add' if args.dry_run else 'added'} role '{args.name}':")
        for each in needed:
            print(f"  allow {each.permission.value:<9} {each.topic_filter:<22} {each.why}")
    elif verb == "remove":
        roles.remove_rule(args.name, args.topic_filter)
        print(f"removed the rules of role '{args.name}' on '{args.topic_filter}'")
    return 0
