"""`token issuer add|list|delete` and `token mint`: who may sign the tokens (JWT) that admit clients.

An HMAC secret is read from standard input (`--secret-stdin`) and never printed again; a public key comes from a
PEM file. `token mint` signs a token with an HMAC issuer's secret, for trying the issuer locally.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from mqttdesk.cli_output import iso, print_json, print_table, short_time
from mqttdesk.commands.common import Context, Subparsers, read_secret
from mqttdesk.core import tokens
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import TokenField, TokenIssuer

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """"90", "90s", "15m", "1h", "7d" as seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValidationError(f"a duration is a number with s, m, h or d (e.g. 1h), not {text!r}")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def register(sub: Subparsers) -> None:
    token = sub.add_parser("token", help="token (JWT) issuers, and tokens to try them").add_subparsers(
        dest="noun", required=True)
    issuer = token.add_parser("issuer", help="who may sign tokens that admit clients").add_subparsers(
        dest="verb", required=True)
    add = issuer.add_parser("add", help="add a token issuer (an HMAC secret or a public key)")
    add.add_argument("name")
    key = add.add_mutually_exclusive_group(required=True)
    key.add_argument("--secret-stdin", action="store_true",
                     help="read the HMAC secret (HS256/384/512, at least 32 bytes) from standard input")
    key.add_argument("--public-key", metavar="PEM_FILE", help="the issuer's public key (RS*, PS*, ES*, EdDSA)")
    add.add_argument("--iss", help="the iss claim a token must carry")
    add.add_argument("--aud", help="an aud a token must carry")
    add.add_argument("--claim", default="sub", help="the claim that names the client (default: sub)")
    add.add_argument("--field", choices=[f.value for f in TokenField], default=TokenField.PASSWORD.value,
                     help="where clients put the token (default: password; the username is then anything)")
    add.add_argument("--username-must-match", action="store_true",
                     help="with --field password: the CONNECT's username must equal the identity claim")
    add.add_argument("--role", action="append", help="role(s) the token's holders get")
    issuer.add_parser("list", help="list token issuers").add_argument("--json", action="store_true")
    issuer.add_parser("delete", help="delete a token issuer (its sessions are disconnected)").add_argument("name")
    mint = token.add_parser("mint", help="print a token signed by an HMAC issuer (to try it locally)")
    mint.add_argument("issuer")
    mint.add_argument("--sub", required=True, help="the identity the token names")
    mint.add_argument("--ttl", default="1h", help="how long it is valid (e.g. 90s, 15m, 1h; default 1h)")
    mint.add_argument("--acl", action="append", metavar="FILTER=read|write|readwrite",
                      help="a rule of the token's acl claim (repeatable)")
    for parser in (*issuer.choices.values(), mint):
        parser.set_defaults(handler=token_command)


def issuer_json(issuer: TokenIssuer) -> dict[str, Any]:
    """An issuer as scripts see it: never its key, only what kind it is and its fingerprint."""
    return {"name": issuer.name, "key": "hmac secret" if issuer.hmac else "public key",
            "fingerprint": issuer.fingerprint, "iss": issuer.issuer, "aud": issuer.audience, "claim": issuer.claim,
            "field": issuer.token_field.value, "username_must_match": issuer.username_must_match,
            "roles": list(issuer.roles), "created": iso(issuer.created)}


def token_command(args: argparse.Namespace, context: Context) -> int:
    repo = context.store.token_issuers
    if args.noun == "mint":
        acl = [tokens.parse_acl_option(text) for text in args.acl or ()]
        print(tokens.mint(repo.get(args.issuer), args.sub, parse_duration(args.ttl), acl))
        return 0
    if args.verb == "add":
        if args.secret_stdin:
            key, _generated = read_secret(argparse.Namespace(password_stdin=True), "secret")
        else:
            try:
                key = Path(args.public_key).read_text(encoding="utf-8")
            except (OSError, UnicodeError) as exc:
                raise ValidationError(f"cannot read {args.public_key}: {exc}") from None
        added = repo.add(args.name, key, hmac=bool(args.secret_stdin), issuer=args.iss, audience=args.aud,
                         claim=args.claim, token_field=TokenField(args.field),
                         username_must_match=args.username_must_match, roles=tuple(args.role or ()))
        kind = "HMAC secret" if added.hmac else "public key"
        print(f"token issuer '{added.name}' added ({kind} {added.fingerprint}; tokens in the "
              f"{added.token_field.value} field)")
    elif args.verb == "list":
        listed = repo.list()
        if args.json:
            print_json([issuer_json(issuer) for issuer in listed])
        elif not listed:
            print("no token issuer")
        else:
            print_table(("name", "key", "iss", "aud", "claim", "field", "roles", "created"), [
                (i.name, "hmac" if i.hmac else "public key", i.issuer or "-", i.audience or "-", i.claim,
                 i.token_field.value, ",".join(i.roles) or "-", short_time(i.created)) for i in listed])
    elif args.verb == "delete":
        repo.delete(args.name)
        print(f"token issuer '{args.name}' deleted")
    return 0
