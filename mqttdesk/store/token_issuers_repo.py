"""Token issuers: who may sign the tokens (JWT) that admit clients (see core/tokens.py).

An HMAC secret is kept as the store keeps every secret: in the private data file (0600 in a 0700 directory), and
nowhere else; it is never printed, never part of a change notice, an Auth log entry or `token issuer list`.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from typing import TYPE_CHECKING

from mqttdesk.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from mqttdesk.core.model import TokenField, TokenIssuer
from mqttdesk.core.names import validate_name
from mqttdesk.core.tokens import fingerprint, validate_key
from mqttdesk.store.changes import Change, ChangeKind

if TYPE_CHECKING:
    from mqttdesk.store.db import Store


def validate_issuer_name(name: str) -> str:
    validate_name("token issuer", name)
    if ":" in name:
        raise ValidationError("a token issuer name must not contain ':' (a session's credential is ISSUER:SUBJECT)")
    return name


class TokenIssuersRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self) -> builtins.list[TokenIssuer]:
        with self._store.read() as db:
            return [_issuer(row) for row in db.execute("SELECT * FROM token_issuers ORDER BY name")]

    def get(self, name: str) -> TokenIssuer:
        row = self._store.connection.execute("SELECT * FROM token_issuers WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no token issuer named '{name}'")
        return _issuer(row)

    def add(self, name: str, key: str, *, hmac: bool, issuer: str | None = None, audience: str | None = None,
            claim: str = "sub", token_field: TokenField = TokenField.PASSWORD, username_must_match: bool = False,
            roles: tuple[str, ...] = ()) -> TokenIssuer:
        validate_issuer_name(name)
        validate_key(key, hmac)
        if not claim:
            raise ValidationError("the identity claim must not be empty")
        known = set(self._store.roles.names())
        for role in roles:
            if role not in known:
                raise NotFoundError(f"no role named '{role}' (create it first with: mqttdesk role add {role})")
        try:
            with self._store.write(Change(ChangeKind.TOKEN, name)) as db:
                db.execute(
                    "INSERT INTO token_issuers (name, key, hmac, issuer, audience, claim, token_field, "
                    "username_must_match, roles, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, key, int(hmac), issuer or None, audience or None, claim, token_field.value,
                     int(username_must_match), json.dumps(list(roles)), time.time()))
        except sqlite3.IntegrityError:
            raise AlreadyExistsError(f"a token issuer named '{name}' exists already") from None
        return self.get(name)

    def delete(self, name: str) -> None:
        with self._store.write(Change(ChangeKind.TOKEN, name)) as db:
            if db.execute("DELETE FROM token_issuers WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no token issuer named '{name}'")


def _issuer(row: sqlite3.Row) -> TokenIssuer:
    return TokenIssuer(
        name=row["name"], key=row["key"], hmac=bool(row["hmac"]), issuer=row["issuer"], audience=row["audience"],
        claim=row["claim"], token_field=TokenField(row["token_field"]),
        username_must_match=bool(row["username_must_match"]), roles=tuple(json.loads(row["roles"])),
        created=float(row["created"]), fingerprint=fingerprint(row["key"]))
