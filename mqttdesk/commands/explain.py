"""`explain`: why would this client be accepted or refused? The broker's own decision, as a dry run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mqttdesk.auth.explain import explain, explanation_lines
from mqttdesk.auth.pipeline import AuthPipeline
from mqttdesk.cli_output import print_json
from mqttdesk.commands.common import Context, Subparsers, read_secret
from mqttdesk.control import client as control
from mqttdesk.core.decision import ConnectRequest, Decision, Kind, PeerCertificate, SessionHolder
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import CredentialKind, CredentialRef


def register(sub: Subparsers) -> None:
    parser = sub.add_parser("explain", help="dry-run the auth decision for a client (exit 0 allowed, 1 refused)")
    parser.add_argument("--username", help="the MQTT username (leave out for an anonymous client)")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    parser.add_argument("--topic", help="also decide a PUBLISH or SUBSCRIBE on this topic")
    parser.add_argument("--action", choices=("publish", "subscribe"), default="publish")
    parser.add_argument("--persistent", action="store_true", help="the client asks for clean session false")
    parser.add_argument("--will-topic", help="the client sends a will on this topic (it must be allowed to publish it)")
    parser.add_argument("--cert", metavar="FILE", help="the client presents this certificate (PEM) over TLS")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=explain_command)


def _presented(context: Context, path: str) -> PeerCertificate:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from None
    return context.store.pki.presented_certificate(data, path)


def _listen_host(context: Context) -> str | None:
    """Where the running instance listens (anonymous access in "auto" mode depends on it); None: none runs."""
    try:
        status = control.request(context.data_dir, "status")
    except control.NoInstanceError:
        return None
    addresses = status.get("addresses") or []
    return str(addresses[0][0]) if addresses else None


def _live_holders(context: Context) -> dict[str, SessionHolder]:
    """Who holds which clientId in the running instance, connected or kept while away (nobody when none runs)."""
    try:
        sessions = control.request(context.data_dir, "sessions")
    except control.NoInstanceError:
        return {}
    holders = {}
    for session in sessions:
        credential = session.get("credential") or {"kind": "anonymous", "name": ""}
        offline_since = session.get("offline_since")
        holders[session["client_id"]] = SessionHolder(
            session["client_id"], session.get("username"),
            CredentialRef(CredentialKind(credential["kind"]), credential["name"]),
            session.get("address"), float(session["connected_since"]),
            None if offline_since is None else float(offline_since))
    return holders


def _decision_json(decision: Decision) -> dict[str, Any]:
    return {"kind": decision.kind.value, "allowed": decision.allowed, "reason_code": decision.reason.code.value,
            "reason": decision.reason.text, "steps": list(decision.steps), "connack": decision.connack,
            "topic": decision.topic, "method": decision.method.value if decision.method else None}


def explain_command(args: argparse.Namespace, context: Context) -> int:
    if args.password_stdin and not args.username:
        raise ValidationError("--password-stdin needs --username")
    password = read_secret(args)[0] if args.password_stdin else None
    certificate = _presented(context, args.cert) if args.cert else None
    request = ConnectRequest(client_id=args.client_id, username=args.username or None, password=password,
                             clean_session=not args.persistent, will_topic=args.will_topic, certificate=certificate,
                             transport="tls" if certificate is not None else None)
    pipeline = AuthPipeline(context.store)
    host = _listen_host(context)
    if host is not None:
        pipeline.set_listen_host(host)
    try:
        action = Kind.SUBSCRIBE if args.action == "subscribe" else Kind.PUBLISH
        result = explain(pipeline, request, _live_holders(context), topic=args.topic, action=action)
    finally:
        pipeline.close()
    if args.json:
        fix = result.fix
        print_json({"allowed": result.allowed, "connect": _decision_json(result.connect),
                    "topic": _decision_json(result.topic) if result.topic else None,
                    "fix": {"description": fix.description, "action": fix.action.value if fix.action else None,
                            "command": fix.command} if fix else None})
    else:
        print("\n".join(explanation_lines(result)))
    return 0 if result.allowed else 1
