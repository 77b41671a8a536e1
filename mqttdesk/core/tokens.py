"""Tokens (JWT): verify a CONNECT's token against the store's issuers, and mint one for trying an HMAC issuer.

A token is consulted only when no local credential has the CONNECT's username (`sources.NOT_LOCAL`). It comes in
the password field (the username is anything, or must equal the identity claim: a per-issuer choice) or, for clients
whose password field cannot carry one, in the username field; whichever field an issuer names. A value is taken
for a token when it has a JWT's shape (three base64url parts separated by dots) and some issuer reads that field.

Which issuer: the one the header's `kid` names, else the one whose expected `iss` the token carries, else the
issuers that expect no `iss` (the first whose key verifies the signature). The token must be signed with an
algorithm of the issuer's key (HS256/384/512 for a secret; RS*, PS*, ES* or EdDSA as the public key's type, so an
RSA public key can never serve as an HMAC secret), and its `exp`, `nbf`, `iat`, `iss` and `aud` must hold. The
identity is the issuer's claim (default `sub`); an optional `acl` claim, a list of `{"filter", "access"}` with
access read, write or readwrite, becomes rules of that session alone, after the issuer's roles.

The token itself is never put in a decision: its sentences and steps name the issuer, the subject and the expiry.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from dataclasses import replace
from typing import Any

from mqttdesk.core.acl import Effect, Permission, Rule, validate_rule_filter
from mqttdesk.core.decision import ConnectRequest, Grant, SourceAnswer
from mqttdesk.core.errors import ValidationError
from mqttdesk.core.model import CredentialKind, CredentialRef, Directory, Method, TokenField, TokenIssuer
from mqttdesk.core.names import tenant_of
from mqttdesk.core.reasons import Reason, ReasonCode
from mqttdesk.core.timefmt import format_time

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
TOKEN_IN_USERNAME = "(token)"  # what the Auth log shows as the username of a token it could not read a subject from
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def looks_like_token(value: str | None) -> bool:
    return value is not None and _SHAPE.fullmatch(value) is not None


@functools.lru_cache(maxsize=64)
def algorithms_of(key: str, hmac: bool) -> tuple[str, ...]:
    """The algorithms a token signed with this issuer's key may use (by the public key's type)."""
    if hmac:
        return HMAC_ALGORITHMS
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public = load_pem_public_key(key.encode("utf-8"))
    if isinstance(public, rsa.RSAPublicKey):
        return ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ("ES256", "ES384", "ES512")
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return ("EdDSA",)
    raise ValidationError("the public key must be an RSA, EC or Ed25519/Ed448 key")


def validate_key(key: str, hmac: bool) -> str:
    """Check an issuer's key; raise ValidationError with a sentence a person can act on."""
    if hmac:
        if len(key.encode("utf-8")) < 32:
            raise ValidationError("an HMAC secret must be at least 32 bytes (RFC 7518 3.2: as long as the hash)")
        return key
    try:
        algorithms_of(key, False)
    except (ValueError, TypeError):
        raise ValidationError("the public key is not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    return key


def fingerprint(key: str) -> str:
    """A short digest of an issuer's key, to tell a changed key (never the key itself)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _refuse(code: ReasonCode, text: str, steps: list[str]) -> SourceAnswer:
    return SourceAnswer(Method.TOKEN, tuple(steps), refusal=Reason(code, text))


def _presented(request: ConnectRequest, directory: Directory) -> tuple[TokenField, str] | None:
    fields = {issuer.token_field for issuer in directory.token_issuers.values()}
    if TokenField.USERNAME in fields and looks_like_token(request.username):
        return TokenField.USERNAME, str(request.username)
    if TokenField.PASSWORD in fields and looks_like_token(request.password):
        return TokenField.PASSWORD, str(request.password)
    return None


def answer(request: ConnectRequest, directory: Directory, now: float | None = None
           ) -> tuple[ConnectRequest, SourceAnswer] | None:
    """The token source's answer to a CONNECT no local credential knows; None when it carries no token.

    The request comes back with the username the Auth log may show: a token in the username field is replaced
    by its subject (or `TOKEN_IN_USERNAME`), so the token never reaches a log."""
    import jwt  # imported on first use: the CLI's other nouns start faster without it
    presented = _presented(request, directory)
    if presented is None:
        return None
    where, token = presented
    shown = replace(request, username=TOKEN_IN_USERNAME) if where is TokenField.USERNAME else request
    steps = [f"a token in the {where.value} field"]
    try:
        header = jwt.get_unverified_header(token)
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return shown, _refuse(ReasonCode.TOKEN_MALFORMED, f"the {where.value} field holds no readable token", steps)
    candidates = [issuer for issuer in directory.token_issuers.values() if issuer.token_field is where]
    chosen = _issuers_for(header, claims, candidates)
    if not chosen:
        named = "; ".join(f"{what} '{str(value)[:64]}'" for what, value in (("kid", header.get("kid")),
                                                                             ("iss", claims.get("iss"))) if value)
        return shown, _refuse(ReasonCode.TOKEN_UNKNOWN_ISSUER,
                              f"no token issuer reading the {where.value} field matches the token"
                              f"{f' ({named})' if named else ''}", steps)
    result: tuple[ConnectRequest, SourceAnswer] | None = None
    for issuer in chosen:
        result = _verify(request, shown, token, where, issuer, header, claims, list(steps),
                         time.time() if now is None else now)
        refusal = result[1].refusal
        if refusal is None or refusal.code is not ReasonCode.TOKEN_BAD_SIGNATURE:
            return result
    assert result is not None
    return result


def _issuers_for(header: dict[str, Any], claims: dict[str, Any], candidates: list[TokenIssuer]) -> list[TokenIssuer]:
    by_kid = [issuer for issuer in candidates if issuer.name == header.get("kid")]
    if by_kid:
        return by_kid
    by_iss = [issuer for issuer in candidates if issuer.issuer is not None and issuer.issuer == claims.get("iss")]
    return by_iss or [issuer for issuer in candidates if issuer.issuer is None]


def _verify(request: ConnectRequest, shown: ConnectRequest, token: str, where: TokenField, issuer: TokenIssuer,
            header: dict[str, Any], claims: dict[str, Any], steps: list[str], now: float
            ) -> tuple[ConnectRequest, SourceAnswer]:
    import jwt  # imported on first use: the CLI's other nouns start faster without it
    algorithm = str(header.get("alg"))
    steps.append(f"issuer '{issuer.name}', signed {algorithm}")
    who = f"issuer '{issuer.name}'"
    exp = claims.get("exp")
    try:
        allowed = algorithms_of(issuer.key, issuer.hmac)
        if algorithm not in allowed:
            return shown, _refuse(ReasonCode.TOKEN_BAD_SIGNATURE, f"the token is signed {algorithm}; {who} accepts "
                                  f"{', '.join(allowed)} only", steps)
        verified = jwt.PyJWT().decode_complete(
            token, issuer.key, algorithms=list(allowed), audience=issuer.audience, issuer=issuer.issuer,
            options={"verify_aud": issuer.audience is not None, "verify_iss": issuer.issuer is not None,
                     "verify_exp": False, "verify_nbf": False, "verify_iat": False})
    except jwt.InvalidSignatureError:
        return shown, _refuse(ReasonCode.TOKEN_BAD_SIGNATURE, f"the token's signature does not verify with the key "
                              f"of {who}", steps)
    except jwt.InvalidAudienceError:
        return shown, _refuse(ReasonCode.TOKEN_WRONG_AUDIENCE, f"the token is for audience "
                              f"{_quoted(claims.get('aud'))}; {who} expects '{issuer.audience}'", steps)
    except jwt.InvalidIssuerError:
        return shown, _refuse(ReasonCode.TOKEN_WRONG_ISSUER, f"the token names iss {_quoted(claims.get('iss'))}; "
                              f"{who} expects '{issuer.issuer}'", steps)
    except jwt.MissingRequiredClaimError as exc:
        code = ReasonCode.TOKEN_WRONG_AUDIENCE if exc.claim == "aud" else ReasonCode.TOKEN_WRONG_ISSUER
        return shown, _refuse(code, f"the token has no '{exc.claim}' claim; {who} expects one", steps)
    except (jwt.PyJWTError, ValueError, TypeError):
        return shown, _refuse(ReasonCode.TOKEN_MALFORMED, f"the token cannot be verified by {who}", steps)
    payload: dict[str, Any] = verified["payload"]
    subject = payload.get(issuer.claim)
    if not isinstance(subject, str | int) or isinstance(subject, bool) or str(subject) == "":
        return shown, _refuse(ReasonCode.TOKEN_MALFORMED, f"the token has no '{issuer.claim}' claim naming its "
                              f"holder ({who})", steps)
    subject = str(subject)
    if where is TokenField.USERNAME:
        shown = replace(request, username=subject)
    steps.append(f"subject '{subject}' ({issuer.claim})")
    timing = _timing_refusal(payload, now, f"{who} for '{subject}'", steps)
    if timing is not None:
        return shown, timing
    if where is TokenField.PASSWORD and issuer.username_must_match and request.username != subject:
        return shown, _refuse(ReasonCode.BAD_PASSWORD, f"the username is not the token's subject '{subject}' "
                              f"({who} wants them equal)", steps)
    try:
        rules = acl_rules(payload.get("acl"))
    except ValidationError as exc:
        return shown, _refuse(ReasonCode.TOKEN_MALFORMED, f"the token's acl claim is not usable: {exc}", steps)
    expires = float(exp) if isinstance(exp, int | float) else None
    steps.append(f"valid until {format_time(expires)}" if expires is not None else "the token does not expire")
    if rules:
        steps.append(f"acl claim: {len(rules)} rule{'s' * (len(rules) != 1)}")
    grant = Grant(Method.TOKEN, CredentialRef(CredentialKind.TOKEN, f"{issuer.name}:{subject}"), subject,
                  request.client_id, tenant_of(subject), rules=rules, valid_until=expires,
                  verified_with=issuer.fingerprint)
    until = f", valid until {format_time(expires)}" if expires is not None else ""
    steps.append("token ✓")
    return shown, SourceAnswer(Method.TOKEN, tuple(steps), grant=grant,
                               text=f"token of {who} for '{subject}' verified ({header.get('alg')}){until}")


def _timing_refusal(payload: dict[str, Any], now: float, who: str, steps: list[str]) -> SourceAnswer | None:
    """exp, nbf and iat, checked here (not by pyjwt) so the sentence can say when."""
    for claim in ("exp", "nbf", "iat"):
        value = payload.get(claim)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            return _refuse(ReasonCode.TOKEN_MALFORMED, f"the token's '{claim}' claim is not a time", steps)
    exp, nbf, iat = payload.get("exp"), payload.get("nbf"), payload.get("iat")
    if exp is not None and exp <= now:
        return _refuse(ReasonCode.TOKEN_EXPIRED, f"the token of {who} expired at {format_time(float(exp))}", steps)
    if nbf is not None and nbf > now:
        return _refuse(ReasonCode.TOKEN_NOT_YET_VALID, f"the token of {who} is not valid before "
                       f"{format_time(float(nbf))}", steps)
    if iat is not None and iat > now + 60:  # a minute for clocks that differ
        return _refuse(ReasonCode.TOKEN_NOT_YET_VALID, f"the token of {who} was issued in the future, at "
                       f"{format_time(float(iat))}", steps)
    return None


def _quoted(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(f"'{str(item)[:64]}'" for item in value) or "(none)"
    return f"'{str(value)[:64]}'"


def acl_rules(claim: object) -> tuple[Rule, ...]:
    """The rules of an `acl` claim: a list of {"filter": F, "access": "read"|"write"|"readwrite"}."""
    if claim is None:
        return ()
    if not isinstance(claim, list):
        raise ValidationError("it must be a list of {filter, access}")
    rules = []
    for entry in claim:
        if not isinstance(entry, dict) or not isinstance(entry.get("filter"), str):
            raise ValidationError("each entry needs a 'filter'")
        try:
            permission = Permission(str(entry.get("access")))
        except ValueError:
            raise ValidationError(f"access must be read, write or readwrite, not {entry.get('access')!r}") from None
        validate_rule_filter(entry["filter"])
        rules.append(Rule("", entry["filter"], permission, Effect.ALLOW))
    return tuple(rules)


def parse_acl_option(text: str) -> dict[str, str]:
    """`FILTER=read|write|readwrite` (the CLI's --acl) as an acl claim entry."""
    topic_filter, sep, access = text.rpartition("=")
    if not sep or not topic_filter:
        raise ValidationError(f"--acl takes FILTER=read|write|readwrite, not {text!r}")
    entry = {"filter": topic_filter, "access": access}
    acl_rules([entry])
    return entry


def mint(issuer: TokenIssuer, subject: str, ttl: float, acl: list[dict[str, str]] | None = None,
         now: float | None = None) -> str:
    """A token signed with an HMAC issuer's secret, for trying it locally (HS256; `kid` names the issuer)."""
    import jwt  # imported on first use: the CLI's other nouns start faster without it
    if not issuer.hmac:
        raise ValidationError(f"token issuer '{issuer.name}' verifies with a public key: mqttdesk cannot sign for it")
    if ttl <= 0:
        raise ValidationError("the time to live must be positive")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {issuer.claim: subject, "iat": issued, "exp": issued + int(ttl)}
    if issuer.issuer is not None:
        claims["iss"] = issuer.issuer
    if issuer.audience is not None:
        claims["aud"] = issuer.audience
    if acl:
        claims["acl"] = acl
    return jwt.encode(claims, issuer.key, algorithm="HS256", headers={"kid": issuer.name})
