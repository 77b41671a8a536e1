"""`auth-service`: mqttdesk answering another broker's logins and topic checks over HTTP (auth/http_service.py)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.interop.broker_hooks import config_for
from mqttdesk.store.settings_repo import is_loopback, validate_host, validate_port

ROUTES = "EMQX: /emqx/authn, /emqx/authz; go-auth: /mosquitto/user, /mosquitto/acl (status mode: /mosquitto/status/…)"


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("auth-service", help="answer EMQX's or Mosquitto's (go-auth) auth questions over HTTP")
    parser.add_argument("--host", help="listen address (default: the stored setting, 127.0.0.1; loopback only "
                        "unless you give another)")
    parser.add_argument("--port", type=int, help="listen port (default: the stored setting, 8091; 0 = any free)")
    parser.add_argument("--print-config", choices=("emqx", "mosquitto"),
                        help="print the broker's configuration for this service (with the shared secret) and exit")
    parser.set_defaults(handler=auth_service_command)


def auth_service_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.store.settings
    host, port = settings.auth_service_address()
    host = host if args.host is None else validate_host(args.host)
    port = port if args.port is None else validate_port(args.port)
    secret = settings.auth_service_secret()
    if args.print_config:
        print(config_for(args.print_config, host, port, secret), end="")
        return 0
    data_dir = context.data_dir
    context.close()  # the service opens its own store, on its own loop
    try:
        return asyncio.run(_serve(data_dir, host, port))
    except OSError as exc:
        raise MqttdeskError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(data_dir: Path, host: str, port: int) -> int:
    from mqttdesk.broker.service import BrokerService
    from mqttdesk.store.db import Store

    store = Store.open(data_dir)
    service = BrokerService(store)  # the broker not started: its pipeline, its Auth log recorder, the store watch
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await service.open()
        bound_host, bound_port = await service.start_auth_service(host, port)
        print(f"auth service listening on http://{bound_host}:{bound_port} ({ROUTES})", flush=True)
        if not is_loopback(bound_host):
            print("warning: the auth service listens beyond loopback: anyone who can reach it may try the shared "
                  "secret; prefer a private network", file=sys.stderr, flush=True)
        await stop.wait()
        return 0
    finally:
        await service.close()  # stops the auth service and writes what the Auth log still holds
        store.close()
        print("auth service stopped", file=sys.stderr, flush=True)
