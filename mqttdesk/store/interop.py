"""What `export` reads from the store and writes to files, and what `import` reads and writes to the store; the
formats themselves are in interop/. The CLI and the window's File menu both go through here.

An import plan is applied in one write transaction: a clash or an error anywhere rolls all of it back, so nothing
is ever half-imported. Files holding password hashes are written 0600.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from mqttdesk.core.errors import AlreadyExistsError, ValidationError
from mqttdesk.core.model import AnonymousPolicy, AuthMode, Directory
from mqttdesk.core.passwords import generate_password, hash_password
from mqttdesk.core.states import StateAction
from mqttdesk.interop.dynsec import export_dynsec
from mqttdesk.interop.emqx import export_emqx
from mqttdesk.interop.mosquitto import (
    PASSWORD_FILE,
    Listener,
    TlsListener,
    export_mosquitto,
    parse_acl_file,
    parse_password_file,
)
from mqttdesk.interop.plan import ImportPlan, plan_dynsec, plan_mosquitto
from mqttdesk.interop.report import Report
from mqttdesk.store.db import Store
from mqttdesk.store.pki_files import CA_CERT, SERVER_CERT, SERVER_KEY, write_file

IMPORT_ACTOR = "import"
EXPORT_TARGETS = ("mosquitto", "dynsec", "emqx")  # dynsec: a file; the others: a directory
PRIVATE = 0o600  # the files with password hashes
PUBLIC = 0o644
_SECRET_FILES = {PASSWORD_FILE, "users.json", "users.csv"}


def export_source(store: Store) -> tuple[Directory, Listener]:
    """The snapshot to export and the listeners to describe (TLS with mqttdesk's CA files, when it has one)."""
    settings = store.settings.listeners()
    tls = None
    pki = store.pki
    if pki.exists() and pki.server_certificate() is not None:
        files = pki.files
        tls = TlsListener(settings.tls_port, str(files.path(CA_CERT)), str(files.path(SERVER_CERT)),
                          str(files.path(SERVER_KEY)))
    return store.directory(), Listener(settings.host, settings.tcp_port, tls)


def apply_plan(store: Store, plan: ImportPlan) -> None:
    """Create what the plan says, all of it or (on any error, a clash included) nothing."""
    if plan.clashes:
        raise AlreadyExistsError(f"nothing imported: {'; '.join(plan.clashes)}")
    with store.write():
        for role in plan.roles:
            store.roles.add(role.name)
            for rule in role.rules:
                store.roles.set_rule(role.name, rule.topic_filter, rule.permission, rule.effect)
        for user in plan.users:
            if user.password_hash is None:  # certificate only: a hash of a secret nobody knows
                store.users.add(user.name, hash_password(generate_password()), user.roles, actor=IMPORT_ACTOR,
                                auth=AuthMode.CERTIFICATE)
            else:
                store.users.add(user.name, user.password_hash, user.roles, actor=IMPORT_ACTOR)
            for pattern in user.reserved_client_ids:
                store.users.reserve(user.name, pattern, actor=IMPORT_ACTOR)
            if user.suspended:
                store.users.apply(user.name, StateAction.SUSPEND, actor=IMPORT_ACTOR)


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_file(directory / name, text.encode("utf-8"), PRIVATE if name in _SECRET_FILES else PUBLIC)


def export_files(store: Store, target: str, destination: Path) -> Report:
    """Write the export of `target` to `destination` (a directory; a file for dynsec) and return its report."""
    directory, listener = export_source(store)
    automatic = store.settings.anonymous().mode == "auto" and directory.anonymous.enabled
    if automatic:  # about mqttdesk's own loopback listener: another broker gets it only when asked for
        directory = replace(directory, anonymous=AnonymousPolicy(enabled=False))
    if target == "mosquitto":
        exported = export_mosquitto(directory, listener, str(destination.resolve()))
        _write(destination, exported.files)
        report = exported.report
    elif target == "dynsec":
        data, report = export_dynsec(directory)
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_file(destination, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), PRIVATE)
    elif target == "emqx":
        files, report = export_emqx(directory)
        _write(destination, files)
    else:
        raise ValidationError(f"no export to '{target}' (mosquitto, dynsec, emqx)")
    if automatic:
        report.gap("anonymous clients", "left out: mqttdesk lets them in automatically only while it listens on "
                   "loopback; switch anonymous access on explicitly (mqttdesk anonymous on) to export it")
    return report


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def plan_import(store: Store, source: str, files: dict[str, str | None]) -> ImportPlan:
    """The plan for importing `files` ("passwd" and "acl" for mosquitto, "file" for dynsec) into `store`."""
    directory = store.directory()
    if source == "mosquitto":
        passwd = files.get("passwd")
        if passwd is None:
            raise ValidationError("a Mosquitto import needs the password file")
        acl = files.get("acl")
        return plan_mosquitto(parse_password_file(_read(passwd)), None if acl is None else parse_acl_file(_read(acl)),
                              directory)
    path = files.get("file")
    if path is None:
        raise ValidationError("a dynamic-security import needs its JSON file")
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not JSON: {exc}") from None
    return plan_dynsec(data, directory)
