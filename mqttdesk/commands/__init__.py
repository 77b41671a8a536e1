"""The CLI's commands, one module per noun; `cli.py` builds the parser from them and runs the chosen handler."""

from __future__ import annotations

import argparse
import importlib

# the modules that declare commands, in the order of `--help`
MODULES = ("instance", "sessions", "anonymous", "users", "roles", "bootstraps", "devices", "tokens", "external",
           "authlog", "explain", "config", "pki_parsers", "snippets", "bans", "interop", "auth_service")

# the module that declares each command (a test holds this to what the modules declare): a command imports only its
# own module, not the explainer, the interop formats or the onboarding snippets that the others pull in
COMMANDS: dict[str, str] = {
    "serve": "instance", "gui": "instance", "clients": "instance", "kick": "instance", "session": "sessions",
    "anonymous": "anonymous", "user": "users", "role": "roles", "bootstrap": "bootstraps", "device": "devices",
    "token": "tokens", "external": "external", "log": "authlog", "explain": "explain", "config": "config",
    "ca": "pki_parsers", "server-cert": "pki_parsers", "trust": "pki_parsers", "cert": "pki_parsers",
    "snippet": "snippets", "ban": "bans", "export": "interop", "import": "interop", "auth-service": "auth_service",
}


def register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser], only: str | None = None) -> None:
    """Declare every command on `sub`; with `only` (one of COMMANDS), only those of the module that has it, and with
    `only` "" none (the window is started by no command).

    All ~100 parsers cost ~40 ms to declare, paid by every `mqttdesk …` run (and by `serve`'s start-up) for the one
    command it runs, with their modules' imports 0.2 s of the window's start; `--help` and a mistyped command get
    them all.
    """
    if only == "":
        return
    for name in MODULES if only not in COMMANDS else (COMMANDS[only],):
        importlib.import_module(f"mqttdesk.commands.{name}").register(sub)
