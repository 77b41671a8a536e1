"""The CLI's commands, one module per noun; `cli.py` builds the parser from them and runs the chosen handler."""

from __future__ import annotations

import argparse

from mqttdesk.commands import (
    anonymous,
    auth_service,
    authlog,
    bans,
    bootstraps,
    config,
    devices,
    explain,
    external,
    instance,
    interop,
    pki_parsers,
    roles,
    sessions,
    snippets,
    tokens,
    users,
)


def register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for module in (instance, sessions, anonymous, users, roles, bootstraps, devices, tokens, external, authlog, explain,
                   config, pki_parsers, snippets, bans, interop, auth_service):
        module.register(sub)
