"""`export mosquitto|dynsec|emqx` and `import mosquitto|dynsec`: moving to (and from) another broker.

Every export prints its report of what the target cannot express; an import shows its plan with `--dry-run`
and otherwise applies all of it or nothing (store/interop.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mqttdesk.cli_output import print_json
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.core.errors import ValidationError
from mqttdesk.interop.dynsec import export_dynsec
from mqttdesk.interop.emqx import export_emqx
from mqttdesk.interop.mosquitto import PASSWORD_FILE, export_mosquitto, parse_acl_file, parse_password_file
from mqttdesk.interop.plan import ImportPlan, plan_dynsec, plan_mosquitto
from mqttdesk.interop.report import Report
from mqttdesk.store.db import Store
from mqttdesk.store.interop import apply_plan, export_source
from mqttdesk.store.pki_files import write_file

PRIVATE = 0o600  # the files with password hashes
PUBLIC = 0o644
_SECRET_FILES = {PASSWORD_FILE, "users.json", "users.csv", "dynsec.json"}


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


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_file(directory / name, text.encode("utf-8"), PRIVATE if name in _SECRET_FILES else PUBLIC)


def export_files(store: Store, target: str, destination: Path) -> Report:
    """Write the export of `target` to `destination` (a directory; a file for dynsec); the GUI uses it too."""
    directory, listener = export_source(store)
    if target == "mosquitto":
        exported = export_mosquitto(directory, listener, str(destination.resolve()))
        _write(destination, exported.files)
        return exported.report
    if target == "dynsec":
        data, report = export_dynsec(directory)
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_file(destination, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), PRIVATE)
        return report
    files, report = export_emqx(directory)
    _write(destination, files)
    return report


def export_command(args: argparse.Namespace, context: Context) -> int:
    destination = Path(args.file if args.target == "dynsec" else args.directory)
    report = export_files(context.store, args.target, destination)
    if args.json:
        print_json(report.to_json(), sys.stdout)  # the stream of now (tests run the CLI in-process)
    else:
        print(f"written to {destination}")
        print("\n".join(report.lines()))
    return 0


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def plan_import(store: Store, source: str, files: dict[str, str | None]) -> ImportPlan:
    """The plan for importing `files` ("passwd", "acl" for mosquitto; "file" for dynsec) into `store`."""
    directory = store.directory()
    if source == "mosquitto":
        passwd = files.get("passwd")
        if passwd is None:
            raise ValidationError("a Mosquitto import needs the password file")
        acl = files.get("acl")
        return plan_mosquitto(parse_password_file(_read(passwd)), None if acl is None else parse_acl_file(_read(acl)),
                              directory)
    path = files.get("file")
    assert path is not None
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not JSON: {exc}") from None
    return plan_dynsec(data, directory)


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
