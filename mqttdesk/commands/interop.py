"""`export mosquitto|dynsec|emqx` and `import mosquitto|dynsec`: moving to (and from) another broker.

Every export prints its report of what the target cannot express; an import shows its plan with `--dry-run`
and otherwise applies all of it or nothing (store/interop.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mqttdesk.cli_output import print_json
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.store.interop import apply_plan, export_files, plan_import


def register(sub: Subparsers) -> None:
    export = sub.add_parser("export", help="write mqttdesk's users and roles for another broker").add_subparsers(
        dest="target", required=True)
    mosquitto = export.add_parser("mosquitto", help="password_file, acl_file and mosquitto.conf in DIR")
    mosquitto.add_argument("directory", metavar="DIR")
    dynsec = export.add_parser("dynsec", help="a dynamic-security plugin JSON file")
    dynsec.add_argument("file", metavar="FILE")
    emqx = export.add_parser("emqx", help="EMQX built-in database users (JSON, CSV), acl.conf, authentication.conf")
    emqx.add_argument("directory", metavar="DIR")
    for parser in export.choices.values():
        parser.add_argument("--json", action="store_true", help="the report as JSON")
        parser.set_defaults(handler=export_command)
    imports = sub.add_parser("import", help="take users and roles from another broker's files").add_subparsers(
        dest="source", required=True)
    from_mosquitto = imports.add_parser("mosquitto", help="a password file (and an ACL file)")
    from_mosquitto.add_argument("--passwd", required=True, metavar="FILE", help="Mosquitto password_file")
    from_mosquitto.add_argument("--acl", metavar="FILE", help="Mosquitto acl_file")
    from_dynsec = imports.add_parser("dynsec", help="a dynamic-security plugin JSON file")
    from_dynsec.add_argument("file", metavar="FILE")
    for parser in imports.choices.values():
        parser.add_argument("--dry-run", action="store_true", help="show what would be created and what clashes")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(handler=import_command)


def export_command(args: argparse.Namespace, context: Context) -> int:
    destination = Path(args.file if args.target == "dynsec" else args.directory)
    report = export_files(context.store, args.target, destination)
    if args.json:
        print_json(report.to_json(), sys.stdout)  # the stream of now (tests run the CLI in-process)
    else:
        print(f"written to {destination}")
        print("\n".join(report.lines()))
    return 0


def import_command(args: argparse.Namespace, context: Context) -> int:
    files = ({"passwd": args.passwd, "acl": args.acl} if args.source == "mosquitto" else {"file": args.file})
    plan = plan_import(context.store, args.source, files)
    if not args.dry_run:
        apply_plan(context.store, plan)  # raises (nothing written) when anything clashes
    if args.json:
        print_json({"dry_run": args.dry_run, **plan.to_json()}, sys.stdout)
        return 0
    print("dry run: nothing written" if args.dry_run else
          f"imported {len(plan.users)} users and {len(plan.roles)} roles")
    print("\n".join(plan.lines()))
    return 1 if args.dry_run and plan.clashes else 0
