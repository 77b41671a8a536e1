"""What the commands share: the context (data dir, lazily opened store), secrets from stdin, lifecycle verbs."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from mqttdesk.cli_output import iso, short_time
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.passwords import generate_password, hash_password
from mqttdesk.core.states import CredentialState, StateAction
from mqttdesk.store.db import Store
from mqttdesk.store.history import HistoryEntry

# what `add_subparsers()` returns; generic only for type checkers (subscripting it fails at run time on 3.11)
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CLI_ACTOR = "cli"


@dataclass
class Context:
    data_dir: Path
    _store: Store | None = field(default=None, init=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.data_dir, notice=print_notice)
        return self._store

    def close(self) -> None:
        if self._store is None:
            return
        wrote = self._store.has_written
        self._store.close()
        self._store = None
        if wrote:
            nudge_instance(self.data_dir)


def print_notice(text: str) -> None:
    """Something the user should know that is not an error (a data directory made private): one line on stderr."""
    print(f"mqttdesk: notice: {text}", file=sys.stderr)


def nudge_instance(data_dir: Path) -> None:
    """Tell a running instance to read the store now rather than at its next poll (a quarter second later).

    A device reconnecting right after `device activate` would otherwise still meet the old state.
    """
    from mqttdesk.control import client as control
    from mqttdesk.core.errors import MqttdeskError

    with contextlib.suppress(MqttdeskError):  # no instance runs, or it is busy: it polls on its own
        control.request(data_dir, "sync")


Handler = Callable[[argparse.Namespace, Context], int]


def lazy_handler(module: str, name: str) -> Handler:
    """A handler imported when its command runs, for nouns whose modules are slow to import."""

    def run(args: argparse.Namespace, context: Context) -> int:
        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(args, context)

    return run


def read_secret(args: argparse.Namespace, what: str = "password") -> tuple[str, bool]:
    """The password from stdin with --password-stdin, else a generated one. Returns (password, generated)."""
    if getattr(args, "password_stdin", False):
        line = _read_stdin_line(what)
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise ValidationError(f"no {what} on standard input (an empty password is not allowed)")
        return password, False
    return generate_password(), True


def read_stdin_secret(what: str) -> str:
    """One secret line from stdin (its line ending removed); an empty one is refused."""
    line = _read_stdin_line(what)
    secret = line[:-1] if line.endswith("\n") else line
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret:
        raise ValidationError(f"no {what} on standard input (an empty one is not allowed)")
    return secret


def _read_stdin_line(what: str) -> str:
    """One line of stdin as UTF-8, whatever the locale: the password a client sends is compared as UTF-8 bytes."""
    stream = sys.stdin
    if stream is None:
        return ""
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            return bytes(buffer.readline()).decode("utf-8")
        line = stream.readline()
        line.encode("utf-8")  # a text stream decoding with surrogateescape lets undecodable bytes through
        return line
    except UnicodeError:
        raise ValidationError(f"the {what} is not valid UTF-8") from None


def add_secret_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (else a strong one is generated and shown once)")


def print_generated(name: str, password: str) -> None:
    print(f"generated password for '{name}' (shown once, store it now): {password}")


class Lifecycle(Protocol):
    """The part of a credential repository the lifecycle verbs need."""

    @property
    def LABEL(self) -> str: ...  # noqa: N802 (a class constant of the repositories)

    def apply(self, key: str, action: StateAction, *, actor: str = ...) -> Any: ...
    def delete(self, key: str, *, actor: str = ...) -> None: ...
    def history(self, key: str) -> list[HistoryEntry]: ...


LIFECYCLE_VERBS = ("suspend", "activate", "revoke", "delete")


def add_lifecycle_parsers(sub: Subparsers, noun: str, key: str) -> None:
    helps = {"suspend": f"refuse the {noun} for now (its live sessions are disconnected)",
             "activate": f"lift a suspension of the {noun}",
             "revoke": f"refuse the {noun} for good (final: it can only be deleted then)",
             "delete": f"delete the {noun}"}
    for verb in LIFECYCLE_VERBS:
        sub.add_parser(verb, help=helps[verb]).add_argument(key)


def run_lifecycle(repo: Lifecycle, verb: str, key: str) -> int:
    if verb == "delete":
        repo.delete(key, actor=CLI_ACTOR)
        print(f"deleted {repo.LABEL} '{key}'")
        return 0
    record = repo.apply(key, StateAction(verb), actor=CLI_ACTOR)
    state: CredentialState = record.state
    print(f"{repo.LABEL} '{key}' is now {state.value}")
    return 0


class Secrets(Lifecycle, Protocol):
    """A credential repository whose records have a password and roles."""

    def get(self, key: str) -> Any: ...
    def set_password(self, key: str, password_hash: str, *, actor: str = ...) -> None: ...
    def set_roles(self, key: str, roles: tuple[str, ...], *, actor: str = ...) -> Any: ...


def add_passwd_parser(sub: Subparsers, key: str, help_text: str) -> None:
    parser = sub.add_parser("passwd", help=help_text)
    parser.add_argument(key)
    add_secret_option(parser)


def add_roles_parser(sub: Subparsers, key: str, help_text: str) -> None:
    parser = sub.add_parser("roles", help=help_text)
    parser.add_argument(key)
    parser.add_argument("--role", action="append")


def run_passwd(repo: Secrets, key: str, args: argparse.Namespace, consequence: str) -> int:
    """Set a new password (read from stdin, or generated and shown once); `consequence` says what it ends."""
    repo.get(key)  # a typo in the name fails before a password is read or generated
    password, generated = read_secret(args)
    repo.set_password(key, hash_password(password), actor=CLI_ACTOR)
    print(f"password of '{key}' changed; {consequence}")
    if generated:
        print_generated(key, password)
    return 0


def run_set_roles(repo: Secrets, key: str, roles: list[str] | None, none_text: str = "(none)") -> int:
    record = repo.set_roles(key, tuple(roles or ()), actor=CLI_ACTOR)
    print(f"roles of {repo.LABEL} '{key}': {', '.join(record.roles) or none_text}")
    return 0


def history_json(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [{"action": h.action, "from": h.from_state, "to": h.to_state, "actor": h.actor, "time": iso(h.time)}
            for h in entries]


def print_history(entries: list[HistoryEntry]) -> None:
    print("history:")
    for h in entries:
        change = f" → {h.to_state}" if h.to_state and h.from_state != h.to_state else ""
        print(f"  {short_time(h.time)}  {h.action}{change} by {h.actor}")
