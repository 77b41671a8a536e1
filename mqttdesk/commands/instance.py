"""Commands about the running instance: `serve` starts one; `clients` and `kick` talk to it."""

from __future__ import annotations

import argparse

from mqttdesk.broker.event_loops import LOOP_CHOICES
from mqttdesk.cli_output import client_json, print_json, print_table, short_time
from mqttdesk.commands.common import Context, Subparsers
from mqttdesk.control import client as control
from mqttdesk.core.errors import MqttdeskError
from mqttdesk.store.settings_repo import validate_host, validate_port


def register(sub: Subparsers) -> None:
    serve = sub.add_parser("serve", help="run the broker without a window")
    serve.add_argument("--host", help="listen address (default: the stored setting, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: the stored setting, 1883; 0 = any free)")
    serve.add_argument("--tls-port", type=int, help="also listen with TLS on this port (with tls.cert_file and "
                       "tls.key_file, else the certificate of mqttdesk's CA: ca init; 0 = any free)")
    serve.add_argument("--ws-port", type=int, help="also listen for MQTT over WebSocket (path /mqtt) on this port")
    serve.add_argument("--wss-port", type=int, help="also listen for MQTT over WebSocket over TLS on this port")
    serve.add_argument("--no-tcp", action="store_true", help="do not listen for plain MQTT over TCP")
    serve.add_argument("--loop", choices=LOOP_CHOICES, default="auto",
                       help="the event loop: uvloop (faster), asyncio's own, or auto: uvloop when installed")
    serve.set_defaults(handler=serve_command)
    gui = sub.add_parser("gui", help="open the window and start the broker (what plain `mqttdesk` does)")
    gui.add_argument("--host", help="listen address for this run (default: the stored setting)")
    gui.add_argument("--port", type=int, help="listen port for this run (default: the stored setting; 0 = any free)")
    gui.set_defaults(handler=gui_command)
    clients = sub.add_parser("clients", help="live sessions of the running instance")
    clients.add_argument("--json", action="store_true")
    clients.set_defaults(handler=clients_command)
    kick = sub.add_parser("kick", help="disconnect a client of the running instance")
    kick.add_argument("client_id")
    kick.set_defaults(handler=kick_command)


def serve_command(args: argparse.Namespace, context: Context) -> int:
    from mqttdesk.app import run_headless
    from mqttdesk.broker.service import ListenerOverrides

    check_listener(args)
    for port in (args.tls_port, args.ws_port, args.wss_port):
        if port is not None:
            validate_port(port)
    return run_headless(context.data_dir, ListenerOverrides(
        host=args.host, port=args.port, tls_port=args.tls_port, ws_port=args.ws_port, wss_port=args.wss_port,
        no_tcp=args.no_tcp), loop=args.loop)


def check_listener(args: argparse.Namespace) -> None:
    """The same checks as `config set listen.*`, before anything starts."""
    if args.host is not None:
        validate_host(args.host)
    if args.port is not None:
        validate_port(args.port)


def gui_command(args: argparse.Namespace, context: Context) -> int:
    from mqttdesk.app import run_gui

    check_listener(args)
    return run_gui(context.data_dir, host=args.host, port=args.port)


def clients_command(args: argparse.Namespace, context: Context) -> int:
    raw = control.request(context.data_dir, "clients")
    if args.json:
        print_json([client_json(s) for s in raw])
    elif not raw:
        print("no client is connected")
    else:
        print_table(("client id", "username", "method", "address", "since", "subs", "in", "out"), [
            (s["client_id"] + (" (virtual)" if s.get("virtual") else ""), s["username"] or "-",
             s["method"] + (f" (expires {short_time(s['expires_at'])})" if s.get("expires_at") else ""),
             s["address"], short_time(s["connected_since"]), len(s["subscriptions"]), s["messages_in"],
             s["messages_out"])
            for s in raw])
    return 0


def kick_command(args: argparse.Namespace, context: Context) -> int:
    if not control.request(context.data_dir, "kick", client_id=args.client_id):
        raise MqttdeskError(f"no client '{args.client_id}' is connected")
    print(f"kicked '{args.client_id}'")
    return 0


def connected_client_ids(context: Context) -> set[str] | None:
    """The clientIds connected to the running instance; None when no instance runs."""
    try:
        return {s["client_id"] for s in control.request(context.data_dir, "clients")}
    except control.NoInstanceError:
        return None
